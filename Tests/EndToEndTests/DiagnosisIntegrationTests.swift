import ArgumentParser
import FarmCore
import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelfarmCommands

/// Real sdists that fail for want of a Debian package, each diagnosed from its build log and the
/// target suite's Debian contents index: cffi misses a header (libffi-dev), pycairo a pkg-config
/// module and pkg-config itself (libcairo2-dev, pkgconf), psycopg2 a program (pg_config, in
/// libpq-dev). Then `recipe add` as the suggestion says, and cffi builds.
final class DiagnosisIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"

    func testMissingHeaderModuleAndProgramAreNamedThenRecipeAddFixesTheBuild() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        let home = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        let work = try TemporaryDirectory(prefix: "wf-diagnosis")
        try "cffi==1.17.1\npycairo==1.27.0\npsycopg2==2.9.10\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        func build(_ arguments: [String]) throws -> Int32 {
            var command = try BuildCommand.parse(arguments + ["--target", Self.target, "--home", home])
            try command.validate()
            return command.run(CommandContext(capturing: false, home: home))
        }
        func rows(_ path: String) throws -> [String: [String: Any]] {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            let results = try XCTUnwrap(object?["results"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: results.map { ($0["project"] as? String ?? "", $0) })
        }

        XCTAssertEqual(try build(["-r", "\(work.path)/requirements.txt", "--report-json", "\(work.path)/first.json"]), 1)
        let first = try rows("\(work.path)/first.json")
        let expected = [
            "cffi": ["ffi.h is in libffi-dev", "wheelfarm recipe add cffi --package libffi-dev"],
            "pycairo": ["pkg-config module cairo is in libcairo2-dev", "the program pkg-config is in pkgconf", "--package pkgconf --package libcairo2-dev"],
            "psycopg2": ["the program pg_config is in libpq-dev", "wheelfarm recipe add psycopg2 --package libpq-dev"]
        ]
        for (project, phrases) in expected {
            let row = try XCTUnwrap(first[project], "\(first.keys)")
            XCTAssertEqual(row["status"] as? String, "failed")
            let suggestion = row["suggestion"] as? String ?? ""
            for phrase in phrases { XCTAssertTrue(suggestion.contains(phrase), "\(project): \(suggestion)") }
            XCTAssertFalse((row["failure"] as? String ?? "").contains("fix:"), "the suggestion is its own field: \(row)")
        }

        // As the suggestion says: the package goes into a recipe of one's own, and cffi builds.
        let recipes = "\(work.path)/recipes"
        var add = try RecipeCommand.Add.parse(["cffi", "--package", "libffi-dev", "--dir", recipes, "--home", home])
        try add.validate()
        XCTAssertEqual(add.run(CommandContext(capturing: true, home: home)), 0)
        try "cffi==1.17.1\n".write(toFile: "\(work.path)/cffi.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try build(["-r", "\(work.path)/cffi.txt", "--recipes", recipes, "--report-json", "\(work.path)/second.json"]), 0)
        let built = try XCTUnwrap(try rows("\(work.path)/second.json")["cffi"])
        XCTAssertTrue(["built", "already built"].contains(built["status"] as? String ?? ""), "a home kept from an earlier run has it already: \(built)")
        XCTAssertTrue((built["wheel"] as? String).map(TestSupport.withoutBuildNumber)?.hasPrefix("cffi-1.17.1-cp311-cp311-") == true, "\(built)")
    }
}

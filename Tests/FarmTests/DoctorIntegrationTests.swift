import BuildSandbox
import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import FarmCore

/// The doctor on this machine, through the built binary, with the network.
final class DoctorIntegrationTests: XCTestCase {
    /// On a machine set up by ci/setup.sh every check passes, for every target, and the JSON
    /// names every tool of the list.
    func testDoctorReportsThisMachineReady() throws {
        let binary = try TestSupport.wheelfarmBinary()
        let work = try TemporaryDirectory(prefix: "wf-doctor")
        let result = try ProcessRunner.run(binary, ["doctor", "--json", "--all-targets", "--home", "\(work.path)/home"])
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stderr)
        let checks = try XCTUnwrap(report["checks"] as? [[String: Any]])
        let names = Set(checks.compactMap { $0["name"] as? String })
        for tool in HostTool.all { XCTAssertTrue(names.contains(tool.name), "doctor does not check \(tool.name)") }
        for expected in ["root", "free space", "leftovers", "overlayfs", "namespaces", "cgroups", "seccomp", "pip", "package index"] {
            XCTAssertTrue(names.contains(expected), "doctor does not check \(expected)")
        }
        let missing = checks.filter { $0["status"] as? String == "missing" }
        if TestSupport.inCI || getuid() == 0 {
            XCTAssertEqual(result.status, 0, "doctor finds this machine not ready: \(missing)")
            XCTAssertEqual(report["ok"] as? Bool, true)
        } else {
            XCTAssertEqual(result.status == 0, missing.isEmpty)
        }
        // The table form says the same, with a verdict line.
        let table = try ProcessRunner.run(binary, ["doctor", "--offline", "--home", "\(work.path)/home"])
        XCTAssertTrue(table.stdout.contains("STATUS"), table.stdout)
        XCTAssertTrue(table.stdout.contains("ready:") || table.stdout.contains("not ready:"), table.stdout)
    }
}

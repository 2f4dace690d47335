import BuildSandbox
import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import FarmCore

final class DoctorTests: XCTestCase {
    func catalog() throws -> ToolchainCatalog { try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot) }

    /// Emulation tools are needed only for targets of another architecture, each for its own.
    func testWhatIsNeededFollowsTheTargets() throws {
        let host = ZigToolchain.hostMachine
        let other = host == "x86_64" ? "aarch64" : "x86_64"
        let native = Doctor(
            layout: FarmLayout(path: "/tmp/wf-doctor-test"), targets: [try catalog().spec("cp311-bookworm-\(host)")], index: nil, checkNetwork: false)
        XCTAssertTrue(native.needed(.mmdebstrap))
        XCTAssertFalse(native.needed(.archTest))
        XCTAssertFalse(native.needed(.minisign))
        XCTAssertTrue(native.foreignArchitectures.isEmpty)
        let foreign = Doctor(
            layout: FarmLayout(path: "/tmp/wf-doctor-test"), targets: [try catalog().spec("cp311-bookworm-\(other)")], index: nil, checkNetwork: false)
        XCTAssertEqual(foreign.foreignArchitectures, [other])
        XCTAssertTrue(foreign.needed(.archTest))
        XCTAssertTrue(foreign.needed(.updateBinfmts))
        XCTAssertEqual(try XCTUnwrap(HostTool.emulator(for: other)).name, "qemu-\(other)-static")
        XCTAssertTrue(foreign.needed(try XCTUnwrap(HostTool.emulator(for: other))))
        XCTAssertFalse(foreign.needed(try XCTUnwrap(HostTool.emulator(for: host))))
        // Without an index, the network check says what to set rather than failing quietly.
        let offline = Doctor(layout: FarmLayout(path: "/tmp/wf-doctor-test"), targets: [], index: nil, checkNetwork: true).networkChecks()
        XCTAssertEqual(offline.first?.status, .missing)
        XCTAssertTrue(offline.first?.fix?.contains("index.url") == true)
    }

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

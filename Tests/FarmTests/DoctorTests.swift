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
}

import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

@testable import BuildSandbox

/// The aarch64 target under qemu-user emulation: slow, so only in the long suite
/// (`WHEELFARM_LONG_TESTS=1 bash ci/test.sh --filter EmulatedBuildIntegrationTests`).
final class EmulatedBuildIntegrationTests: XCTestCase {
    func testSmallExtensionBuildsForAarch64UnderEmulation() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["WHEELFARM_LONG_TESTS"] == "1", "long suite only (WHEELFARM_LONG_TESTS=1)")
        guard getuid() == 0 else { throw XCTSkip("needs root") }
        let home = TestImage.home
        let store = ToolchainStore(layout: home, catalog: try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot))
        let target = "cp311-bookworm-aarch64"
        let image = try store.image(named: target) ?? store.build(target) { FileHandle.standardError.write(Data("[toolchain] \($0)\n".utf8)) }
        let src = try TemporaryDirectory()
        let out = try TemporaryDirectory()
        chmod(out.path, 0o777)
        try FileManager.default.copyItem(atPath: "\(TestSupport.repositoryRoot)/Tests/Fixtures/cext/withpy.c", toPath: "\(src.path)/withpy.c")
        chmod(src.path, 0o755)
        let config = SandboxConfiguration(
            layers: [store.rootfs(digest: image.digest)],
            command: [
                "sh", "-c",
                "uname -m && python3 -c 'import platform; print(platform.machine())' && gcc -shared -fPIC $(python3-config --includes) -o /out/_withpy.so /src/withpy.c && python3 -c 'import sys; sys.path.insert(0, \"/out\"); import _withpy; print(\"imported\")'"
            ],
            mounts: [BindMount(source: src.path, destination: "/src", readOnly: true), BindMount(source: out.path, destination: "/out", readOnly: false)],
            limits: SandboxLimits(wallSeconds: 900, memoryBytes: 2 << 30, maxProcesses: 256, diskBytes: 1 << 30))
        var log: [UInt8] = []
        let result = try NamespaceSandbox(layout: home).run(config) { chunk, _ in log.append(contentsOf: chunk) }
        let text = String(decoding: log, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        XCTAssertTrue(text.contains("aarch64\naarch64\n") && text.contains("imported"), text)
        let elf = try ELFFileProbe.architecture(of: "\(out.path)/_withpy.so")
        XCTAssertEqual(elf, "aarch64")
    }
}

/// Reads the ELF machine of a file (e_machine 183 is AArch64), without the ELF module.
enum ELFFileProbe {
    static func architecture(of path: String) throws -> String {
        let bytes = try Files.readBytes(path)
        guard bytes.count > 20, bytes[0] == 0x7f else { return "not ELF" }
        let machine = UInt16(bytes[18]) | UInt16(bytes[19]) << 8
        return machine == 183 ? "aarch64" : machine == 62 ? "x86_64" : "machine \(machine)"
    }
}

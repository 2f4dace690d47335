import Foundation
import XCTest

@_spi(AnyProgram) @testable import WheelfarmBasics

/// What a child inherits: its three standard descriptors (and the control channel when asked
/// for), never a descriptor the parent left open without close-on-exec.
final class ProcessRunnerTests: XCTestCase {
    func testAChildGetsOnlyTheDescriptorsItIsHanded() throws {
        // Descriptors opened without O_CLOEXEC, as some libraries leave them.
        let leaked = (0..<12).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in leaked { close(fd) } }
        XCTAssertTrue(leaked.allSatisfy { $0 > 2 })
        let listing = try ProcessRunner.run("sh", ["-c", "ls /proc/$$/fd"])
        XCTAssertEqual(listing.stdout.split(separator: "\n").map(String.init).sorted(), ["0", "1", "2"], listing.stdout)
        // With the control channel the child also has fd 3, and nothing above it.
        var control: [UInt8] = []
        let status = try ProcessRunner.stream(
            // The listing of the shell's own descriptors from a subshell redirected there: a pipeline has the
            // shell hold its pipe while it sets it up, and a redirected command has it save its descriptor 1.
            .sh, ["-c", "(ls /proc/$$/fd) >&3"], options: ProcessRunner.SpawnOptions(controlChannel: true),
            onOutput: { _, _ in }, onControl: { control.append(contentsOf: $0) })
        XCTAssertEqual(status, 0)
        XCTAssertEqual(String(decoding: control, as: UTF8.self).split(separator: "\n").map(String.init).sorted(), ["0", "1", "2", "3"])
    }
}

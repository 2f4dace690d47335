import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

@testable import BuildSandbox

/// The wall's last layers, for real: the seccomp filter, and output handed back only by the sandbox's init.
final class SeccompIntegrationTests: XCTestCase {
    var store: ToolchainStore!
    var image: ToolchainImage!

    override func setUpWithError() throws { (store, image) = try TestImage.get() }

    func run(_ code: String, seccomp: Bool = true, collect: OutputCollection? = nil) throws -> (SandboxOutcome, String) {
        var config = SandboxConfiguration(
            layers: [store.rootfs(digest: image.digest)], command: ["python3", "-c", code],
            limits: SandboxLimits(wallSeconds: 120, memoryBytes: 1 << 30, maxProcesses: 256, diskBytes: 1 << 30))
        if seccomp { config.seccomp = try SeccompPolicy.prepare(in: store.layout.seccomp) }
        config.collect = collect
        var output: [UInt8] = []
        let result = try NamespaceSandbox(layout: store.layout).run(config) { chunk, _ in output.append(contentsOf: chunk) }
        return (result.outcome, String(decoding: output, as: UTF8.self))
    }

    static let probe = """
        import ctypes, errno, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        def attempt(name, call):
            result = call(); print(name, 'allowed' if result >= 0 else errno.errorcode.get(ctypes.get_errno(), '?'))
        attempt('userns', lambda: libc.unshare(0x10000000))
        attempt('keyctl', lambda: libc.syscall(250, 0, 0, 0, 0))
        attempt('bpf', lambda: libc.syscall(321, 0, 0, 0))
        attempt('perf_event_open', lambda: libc.syscall(298, 0, 0, 0, 0, 0))
        attempt('userfaultfd', lambda: libc.syscall(323, 0))
        attempt('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
        attempt('ptrace', lambda: libc.ptrace(16, 1, 0, 0))
        attempt('tiocsti', lambda: libc.ioctl(1, 0x5412, ctypes.c_char_p(b'x')))
        params = ctypes.create_string_buffer(120)
        attempt('io_uring_setup', lambda: libc.syscall(425, 4, params))
        attempt('vsock', lambda: libc.socket(40, 1, 0))
        attempt('netlink', lambda: libc.socket(16, 3, 0))
        attempt('packet', lambda: libc.socket(17, 3, 0))
        attempt('vsock pair', lambda: libc.socketpair(40, 1, 0, ctypes.create_string_buffer(8)))
        for family, name in ((1, 'unix'), (2, 'inet'), (10, 'inet6')):
            fd = libc.socket(family, 1, 0); print(name, 'socket', 'ok' if fd >= 0 else 'refused'); os.close(fd) if fd >= 0 else None
        print('threads and processes', subprocess.run(['sh', '-c', 'echo child'], capture_output=True).stdout.decode().strip())
        """

    func testDeniedCallsFailWithEPERMAndOrdinaryWorkGoesOn() throws {
        let (outcome, text) = try run(Self.probe)
        XCTAssertEqual(outcome, .exited(0), text)
        for call in ["userns", "keyctl", "bpf", "perf_event_open", "userfaultfd", "mount", "ptrace", "tiocsti"] {
            XCTAssertTrue(text.contains("\(call) EPERM"), "\(call) was not denied with EPERM:\n\(text)")
        }
        XCTAssertTrue(text.contains("io_uring_setup ENOSYS"), text)
        for family in ["vsock", "netlink", "packet", "vsock pair"] {
            XCTAssertTrue(text.contains("\(family) EAFNOSUPPORT"), "\(family) was not refused:\n\(text)")
        }
        for family in ["unix", "inet", "inet6"] { XCTAssertTrue(text.contains("\(family) socket ok"), text) }
        XCTAssertTrue(text.contains("threads and processes child"), text)
        // Without the filter the same probe is allowed to try (and only the namespaces stop it): the filter made the difference.
        let (_, unfiltered) = try run(Self.probe, seccomp: false)
        XCTAssertFalse(unfiltered.contains("userfaultfd EPERM") && unfiltered.contains("keyctl EPERM") && unfiltered.contains("userns EPERM"), unfiltered)
    }

    func testOutputComesBackOnlyAsRegularFilesAfterEverythingIsKilled() throws {
        let work = try TemporaryDirectory(prefix: "wf-collect")
        let host = "\(work.path)/out"
        let code = """
            import os, subprocess
            out = '/tmp/wheelfarm-out'
            open(out + '/demo-1.0-py3-none-any.whl', 'wb').write(b'wheel bytes')
            os.symlink('/etc/shadow', out + '/link-1.0-py3-none-any.whl')
            os.mkfifo(out + '/fifo')
            try:
                print('sees the host folder:', os.listdir('/.wheelfarm-collect'))
            except PermissionError:
                print('the host folder is closed')
            # A daemon that would keep writing after the command ends.
            subprocess.Popen(['sh', '-c', 'while true; do echo late >> /tmp/wheelfarm-out/late.txt; sleep 0.01; done'], start_new_session=True)
            """
        let (outcome, text) = try run(code, collect: OutputCollection(inside: "/tmp/wheelfarm-out", host: host, limitBytes: 1 << 20))
        XCTAssertEqual(outcome, .exited(0), text)
        XCTAssertTrue(text.contains("the host folder is closed"), text)
        var info = stat()
        XCTAssertEqual(lstat(host, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
        let entries = try FileManager.default.contentsOfDirectory(atPath: host)
        XCTAssertTrue(entries.contains("demo-1.0-py3-none-any.whl"), "\(entries)")
        XCTAssertTrue(entries.contains(OutputCollection.notAFileMarker), "\(entries)")
        XCTAssertFalse(entries.contains("link-1.0-py3-none-any.whl"), "a link was followed: \(entries)")
        XCTAssertFalse(entries.contains("fifo"))
        XCTAssertEqual(try Files.readBytes("\(host)/demo-1.0-py3-none-any.whl"), Array("wheel bytes".utf8))
        // The daemon is gone: what it wrote does not grow after the run.
        let late = "\(host)/late.txt"
        let before = (try? FileManager.default.attributesOfItem(atPath: late)[.size] as? Int) ?? 0
        usleep(200_000)
        XCTAssertEqual((try? FileManager.default.attributesOfItem(atPath: late)[.size] as? Int) ?? 0, before)
    }

    func testACollectedFileIsCutAtTheLimit() throws {
        let work = try TemporaryDirectory(prefix: "wf-collect-limit")
        let host = "\(work.path)/out"
        let (outcome, _) = try run(
            "open('/tmp/wheelfarm-out/big-1.0-py3-none-any.whl', 'wb').write(b'x' * (3 << 20))",
            collect: OutputCollection(inside: "/tmp/wheelfarm-out", host: host, limitBytes: 1 << 20))
        XCTAssertEqual(outcome, .exited(0))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: "\(host)/big-1.0-py3-none-any.whl")[.size] as? Int, 1 << 20)
    }
}

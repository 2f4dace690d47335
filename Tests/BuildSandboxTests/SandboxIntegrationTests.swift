import BuildSandbox
import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

/// The target the sandbox tests run in: built from scratch (mmdebstrap) on first use.
enum TestImage {
    static let target = "cp311-bookworm-x86_64"
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: Result<(ToolchainStore, ToolchainImage), Error>?

    static var home: FarmLayout {
        FarmLayout(path: ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home")
    }

    static func get() throws -> (ToolchainStore, ToolchainImage) {
        guard getuid() == 0 else { throw XCTSkip("the sandbox needs root") }
        lock.lock()
        defer { lock.unlock() }
        if let cached { return try cached.get() }
        let result = Result { () -> (ToolchainStore, ToolchainImage) in
            let store = ToolchainStore(layout: home, catalog: try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot))
            if let image = try store.image(named: target) { return (store, image) }
            let image = try store.build(target) { FileHandle.standardError.write(Data("[toolchain] \($0)\n".utf8)) }
            return (store, image)
        }
        cached = result
        return try result.get()
    }
}

final class SandboxIntegrationTests: XCTestCase {
    var store: ToolchainStore!
    var image: ToolchainImage!

    override func setUpWithError() throws {
        (store, image) = try TestImage.get()
    }

    /// Runs a command in a fresh sandbox of the test image; returns the outcome and the output.
    func run(
        _ command: [String], network: Bool = false, mounts: [BindMount] = [],
        limits: SandboxLimits = SandboxLimits(wallSeconds: 120, memoryBytes: 1 << 30, maxProcesses: 256, diskBytes: 1 << 30)
    ) throws -> (SandboxOutcome, String) {
        var output: [UInt8] = []
        let config = SandboxConfiguration(layers: [store.rootfs(digest: image.digest)], command: command, mounts: mounts, network: network, limits: limits)
        let result = try NamespaceSandbox(layout: store.layout).run(config) { chunk, _ in output.append(contentsOf: chunk) }
        return (result.outcome, String(decoding: output, as: UTF8.self))
    }

    func python(
        _ code: String, network: Bool = false,
        limits: SandboxLimits = SandboxLimits(wallSeconds: 120, memoryBytes: 1 << 30, maxProcesses: 256, diskBytes: 1 << 30)
    ) throws -> (SandboxOutcome, String) {
        try run(["python3", "-c", code], network: network, limits: limits)
    }

    func assertNothingLeaked(file: StaticString = #filePath, line: UInt = #line) throws {
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        XCTAssertFalse(mounts.contains("wheelfarm-root") || mounts.contains(store.layout.path + "/scratch"), "a sandbox mount leaked", file: file, line: line)
        let scratch = (try? FileManager.default.contentsOfDirectory(atPath: "\(store.layout.path)/scratch")) ?? []
        XCTAssertTrue(scratch.isEmpty, "scratch directories left: \(scratch)", file: file, line: line)
    }

    func testRunsUnprivilegedInItsOwnNamespaces() throws {
        let (outcome, output) = try python(
            """
            import os, socket
            pids = [p for p in os.listdir('/proc') if p.isdigit()]
            status = open('/proc/self/status').read()
            caps = [l for l in status.splitlines() if l.startswith('CapEff')][0].split()[1]
            nnp = [l for l in status.splitlines() if l.startswith('NoNewPrivs')][0].split()[1]
            print(os.getuid(), os.getgid(), socket.gethostname(), len(pids), caps, nnp)
            """)
        XCTAssertEqual(outcome, .exited(0), output)
        // Two processes: the sandbox's init (a root shell that dies with wheelfarm) and the command.
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "65534 65534 wheelfarm 2 0000000000000000 1")
        try assertNothingLeaked()
    }

    func testNetworkIsUnreachable() throws {
        // A listener on the host's loopback, outside the sandbox.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(listener, 8), 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        let probe =
            "import socket\ntry:\n  socket.create_connection(('127.0.0.1', \(port)), timeout=5); print('CONNECTED')\nexcept OSError as e:\n  print('REFUSED', e)"
        let (outcome, output) = try python(probe)
        XCTAssertEqual(outcome, .exited(0), output)
        XCTAssertTrue(output.hasPrefix("REFUSED"), output)
        // Control: with --network the same probe reaches the listener, so the refusal above is the sandbox's doing.
        let (_, shared) = try python(probe, network: true)
        XCTAssertTrue(shared.hasPrefix("CONNECTED"), shared)
        try assertNothingLeaked()
    }

    func testHostPathsCannotBeWritten() throws {
        let marker = "/tmp/wheelfarm-escape-\(UInt32.random(in: 0...UInt32.max))"
        let dir = try TemporaryDirectory()
        chmod(dir.path, 0o777)
        let (outcome, output) = try run(
            ["sh", "-c", "echo pwned > \(marker); echo pwned > /ro/file; echo pwned > /etc/passwd; ls /work 2>&1; echo done"],
            mounts: [BindMount(source: dir.path, destination: "/ro", readOnly: true)])
        XCTAssertEqual(outcome, .exited(0), output)
        XCTAssertTrue(output.contains("Read-only file system"), output)
        XCTAssertTrue(output.contains("Permission denied"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the sandbox wrote a host path")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir.path)/file"))
        XCTAssertFalse((try? String(contentsOfFile: "/etc/passwd", encoding: .utf8))?.contains("pwned") ?? true)
        XCTAssertTrue(output.contains("No such file or directory"), "host folders must not be visible: \(output)")
    }

    func testHostProcessesAreInvisible() throws {
        let (outcome, output) = try python(
            """
            import os
            pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
            cmdlines = [open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ').decode() for p in pids]
            others = [c for p, c in zip(pids, cmdlines) if p != os.getpid()]
            print(len(pids), pids[0], [c.split()[0] for c in others])
            """)
        XCTAssertEqual(outcome, .exited(0), output)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "2 1 ['/bin/sh']", "only the sandbox's own init and the command are visible")
    }

    func testForkBombIsContained() throws {
        let (outcome, output) = try python(
            """
            import os, time
            n = 0
            try:
                while True:
                    if os.fork() == 0:
                        time.sleep(60); os._exit(0)
                    n += 1
            except OSError as e:
                print('fork failed after', n, e)
            """, limits: SandboxLimits(wallSeconds: 60, memoryBytes: 1 << 30, maxProcesses: 64, diskBytes: 1 << 28))
        XCTAssertEqual(outcome, .exited(0), output)
        XCTAssertTrue(output.contains("fork failed after"), output)
        let count = Int(output.split(separator: " ").dropFirst(3).first ?? "") ?? 999
        XCTAssertLessThan(count, 64)
        try assertNoProcess(matching: "time.sleep(60)")
        try assertNothingLeaked()
    }

    func testMemoryLimitKillsTheRun() throws {
        let (outcome, output) = try python(
            "x = bytearray(600 << 20); x[::4096] = b'x' * len(x[::4096]); print('allocated')",
            limits: SandboxLimits(wallSeconds: 60, memoryBytes: 128 << 20, maxProcesses: 64, diskBytes: 1 << 28))
        XCTAssertFalse(output.contains("allocated"), output)
        switch outcome {
        case .memoryExceeded: break
        case .exited: XCTAssertTrue(output.contains("MemoryError"), output)  // rlimit fallback
        default: XCTFail("unexpected outcome \(outcome): \(output)")
        }
        try assertNothingLeaked()
    }

    func testTimeoutKillsEverything() throws {
        let (outcome, _) = try run(
            ["sh", "-c", "sleep 1001 & sleep 1002"], limits: SandboxLimits(wallSeconds: 2, memoryBytes: 1 << 28, maxProcesses: 64, diskBytes: 1 << 28))
        XCTAssertEqual(outcome, .timedOut(seconds: 2))
        try assertNoProcess(matching: "sleep 100")
        try assertNothingLeaked()
    }

    func testStopRequestKillsEverything() throws {
        // What a scheduler does to cancel a running build: the run asks, and is told to stop.
        var config = SandboxConfiguration(
            layers: [store.rootfs(digest: image.digest)], command: ["sh", "-c", "sleep 1004 & sleep 1005"],
            limits: SandboxLimits(wallSeconds: 600, memoryBytes: 1 << 28, maxProcesses: 64, diskBytes: 1 << 28))
        let asked = LockedCounter()
        config.stop = { asked.increment() >= 2 }
        let result = try NamespaceSandbox(layout: store.layout).run(config) { _, _ in }
        XCTAssertEqual(result.outcome, .signaled(9))
        XCTAssertGreaterThanOrEqual(asked.value, 2)
        try assertNoProcess(matching: "sleep 100")
        try assertNothingLeaked()
    }

    func testDaemonsDoNotSurvive() throws {
        let (outcome, output) = try run(["sh", "-c", "setsid sh -c 'sleep 1003' >/dev/null 2>&1 < /dev/null & echo started"])
        XCTAssertEqual(outcome, .exited(0), output)
        try assertNoProcess(matching: "sleep 1003")
        try assertNothingLeaked()
    }

    func testChrootEscapeAndPrivilegeGainFail() throws {
        let (outcome, output) = try python(
            """
            import os, subprocess
            def attempt(name, fn):
                try:
                    fn(); print(name, 'SUCCEEDED')
                except Exception as e:
                    print(name, 'failed:', type(e).__name__)
            def chroot_escape():
                os.makedirs('/tmp/x', exist_ok=True); os.chroot('/tmp/x')
                for _ in range(64): os.chdir('..')
                os.chroot('.')
            attempt('chroot', chroot_escape)
            attempt('setuid', lambda: os.setuid(0))
            def run(cmd):
                r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=20)
                if r.returncode != 0: raise RuntimeError(r.stderr.strip())
            attempt('su', lambda: run(['su', '-c', 'id -u', 'root']))
            attempt('newgrp', lambda: run(['newgrp', 'root']))
            attempt('mount', lambda: run(['mount', '-t', 'tmpfs', 'none', '/tmp']))
            attempt('oldroot', lambda: os.listdir('/.wheelfarm-oldroot'))
            """)
        XCTAssertEqual(outcome, .exited(0), output)
        XCTAssertFalse(output.contains("SUCCEEDED"), output)
        for name in ["chroot", "setuid", "su", "newgrp", "mount", "oldroot"] { XCTAssertTrue(output.contains("\(name) failed"), "\(name): \(output)") }
        try assertNothingLeaked()
    }

    func testWritableLayerIsFreshAndBounded() throws {
        let (first, _) = try run(["sh", "-c", "echo left > /tmp/leftover"])
        XCTAssertEqual(first, .exited(0))
        let (second, output) = try run(
            ["sh", "-c", "test ! -e /tmp/leftover && echo fresh; head -c 300000000 /dev/zero > /tmp/big; echo status=$?"],
            limits: SandboxLimits(wallSeconds: 60, memoryBytes: 1 << 30, maxProcesses: 64, diskBytes: 64 << 20))
        XCTAssertEqual(second, .exited(0))
        XCTAssertTrue(output.contains("fresh"), output)
        XCTAssertTrue(output.contains("No space left on device"), output)
    }

    func testSetupFailureIsReportedAsSuch() throws {
        let (outcome, _) = try run(["true"], mounts: [BindMount(source: "/nonexistent-wheelfarm", destination: "/x", readOnly: true)])
        guard case let .setupFailed(reason) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(reason.contains("/nonexistent-wheelfarm"), reason)
    }

    func testPlanIsInspectable() throws {
        let config = SandboxConfiguration(layers: ["/img"], command: ["python3", "-V"], mounts: [BindMount(source: "/src", destination: "/in", readOnly: true)])
        let plan = NamespaceSandbox(layout: FarmLayout(path: "/home")).plan(config, scratch: "/s", cgroupDirectories: ["/cg"], rlimits: [])
        XCTAssertEqual(Array(plan.argv.prefix(5)), ["setpriv", "--pdeathsig", "KILL", "--", "unshare"])
        XCTAssertTrue(plan.argv.contains("--net"))
        XCTAssertEqual(Array(plan.argv.suffix(2)), ["python3", "-V"])
        XCTAssertTrue(plan.script.contains("pivot_root"))
        XCTAssertTrue(plan.script.contains("remount,bind,ro,nosuid,nodev"))
        XCTAssertTrue(plan.script.contains("--no-new-privs"))
        XCTAssertTrue(plan.script.contains("'/cg/cgroup.procs'"))
        let networked = NamespaceSandbox(layout: FarmLayout(path: "/home")).plan(
            SandboxConfiguration(layers: ["/img"], command: ["true"], network: true), scratch: "/s", cgroupDirectories: [], rlimits: [])
        XCTAssertFalse(networked.argv.contains("--net"))
    }

    func assertNoProcess(matching text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let cmdline = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if cmdline.contains(text) && !cmdline.contains("python3 -c") || cmdline.hasPrefix("sleep 100") {
                XCTFail("process left behind: \(entry) \(cmdline)", file: file, line: line)
            }
        }
    }
}

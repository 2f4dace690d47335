import BuildSandbox
import Foundation
import TestSupport
import WheelAudit
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Downloads with retries and backoff (the package index is the only network here).
func downloadWithRetries(_ arguments: [String]) throws {
    var lastError = ""
    for attempt in 1...4 {
        var env = ProcessInfo.processInfo.environment
        env["PIP_FIND_LINKS"] = ""
        let result = try ProcessRunner.run("/usr/bin/python3", ["-m", "pip", "download", "--quiet"] + arguments, environment: env)
        if result.status == 0 { return }
        lastError = result.stderr
        sleep(UInt32(attempt * attempt * 2))
    }
    XCTFail("pip download \(arguments.joined(separator: " ")) failed: \(lastError)")
    throw BasicsError.processFailed(program: "pip download", status: 1, stderr: lastError)
}

final class RealBuildTests: XCTestCase {
    /// markupsafe from its sdist, in a sandbox of the Debian 12 target, with its build
    /// requirements supplied as a local wheelhouse and no network.
    func testMarkupsafeBuildsOfflineInTheSandbox() throws {
        let (store, image) = try TestImage.get()
        let cache = "\(TestSupport.repositoryRoot)/.build-fixtures/markupsafe"
        let sdists = "\(cache)/sdist", wheelhouse = "\(cache)/wheelhouse"
        if !FileManager.default.fileExists(atPath: "\(sdists)/markupsafe-3.0.2.tar.gz") {
            try downloadWithRetries(["--no-deps", "--no-binary", "markupsafe", "-d", sdists, "markupsafe==3.0.2"])
        }
        if ((try? FileManager.default.contentsOfDirectory(atPath: wheelhouse)) ?? []).isEmpty {
            try downloadWithRetries(["--no-deps", "--only-binary", ":all:", "-d", wheelhouse, "setuptools>=70.1"])
        }
        let out = try TemporaryDirectory(prefix: "wheelfarm-out")
        chmod(out.path, 0o777)
        var environment = SandboxConfiguration.defaultEnvironment
        environment["CIBUILDWHEEL"] = "1"  // markupsafe then fails instead of silently dropping its extension
        let config = SandboxConfiguration(
            layers: [store.rootfs(digest: image.digest)],
            command: [
                "python3", "-m", "pip", "wheel", "--no-index", "--find-links", "/wheelhouse", "--no-deps",
                "/src/markupsafe-3.0.2.tar.gz", "-w", "/out"
            ],
            environment: environment,
            mounts: [
                BindMount(source: sdists, destination: "/src", readOnly: true),
                BindMount(source: wheelhouse, destination: "/wheelhouse", readOnly: true),
                BindMount(source: out.path, destination: "/out", readOnly: false)
            ],
            limits: SandboxLimits(wallSeconds: 600, memoryBytes: 2 << 30, maxProcesses: 512, diskBytes: 2 << 30))
        var log: [UInt8] = []
        let result = try NamespaceSandbox(layout: store.layout).run(config) { chunk, _ in log.append(contentsOf: chunk) }
        let text = String(decoding: log, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        let wheels = try FileManager.default.contentsOfDirectory(atPath: out.path)
        XCTAssertEqual(wheels, ["markupsafe-3.0.2-cp311-cp311-linux_x86_64.whl"], text)
        guard let wheel = wheels.first else { return }

        // The wheel holds the compiled extension, and audited against the toolchain's own root it
        // needs nothing external.
        let catalog = try PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)
        let analysis = try WheelAnalyzer(catalog: catalog, root: store.rootfs(digest: image.digest)).analyze(path: "\(out.path)/\(wheel)")
        XCTAssertEqual(analysis.binaries.filter(\.isExtension).map(\.path), ["markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so"])
        XCTAssertTrue(analysis.report.externalLibraries.isEmpty, "\(analysis.report.externalLibraries)")
        XCTAssertTrue(analysis.report.repairTag.hasPrefix("manylinux_"), analysis.report.repairTag)
    }
}

final class TeardownTests: XCTestCase {
    /// `kill -9` of wheelfarm in the middle of a run leaves no process and no mount behind.
    func testKillingWheelfarmTearsTheSandboxDown() throws {
        let (store, _) = try TestImage.get()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wheelfarm").path
        let candidates = [binary, "\(TestSupport.repositoryRoot)/.build/debug/wheelfarm"]
        guard let wheelfarm = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("the wheelfarm binary is not built")
        }
        let argv = [wheelfarm, "sandbox", "run", "--home", store.layout.path, TestImage.target, "--", "sh", "-c", "setsid sleep 1999 & sleep 1998"]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        XCTAssertEqual(posix_spawn(&pid, wheelfarm, nil, nil, &cArgs, environ), 0)
        // Wait (by state, not by time) until both sleeps run inside the sandbox.
        var seen = false
        for _ in 0..<600 where !seen {
            seen = processes(matching: "sleep 1998").count == 1 && processes(matching: "sleep 1999").count == 1
            if !seen { usleep(50_000) }
        }
        XCTAssertTrue(seen, "the sandboxed processes never started")
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        var gone = false
        for _ in 0..<200 where !gone {
            gone = processes(matching: "sleep 199").isEmpty
            if !gone { usleep(50_000) }
        }
        XCTAssertTrue(gone, "processes survived: \(processes(matching: "sleep 199"))")
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        XCTAssertFalse(mounts.contains("wheelfarm-root") || mounts.contains("wheelfarm-scratch"), "mounts leaked")
        // The dead run's scratch folder and cgroups are swept by the next run.
        let next = try NamespaceSandbox(layout: store.layout).run(
            SandboxConfiguration(layers: [store.rootfs(digest: TestImage.get().1.digest)], command: ["true"])
        ) { _, _ in }
        XCTAssertEqual(next.outcome, .exited(0))
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: "\(store.layout.path)/scratch")) ?? [], [])
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/memory/wheelfarm")) ?? []).filter { $0.hasPrefix("run-\(pid)-") }
        XCTAssertEqual(leftovers, [])
    }

    func processes(matching text: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> String? in
            guard Int(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let cmdline = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return cmdline.hasPrefix(text) ? cmdline : nil
        }
    }
}

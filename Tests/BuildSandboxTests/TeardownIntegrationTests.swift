import BuildSandbox
import Foundation
import TestSupport
import WheelAudit
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

final class TeardownIntegrationTests: XCTestCase {
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

import FarmStore
import Foundation
import TestSupport
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// `wheelfarm build -r --publish` of binary sdists killed with SIGKILL at random moments of every
/// phase: the toolchain image being made, the derived root with its source library, builds,
/// repairs, test installs and publishing. After every kill no mount is left under the farm's
/// home; after the final run every job is final, each wheel is published once with the bytes the
/// build store holds and verifies, and nothing partial, no leftover folder and no process remain.
/// 30 kills here, 100 in the long suite (WHEELFARM_LONG_TESTS=1); the seed is printed, and
/// WHEELFARM_CRASH_SEED replays one.
final class CrashIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"
    /// PyYAML with libyaml from its Debian source package (a source_libraries recipe, grafted), a
    /// small C extension, and a pure wheel.
    static let requirements = ["pyyaml==6.0.2", "markupsafe==3.0.2", "six==1.16.0"]
    var work: TemporaryDirectory!

    override func tearDown() { work = nil }

    /// A farm home of its own (no shared images: the image is made here, under the kills), and a
    /// data folder with the repository's targets and a recipe that builds libyaml from source.
    func prepare() throws -> (home: String, binary: String, environment: [String: String]) {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        let binary = try TestSupport.wheelfarmBinary()
        work = try TemporaryDirectory(prefix: "wf-crash")
        let home = "\(work.path)/home"
        let data = "\(work.path)/data"
        try FileManager.default.createDirectory(atPath: "\(data)/recipes", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(data)/toolchains", withDestinationPath: "\(TestSupport.repositoryRoot)/toolchains")
        let recipe = """
            {"//": "libyaml from its Debian source package, built in the sandbox, then grafted",
             "packages": ["cmake"],
             "source_libraries": [{"source": "libyaml",
               "configure": "cmake -S . -B /tmp/b -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX=\\"$PREFIX\\"",
               "build": "cmake --build /tmp/b -j 2 && cmake --install /tmp/b"}],
             "environment": {"CFLAGS": "-I/opt/wheelfarm/prefix/include", "LDFLAGS": "-L/opt/wheelfarm/prefix/lib"},
             "test_command": "python -c 'import yaml; assert yaml.__with_libyaml__'"}
            """
        try Files.writeAtomically(Array(recipe.utf8), to: "\(data)/recipes/pyyaml.json")
        // sdists are shared with the other tests: a download is not what this test is about.
        let shared = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(shared)/sources", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(home)/sources", withDestinationPath: "\(shared)/sources")
        try (Self.requirements.joined(separator: "\n") + "\n").write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["WHEELFARM_DATA_DIR"] = data
        return (home, binary, environment)
    }

    func start(_ binary: String, _ arguments: [String], environment: [String: String], log: String) throws -> (Process, FileHandle) {
        try TestSupport.startLogged(binary, arguments, environment: environment, log: log)
    }

    /// Mounts under `home` seen from here (a sandbox's and an image build's live in namespaces that die with them).
    func mounts(under home: String) -> [String] { SafeRemoval.mounts(beneath: home) }

    /// Processes whose root, working folder or program lies under `home`.
    func processes(under home: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid -> String? in
            guard Int32(pid) != nil, Int32(pid) != getpid() else { return nil }
            for link in ["root", "cwd", "exe"] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/\(link)"), target.hasPrefix(home) {
                    return "\(pid) (\(link) \(target))"
                }
            }
            return nil
        }
    }

    func waitForNoMounts(under home: String) -> [String] {
        for _ in 0..<50 {
            if mounts(under: home).isEmpty { return [] }
            usleep(100_000)
        }
        return mounts(under: home)
    }

    func testKilledAtRandomMomentsOfEveryPhaseLeavesNothingBehind() throws {
        let (home, binary, environment) = try prepare()
        let kills = ProcessInfo.processInfo.environment["WHEELFARM_LONG_TESTS"] == "1" ? 100 : 30
        let seed = ProcessInfo.processInfo.environment["WHEELFARM_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var random = SplitMix(seed: seed)
        print("crash test seed \(seed) (WHEELFARM_CRASH_SEED=\(seed) replays it), \(kills) kills")
        let arguments = ["build", "-r", "\(work.path)/requirements.txt", "--target", Self.target, "--home", home, "--publish", "--jobs", "2"]
        var phases: [String: Int] = [:]
        // Each kill aims at a phase: the run goes on until the log shows that phase (or a later
        // one), then dies a random moment into it. A sixth of the kills hit the image, a sixth
        // the derived root with its libyaml build, the rest cycle through the build's stages and
        // the publish. (Kills at random times alone all land in the first image build, which
        // takes longer than any delay on a fresh machine.)
        let later = ["prepare", "build", "test", "store", "publish"]
        let schedule = (0..<kills).map { round in
            round < kills / 6 ? "image" : round < kills / 3 ? "derived root" : later[(round - kills / 3) % later.count]
        }
        for (index, aim) in schedule.enumerated() {
            let round = index + 1
            let log = "\(work.path)/kill-\(round).log"
            let (process, handle) = try start(binary, arguments, environment: environment, log: log)
            let started = Date()
            while process.isRunning && Date().timeIntervalSince(started) < 600 && Self.order(Self.phase(log)) < Self.order(aim) {
                usleep(50_000)
            }
            let delay = Double(random.next() % (aim == "image" || aim == "derived root" ? 20_000 : 1_500)) / 1000
            Thread.sleep(forTimeInterval: delay)
            let alive = process.isRunning
            let phase = Self.phase(log)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try handle.close()
            phases[phase, default: 0] += 1
            print(
                "kill \(round): aimed at \(aim), SIGKILL \(String(format: "%.2f", delay)) s into it, during \(phase)\(alive ? "" : " (it had ended)")")
            XCTAssertEqual(waitForNoMounts(under: home), [], "kill \(round) left mounts under the home")
        }
        print("kills by phase: \(phases.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")

        // To the end, then the queue drained: everything lands once.
        let (final, finalHandle) = try start(
            binary, arguments + ["--report-json", "\(work.path)/final.json"], environment: environment, log: "\(work.path)/final.log")
        final.waitUntilExit()
        try finalHandle.close()
        XCTAssertEqual(final.terminationStatus, 0, (try? String(contentsOfFile: "\(work.path)/final.log", encoding: .utf8)) ?? "")
        let (drain, drainHandle) = try start(binary, ["work", "--home", home], environment: environment, log: "\(work.path)/work.log")
        drain.waitUntilExit()
        try drainHandle.close()
        XCTAssertEqual(drain.terminationStatus, 0)

        let store = try JobStore(path: "\(home)/state/farm.sqlite")
        let all = try store.jobs()
        XCTAssertTrue(all.allSatisfy { $0.state.isFinal }, "no job lost in the queue: \(all.filter { !$0.state.isFinal }.map { "\($0.number) \($0.state)" })")
        for requirement in Self.requirements {
            XCTAssertLessThanOrEqual(all.filter { $0.requirement == requirement && $0.state == .succeeded }.count, 1, "\(requirement) built twice")
        }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(work.path)/final.json"))) as? [String: Any]
        let rows = try XCTUnwrap(report?["results"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        for row in rows {
            let project = try XCTUnwrap(row["project"] as? String)
            let wheel = try XCTUnwrap(row["wheel"] as? String, "\(row)")
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(home)/repository/files/\(project)")
            XCTAssertEqual(files.filter { $0.hasSuffix(".whl") }, [wheel], "published once: \(files)")
            XCTAssertEqual(try Digest.hex(Digest.sha256(fileAt: "\(home)/repository/files/\(project)/\(wheel)")), row["sha256"] as? String)
            XCTAssertEqual(try ProcessRunner.run(binary, ["verify", try XCTUnwrap(row["path"] as? String), "--home", home]).status, 0)
        }
        XCTAssertTrue(rows.contains { ($0["wheel"] as? String)?.hasPrefix("pyyaml-6.0.2-") == true })
        let pyyaml = try XCTUnwrap(try BuildStore(layout: FarmLayout(path: home)).record(in: "\(home)/builds/pyyaml/6.0.2/\(Self.target)"))
        XCTAssertTrue(pyyaml.grafted.contains { $0.soname.hasPrefix("libyaml") }, "libyaml, built from source, is grafted: \(pyyaml.grafted)")

        // Nothing is left: no mount, no leftover folder, no partial file, no process.
        XCTAssertEqual(mounts(under: home), [])
        XCTAssertEqual(
            try ProcessRunner.run(binary, ["gc", "--home", home, "--dry-run"], environment: environment).stdout.contains("left by a process that is gone"),
            false)
        for folder in ["\(home)/jobs", "\(home)/scratch"] {
            XCTAssertEqual(((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.contains("@") }, [], folder)
        }
        for folder in ["\(home)/images", "\(home)/derived"] {
            let staging = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix(".") }
            XCTAssertEqual(staging, [], "staging left in \(folder)")
        }
        XCTAssertEqual(((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/repository/incoming")) ?? []).filter { !$0.hasPrefix(".") }, [])
        let walker = FileManager.default.enumerator(atPath: "\(home)/builds")
        while let item = walker?.nextObject() as? String {
            let name = (item as NSString).lastPathComponent
            XCTAssertFalse(name.contains(".tmp-"), "a partial file is left: \(item)")
        }
        XCTAssertEqual(processes(under: home), [])
    }

    /// Two farms share a home (two CI runs at once) and one is killed: the survivor takes over the
    /// image lock, sweeps only the dead one's folders, and everything ends clean.
    func testTwoFarmsOneKilledLeaveTheSameCleanState() throws {
        let (home, binary, environment) = try prepare()
        try "markupsafe==3.0.2\n".write(toFile: "\(work.path)/a.txt", atomically: true, encoding: .utf8)
        try "six==1.16.0\nmsgpack==1.1.0\n".write(toFile: "\(work.path)/b.txt", atomically: true, encoding: .utf8)
        let common = ["--target", Self.target, "--home", home]
        let (first, firstHandle) = try start(binary, ["build", "-r", "\(work.path)/a.txt"] + common, environment: environment, log: "\(work.path)/a.log")
        Thread.sleep(forTimeInterval: 1)
        let (second, secondHandle) = try start(binary, ["build", "-r", "\(work.path)/b.txt"] + common, environment: environment, log: "\(work.path)/b.log")
        // The first dies while one of them makes the image (or builds): the second must go on.
        Thread.sleep(forTimeInterval: 8)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        try firstHandle.close()
        second.waitUntilExit()
        try secondHandle.close()
        XCTAssertEqual(second.terminationStatus, 0, (try? String(contentsOfFile: "\(work.path)/b.log", encoding: .utf8)) ?? "")
        XCTAssertEqual(waitForNoMounts(under: home), [])
        // The killed one's request, run again, finishes what it started.
        let (again, againHandle) = try start(binary, ["build", "-r", "\(work.path)/a.txt"] + common, environment: environment, log: "\(work.path)/a2.log")
        again.waitUntilExit()
        try againHandle.close()
        XCTAssertEqual(again.terminationStatus, 0, (try? String(contentsOfFile: "\(work.path)/a2.log", encoding: .utf8)) ?? "")
        let all = try JobStore(path: "\(home)/state/farm.sqlite").jobs()
        XCTAssertTrue(all.allSatisfy { $0.state.isFinal }, "\(all.map { "\($0.number) \($0.state)" })")
        XCTAssertEqual(((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/jobs")) ?? []).filter { $0.contains("@") }, [])
        XCTAssertEqual(processes(under: home), [])
    }

    /// Where a phase falls in a run (the image first, the publish last).
    static func order(_ phase: String) -> Int {
        [
            "start-up", "image", "resolve", "fetch", "extract", "prepare", "derived root", "build", "audit", "repair", "test", "store", "sign", "publish"
        ].firstIndex(of: phase) ?? 0
    }

    /// What the killed run was doing, from the last progress line of its log.
    static func phase(_ log: String) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").reversed()
        if lines.contains(where: { $0.contains("mmdebstrap") || $0.contains("toolchain") || $0.contains("frontend") }),
            !text.contains("] resolve:") && !text.contains("] fetch:")
        {
            return "image"
        }
        for line in lines {
            for (marker, phase) in [
                ("published", "publish"), ("sign:", "sign"), ("store:", "store"), ("test:", "test"), ("repair:", "repair"),
                ("audit:", "audit"), ("build:", "build"), ("configuring", "derived root"), ("building libyaml", "derived root"),
                ("distribution packages", "derived root"), ("prepare", "prepare"), ("extract", "extract"), ("fetch", "fetch"),
                ("resolve", "resolve")
            ] where line.contains(marker) {
                return phase
            }
        }
        return "start-up"
    }
}

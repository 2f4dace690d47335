import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// The dashboard in a real browser while a real farm builds: Chromium (headless, Debian's)
/// driven by selenium over `wheelfarm serve`, with `wheelfarm build -r` running two real builds
/// from the package index: one whose recipe's test fails on purpose, one whose test prints a
/// line a second for 25 seconds (the live log). Screenshots are kept in
/// `.build-fixtures/screenshots/`. The metrics are read by Prometheus' own parser.
final class DashboardBrowserIntegrationTests: XCTestCase {
    var work: TemporaryDirectory!
    var processes: [Process] = []
    var handles: [FileHandle] = []

    override func tearDown() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        for handle in handles { try? handle.close() }
        work = nil
    }

    var shared: String { ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home" }
    static let target = "cp311-bookworm-x86_64"

    func start(_ binary: String, _ arguments: [String], environment: [String: String], log: String) throws -> Process {
        let (process, handle) = try TestSupport.startLogged(binary, arguments, environment: environment, log: log)
        processes.append(process)
        handles.append(handle)
        return process
    }

    func testWhatAPersonSeesWhileTheFarmBuilds() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        let binary = try TestSupport.wheelfarmBinary()
        let python = try TestSupport.requireTool("python", hint: "bash ci/setup.sh makes the tools venv with selenium")
        _ = try TestSupport.requireTool("chromedriver", hint: "apt-get install chromium chromium-driver (bash ci/setup.sh)")
        let selenium = try ProcessRunner.run(python, ["-c", "import selenium, prometheus_client"])
        if selenium.status != 0 {
            if TestSupport.inCI { XCTFail("selenium or prometheus-client is missing from the tools venv: bash ci/setup.sh") }
            throw XCTSkip("selenium or prometheus-client is missing from the tools venv")
        }
        work = try TemporaryDirectory(prefix: "wf-browser")
        let home = "\(work.path)/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for shareable in ["images", "toolchains", "derived", "sources", "locks"] {
            try FileManager.default.createDirectory(atPath: "\(shared)/\(shareable)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
        }
        // Recipes for the scene: a test that fails on purpose, and one that prints for a while.
        let data = "\(work.path)/data"
        try FileManager.default.createDirectory(atPath: "\(data)/recipes", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(data)/toolchains", withDestinationPath: "\(TestSupport.repositoryRoot)/toolchains")
        try Files.writeAtomically(
            Array(#"{"test_command": "echo 'failing on purpose'; exit 3"}"#.utf8), to: "\(data)/recipes/iniconfig.json")
        try Files.writeAtomically(
            Array(#"{"test_command": "for i in $(seq 1 25); do echo tick $i; sleep 1; done"}"#.utf8), to: "\(data)/recipes/six.json")
        var environment = ProcessInfo.processInfo.environment
        environment["WHEELFARM_DATA_DIR"] = data
        environment["WHEELFARM_HOME"] = home
        if !FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(Self.target).json") {
            XCTAssertEqual(try ProcessRunner.run(binary, ["toolchain", "build", Self.target, "--home", shared]).status, 0)
        }

        let port = 20000 + Int(getpid() % 20000)
        let base = "http://127.0.0.1:\(port)"
        _ = try start(binary, ["serve", "--port", String(port)], environment: environment, log: "\(work.path)/serve.log")
        let operatorToken = try ProcessRunner.run(binary, ["token", "create", "--operator", "--note", "browser test"], environment: environment)
        XCTAssertEqual(operatorToken.status, 0, operatorToken.stderr)
        try "iniconfig==2.0.0\nsix==1.16.0\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)
        let build = try start(
            binary, ["build", "-r", "\(work.path)/requirements.txt", "--target", Self.target, "--jobs", "1", "--publish"], environment: environment,
            log: "\(work.path)/build.log")

        let screenshots = "\(TestSupport.repositoryRoot)/.build-fixtures/screenshots"
        let check = try ProcessRunner.run(
            python,
            [
                "\(TestSupport.repositoryRoot)/Tests/FarmWebTests/browser/dashboard_check.py", base,
                operatorToken.stdout.trimmingCharacters(in: .whitespacesAndNewlines), screenshots, "six"
            ], environment: ["PATH": "/usr/bin:/bin", "HOME": work.path])
        let buildLog = (try? String(contentsOfFile: "\(work.path)/build.log", encoding: .utf8)) ?? ""
        XCTAssertEqual(check.status, 0, "browser: \(check.stdout)\(check.stderr)\n--- build:\n\(buildLog.suffix(3000))")
        XCTAssertTrue(check.stdout.contains("OK"), check.stdout)
        for shot in ["overview.png", "running-job.png", "failed-job.png", "project.png", "overview-phone.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(screenshots)/\(shot)"), "screenshot \(shot)")
        }

        // Prometheus' own parser reads the metrics.
        let parsed = try ProcessRunner.run(
            python,
            [
                "-c",
                """
                import sys, urllib.request
                from prometheus_client.parser import text_string_to_metric_families
                text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
                names = {family.name for family in text_string_to_metric_families(text)}
                print(" ".join(sorted(names)))
                """, base
            ])
        XCTAssertEqual(parsed.status, 0, parsed.stderr)
        for name in ["wheelfarm_jobs", "wheelfarm_builds", "wheelfarm_queue_oldest_seconds", "wheelfarm_stage_seconds", "wheelfarm_http_requests"] {
            XCTAssertTrue(parsed.stdout.split(separator: " ").contains { $0.hasPrefix(name) }, "\(name) in \(parsed.stdout)")
        }
        build.waitUntilExit()
    }
}

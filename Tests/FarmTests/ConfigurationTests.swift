import FarmCore
import Foundation
import WheelfarmBasics
import XCTest

/// The TOML configuration: file, then environment, then flags; clear errors.
final class ConfigurationTests: XCTestCase {
    func testLayersAndSources() throws {
        let directory = try TemporaryDirectory(prefix: "wf-config")
        let path = "\(directory.path)/config.toml"
        try """
        home = "\(directory.path)/farm"
        targets = ["cp311-bookworm-glibc2.17-x86_64", "cp313-trixie-glibc2.17-x86_64"]
        jobs = 3

        [retry]
        max_attempts = 6
        base_seconds = 2.5

        [repository]
        publish = true
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try FarmConfiguration(configPath: path, flags: ["jobs": "5"], environment: ["WHEELFARM_RETRY_MAX_ATTEMPTS": "2"])
        XCTAssertEqual(configuration.home, "\(directory.path)/farm")
        XCTAssertEqual(configuration.targets, ["cp311-bookworm-glibc2.17-x86_64", "cp313-trixie-glibc2.17-x86_64"])
        XCTAssertEqual(configuration.limits.jobs, 5, "the flag wins")
        XCTAssertEqual(configuration.limits.retry.maxAttempts, 2, "the environment beats the file")
        XCTAssertEqual(configuration.limits.retry.baseSeconds, 2.5)
        XCTAssertTrue(configuration.publish)
        let shown = configuration.rendered()
        XCTAssertTrue(shown.contains("jobs = 5  # flag"), shown)
        XCTAssertTrue(shown.contains("max_attempts = 2  # environment WHEELFARM_RETRY_MAX_ATTEMPTS"), shown)
        XCTAssertTrue(shown.contains("base_seconds = 2.5  # file \(path)"), shown)
        XCTAssertTrue(shown.contains("max_seconds = 600  # default"), shown)
        // What config show prints is itself a valid configuration file with the same values.
        try shown.write(toFile: "\(directory.path)/shown.toml", atomically: true, encoding: .utf8)
        let reread = try FarmConfiguration(configPath: "\(directory.path)/shown.toml", environment: [:])
        XCTAssertEqual(reread.limits, configuration.limits)
        XCTAssertEqual(reread.targets, configuration.targets)
    }

    func testBadFilesAndValuesAreNamed() throws {
        let directory = try TemporaryDirectory(prefix: "wf-config-bad")
        let path = "\(directory.path)/config.toml"
        try "jobs = \"many\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FarmConfiguration(configPath: path, environment: [:])) {
            XCTAssertTrue("\($0)".contains("'jobs' must be a whole number"), "\($0)")
        }
        try "[retry]\nmax_attemps = 3\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FarmConfiguration(configPath: path, environment: [:])) {
            XCTAssertTrue("\($0)".contains("unknown setting 'retry.max_attemps'"), "\($0)")
        }
        try "jobs = 2\n[oops\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FarmConfiguration(configPath: path, environment: [:])) { XCTAssertTrue("\($0)".contains("\(path):2"), "\($0)") }
        XCTAssertThrowsError(try FarmConfiguration(configPath: nil, homeFlag: directory.path + "/none", environment: ["WHEELFARM_JOBS": "-1"])) {
            XCTAssertTrue("\($0)".contains("WHEELFARM_JOBS"), "\($0)")
        }
    }
}

import Foundation
import PackagingModel
import WheelfarmBasics
import XCTest

@testable import WheelBuilder

/// Rebuilds of one version with other inputs get the next PEP 427 build number.
final class BuildNumberTests: XCTestCase {
    func record(wheel: String, sha256: String) -> BuildRecord {
        var record = BuildRecord(target: "t", builderVersion: "test", startedAt: Date())
        record.project = "demo"
        record.version = "1.0"
        record.wheel = wheel
        record.wheelSha256 = sha256
        record.outcome = .succeeded
        return record
    }

    func testNextBuildNumber() throws {
        let dir = try TemporaryDirectory(prefix: "wf-buildnumber")
        let plain = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
        let name = try XCTUnwrap(WheelFilename(plain))
        try Files.writeAtomically([1], to: "\(dir.path)/\(plain)")
        // Same bytes: no number. Other bytes: 1. After a numbered build: the next one.
        XCTAssertNil(BuildStore.nextBuildNumber(previous: record(wheel: plain, sha256: "aa"), directory: dir.path, name: name, sha256: "aa"))
        XCTAssertEqual(BuildStore.nextBuildNumber(previous: record(wheel: plain, sha256: "aa"), directory: dir.path, name: name, sha256: "bb"), 1)
        let numbered = "demo-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl"
        try Files.writeAtomically([2], to: "\(dir.path)/\(numbered)")
        XCTAssertEqual(BuildStore.nextBuildNumber(previous: record(wheel: numbered, sha256: "bb"), directory: dir.path, name: name, sha256: "cc"), 2)
        // Another tag (a new auditor verdict): a new name already, no number needed.
        let other = try XCTUnwrap(WheelFilename("demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"))
        XCTAssertNil(BuildStore.nextBuildNumber(previous: record(wheel: plain, sha256: "aa"), directory: dir.path, name: other, sha256: "bb"))
        // The earlier wheel is gone: nothing to keep apart from.
        XCTAssertNil(
            BuildStore.nextBuildNumber(
                previous: record(wheel: "demo-1.0-py3-none-any.whl", sha256: "aa"), directory: dir.path,
                name: try XCTUnwrap(WheelFilename("demo-1.0-py3-none-any.whl")), sha256: "bb"))
        // pip orders the numbered file above the plain one.
        XCTAssertEqual(WheelFilename(numbered)?.build, "1")
    }
}

import FarmStore
import Foundation
import PackageIndex
import PackagingModel
import TestSupport
import WheelfarmBasics
import XCTest

@testable import FarmCore

/// The nightly's cooling-off period for new releases of followed projects.
final class CoolingOffTests: XCTestCase {
    func file(_ name: String, _ uploaded: Date?, yanked: Bool = false) -> IndexFile {
        IndexFile(filename: name, url: "https://files.invalid/\(name)", sha256: nil, requiresPython: nil, yanked: yanked, size: nil, uploadTime: uploaded)
    }

    func testTheNewestReleaseOldEnoughIsChosenAndYoungerOnesAreHeld() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let day = 86_400.0
        let files = [
            file("demo-1.0.tar.gz", now.addingTimeInterval(-100 * day)), file("demo-1.1.tar.gz", now.addingTimeInterval(-20 * day)),
            file("demo-1.2.tar.gz", now.addingTimeInterval(-2 * day)), file("demo-1.3rc1.tar.gz", now.addingTimeInterval(-1 * day)),
            file("demo-1.4.tar.gz", now.addingTimeInterval(-1 * day), yanked: true)
        ]
        let week = Nightly.coolingOff(project: "demo", files: files, now: now, days: 7)
        XCTAssertEqual(week.version, PackageVersion("1.1"))
        XCTAssertEqual(
            week.held, [HeldRelease(project: "demo", version: "1.2", uploaded: now.addingTimeInterval(-2 * day), eligible: now.addingTimeInterval(5 * day))])
        let month = Nightly.coolingOff(project: "demo", files: files, now: now, days: 30)
        XCTAssertEqual(month.version, PackageVersion("1.0"))
        XCTAssertEqual(month.held.map(\.version), ["1.2", "1.1"])
        XCTAssertNil(Nightly.coolingOff(project: "demo", files: files, now: now, days: 365).version)
        // An index without upload times: every release counts as old enough.
        XCTAssertEqual(Nightly.coolingOff(project: "demo", files: [file("demo-2.0.tar.gz", nil)], now: now, days: 7).version, PackageVersion("2.0"))
        XCTAssertEqual(IndexFile.parseUploadTime("2024-12-04T10:11:12.123456Z")?.timeIntervalSince1970.rounded(), 1_733_307_072)
        XCTAssertEqual(IndexFile.parseUploadTime("2024-12-04T10:11:12Z")?.timeIntervalSince1970, 1_733_307_072)
    }

    /// Against the real index, with the nightly's clock set just after a real release: the
    /// release is held back and the one before it planned; a month later the release is planned.
    func testAFollowedProjectsNewReleaseWaitsForThePeriodOnTheRealIndex() throws {
        let work = try TemporaryDirectory(prefix: "wf-cooling")
        let context = try FarmContext.open(configPath: nil, homeFlag: "\(work.path)/home")
        let builder = try context.builder(indexURL: nil, notice: { _ in }, progress: { _, _ in })
        try context.jobs().track(["six"])
        let files = try builder.environment.index.files(of: "six")
        let release = try XCTUnwrap(
            files.compactMap { file in
                SourceResolver.sdistVersion(file.filename, project: "six").flatMap { v in file.uploadTime.map { (v, $0) } }
            }.filter { !$0.0.isPrerelease }.max { $0.0 < $1.0 }, "the index gives six's upload times")
        let request = try context.jobs().createRequest(RequestRecord(kind: "nightly", description: "test"))
        let nightly = Nightly(context: context, builder: builder, toolchains: try context.toolchains())
        let target = "cp311-bookworm-x86_64"

        let early = try nightly.plan(
            Nightly.Options(targets: [target], refresh: false, publish: nil, minReleaseAgeDays: 30, now: release.1.addingTimeInterval(86_400)),
            request: request.id ?? 0)
        XCTAssertEqual(early.held.map(\.version), [release.0.description])
        XCTAssertEqual(early.held.first?.eligible, release.1.addingTimeInterval(30 * 86_400))
        let pinned = try XCTUnwrap(early.jobs.first?.requirement)
        XCTAssertTrue(pinned.hasPrefix("six=="), pinned)
        XCTAssertNotEqual(pinned, "six==\(release.0)", "an older release is built meanwhile")

        let later = try nightly.plan(
            Nightly.Options(targets: [target], refresh: false, publish: nil, minReleaseAgeDays: 30, now: release.1.addingTimeInterval(31 * 86_400)),
            request: request.id ?? 0)
        XCTAssertEqual(later.held, [])
        XCTAssertEqual(later.jobs.map(\.requirement), ["six==\(release.0)"])
        // Without a period, the unpinned name as before.
        let none = try nightly.plan(Nightly.Options(targets: [target], refresh: false, publish: nil), request: request.id ?? 0)
        XCTAssertEqual(none.jobs.map(\.requirement), ["six"])
    }
}

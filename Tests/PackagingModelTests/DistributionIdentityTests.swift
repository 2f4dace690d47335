import PackagingModel
import XCTest

/// The one identity check: what a build hands back is the project and version it was asked for.
final class DistributionIdentityTests: XCTestCase {
    func wheel(_ name: String) throws -> WheelFilename { try XCTUnwrap(WheelFilename(name)) }

    func testTheSameDistributionPassesWhateverItsSpelling() throws {
        XCTAssertNoThrow(
            try DistributionIdentity.check(
                wheel: wheel("MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.whl"), metadataName: "markupsafe", metadataVersion: "3.0.2",
                project: "markupsafe", version: "3.0.2"))
        XCTAssertNoThrow(
            try DistributionIdentity.check(
                wheel: wheel("zope.interface-7.0-py3-none-any.whl"), metadataName: "zope.interface", metadataVersion: "7.0.0",
                project: "Zope_Interface", version: "7.0"))
        // A source tree whose version only the backend knows: the name alone is checked.
        XCTAssertNoThrow(
            try DistributionIdentity.check(wheel: wheel("demo-1.2rc1-py3-none-any.whl"), metadataName: nil, metadataVersion: nil, project: "demo", version: nil)
        )
    }

    func testAnotherProjectOrVersionIsRefusedNamingBoth() throws {
        XCTAssertThrowsError(
            try DistributionIdentity.check(
                wheel: wheel("setuptools-99-py3-none-any.whl"), metadataName: nil, metadataVersion: nil, project: "impostor", version: "1.0")
        ) { XCTAssertTrue("\($0)".contains("made a wheel of setuptools"), "\($0)") }
        XCTAssertThrowsError(
            try DistributionIdentity.check(wheel: wheel("demo-2.0-py3-none-any.whl"), metadataName: nil, metadataVersion: nil, project: "demo", version: "1.0")
        ) { XCTAssertTrue("\($0)".contains("made version 2.0"), "\($0)") }
        XCTAssertThrowsError(
            try DistributionIdentity.check(
                wheel: wheel("demo-1.0-py3-none-any.whl"), metadataName: "other", metadataVersion: "1.0", project: "demo", version: "1.0")
        ) { XCTAssertTrue("\($0)".contains("METADATA"), "\($0)") }
        XCTAssertThrowsError(
            try DistributionIdentity.check(
                wheel: wheel("demo-1.0-py3-none-any.whl"), metadataName: "demo", metadataVersion: "1.1", project: "demo", version: "1.0"))
    }

    func testNamesAndVersionsThatCannotBePathsAreRefused() throws {
        for version in ["..", ".", "", "1.0/../..", "1.0\u{0}", String(repeating: "1.", count: 80) + "1"] {
            XCTAssertThrowsError(try DistributionIdentity.storeComponents(project: "demo", version: version), version)
        }
        for name in ["..", "-demo", "demo-", "a/b", "de mo", "démo", "", String(repeating: "a", count: 201)] {
            XCTAssertThrowsError(try DistributionIdentity.storeComponents(project: name, version: "1.0"), name)
        }
        XCTAssertEqual(try DistributionIdentity.storeComponents(project: "Zope.Interface", version: "1.0.POST1").project, "zope-interface")
        XCTAssertThrowsError(
            try DistributionIdentity.check(wheel: wheel("demo-..-py3-none-any.whl"), metadataName: nil, metadataVersion: nil, project: "demo", version: nil))
    }
}

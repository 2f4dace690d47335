import Foundation
import PackageIndex
import PackagingModel
import TestSupport
import WheelfarmBasics
import XCTest

/// Resolution and fetching against the real package index (the one pip is configured with).
final class IndexResolutionIntegrationTests: XCTestCase {
    func resolver() throws -> (SourceResolver, IndexClient) {
        let client = IndexClient(configuration: try IndexConfiguration.resolve())
        return (SourceResolver(client: client), client)
    }

    func testResolvesPinsRangesAndLatest() throws {
        let (resolver, _) = try resolver()
        let pinned = try resolver.resolve(XCTUnwrap(Requirement("MarkupSafe==3.0.2")), pythonVersion: "3.11")
        XCTAssertEqual(pinned.version.description, "3.0.2")
        XCTAssertEqual(pinned.file.filename, "markupsafe-3.0.2.tar.gz")
        XCTAssertEqual(pinned.file.sha256?.count, 64)
        let ranged = try resolver.resolve(XCTUnwrap(Requirement("markupsafe>=2.1,<3")), pythonVersion: "3.11")
        XCTAssertEqual(ranged.version.description, "2.1.5")
        let latest = try resolver.resolve(XCTUnwrap(Requirement("markupsafe")), pythonVersion: "3.11")
        XCTAssertGreaterThanOrEqual(latest.version, PackageVersion("3.0.2") ?? pinned.version)
        XCTAssertFalse(latest.version.isPrerelease)
        // Requires-Python: markupsafe 3 needs Python >= 3.9, so for 3.8 the 2.x line is chosen.
        let old = try resolver.resolve(XCTUnwrap(Requirement("markupsafe")), pythonVersion: "3.8")
        XCTAssertLessThan(old.version, PackageVersion("3.0") ?? old.version)
        XCTAssertThrowsError(try resolver.resolve(XCTUnwrap(Requirement("markupsafe==99.0")), pythonVersion: "3.11")) {
            XCTAssertTrue("\($0)".contains("no source distribution matches"), "\($0)")
        }
    }

    func testSecondFetchDownloadsNothingAndHashesAreChecked() throws {
        let (resolver, client) = try resolver()
        let source = try resolver.resolve(XCTUnwrap(Requirement("markupsafe==3.0.2")), pythonVersion: "3.11")
        let dir = try TemporaryDirectory()
        let store = SourceStore(directory: dir.path)
        let first = try store.fetch(source.file, client: client)
        XCTAssertTrue(first.downloaded)
        XCTAssertEqual(Digest.hex(try Digest.sha256(fileAt: first.path)), source.file.sha256)
        let second = try store.fetch(source.file, client: client)
        XCTAssertFalse(second.downloaded)
        XCTAssertEqual(second.path, first.path)
        var tampered = source.file
        tampered.sha256 = String(repeating: "0", count: 64)
        XCTAssertThrowsError(try SourceStore(directory: "\(dir.path)/other").fetch(tampered, client: client)) {
            XCTAssertTrue("\($0)".contains("does not match"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir.path)/other/\(tampered.sha256 ?? "")"))
    }
}

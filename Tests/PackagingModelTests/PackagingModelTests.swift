import PackagingModel
import XCTest

final class WheelFilenameTests: XCTestCase {
    func testParsesCompressedTagSets() throws {
        let name = try XCTUnwrap(WheelFilename("numpy-2.1.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"))
        XCTAssertEqual(name.distribution, "numpy")
        XCTAssertEqual(name.version, "2.1.2")
        XCTAssertNil(name.build)
        XCTAssertEqual(name.platformTags, ["manylinux_2_17_x86_64", "manylinux2014_x86_64"])
        XCTAssertEqual(name.expandedTags, ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"])
        XCTAssertEqual(name.description, "numpy-2.1.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        XCTAssertFalse(name.isPure)
    }

    func testBuildTagAndPure() throws {
        let name = try XCTUnwrap(WheelFilename("foo_bar-1.0-2-py3-none-any.whl"))
        XCTAssertEqual(name.build, "2")
        XCTAssertTrue(name.isPure)
        XCTAssertEqual(name.distInfoDirectory, "foo_bar-1.0.dist-info")
    }

    func testRejectsMalformedNames() {
        XCTAssertNil(WheelFilename("foo-1.0.tar.gz"))
        XCTAssertNil(WheelFilename("foo-1.0-py3-none.whl"))
        XCTAssertNil(WheelFilename("foo-1.0-x-py3-none-any.whl"), "a build tag must start with a digit")
        XCTAssertNil(WheelFilename("foo--py3-none-any.whl"))
    }
}

final class PlatformTagTests: XCTestCase {
    func testParsesEveryFamily() throws {
        XCTAssertEqual(PlatformTag("manylinux_2_17_x86_64")?.description, "manylinux_2_17_x86_64")
        XCTAssertEqual(PlatformTag("manylinux2014_aarch64")?.description, "manylinux_2_17_aarch64")
        XCTAssertEqual(PlatformTag("manylinux1_i686")?.description, "manylinux_2_5_i686")
        XCTAssertEqual(PlatformTag("manylinux2010_x86_64")?.minor, 12)
        XCTAssertEqual(PlatformTag("musllinux_1_2_x86_64")?.family, .musllinux)
        XCTAssertEqual(PlatformTag("linux_armv7l")?.architecture, "armv7l")
        XCTAssertEqual(PlatformTag("manylinux_2_28_ppc64le")?.architecture, "ppc64le")
        XCTAssertNil(PlatformTag("macosx_11_0_arm64"))
        XCTAssertNil(PlatformTag("manylinux_x_17_x86_64"))
        XCTAssertNil(PlatformTag("any"))
    }
}

final class RecordFileTests: XCTestCase {
    func testRoundTripWithQuoting() throws {
        let record = RecordFile(entries: [
            RecordEntry(path: "pkg/a,b.py", content: Array("x".utf8)),
            RecordEntry(path: "pkg/\"q\".py", hash: "sha256=abc", size: 3),
            RecordEntry(path: "pkg-1.0.dist-info/RECORD", hash: "", size: nil)
        ])
        let parsed = try RecordFile(parsing: record.text)
        XCTAssertEqual(parsed, record)
        XCTAssertEqual(parsed.entries[0].hash, "sha256=LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE")
    }

    func testRejectsMalformedRows() {
        XCTAssertThrowsError(try RecordFile(parsing: "a,b\n"))
        XCTAssertThrowsError(try RecordFile(parsing: "a,sha256=x,notanumber\n"))
        XCTAssertThrowsError(try RecordFile(parsing: "\"unterminated,x,1\n"))
    }
}

final class MetadataFileTests: XCTestCase {
    func testRepeatedKeysContinuationsAndBody() {
        let file = MetadataFile(
            parsing: "Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\nTag: cp311-abi3-linux_x86_64\nDescription: one\n  two\n\nbody text\n")
        XCTAssertEqual(file.values("tag"), ["cp311-cp311-linux_x86_64", "cp311-abi3-linux_x86_64"])
        XCTAssertEqual(file.value("Description"), "one\ntwo")
        XCTAssertEqual(file.body, "body text\n")
        XCTAssertEqual(file.value("Wheel-Version"), "1.0")
    }
}

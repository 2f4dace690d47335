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

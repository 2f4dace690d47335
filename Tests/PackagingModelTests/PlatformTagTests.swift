import PackagingModel
import XCTest

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

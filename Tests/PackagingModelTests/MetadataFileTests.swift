import PackagingModel
import XCTest

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

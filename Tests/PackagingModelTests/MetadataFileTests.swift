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
    func testCRLFAndAByteOrderMark() {
        let file = MetadataFile(parsing: "\u{FEFF}Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0\r\nSummary: one\r\n  two\r\n\r\nbody\r\n")
        XCTAssertEqual(file.value("Metadata-Version"), "2.1")
        XCTAssertEqual(file.value("Name"), "demo")
        XCTAssertEqual(file.value("Version"), "1.0")
        XCTAssertEqual(file.value("Summary"), "one\ntwo")
        XCTAssertEqual(file.body, "body\n")
    }
}

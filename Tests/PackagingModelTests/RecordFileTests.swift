import PackagingModel
import XCTest

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

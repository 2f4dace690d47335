import Foundation
import XCTest

@testable import WheelfarmBasics

/// Paths a user types: a one-character relative name (which this Foundation's NSString path
/// methods trap on) is made absolute first.
final class PathsTests: XCTestCase {
    func testOneCharacterRelativeNamesAreAbsoluteBeforeAnythingSplitsThem() throws {
        let work = try TemporaryDirectory(prefix: "wf-paths")
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(work.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let here = Paths.absolute(".")
        XCTAssertEqual(Paths.absolute("b"), "\(here)/b")
        XCTAssertEqual(Paths.parent("b"), here)
        XCTAssertEqual(Paths.parent("/b"), "/")
        XCTAssertEqual(Paths.parent("x/./b"), "\(here)/x")
        try Files.writeAtomically(Array("one".utf8), to: "b")
        XCTAssertEqual(Files.readText("\(here)/b"), "one")
    }
}

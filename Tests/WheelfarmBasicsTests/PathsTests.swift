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

    /// Builds sharing a home create the same folders at the same moment; none of them may fail
    /// because another got there first (Foundation's intermediate-folder creation did).
    func testFoldersMadeAtOnceByManyThreadsAllSucceed() throws {
        let work = try TemporaryDirectory(prefix: "wf-mkdir")
        let failures = Counter()
        for round in 0..<20 {
            let target = "\(work.path)/r\(round)/sources/aa/bb"
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { try Files.makeDirectories(target) } catch { failures.add() }
            }
            XCTAssertTrue(Files.isDirectory(target))
        }
        XCTAssertEqual(failures.value, 0)
        try Files.writeAtomically(Array("x".utf8), to: "\(work.path)/file")
        XCTAssertThrowsError(try Files.makeDirectories("\(work.path)/file/below"))
        // A link to a folder that is not there is named as such.
        try FileManager.default.createSymbolicLink(atPath: "\(work.path)/dangling", withDestinationPath: "\(work.path)/nowhere")
        XCTAssertThrowsError(try Files.makeDirectories("\(work.path)/dangling/x")) { error in
            XCTAssertTrue("\(error)".contains("a symbolic link to \(work.path)/nowhere, which is not there"), "\(error)")
        }
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

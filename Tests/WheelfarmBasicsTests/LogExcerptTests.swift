@_spi(AnyProgram) import WheelfarmBasics
import XCTest

final class LogExcerptTests: XCTestCase {
    func testTheFirstErrorComesFirstThenTheTail() {
        var lines = (1...40).map { "checking for feature \($0)... yes" }
        lines.append("src/closures.c:123:5: error: call to undeclared function 'open_temp_exec_file'")
        lines += (1...30).map { "  consequence \($0)" }
        lines.append("make: *** [Makefile:1] Error 1")
        let excerpt = LogExcerpt.meaningful(lines.joined(separator: "\n"), limit: 10)
        let kept = excerpt.split(separator: "\n").map(String.init)
        XCTAssertEqual(kept.first, "src/closures.c:123:5: error: call to undeclared function 'open_temp_exec_file'")
        XCTAssertEqual(kept.last, "make: *** [Makefile:1] Error 1")
        XCTAssertTrue(kept.contains("…"))
        XCTAssertLessThanOrEqual(kept.count, 11)
        XCTAssertFalse(excerpt.contains("feature 40"))
    }

    func testWithoutAnErrorLineTheTailIsShown() {
        let text = (1...30).map { "line \($0)" }.joined(separator: "\n")
        XCTAssertEqual(LogExcerpt.meaningful(text, limit: 3), "line 28\nline 29\nline 30")
        XCTAssertEqual(LogExcerpt.meaningful(""), "")
    }
}

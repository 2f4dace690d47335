import Foundation
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

/// Trust only what the operator installed: the data folder never comes from the current directory.
final class DataDirectoryTests: XCTestCase {
    func testTheCurrentDirectoryIsNeverTheDataFolder() throws {
        let hostile = try TemporaryDirectory(prefix: "wf-checkout")
        try FileManager.default.createDirectory(atPath: "\(hostile.path)/toolchains/policies", withIntermediateDirectories: true)
        try Files.writeAtomically(Array("{}".utf8), to: "\(hostile.path)/toolchains/policies/manylinux.json")
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(hostile.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        XCTAssertThrowsError(try DataDirectory.locate(environment: [:], executable: "/nonexistent/bin/wheelfarm"))
        // The operator's choices are taken, and checked.
        XCTAssertEqual(try DataDirectory.locate(environment: ["WHEELFARM_DATA_DIR": hostile.path], executable: "/x/wheelfarm"), hostile.path)
        XCTAssertThrowsError(try DataDirectory.locate(configured: "/nonexistent", environment: [:], executable: "/x/wheelfarm"))
        // An installed executable finds <prefix>/share/wheelfarm.
        let prefix = try TemporaryDirectory(prefix: "wf-prefix")
        try FileManager.default.createDirectory(atPath: "\(prefix.path)/share/wheelfarm/toolchains/policies", withIntermediateDirectories: true)
        try Files.writeAtomically(Array("{}".utf8), to: "\(prefix.path)/share/wheelfarm/toolchains/policies/manylinux.json")
        XCTAssertEqual(try DataDirectory.locate(environment: [:], executable: "\(prefix.path)/bin/wheelfarm"), "\(prefix.path)/share/wheelfarm")
    }

    func testAnOwnerWhoseStartTimeCouldNotBeReadCountsAsAlive() {
        XCTAssertTrue(ProcessIdentity.isAlive("\(getpid()):0"))
        XCTAssertTrue(ProcessIdentity.isAlive(ProcessIdentity.current))
        XCTAssertFalse(ProcessIdentity.isAlive("\(getpid()):1"), "another start time is another process")
        XCTAssertFalse(ProcessIdentity.isAlive("4194000:0"))
    }

    /// What a hostile build prints to take over a terminal comes out escaped and readable.
    func testTerminalTextEscapesWhatATerminalWouldObey() throws {
        let hostile = "title\u{1B}]0;owned\u{07} clip\u{1B}]52;c;ZXZpbA==\u{07} up\u{1B}[2A hide\rshown tab\tok\nnext \u{9B}31m \u{202E}txt.exe \u{7F}"
        let shown = TerminalText.escaped(hostile)
        XCTAssertFalse(shown.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value) })
        XCTAssertEqual(
            shown,
            "title\\e]0;owned\\a clip\\e]52;c;ZXZpbA==\\a up\\e[2A hide\\rshown tab\tok\nnext \\u009b31m \\u202etxt.exe \\u007f")
        XCTAssertEqual(TerminalText.escaped("plain text, ünïcödé"), "plain text, ünïcödé")
        // A JSON document printed through the sanitiser stays valid JSON with the same strings.
        let json = String(decoding: try JSONSerialization.data(withJSONObject: ["s": "a\u{9B}b\u{202E}c"]), as: UTF8.self)
        let back = try JSONSerialization.jsonObject(with: Data(TerminalText.escaped(json).utf8)) as? [String: String]
        XCTAssertEqual(back?["s"], "a\u{9B}b\u{202E}c")
    }
}

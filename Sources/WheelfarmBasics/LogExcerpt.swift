import Foundation

/// The few lines of a long tool output that tell a person why it failed.
///
/// A failed compile prints its cause first (`x.c:3:10: error: ...`) and then pages of
/// consequences (`make: *** Error 1`, a traceback); the tail alone often shows only the
/// latter. The excerpt is the first error line with the lines that follow it, then the tail.
public enum LogExcerpt {
    /// Line fragments that mark a cause: compilers, linkers, apt, configure, CMake, meson, pip.
    static let causes = [
        "error:", "Error:", "ERROR:", "E: ", "fatal", "undefined reference", "No such file or directory", "cannot find -l",
        "CMake Error", "configure: error", "Could NOT find", "not found", "Dependency \"", "ModuleNotFoundError", "Traceback"
    ]

    /// Up to `limit` lines of `text`: from the first line naming a cause, then the last lines;
    /// only the tail when no line names a cause. Lines are cut at 400 characters.
    public static func meaningful(_ text: String, limit: Int = 15) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { line -> String in
            let trimmed = line.replacingOccurrences(of: "\r", with: "")
            return trimmed.count > 400 ? String(trimmed.prefix(400)) + " …" : trimmed
        }
        guard !lines.isEmpty else { return "" }
        let tailCount = min(5, limit / 3)
        guard let first = lines.firstIndex(where: { line in causes.contains { line.contains($0) } }) else {
            return lines.suffix(limit).joined(separator: "\n")
        }
        let headCount = limit - tailCount
        let head = Array(lines[first..<min(lines.count, first + headCount)])
        let tailStart = max(first + head.count, lines.count - tailCount)
        var excerpt = head
        if tailStart < lines.count {
            if tailStart > first + head.count { excerpt.append("…") }
            excerpt += lines[tailStart...]
        }
        return excerpt.joined(separator: "\n")
    }

    /// Text from a stranger made safe for a terminal (see ``TerminalText/escaped(_:)``).
    public static func printable(_ text: String) -> String { TerminalText.escaped(text) }
}

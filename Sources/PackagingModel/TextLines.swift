/// Lines of text as pip and Python's universal newlines read them: a leading UTF-8 byte-order
/// mark is dropped, and `\n`, `\r\n` and a lone `\r` each end a line. Real projects ship CRLF
/// files (a `pyproject.toml` or requirements file from Windows), and in Swift `"\r\n"` is one
/// `Character`, so splitting on `"\n"` leaves such a file as one line.
public enum TextLines {
    /// The text without a leading byte-order mark.
    public static func withoutBOM(_ text: String) -> Substring {
        text.hasPrefix("\u{FEFF}") ? text.dropFirst() : text[...]
    }

    /// The lines, without their line endings; a final line ending gives a last empty line, as
    /// `split(omittingEmptySubsequences: false)` does.
    public static func split(_ text: String) -> [Substring] {
        withoutBOM(text).split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
    }

    /// Whether the text's first line ending is `\r\n` (a patched file keeps its line endings).
    public static func usesCRLF(_ text: String) -> Bool {
        guard let first = text.firstIndex(where: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) else { return false }
        return text[first] == "\r\n"
    }
}

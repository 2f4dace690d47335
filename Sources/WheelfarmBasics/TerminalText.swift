/// The one sanitiser for text from strangers (build output, hook answers, project metadata,
/// logs) on its way to a terminal or a page: control characters and escape sequences are shown
/// escaped, so output cannot move the cursor, retitle the window, write the clipboard
/// (`ESC ]52`), hide lines with a carriage return or reorder text with bidirectional controls.
/// Stored logs keep their bytes; only what is shown passes through here.
public enum TerminalText {
    /// `text` with every C0 control except newline and tab, DEL, every C1 control and the
    /// Unicode bidirectional overrides written as visible escapes: `\e` for ESC, `\r`, `\xNN` for
    /// the other C0 controls, and `\uNNNN` (JSON's spelling: a JSON document printed through here
    /// stays valid, and its parsers never see a raw C0 control) for the rest.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar.value {
            case 0x1B: out += "\\e"
            case 0x0D: out += "\\r"
            case 0x08: out += "\\b"
            case 0x07: out += "\\a"
            case 0..<0x20: out += "\\x" + hex(scalar.value, width: 2)
            // JSON's spelling, so that a JSON document printed through here stays valid.
            default: out += "\\u" + hex(scalar.value, width: 4)
            }
        }
        return out
    }

    /// Whether a scalar must not reach a terminal as it is.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 { return value != 0x0A && value != 0x09 }
        if (0x7F...0x9F).contains(value) { return true }
        // Bidirectional embeddings, overrides and isolates ("Trojan Source").
        return (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
    }

    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

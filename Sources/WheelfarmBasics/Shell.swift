/// Quoting for POSIX shell scripts the farm writes (the sandbox's set-up, derived roots).
public enum Shell {
    /// `text` as one shell word in single quotes, whatever it holds.
    public static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

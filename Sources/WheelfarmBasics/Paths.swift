import Foundation

/// Paths a user typed, made absolute before anything splits them: this Foundation's
/// `NSString.deletingLastPathComponent` traps on a one-character relative name (`-o b`).
public enum Paths {
    /// The absolute, standardised form of `path` (relative to the working folder).
    public static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// The folder holding `path`, absolute.
    public static func parent(_ path: String) -> String { URL(fileURLWithPath: absolute(path)).deletingLastPathComponent().path }
}

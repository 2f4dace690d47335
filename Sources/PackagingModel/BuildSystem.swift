import Foundation

/// The `[build-system]` table of a pyproject.toml (PEP 517/518), with the defaults pip applies
/// to projects that have none.
public struct BuildSystem: Equatable, Sendable {
    /// Static build requirements.
    public var requires: [String]
    /// The backend, `module:object`.
    public var backend: String
    /// In-tree backend locations.
    public var backendPath: [String]

    /// What pip assumes for a project with only setup.py.
    public static let legacyDefault = BuildSystem(requires: ["setuptools>=40.8.0"], backend: "setuptools.build_meta:__legacy__", backendPath: [])

    /// Creates a value.
    public init(requires: [String], backend: String, backendPath: [String]) {
        self.requires = requires
        self.backend = backend
        self.backendPath = backendPath
    }

    /// Reads `[build-system]` from pyproject.toml text; nil when the file has no such table.
    ///
    /// Only what this table uses is understood (strings, arrays of strings, comments); it is
    /// not a general TOML parser.
    public init?(pyproject text: String) throws {
        var inTable = false
        var values: [String: [String]] = [:]
        var scalars: [String: String] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var found = false
        while let raw = lines.popFirst() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                inTable = line.replacingOccurrences(of: " ", with: "") == "[build-system]"
                found = found || inTable
                continue
            }
            guard inTable, !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            var value = String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("[") {
                // Arrays may span lines: gather until the closing bracket outside strings.
                while !Self.arrayClosed(value), let next = lines.popFirst() { value += "\n" + next }
                values[key] = try Self.parseStrings(value, key: key)
            } else {
                scalars[key] = try Self.parseStrings(value, key: key).first
            }
        }
        guard found else { return nil }
        requires = values["requires"] ?? []
        backend = scalars["build-backend"] ?? BuildSystem.legacyDefault.backend
        backendPath = values["backend-path"] ?? []
    }

    static func arrayClosed(_ text: String) -> Bool {
        var depth = 0, quote: Character? = nil, escaped = false, inComment = false
        for c in text {
            if inComment { if c == "\n" { inComment = false }; continue }
            if let q = quote {
                if escaped { escaped = false } else if c == "\\" && q == "\"" { escaped = true } else if c == q { quote = nil }
                continue
            }
            switch c {
            case "#": inComment = true
            case "\"", "'": quote = c
            case "[": depth += 1
            case "]": depth -= 1; if depth == 0 { return true }
            default: break
            }
        }
        return false
    }

    /// The string literals of a value, in order (comments skipped).
    static func parseStrings(_ text: String, key: String) throws -> [String] {
        var out: [String] = []
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if c == "#" { while let n = chars.first, n != "\n" { chars = chars.dropFirst() }; continue }
            guard c == "\"" || c == "'" else { continue }
            var value = ""
            var closed = false
            while let n = chars.popFirst() {
                if n == c { closed = true; break }
                if c == "\"" && n == "\\", let escaped = chars.popFirst() {
                    switch escaped {
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    default: value.append(escaped)
                    }
                    continue
                }
                value.append(n)
            }
            guard closed else { throw PackagingError.malformedPyproject("unterminated string in build-system.\(key)") }
            out.append(value)
        }
        return out
    }
}

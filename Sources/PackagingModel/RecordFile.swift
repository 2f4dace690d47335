import Foundation
import WheelfarmBasics

/// One row of a wheel's RECORD file.
public struct RecordEntry: Hashable, Sendable {
    /// The path inside the wheel.
    public var path: String
    /// `sha256=<urlsafe base64>`, or empty for RECORD itself.
    public var hash: String
    /// The size in bytes, or nil for RECORD itself.
    public var size: Int?

    /// Creates an entry.
    public init(path: String, hash: String, size: Int?) {
        self.path = path
        self.hash = hash
        self.size = size
    }

    /// An entry for some content, hashed with SHA-256.
    public init(path: String, content: [UInt8]) {
        self.path = path
        self.hash = "sha256=" + Digest.urlsafeBase64NoPadding(Digest.sha256(content))
        self.size = content.count
    }
}

/// A wheel's RECORD file: CSV rows of path, hash and size (PEP 376, PEP 427).
public struct RecordFile: Sendable, Equatable {
    /// The rows in file order.
    public var entries: [RecordEntry]

    /// Creates a RECORD from entries.
    public init(entries: [RecordEntry]) { self.entries = entries }

    /// Parses CSV text; throws on a malformed row.
    public init(parsing text: String) throws {
        entries = []
        for (number, fields) in try CSV.parse(String(TextLines.withoutBOM(text))).enumerated() {
            if fields.count == 1 && fields[0].isEmpty { continue }
            guard fields.count == 3 else {
                throw PackagingError.malformedRecord(line: number + 1, reason: "expected 3 fields, found \(fields.count)")
            }
            let size: Int?
            if fields[2].isEmpty {
                size = nil
            } else {
                guard let value = Int(fields[2]), value >= 0 else {
                    throw PackagingError.malformedRecord(line: number + 1, reason: "size '\(fields[2])' is not a number")
                }
                size = value
            }
            entries.append(RecordEntry(path: fields[0], hash: fields[1], size: size))
        }
    }

    /// The CSV text, with fields quoted only where needed.
    public var text: String {
        entries.map { entry in
            [entry.path, entry.hash, entry.size.map(String.init) ?? ""].map(CSV.quote).joined(separator: ",") + "\n"
        }.joined()
    }
}

/// A minimal RFC 4180 CSV reader and writer, enough for RECORD files.
enum CSV {
    static func parse(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var field = ""
        var row: [String] = []
        var inQuotes = false
        var iterator = Array(text.unicodeScalars).makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let p = pending { pending = nil; return p }
            return iterator.next()
        }
        var sawAny = false
        while let c = next() {
            sawAny = true
            if inQuotes {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = n }
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"": inQuotes = true
            case ",": row.append(field); field = ""
            case "\r": break
            case "\n": row.append(field); rows.append(row); row = []; field = ""
            default: field.unicodeScalars.append(c)
            }
        }
        if inQuotes { throw PackagingError.malformedRecord(line: rows.count + 1, reason: "unterminated quote") }
        if sawAny && (!field.isEmpty || !row.isEmpty) { row.append(field); rows.append(row) }
        return rows
    }

    static func quote(_ field: String) -> String {
        if field.contains(",") || field.contains("\"") || field.contains("\n") {
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return field
    }
}

/// Errors about packaging metadata.
public enum PackagingError: Error, CustomStringConvertible, Equatable {
    /// A RECORD file could not be parsed.
    case malformedRecord(line: Int, reason: String)
    /// A wheel file name could not be parsed.
    case invalidWheelFilename(String)
    /// pyproject.toml could not be read.
    case malformedPyproject(String)

    public var description: String {
        switch self {
        case let .malformedRecord(line, reason): return "RECORD line \(line): \(reason)"
        case let .invalidWheelFilename(name): return "'\(name)' is not a valid wheel file name (PEP 427)"
        case let .malformedPyproject(reason): return "pyproject.toml: \(reason)"
        }
    }
}

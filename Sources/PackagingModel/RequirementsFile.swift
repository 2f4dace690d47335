import Foundation

/// A pip requirements file: pins, `--hash`, environment markers, `-r` includes and `-c`
/// constraints, comments and line continuations. What wheelfarm does not support is refused
/// with the file and line named, never skipped silently.
public struct RequirementsFile: Sendable {
    /// One requirement (or constraint) line.
    public struct Entry: Sendable, Equatable {
        public var requirement: Requirement
        /// Allowed sha256 digests (hex) of the distribution, from `--hash=sha256:...`.
        public var hashes: [String]
        public var marker: Marker?
        /// Where it was written: `file:line`.
        public var origin: String

        /// Creates an entry.
        public init(requirement: Requirement, hashes: [String], marker: Marker?, origin: String) {
            self.requirement = requirement
            self.hashes = hashes
            self.marker = marker
            self.origin = origin
        }

        /// Whether the entry applies to a target's environment.
        public func applies(to environment: Marker.Environment) -> Bool { marker?.evaluate(environment) ?? true }
    }

    /// A refused line.
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        public var origin: String
        public var message: String
        public var description: String { "\(origin): \(message)" }
    }

    public var requirements: [Entry] = []
    public var constraints: [Entry] = []
    /// `--pre` was given.
    public var prereleases = false
    /// `--require-hashes` was given: every requirement carries a hash.
    public var requireHashes = false

    /// Reads `path` and what it includes.
    public static func load(path: String, reader: (String) -> String?) throws -> RequirementsFile {
        var file = RequirementsFile()
        try file.read(path: path, asConstraints: false, seen: [], reader: reader)
        if file.requireHashes, let bare = file.requirements.first(where: { $0.hashes.isEmpty }) {
            throw ParseError(origin: bare.origin, message: "--require-hashes is set but \(bare.requirement.name) has no --hash")
        }
        return file
    }

    /// Parses text as if read from `path`; includes (`-r`, `-c`) are read through `reader`
    /// (none by default: an include is then an error).
    public static func parse(_ text: String, path: String = "requirements.txt", reader: (String) -> String? = { _ in nil }) throws -> RequirementsFile {
        var file = RequirementsFile()
        try file.parse(text, path: path, asConstraints: false, seen: [path], reader: reader)
        return file
    }

    mutating func read(path: String, asConstraints: Bool, seen: Set<String>, reader: (String) -> String?) throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !seen.contains(absolute) else { throw ParseError(origin: path, message: "includes itself (through -r or -c)") }
        guard let text = reader(absolute) else {
            throw ParseError(origin: path, message: "cannot read the file")
        }
        try parse(text, path: absolute, asConstraints: asConstraints, seen: seen.union([absolute]), reader: reader)
    }

    mutating func parse(_ text: String, path: String, asConstraints: Bool, seen: Set<String>, reader: (String) -> String?) throws {
        let display = (path as NSString).lastPathComponent
        let directory = (path as NSString).deletingLastPathComponent
        var logical = ""
        var startLine = 0
        let lines = TextLines.split(text).map(String.init)
        for (index, raw) in lines.enumerated() {
            var line = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
            if logical.isEmpty { startLine = index + 1 }
            // A comment starts with '#' at the line's start or after whitespace.
            if line.hasPrefix("#") {
                line = ""
            } else if let range = line.range(of: #"\s#"#, options: .regularExpression) {
                line = String(line[..<range.lowerBound])
            }
            if line.hasSuffix("\\") {
                logical += String(line.dropLast()) + " "
                if index < lines.count - 1 { continue }
            } else {
                logical += line
            }
            let content = logical.trimmingCharacters(in: .whitespaces)
            logical = ""
            guard !content.isEmpty else { continue }
            try handle(content, origin: "\(display):\(startLine)", directory: directory, asConstraints: asConstraints, seen: seen, reader: reader)
        }
    }

    static let unsupported: [String: String] = [
        "-e": "editable requirements cannot be built into wheels for other machines",
        "--editable": "editable requirements cannot be built into wheels for other machines",
        "-i": "the index comes from pip's configuration or 'wheelfarm build --index-url'",
        "--index-url": "the index comes from pip's configuration or 'wheelfarm build --index-url'",
        "--extra-index-url": "wheelfarm builds from one index (pip's configuration or --index-url)",
        "-f": "wheelfarm builds from the index's sdists, not from local links",
        "--find-links": "wheelfarm builds from the index's sdists, not from local links",
        "--no-index": "wheelfarm needs the index to fetch sdists",
        "--no-binary": "wheelfarm always builds from sdists",
        "--only-binary": "wheelfarm always builds from sdists",
        "--prefer-binary": "wheelfarm always builds from sdists",
        "--trusted-host": "set trusted hosts in pip's configuration",
        "--use-feature": "pip feature flags do not apply to wheelfarm"
    ]

    mutating func handle(_ content: String, origin: String, directory: String, asConstraints: Bool, seen: Set<String>, reader: (String) -> String?) throws {
        if content.hasPrefix("-") && !content.hasPrefix("--hash") {
            let (option, value) = Self.splitOption(content)
            switch option {
            case "-r", "--requirement", "-c", "--constraint":
                guard let value, !value.isEmpty else { throw ParseError(origin: origin, message: "\(option) needs a file name") }
                guard !value.contains("://") else { throw ParseError(origin: origin, message: "\(option) with a URL is not supported; give a local file") }
                let included = value.hasPrefix("/") ? value : "\(directory)/\(value)"
                try read(path: included, asConstraints: asConstraints || option == "-c" || option == "--constraint", seen: seen, reader: reader)
            case "--pre": prereleases = true
            case "--require-hashes": requireHashes = true
            default:
                let reason = Self.unsupported[option] ?? "unknown option"
                throw ParseError(origin: origin, message: "\(option) is not supported: \(reason)")
            }
            return
        }
        // The requirement, then its options (--hash).
        var text = content
        var hashes: [String] = []
        while let range = text.range(of: #"\s--hash(=|\s+)\S+"#, options: .regularExpression) {
            let option = String(text[range]).trimmingCharacters(in: .whitespaces)
            let value = option.dropFirst("--hash".count).drop { $0 == "=" || $0 == " " || $0 == "\t" }
            let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "sha256", parts[1].count == 64, parts[1].allSatisfy(\.isHexDigit) else {
                throw ParseError(origin: origin, message: "only --hash=sha256:<64 hex digits> is supported, not '\(value)'")
            }
            hashes.append(parts[1].lowercased())
            text.removeSubrange(range)
        }
        if text.range(of: #"\s--?[a-z]"#, options: .regularExpression) != nil {
            throw ParseError(origin: origin, message: "only --hash may follow a requirement on its line")
        }
        text = text.trimmingCharacters(in: .whitespaces)
        if text.contains("://") || text.hasPrefix(".") || text.hasPrefix("/")
            || text.range(of: #"^[A-Za-z0-9._-]+(\[[^\]]*\])?\s*@"#, options: .regularExpression) != nil
        {
            throw ParseError(origin: origin, message: "URL and path requirements are not supported; name a project on the index")
        }
        guard let requirement = Requirement(text) else { throw ParseError(origin: origin, message: "cannot parse requirement '\(text)'") }
        var marker: Marker? = nil
        if let markerText = requirement.marker {
            do { marker = try Marker(parsing: markerText) } catch { throw ParseError(origin: origin, message: "\(error)") }
        }
        let entry = Entry(requirement: requirement, hashes: hashes, marker: marker, origin: origin)
        if asConstraints { constraints.append(entry) } else { requirements.append(entry) }
    }

    static func splitOption(_ content: String) -> (String, String?) {
        if let equals = content.firstIndex(of: "="), content.hasPrefix("--") {
            return (String(content[..<equals]), String(content[content.index(after: equals)...]).trimmingCharacters(in: .whitespaces))
        }
        let parts = content.split(maxSplits: 1, whereSeparator: \.isWhitespace).map(String.init)
        if parts.count == 1, !content.hasPrefix("--"), content.count > 2 {
            // -rfile
            return (String(content.prefix(2)), String(content.dropFirst(2)))
        }
        return (parts[0], parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : nil)
    }
}

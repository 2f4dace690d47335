import Foundation
import WheelfarmBasics

/// Extra apt entries for derived roots: an organisation's own repository of packages that
/// recipes install besides Debian's. Read from a file in sources.list's one-line format and
/// checked line by line, because each line is written into a root that apt then trusts.
public struct AptSources: Sendable, Equatable {
    /// The checked entries, one `deb …` line each.
    public let lines: [String]

    /// Why a sources file was refused: its path, line and reason.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public var path: String
        public var line: Int
        public var reason: String
        public var description: String { "\(path):\(line): \(reason)" }
    }

    /// Checks `text`: blank lines and `#` comments are skipped; every other line is a `deb`
    /// entry with a URI and a suite (a flat repository's `./` counts), printable and short.
    public init(text: String, path: String) throws {
        var lines: [String] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func refuse(_ reason: String) -> Refusal { Refusal(path: path, line: number + 1, reason: reason) }
            guard line.utf8.count <= 1024 else { throw refuse("the entry is longer than 1024 bytes") }
            guard line.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else { throw refuse("the entry holds control characters") }
            var words = line.split(separator: " ").map(String.init)
            guard words.first == "deb" else { throw refuse("only `deb` entries are used (got '\(words.first ?? "")')") }
            words.removeFirst()
            if words.first?.hasPrefix("[") == true {
                while let word = words.first, !word.hasSuffix("]") { words.removeFirst() }
                guard !words.isEmpty else { throw refuse("an option list '[' is not closed") }
                words.removeFirst()
            }
            guard words.count >= 2 else { throw refuse("an entry needs a URI and a suite") }
            guard ["http://", "https://", "file:/"].contains(where: words[0].hasPrefix) else {
                throw refuse("the URI '\(words[0])' is not http, https or file")
            }
            lines.append(line)
        }
        self.lines = lines
    }

    /// Reads and checks a sources file (at most 64 KiB).
    public static func load(path: String) throws -> AptSources {
        guard let text = Files.readText(path, limit: 64 << 10) else {
            throw Refusal(path: path, line: 0, reason: "cannot be read (or is larger than 64 KiB)")
        }
        return try AptSources(text: text, path: path)
    }

    /// The file written into a root's `sources.list.d`.
    public var file: String { lines.map { $0 + "\n" }.joined() }
}

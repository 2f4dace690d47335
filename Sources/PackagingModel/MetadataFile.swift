/// An RFC 822 style file as used for `WHEEL` and `METADATA`: ordered `Key: value` headers and an optional body.
public struct MetadataFile: Sendable, Equatable {
    /// The headers in file order; keys may repeat (for example `Tag`).
    public var headers: [(key: String, value: String)]
    /// The text after the first blank line, if any.
    public var body: String?

    /// Parses the text; continuation lines (starting with white space) extend the previous value.
    public init(parsing text: String) {
        headers = []
        body = nil
        var lines = TextLines.split(text)[...]
        while let line = lines.first {
            lines = lines.dropFirst()
            if line.isEmpty {
                let rest = lines.joined(separator: "\n")
                body = rest.isEmpty ? nil : rest
                break
            }
            if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line.trimmingLeadingWhitespace()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let value = String(line[line.index(after: colon)...]).trimmingLeadingWhitespace()
            headers.append((key, value))
        }
    }

    /// Creates a file from headers.
    public init(headers: [(key: String, value: String)], body: String? = nil) {
        self.headers = headers
        self.body = body
    }

    /// Every value of a key, case-insensitively.
    public func values(_ key: String) -> [String] {
        headers.filter { $0.key.lowercased() == key.lowercased() }.map(\.value)
    }

    /// The first value of a key.
    public func value(_ key: String) -> String? { values(key).first }

    /// The serialised text.
    public var text: String {
        var out = headers.map { "\($0.key): \($0.value)\n" }.joined()
        if let body { out += "\n" + body }
        return out
    }

    public static func == (lhs: MetadataFile, rhs: MetadataFile) -> Bool {
        lhs.body == rhs.body && lhs.headers.map { [$0.key, $0.value] } == rhs.headers.map { [$0.key, $0.value] }
    }
}

extension StringProtocol {
    func trimmingLeadingWhitespace() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }))
    }
}

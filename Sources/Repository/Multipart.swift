import CSupport
import Foundation

/// A parsed `multipart/form-data` body (RFC 7578), as twine's legacy upload sends it.
public struct MultipartForm: Sendable {
    /// Text fields (the last value of a repeated name wins; twine repeats only list fields).
    public var fields: [String: String] = [:]
    /// File parts: field name to (file name, byte range in the body).
    public var files: [String: (filename: String, range: Range<Int>)] = [:]

    /// The boundary of a Content-Type header, or nil when it is not multipart/form-data.
    public static func boundary(contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces)
            guard pair.lowercased().hasPrefix("boundary=") else { continue }
            var value = String(pair.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty || value.count > 200 ? nil : value
        }
        return nil
    }

    /// Parses `body`; throws a clear reason for anything malformed.
    public init(body: [UInt8], boundary: String) throws {
        let delimiter = Array("--\(boundary)".utf8)
        guard let first = Self.find(delimiter, in: body, from: 0) else { throw RepositoryError.notAWheel("malformed multipart body: no boundary") }
        var position = first + delimiter.count
        var parts = 0
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            guard position + 2 <= body.count else { throw RepositoryError.notAWheel("malformed multipart body: truncated") }
            if body[position] == 0x2D, body[position + 1] == 0x2D { break }
            guard body[position] == 0x0D, body[position + 1] == 0x0A else { throw RepositoryError.notAWheel("malformed multipart body: bad delimiter line") }
            position += 2
            guard let headerEnd = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: body, from: position) else {
                throw RepositoryError.notAWheel("malformed multipart body: a part has no header end")
            }
            let headers = String(decoding: body[position..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let next = Self.find([0x0D, 0x0A] + delimiter, in: body, from: contentStart) else {
                throw RepositoryError.notAWheel("malformed multipart body: a part is not closed")
            }
            var name: String? = nil
            var filename: String? = nil
            for line in headers.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
                name = Self.parameter("name", in: line)
                filename = Self.parameter("filename", in: line)
            }
            guard let name else { throw RepositoryError.notAWheel("malformed multipart body: a part has no name") }
            if let filename {
                files[name] = (filename, contentStart..<next)
            } else {
                fields[name] = String(decoding: body[contentStart..<next], as: UTF8.self)
            }
            parts += 1
            guard parts <= 200 else { throw RepositoryError.notAWheel("malformed multipart body: too many parts") }
            position = next + 2 + delimiter.count
        }
    }

    static func parameter(_ key: String, in line: String) -> String? {
        // name="value" with quotes (twine's form), or a bare token.
        let pattern = "(?:^|;)\\s*\(key)=(\"((?:[^\"\\\\]|\\\\.)*)\"|[^;\\s]+)"
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]),
            let match = regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line))
        else { return nil }
        if let quoted = Range(match.range(at: 2), in: line) { return String(line[quoted]).replacingOccurrences(of: "\\\"", with: "\"") }
        if let bare = Range(match.range(at: 1), in: line) { return String(line[bare]) }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard start <= haystack.count, !needle.isEmpty else { return nil }
        return haystack.withUnsafeBytes { hay -> Int? in
            needle.withUnsafeBytes { pin -> Int? in
                guard let base = hay.baseAddress, let pattern = pin.baseAddress,
                    let found = wf_memmem(base + start, hay.count - start, pattern, pin.count)
                else { return nil }
                return base.distance(to: UnsafeRawPointer(found))
            }
        }
    }
}

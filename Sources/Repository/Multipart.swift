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

    /// Parses a body held in memory; throws a clear reason for anything malformed.
    public init(body: [UInt8], boundary: String) throws {
        try self.init(size: body.count, boundary: boundary) { offset, length in Array(body[offset..<min(body.count, offset + length)]) }
    }

    /// Parses a body streamed to a file, reading it in pieces: memory stays small whatever its size.
    /// File parts are ranges of the file; text fields are read (each at most 64 KiB).
    public init(file: String, boundary: String) throws {
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw RepositoryError.io("cannot read the upload: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw RepositoryError.io("cannot read the upload") }
        try self.init(size: Int(info.st_size), boundary: boundary) { offset, length in
            var buffer = [UInt8](repeating: 0, count: length)
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(offset)) }
            return count > 0 ? Array(buffer.prefix(count)) : []
        }
    }

    /// The parser over any body: `read(offset, length)` gives bytes of it.
    init(size: Int, boundary: String, read: (Int, Int) -> [UInt8]) throws {
        let delimiter = Array("--\(boundary)".utf8)
        // Every "--boundary" at the start or after CRLF, found in chunks with an overlap.
        var marks: [Int] = []
        let chunk = 1 << 20
        var offset = 0
        while offset < size {
            let piece = read(offset, chunk + delimiter.count + 2)
            guard !piece.isEmpty else { break }
            var from = 0
            while let found = Self.find(delimiter, in: piece, from: from) {
                guard found < chunk || offset + chunk >= size else { break }
                let absolute = offset + found
                let preceded =
                    absolute == 0 || (found >= 2 && piece[found - 2] == 0x0D && piece[found - 1] == 0x0A)
                    || (found < 2 && absolute >= 2 && read(absolute - 2, 2) == [0x0D, 0x0A])
                if preceded && marks.last != absolute { marks.append(absolute) }
                from = found + 1
                guard marks.count <= 202 else { throw RepositoryError.notAWheel("malformed multipart body: too many parts") }
            }
            offset += chunk
        }
        guard let first = marks.first else { throw RepositoryError.notAWheel("malformed multipart body: no boundary") }
        var index = 0
        var position = first + delimiter.count
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            let mark = read(position, 2)
            guard mark.count == 2 else { throw RepositoryError.notAWheel("malformed multipart body: truncated") }
            if mark == [0x2D, 0x2D] { break }
            guard mark == [0x0D, 0x0A] else { throw RepositoryError.notAWheel("malformed multipart body: bad delimiter line") }
            position += 2
            index += 1
            guard index < marks.count else { throw RepositoryError.notAWheel("malformed multipart body: a part is not closed") }
            let next = marks[index] - 2
            let window = read(position, min(16 << 10, max(0, next - position)))
            guard let headerEnd = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: window, from: 0) else {
                throw RepositoryError.notAWheel("malformed multipart body: a part has no header end")
            }
            let headers = String(decoding: window[0..<headerEnd], as: UTF8.self)
            let contentStart = position + headerEnd + 4
            guard contentStart <= next else { throw RepositoryError.notAWheel("malformed multipart body: a part is cut short") }
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
                guard next - contentStart <= 64 << 10 else { throw RepositoryError.notAWheel("malformed multipart body: the field \(name) is too long") }
                fields[name] = String(decoding: read(contentStart, next - contentStart), as: UTF8.self)
            }
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

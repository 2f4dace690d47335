import Foundation

/// Joins zip archives written by `ZipWriter` into one, so that several libarchive writers can
/// compress at once: the members' bytes are copied unchanged, and only the central directory is
/// rewritten, with each member's local header offset moved by the size of the parts before it.
///
/// It handles the classic (non-Zip64) format only; callers fall back to a single writer for
/// archives near 4 GiB or 65535 members.
enum ZipMerge {
    enum Failure: Error { case unsupported(String) }

    struct Part {
        var data: [UInt8]
        var centralDirectory: ArraySlice<UInt8>
        var dataEnd: Int
        var entries: Int
    }

    static func readPart(_ path: String) throws -> Part {
        guard let contents = FileManager.default.contents(atPath: path) else { throw Failure.unsupported("cannot read \(path)") }
        let bytes = [UInt8](contents)
        // The end-of-central-directory record: 22 bytes, at the end (libarchive writes no comment).
        guard bytes.count >= 22 else { throw Failure.unsupported("no end record") }
        let eocd = bytes.count - 22
        guard u32(bytes, eocd) == 0x0605_4b50, u16(bytes, eocd + 20) == 0 else { throw Failure.unsupported("unexpected end record") }
        let entries = Int(u16(bytes, eocd + 10))
        let cdSize = Int(u32(bytes, eocd + 12))
        let cdOffset = Int(u32(bytes, eocd + 16))
        guard entries != 0xffff, cdSize != 0xffff_ffff, cdOffset != 0xffff_ffff, cdOffset + cdSize == eocd else {
            throw Failure.unsupported("Zip64 or unexpected layout")
        }
        // A Zip64 end record would precede the classic one; libarchive writes one only when needed.
        if cdOffset >= 20, u32(bytes, cdOffset - 20) == 0x0706_4b50 { throw Failure.unsupported("Zip64 locator") }
        return Part(data: bytes, centralDirectory: bytes[cdOffset..<(cdOffset + cdSize)], dataEnd: cdOffset, entries: entries)
    }

    /// Writes the concatenation of `parts` (archive paths, in order) to `output`.
    static func merge(_ parts: [String], into output: String) throws {
        var result: [UInt8] = []
        var directory: [UInt8] = []
        var total = 0
        for path in parts {
            let part = try readPart(path)
            let base = result.count
            result.append(contentsOf: part.data[..<part.dataEnd])
            var cd = Array(part.centralDirectory)
            var position = 0
            for _ in 0..<part.entries {
                guard position + 46 <= cd.count, u32(cd, position) == 0x0201_4b50 else { throw Failure.unsupported("bad central directory") }
                let nameLength = Int(u16(cd, position + 28)), extraLength = Int(u16(cd, position + 30)), commentLength = Int(u16(cd, position + 32))
                let offset = Int(u32(cd, position + 42))
                guard offset != 0xffff_ffff, base + offset < 0xffff_ffff else { throw Failure.unsupported("offset beyond 4 GiB") }
                put32(&cd, position + 42, UInt32(base + offset))
                position += 46 + nameLength + extraLength + commentLength
            }
            directory.append(contentsOf: cd)
            total += part.entries
        }
        guard total < 0xffff, result.count + directory.count < 0xffff_ffff else { throw Failure.unsupported("too large for the classic format") }
        let cdOffset = result.count
        result.append(contentsOf: directory)
        var end = [UInt8](repeating: 0, count: 22)
        put32(&end, 0, 0x0605_4b50)
        put16(&end, 8, UInt16(total))
        put16(&end, 10, UInt16(total))
        put32(&end, 12, UInt32(directory.count))
        put32(&end, 16, UInt32(cdOffset))
        result.append(contentsOf: end)
        guard FileManager.default.createFile(atPath: output, contents: Data(result)) else { throw Failure.unsupported("cannot write \(output)") }
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { UInt32(u16(b, o)) | UInt32(u16(b, o + 2)) << 16 }
    static func put16(_ b: inout [UInt8], _ o: Int, _ v: UInt16) { b[o] = UInt8(v & 0xff); b[o + 1] = UInt8(v >> 8) }
    static func put32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) { put16(&b, o, UInt16(v & 0xffff)); put16(&b, o + 2, UInt16(v >> 16)) }
}

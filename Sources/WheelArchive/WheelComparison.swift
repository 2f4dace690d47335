import Foundation
import WheelfarmBasics

/// Two builds of one wheel compared: identical bytes, or where they differ. Members present in
/// one only, members whose content differs, and for those, the ELF sections that differ (an
/// embedded date lands in `.rodata`, a build path in `.debug_*`) or the first lines of text
/// that differ, as a small unified diff.
public enum WheelComparison {
    /// The outcome: `differences` is empty exactly when the files are the same bytes.
    public struct Result: Sendable {
        public var identical: Bool
        public var differences: [String]
    }

    /// Compares the wheels at `original` and `rebuilt` (both read with the usual limits).
    public static func compare(_ original: String, _ rebuilt: String) throws -> Result {
        let a = try Files.readBytes(original)
        let b = try Files.readBytes(rebuilt)
        if a == b { return Result(identical: true, differences: []) }
        let left = try ZipReader.read(original)
        let right = try ZipReader.read(rebuilt)
        let leftByPath = Dictionary(left.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let rightByPath = Dictionary(right.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        var differences: [String] = []
        for path in leftByPath.keys.sorted() where rightByPath[path] == nil { differences.append("\(path): only in the original") }
        for path in rightByPath.keys.sorted() where leftByPath[path] == nil { differences.append("\(path): only in the rebuild") }
        for path in leftByPath.keys.sorted() {
            guard let x = leftByPath[path], let y = rightByPath[path] else { continue }
            let (old, new) = (x.content ?? [], y.content ?? [])
            if old == new {
                if x.permissions != y.permissions {
                    differences.append("\(path): mode \(String(x.permissions, radix: 8)) against \(String(y.permissions, radix: 8))")
                }
                continue
            }
            differences.append(describe(path: path, old, new))
        }
        if differences.isEmpty {
            let order = left.map(\.path) == right.map(\.path)
            differences.append(
                order ? "every member has the same content: the archives differ in times, compression or headers" : "the members are in another order")
        }
        return Result(identical: false, differences: differences)
    }

    /// One differing member: which ELF sections, or which lines.
    static func describe(path: String, _ old: [UInt8], _ new: [UInt8]) -> String {
        if let a = sections(old), let b = sections(new) {
            let names = (a.keys.sorted() + b.keys.sorted().filter { a[$0] == nil })
            let differing = names.filter { a[$0] != b[$0] }
            return "\(path): ELF sections differ: \(differing.isEmpty ? "(headers only)" : differing.prefix(12).joined(separator: ", "))"
        }
        if let x = String(bytes: old, encoding: .utf8), let y = String(bytes: new, encoding: .utf8) {
            let l = x.split(separator: "\n", omittingEmptySubsequences: false)
            let r = y.split(separator: "\n", omittingEmptySubsequences: false)
            var first = 0
            while first < min(l.count, r.count) && l[first] == r[first] { first += 1 }
            var lines = ["\(path): text differs from line \(first + 1):", "@@ -\(first + 1) +\(first + 1) @@"]
            for line in l.dropFirst(first).prefix(3) { lines.append("-" + line.prefix(200)) }
            for line in r.dropFirst(first).prefix(3) { lines.append("+" + line.prefix(200)) }
            return lines.joined(separator: "\n    ")
        }
        return "\(path): binary content differs (\(old.count) against \(new.count) bytes)"
    }

    /// The sections of a 64-bit little-endian ELF file (x86_64, aarch64) by name, each with the
    /// sha256 of its content (nil: not such a file).
    static func sections(_ bytes: [UInt8]) -> [String: String]? {
        guard bytes.count > 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46, bytes[4] == 2, bytes[5] == 1 else { return nil }
        func u16(_ at: Int) -> Int { at + 2 <= bytes.count ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : 0 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int { at + 8 <= bytes.count ? u32(at) | u32(at + 4) << 32 : 0 }
        let (offset, size, count, names) = (u64(0x28), u16(0x3A), u16(0x3C), u16(0x3E))
        guard size >= 64, count > 0, count < 65_536, offset > 0, offset + size * count <= bytes.count, names < count else { return nil }
        let table = offset + names * size
        let (tableOffset, tableSize) = (u64(table + 0x18), u64(table + 0x20))
        guard tableOffset + tableSize <= bytes.count else { return nil }
        var result: [String: String] = [:]
        for index in 0..<count {
            let header = offset + index * size
            let (nameAt, type, at, length) = (u32(header), u32(header + 4), u64(header + 0x18), u64(header + 0x20))
            guard nameAt < tableSize else { continue }
            let start = tableOffset + nameAt
            let end = bytes[start..<(tableOffset + tableSize)].firstIndex(of: 0) ?? (tableOffset + tableSize)
            let name = String(decoding: bytes[start..<end], as: UTF8.self)
            // SHT_NOBITS (.bss) has a size but no bytes in the file.
            let content = type == 8 || at + length > bytes.count ? [] : Array(bytes[at..<(at + length)])
            result[name.isEmpty ? "(section \(index))" : name] = "\(length):" + Digest.hex(Digest.sha256(content))
        }
        return result
    }
}

import CArchive
import Foundation
import WheelfarmBasics

/// One member of a zip archive as read by `ZipReader`.
public struct ArchiveMember: Sendable {
    /// The path inside the archive (no leading `./`).
    public var path: String
    /// The Unix permission bits (for example 0o755), 0o644 when the archive has none.
    public var permissions: UInt32
    /// The modification time in seconds since the epoch.
    public var modificationTime: Int
    /// The expanded size.
    public var size: Int
    /// The SHA-256 of the content.
    public var sha256: [UInt8]
    /// The content, when the caller asked to keep it.
    public var content: [UInt8]?
}

/// Reads zip archives (wheels) through libarchive, rejecting unsafe members.
public enum ZipReader {
    /// Reads every regular member of the zip at `path`, hashing all of them and keeping
    /// the content of those for which `keep(path, firstBytes)` returns true.
    ///
    /// Directory entries are skipped. Absolute or `..` paths, links, devices and duplicate
    /// names are rejected, as is expansion beyond `limits`, before anything is returned.
    public static func read(
        _ path: String, limits: ExpansionLimits = .default,
        keep: (String, ArraySlice<UInt8>) -> Bool = { _, _ in true }
    ) throws -> [ArchiveMember] {
        setlocale(LC_ALL, "C.UTF-8")
        let archiveSize: Int64
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            archiveSize = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        } catch {
            throw ArchiveError.unreadable(path: path, reason: "no such file")
        }
        let allowed = limits.allowedTotal(archiveSize: archiveSize)
        guard let archive = archive_read_new() else { throw ArchiveError.unreadable(path: path, reason: "out of memory") }
        defer { archive_read_free(archive) }
        // The seekable reader trusts the central directory, as pip and zipfile do.
        archive_read_support_format_zip_seekable(archive)
        guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else {
            throw ArchiveError.unreadable(path: path, reason: lastError(archive))
        }
        var members: [ArchiveMember] = []
        var seen = Set<String>()
        var total: Int64 = 0
        var entry: OpaquePointer? = nil
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ArchiveError.unreadable(path: path, reason: lastError(archive))
            }
            guard let cName = archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry) else {
                throw ArchiveError.unreadable(path: path, reason: "an entry name is not valid UTF-8")
            }
            var name = String(cString: cName)
            while name.hasPrefix("./") { name.removeFirst(2) }
            guard isSafeRelativePath(name) else { throw ArchiveError.unsafePath(archive: path, entry: name) }
            let fileType = archive_entry_filetype(entry) & 0o170000
            if fileType == 0o040000 { continue }
            if archive_entry_hardlink(entry) != nil {
                throw ArchiveError.unsupportedEntryType(archive: path, entry: name, kind: "hard link")
            }
            guard fileType == 0o100000 || fileType == 0 else {
                throw ArchiveError.unsupportedEntryType(archive: path, entry: name, kind: Self.kindName(fileType))
            }
            guard seen.insert(name).inserted else { throw ArchiveError.duplicateEntry(archive: path, entry: name) }
            guard seen.count <= limits.maximumEntries else {
                throw ArchiveError.tooLarge(archive: path, reason: "more than \(limits.maximumEntries) entries")
            }
            let declared = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : -1
            if declared > 0 {
                guard total + declared <= allowed else {
                    throw ArchiveError.tooLarge(archive: path, reason: "expands to more than \(allowed) bytes (archive of \(archiveSize) bytes); refusing a possible zip bomb")
                }
            }
            var hasher = SHA256Hasher()
            var content: [UInt8]? = nil
            var decided = false
            var keepThis = false
            var size = 0
            var buffer: UnsafeRawPointer? = nil
            var length = 0
            var offset: la_int64_t = 0
            while true {
                let r = archive_read_data_block(archive, &buffer, &length, &offset)
                if r == ARCHIVE_EOF { break }
                guard r == ARCHIVE_OK || r == ARCHIVE_WARN else {
                    throw ArchiveError.unreadable(path: path, reason: "\(name): \(lastError(archive))")
                }
                guard length > 0, let buffer else { continue }
                let block = UnsafeRawBufferPointer(start: buffer, count: length)
                size += length
                total += Int64(length)
                // Enforce the limit on what is really produced, not only on the declared sizes.
                if total > allowed || (declared >= 0 && Int64(size) > declared) {
                    throw ArchiveError.tooLarge(archive: path, reason: "'\(name)' expands past its declared size or the archive's limit of \(allowed) bytes; refusing a possible zip bomb")
                }
                hasher.update(block)
                if !decided {
                    decided = true
                    keepThis = keep(name, ArraySlice(block.prefix(64)))
                    if keepThis {
                        content = []
                        content?.reserveCapacity(declared > 0 ? Int(declared) : length)
                    }
                }
                if keepThis { content?.append(contentsOf: block) }
            }
            if !decided && keep(name, []) { content = [] }
            let mode = UInt32(archive_entry_perm(entry))
            members.append(ArchiveMember(
                path: name, permissions: mode == 0 ? 0o644 : mode,
                modificationTime: Int(archive_entry_mtime(entry)), size: size,
                sha256: hasher.finalize(), content: content))
        }
        return members
    }

    static func kindName(_ type: UInt32) -> String {
        switch type {
        case 0o120000: return "symbolic link"
        case 0o020000: return "character device"
        case 0o060000: return "block device"
        case 0o010000: return "fifo"
        case 0o140000: return "socket"
        default: return "special file"
        }
    }

    static func lastError(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}

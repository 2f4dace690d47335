import CArchive
import Foundation
import WheelfarmBasics

/// A file to be written into a zip archive.
public struct ZipEntry: Sendable {
    /// The path inside the archive.
    public var path: String
    /// The content.
    public var content: [UInt8]
    /// Unix permission bits.
    public var permissions: UInt32
    /// Modification time, seconds since the epoch.
    public var modificationTime: Int

    /// Creates an entry.
    public init(path: String, content: [UInt8], permissions: UInt32 = 0o644, modificationTime: Int) {
        self.path = path
        self.content = content
        self.permissions = permissions
        self.modificationTime = modificationTime
    }
}

/// Writes deflate-compressed zip archives through libarchive.
public enum ZipWriter {
    /// Writes `entries` in the given order to `path`, through a temporary file renamed into
    /// place, so that a failed write leaves nothing behind.
    ///
    /// Deflating is most of the cost of writing a wheel and libarchive does it on one core, so
    /// large archives are written as contiguous parts by several libarchive writers at once and
    /// joined (`ZipMerge`): the same members in the same order, each compressed the same way.
    public static func write(
        _ entries: [ZipEntry], to path: String, compressionLevel: Int = 6, threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws {
        let total = entries.reduce(0) { $0 + $1.content.count }
        let parts = min(max(1, threads), 4)
        if parts > 1 && total > 4 << 20 && entries.count >= parts {
            // Contiguous ranges of about equal size keep the members in order.
            var ranges: [Range<Int>] = []
            var start = 0, accumulated = 0
            for (index, entry) in entries.enumerated() {
                accumulated += entry.content.count
                if ranges.count < parts - 1 && accumulated >= total * (ranges.count + 1) / parts {
                    ranges.append(start..<(index + 1))
                    start = index + 1
                }
            }
            ranges.append(start..<entries.count)
            let partPaths = ranges.indices.map { "\(path).part\($0)-\(getpid())" }
            defer { for part in partPaths { unlink(part) } }
            let failures = Locked<[Error?]>(slots: ranges.count)
            let chunks = ranges.map { Array(entries[$0]) }
            DispatchQueue.concurrentPerform(iterations: chunks.count) { index in
                do { try writeSingle(chunks[index], to: partPaths[index], compressionLevel: compressionLevel) } catch { failures.set(index, error) }
            }
            if let error = ranges.indices.lazy.compactMap({ failures.get($0) }).first { throw error }
            let joined = "\(path).joined-\(getpid())"
            do {
                try ZipMerge.merge(partPaths, into: joined)
                guard rename(joined, path) == 0 else { throw ArchiveError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
                return
            } catch is ZipMerge.Failure {
                unlink(joined)  // an archive the classic format cannot hold: one writer does it all
            }
        }
        try writeSingle(entries, to: path, compressionLevel: compressionLevel)
    }

    static func writeSingle(_ entries: [ZipEntry], to path: String, compressionLevel: Int) throws {
        setlocale(LC_ALL, "C.UTF-8")
        let tmp = "\(path).partial-\(getpid())"
        guard let archive = archive_write_new() else { throw ArchiveError.writeFailed(path: path, reason: "out of memory") }
        var ok = false
        defer {
            archive_write_free(archive)
            if !ok { unlink(tmp) }
        }
        archive_write_set_format_zip(archive)
        for option in ["compression=deflate", "compression-level=\(compressionLevel)", "hdrcharset=UTF-8"] {
            guard
                archive_write_set_format_option(
                    archive, "zip", option.split(separator: "=")[0].description,
                    option.split(separator: "=")[1].description) == ARCHIVE_OK
            else {
                throw ArchiveError.writeFailed(path: path, reason: "libarchive rejects zip option \(option): \(ZipReader.lastError(archive))")
            }
        }
        guard archive_write_open_filename(archive, tmp) == ARCHIVE_OK else {
            throw ArchiveError.writeFailed(path: path, reason: ZipReader.lastError(archive))
        }
        guard let entry = archive_entry_new() else { throw ArchiveError.writeFailed(path: path, reason: "out of memory") }
        defer { archive_entry_free(entry) }
        for item in entries {
            archive_entry_clear(entry)
            archive_entry_set_pathname_utf8(entry, item.path)
            archive_entry_set_filetype(entry, 0o100000)
            archive_entry_set_perm(entry, mode_t(item.permissions & 0o7777))
            archive_entry_set_size(entry, la_int64_t(item.content.count))
            archive_entry_set_mtime(entry, time_t(item.modificationTime), 0)
            guard archive_write_header(archive, entry) == ARCHIVE_OK else {
                throw ArchiveError.writeFailed(path: path, reason: "\(item.path): \(ZipReader.lastError(archive))")
            }
            if !item.content.isEmpty {
                let written = item.content.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
                guard written == item.content.count else {
                    throw ArchiveError.writeFailed(path: path, reason: "\(item.path): \(ZipReader.lastError(archive))")
                }
            }
        }
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw ArchiveError.writeFailed(path: path, reason: ZipReader.lastError(archive))
        }
        guard rename(tmp, path) == 0 else {
            throw ArchiveError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        ok = true
    }
}

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
    /// With `KeepMode.file`, an open descriptor of an unlinked temporary file holding the
    /// content; whoever takes the member must close it.
    public var spillFile: Int32? = nil
    /// The member's position in the archive.
    public var index: Int = 0
    /// What a `process` callback made of the content (for example a parsed binary).
    public var payload: (any Sendable)? = nil
}

/// How much of a member's content `ZipReader` keeps in memory.
public enum KeepMode: Sendable, Equatable {
    /// Only the hash and size.
    case none
    /// The whole content.
    case all
    /// The whole content, in an unlinked temporary file rather than in memory (see `ArchiveMember.spillFile`).
    case file
}

/// An unlinked temporary file that receives a member's content, so that large members
/// do not sit in memory (the same trade as extracting to disk, without the clean-up).
struct SpillFile {
    let fd: Int32

    init() throws {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        // Created and unlinked at once: nothing is left behind, even if the process is killed.
        var template = Array("\(dir)/wheelfarm-member.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            let fd = mkstemp(base)
            if fd >= 0 { unlink(base) }
            return fd
        }
        guard fd >= 0 else { throw ArchiveError.unreadable(path: dir, reason: "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        self.fd = fd
    }

    func write(_ block: UnsafeRawBufferPointer, archive: String, entry: String) throws {
        var done = 0
        while done < block.count {
            let n = Glibc.write(fd, block.baseAddress.map { $0 + done }, block.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                throw ArchiveError.unreadable(path: archive, reason: "\(entry): cannot write a temporary copy: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    func finish() -> Int32 { fd }
}

/// Reads zip archives (wheels) through libarchive, rejecting unsafe members.
public enum ZipReader {
    /// Reads every regular member of the zip at `path`, hashing all of them and keeping
    /// the content of those for which `keep(path, firstBytes)` returns true.
    ///
    /// `process`, when given, is called on each kept member once its content is complete; it
    /// may replace the content (for example with nil after parsing it) and attach a payload.
    /// With `only`, just those members are inflated and returned (the others are still checked).
    /// With `threads` above 1, members are inflated by several libarchive handles at once,
    /// each taking every n-th member: inflating dominates the cost of reading a wheel.
    ///
    /// Directory entries are skipped. Absolute or `..` paths, links, devices and duplicate
    /// names are rejected, as is expansion beyond `limits`, before anything is returned.
    public static func read(
        _ path: String, limits: ExpansionLimits = .default, threads: Int = 1, only: Set<String>? = nil,
        keep: @escaping @Sendable (String, ArraySlice<UInt8>, Int64) -> KeepMode = { _, _, _ in .all },
        process: (@Sendable (inout ArchiveMember) -> Void)? = nil
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
        let workers = max(1, threads)
        if workers == 1 {
            return try readPart(path, worker: 0, of: 1, only: only, limits: limits, allowed: allowed, archiveSize: archiveSize, keep: keep, process: process)
        }
        let results = Locked<[Result<[ArchiveMember], Error>?]>(slots: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            results.set(
                worker,
                Result {
                    try readPart(
                        path, worker: worker, of: workers, only: only, limits: limits, allowed: allowed, archiveSize: archiveSize, keep: keep, process: process)
                })
        }
        var all: [(Int, ArchiveMember)] = []
        for worker in 0..<workers {
            guard let result = results.get(worker) else { continue }
            switch result {
            case let .success(members): all += members.map { ($0.index, $0) }
            case let .failure(error): throw error
            }
        }
        let members = all.sorted { $0.0 < $1.0 }.map(\.1)
        let total = members.reduce(Int64(0)) { $0 + Int64($1.size) }
        guard total <= allowed else {
            throw ArchiveError.tooLarge(
                archive: path, reason: "expands to more than \(allowed) bytes (archive of \(archiveSize) bytes); refusing a possible zip bomb")
        }
        return members
    }

    /// Reads the members whose position modulo `count` is `worker`; checks every header.
    static func readPart(
        _ path: String, worker: Int, of count: Int, only: Set<String>?, limits: ExpansionLimits, allowed: Int64, archiveSize: Int64,
        keep: (String, ArraySlice<UInt8>, Int64) -> KeepMode, process: ((inout ArchiveMember) -> Void)?
    ) throws -> [ArchiveMember] {
        guard let archive = archive_read_new() else { throw ArchiveError.unreadable(path: path, reason: "out of memory") }
        defer { archive_read_free(archive) }
        // The seekable reader trusts the central directory, as pip and zipfile do.
        archive_read_support_format_zip_seekable(archive)
        guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else {
            throw ArchiveError.unreadable(path: path, reason: lastError(archive))
        }
        var members: [ArchiveMember] = []
        var seen = Set<String>()
        var declaredTotal: Int64 = 0
        var producedTotal: Int64 = 0
        var entry: OpaquePointer? = nil
        var index = -1
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
                declaredTotal += declared
                guard declaredTotal <= allowed else {
                    throw ArchiveError.tooLarge(
                        archive: path, reason: "expands to more than \(allowed) bytes (archive of \(archiveSize) bytes); refusing a possible zip bomb")
                }
            }
            index += 1
            guard index % count == worker else { continue }
            // Members outside `only` are neither inflated nor returned.
            if let only, !only.contains(name) { continue }
            var hasher = SHA256Hasher()
            var content: [UInt8]? = nil
            var spill: SpillFile? = nil
            var decided = false
            var mode = KeepMode.none
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
                producedTotal += Int64(length)
                // Enforce the limit on what is really produced, not only on the declared sizes.
                if producedTotal > allowed || (declared >= 0 && Int64(size) > declared) {
                    throw ArchiveError.tooLarge(
                        archive: path,
                        reason: "'\(name)' expands past its declared size or the archive's limit of \(allowed) bytes; refusing a possible zip bomb")
                }
                hasher.update(block)
                if !decided {
                    decided = true
                    mode = keep(name, ArraySlice(block.prefix(64)), declared)
                    switch mode {
                    case .none: break
                    case .all:
                        content = []
                        // Reserved from the declared size only up to what may be kept: a header is a claim.
                        content?.reserveCapacity(Int(min(max(declared, Int64(length)), limits.maximumKeptBytes, 64 << 20)))
                    case .file:
                        spill = try SpillFile()
                    }
                }
                switch mode {
                case .none: break
                case .all:
                    guard Int64(size) <= limits.maximumKeptBytes else {
                        throw ArchiveError.tooLarge(
                            archive: path, reason: "'\(name)' is larger than the \(limits.maximumKeptBytes >> 20) MiB a member read into memory may be")
                    }
                    content?.append(contentsOf: block)
                case .file:
                    try spill?.write(block, archive: path, entry: name)
                }
            }
            if !decided {
                mode = keep(name, [], declared)
                switch mode {
                case .none: break
                case .all: content = []
                case .file: spill = try SpillFile()
                }
            }
            let permissions = UInt32(archive_entry_perm(entry))
            var member = ArchiveMember(
                path: name, permissions: permissions == 0 ? 0o644 : permissions,
                modificationTime: Int(archive_entry_mtime(entry)), size: size,
                sha256: hasher.finalize(), content: content, index: index)
            member.spillFile = spill?.finish()
            if content != nil || member.spillFile != nil, let process { process(&member) }
            members.append(member)
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

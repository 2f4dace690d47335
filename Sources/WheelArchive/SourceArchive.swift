import CArchive
import Foundation
import WheelfarmBasics

/// Safe extraction of source distributions (`.tar.gz`, `.tar.bz2`, `.tar.xz`, `.zip`).
///
/// Every header is checked before anything is written: absolute paths, `..`, symbolic or hard
/// links that point outside the tree (or a path through an earlier link), device files, fifos
/// and sockets are rejected, as is expansion past the limits. Extraction goes to a staging
/// folder renamed into place, so a rejected or failed archive leaves nothing behind.
public enum SourceArchive {
    /// One checked header.
    struct Header {
        var path: String
        var kind: Kind
        var size: Int64
        var executable: Bool
        enum Kind: Equatable { case file, directory, symlink(String), hardlink(String) }
    }

    /// Extracts `archive` into `destination` (which must not exist yet). Returns the paths written.
    @discardableResult
    public static func extract(_ archive: String, into destination: String, limits: ExpansionLimits = .default) throws -> [String] {
        setlocale(LC_ALL, "C.UTF-8")
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw ArchiveError.writeFailed(path: destination, reason: "already exists")
        }
        let size = ((try? FileManager.default.attributesOfItem(atPath: archive))?[.size] as? NSNumber)?.int64Value ?? 0
        let allowed = limits.allowedTotal(archiveSize: size)
        let headers = try check(archive, limits: limits, allowed: allowed)
        let parent = (destination as NSString).deletingLastPathComponent
        try Files.makeDirectories(parent.isEmpty ? "." : parent)
        let staging = "\(destination).extracting-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        do {
            try write(archive, headers: headers, into: staging, allowed: allowed)
            guard rename(staging, destination) == 0 else {
                throw ArchiveError.writeFailed(path: destination, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        return headers.map(\.path)
    }

    static func open(_ path: String) throws -> OpaquePointer {
        guard let archive = archive_read_new() else { throw ArchiveError.unreadable(path: path, reason: "out of memory") }
        archive_read_support_filter_gzip(archive)
        archive_read_support_filter_bzip2(archive)
        archive_read_support_filter_xz(archive)
        archive_read_support_filter_zstd(archive)
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        archive_read_support_format_zip(archive)
        guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else {
            let reason = ZipReader.lastError(archive)
            archive_read_free(archive)
            throw ArchiveError.unreadable(path: path, reason: reason)
        }
        return archive
    }

    /// First pass: headers only.
    static func check(_ path: String, limits: ExpansionLimits, allowed: Int64) throws -> [Header] {
        let archive = try open(path)
        defer { archive_read_free(archive) }
        var headers: [Header] = []
        var seen = Set<String>()
        var links = Set<String>()
        var declared: Int64 = 0
        var entry: OpaquePointer? = nil
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ArchiveError.unreadable(path: path, reason: ZipReader.lastError(archive))
            }
            guard let cName = archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry) else {
                throw ArchiveError.unreadable(path: path, reason: "an entry name is not valid UTF-8")
            }
            var name = String(cString: cName)
            while name.hasPrefix("./") { name.removeFirst(2) }
            while name.hasSuffix("/") { name.removeLast() }
            if name.isEmpty || name == "." { continue }
            guard isSafeRelativePath(name) else { throw ArchiveError.unsafePath(archive: path, entry: name) }
            // No entry may live under a symbolic link of the archive: writing it would follow the link.
            let components = name.split(separator: "/")
            for depth in 1..<max(1, components.count) where links.contains(components.prefix(depth).joined(separator: "/")) {
                throw ArchiveError.unsafePath(archive: path, entry: name)
            }
            let type = archive_entry_filetype(entry) & 0o170000
            let kind: Header.Kind
            if let target = archive_entry_hardlink_utf8(entry) ?? archive_entry_hardlink(entry) {
                var linked = String(cString: target)
                while linked.hasPrefix("./") { linked.removeFirst(2) }
                guard isSafeRelativePath(linked), seen.contains(linked) else {
                    throw ArchiveError.unsupportedEntryType(archive: path, entry: name, kind: "hard link to '\(linked)', outside the archive's files")
                }
                kind = .hardlink(linked)
            } else if type == 0o120000 {
                let target = (archive_entry_symlink_utf8(entry) ?? archive_entry_symlink(entry)).map { String(cString: $0) } ?? ""
                let base = (name as NSString).deletingLastPathComponent
                guard !target.isEmpty, !target.hasPrefix("/"), !target.contains("\0"), resolvesInside(base: base, target: target, links: [:]) else {
                    throw ArchiveError.unsupportedEntryType(archive: path, entry: name, kind: "symbolic link to '\(target)', which points outside the tree")
                }
                kind = .symlink(target)
                links.insert(name)
            } else if type == 0o040000 {
                kind = .directory
            } else if type == 0o100000 || type == 0 {
                kind = .file
            } else {
                throw ArchiveError.unsupportedEntryType(archive: path, entry: name, kind: ZipReader.kindName(type))
            }
            let size = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
            declared += max(0, size)
            guard declared <= allowed else {
                throw ArchiveError.tooLarge(archive: path, reason: "expands to more than \(allowed) bytes; refusing a possible archive bomb")
            }
            guard seen.insert(name).inserted || kind == .directory else { throw ArchiveError.duplicateEntry(archive: path, entry: name) }
            guard headers.count < limits.maximumEntries else {
                throw ArchiveError.tooLarge(archive: path, reason: "more than \(limits.maximumEntries) entries")
            }
            headers.append(Header(path: name, kind: kind, size: size, executable: archive_entry_perm(entry) & 0o111 != 0))
        }
        // With every link known, follow chains too: `a -> ..` and `b -> a/..` each look harmless.
        var linkTargets: [String: String] = [:]
        for header in headers { if case let .symlink(target) = header.kind { linkTargets[header.path] = target } }
        for (link, target) in linkTargets where !resolvesInside(base: (link as NSString).deletingLastPathComponent, target: target, links: linkTargets) {
            throw ArchiveError.unsupportedEntryType(
                archive: path, entry: link, kind: "symbolic link to '\(target)', which leads outside the tree through other links")
        }
        return headers
    }

    /// Whether `target`, relative to directory `base` of the tree, stays inside the tree, also
    /// when its components are themselves links of the archive (`links`: path to target).
    static func resolvesInside(base: String, target: String, links: [String: String]) -> Bool {
        var resolved = base.split(separator: "/").map(String.init)
        var pending = target.split(separator: "/").map(String.init)
        var hops = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                if resolved.isEmpty { return false }
                resolved.removeLast()
                continue
            }
            let candidate = (resolved + [part]).joined(separator: "/")
            if let next = links[candidate] {
                hops += 1
                if hops > 40 || next.hasPrefix("/") { return false }
                pending = next.split(separator: "/").map(String.init) + pending
                continue
            }
            resolved.append(part)
        }
        return true
    }

    /// Second pass: write what the first pass accepted, counting what is really produced.
    static func write(_ path: String, headers: [Header], into root: String, allowed: Int64) throws {
        let archive = try open(path)
        defer { archive_read_free(archive) }
        var entry: OpaquePointer? = nil
        var index = 0
        var produced: Int64 = 0
        let byPath = Dictionary(headers.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        var buffer: UnsafeRawPointer? = nil
        var length = 0
        var offset: la_int64_t = 0
        while archive_read_next_header(archive, &entry) == ARCHIVE_OK, let entry {
            guard let cName = archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry) else { continue }
            var name = String(cString: cName)
            while name.hasPrefix("./") { name.removeFirst(2) }
            while name.hasSuffix("/") { name.removeLast() }
            guard let header = byPath[name] else { continue }
            index += 1
            let target = "\(root)/\(name)"
            let dir = (target as NSString).deletingLastPathComponent
            try Files.makeDirectories(dir)
            switch header.kind {
            case .directory:
                try Files.makeDirectories(target)
            case let .symlink(linkTarget):
                guard symlink(linkTarget, target) == 0 else { throw ArchiveError.writeFailed(path: target, reason: String(cString: strerror(errno))) }
            case let .hardlink(linked):
                // A copy rather than a link: the tree stays independent of how the archive shares files.
                try FileManager.default.copyItem(atPath: "\(root)/\(linked)", toPath: target)
            case .file:
                let fd = Glibc.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, header.executable ? 0o755 : 0o644)
                guard fd >= 0 else { throw ArchiveError.writeFailed(path: target, reason: String(cString: strerror(errno))) }
                defer { close(fd) }
                var written: Int64 = 0
                while true {
                    let r = archive_read_data_block(archive, &buffer, &length, &offset)
                    if r == ARCHIVE_EOF { break }
                    guard r == ARCHIVE_OK || r == ARCHIVE_WARN else {
                        throw ArchiveError.unreadable(path: path, reason: "\(name): \(ZipReader.lastError(archive))")
                    }
                    guard length > 0, let buffer else { continue }
                    written += Int64(length)
                    produced += Int64(length)
                    if produced > allowed || (header.size > 0 && written > header.size) {
                        throw ArchiveError.tooLarge(
                            archive: path, reason: "'\(name)' expands past its declared size or the limit of \(allowed) bytes; refusing a possible archive bomb"
                        )
                    }
                    var done = 0
                    while done < length {
                        let n = Glibc.write(fd, buffer + done, length - done)
                        guard n > 0 else { throw ArchiveError.writeFailed(path: target, reason: String(cString: strerror(errno))) }
                        done += n
                    }
                }
            }
        }
        guard index == headers.count else {
            throw ArchiveError.unreadable(path: path, reason: "the archive changed between its checks and its extraction")
        }
    }
}

import Foundation

/// A private directory that is removed when the value is released or `remove()` is called.
public final class TemporaryDirectory: @unchecked Sendable {
    /// The absolute path of the directory.
    public let path: String
    private var removed = false

    /// Creates a fresh directory under `parent` (default: `$TMPDIR` or /tmp).
    public init(prefix: String = "wheelfarm", in parent: String? = nil) throws {
        let base = parent ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard created else { throw BasicsError.io(path: base, reason: "cannot create a temporary directory") }
        path = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes the directory and everything in it.
    public func remove() {
        guard !removed else { return }
        removed = true
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { remove() }
}

/// Small file helpers shared by the modules.
public enum Files {
    /// Reads a whole file into memory.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BasicsError.io(path: path, reason: "cannot read")
        }
        return [UInt8](data)
    }

    /// Reads at most `limit` bytes from the start of a file (a log that may be huge).
    public static func readBytes(_ path: String, limit: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw BasicsError.io(path: path, reason: "cannot read") }
        defer { try? handle.close() }
        return [UInt8]((try handle.read(upToCount: limit)) ?? Data())
    }

    /// A UTF-8 text file of at most `limit` bytes; nil when it cannot be read, is larger, or is not UTF-8.
    public static func readText(_ path: String, limit: Int = 16 << 20) -> String? {
        guard let bytes = try? readBytes(path, limit: limit + 1), bytes.count <= limit else { return nil }
        return String(bytes: bytes, encoding: .utf8)
    }

    /// Writes bytes to a sibling temporary file and renames it into place, so that readers
    /// never see a half-written file; the file, then its folder, is synced before the rename
    /// counts, so a crash leaves the old content or the new, never an empty file.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: Int = 0o644) throws {
        // A hidden name beside the target: a process killed mid-write leaves no visible partial file.
        let absolute = Paths.absolute(path)
        let tmp = "\(Paths.parent(absolute))/.\((absolute as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        guard fd >= 0 else { throw BasicsError.io(path: path, reason: "cannot write: \(String(cString: strerror(errno)))") }
        var written = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let n = write(fd, buffer.baseAddress.map { $0 + written }, buffer.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let reason = String(cString: strerror(errno))
        fchmod(fd, mode_t(mode))
        close(fd)
        guard ok else {
            unlink(tmp)
            throw BasicsError.io(path: path, reason: "cannot write: \(reason)")
        }
        guard rename(tmp, absolute) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw BasicsError.io(path: path, reason: "cannot rename into place: \(reason)")
        }
        syncDirectory(Paths.parent(absolute))
    }

    /// The pid of the writer of a partial file ``writeAtomically(_:to:mode:)`` names
    /// `.<name>.tmp-<pid>-<n>`; nil for any other name. Kept beside the writer so the format has one home.
    public static func partialWriter(of name: String) -> Int32? {
        guard name.hasPrefix("."), let range = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let parts = name[range.upperBound...].split(separator: "-")
        guard parts.count == 2, UInt32(parts[1]) != nil else { return nil }
        return Int32(parts[0])
    }

    /// Syncs a folder, so that a rename into it survives a crash.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Creates a folder and any missing parents, like `mkdir -p`. Unlike Foundation's
    /// `createDirectory(withIntermediateDirectories:)`, a parent that another process creates at
    /// the same moment is not an error: builds sharing a home create the same folders at once.
    public static func makeDirectories(_ path: String, mode: Int = 0o755) throws {
        let absolute = Paths.absolute(path)
        if isDirectory(absolute) { return }
        var prefix = ""
        for component in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, mode_t(mode)) == 0 || errno == EEXIST {
                guard isDirectory(prefix) else {
                    let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: prefix)).map { ": a symbolic link to \($0), which is not there" }
                    throw BasicsError.io(path: prefix, reason: "exists and is not a folder\(link ?? "")")
                }
                continue
            }
            // A parent we may not write to but that exists (e.g. "/") is fine; anything else is not.
            let reason = String(cString: strerror(errno))
            guard isDirectory(prefix) else { throw BasicsError.io(path: prefix, reason: "cannot create the folder: \(reason)") }
        }
    }

    /// Whether a path exists and is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

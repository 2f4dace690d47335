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

    /// Writes bytes to a sibling temporary file and renames it into place, so
    /// that readers never see a half-written file.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: Int = 0o644) throws {
        // A hidden name beside the target: a process killed mid-write leaves no visible partial file.
        let directory = (path as NSString).deletingLastPathComponent
        let tmp = (directory.isEmpty ? "" : directory + "/") + ".\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes), attributes: [.posixPermissions: mode]) else {
            throw BasicsError.io(path: path, reason: "cannot write")
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw BasicsError.io(path: path, reason: "cannot rename into place: \(reason)")
        }
    }

    /// Whether a path exists and is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

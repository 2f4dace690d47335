import Foundation

/// Folders a process makes for its own work (a staging image, a derived root being made, a
/// build's work folder, a sandbox's scratch): their names carry the owner's pid, so whatever
/// process comes next can tell a dead owner's leftovers and remove them safely. This is the
/// farm's one sweep of dead processes' folders.
///
/// Names read `<prefix>@<pid>.<random>`: the pid is after the last `@`, whatever the prefix holds.
public enum OwnedFolders {
    /// A fresh name for a folder this process owns.
    public static func name(_ prefix: String) -> String {
        "\(prefix)@\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The owner's pid in a name made by ``name(_:)``.
    public static func owner(of name: String) -> Int32? {
        guard let at = name.lastIndex(of: "@") else { return nil }
        return name[name.index(after: at)...].split(separator: ".").first.flatMap { Int32($0) }
    }

    /// Whether `name` was made by ``name(_:)`` with `prefix`.
    public static func matches(_ name: String, prefix: String) -> Bool {
        guard let at = name.lastIndex(of: "@") else { return false }
        return name[..<at] == prefix || (prefix.hasSuffix("*") && name[..<at].hasPrefix(prefix.dropLast()))
    }

    /// The entries of `directory` (with `prefix`, a trailing `*` matching any rest) whose owner is gone.
    public static func stale(in directory: String, prefix: String = "*") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().filter { name in
            guard matches(name, prefix: prefix), let pid = owner(of: name), pid != getpid() else { return false }
            return !ProcessIdentity.pidExists(pid)
        }
    }

    /// Removes the entries of `directory` whose owner is gone: each is unmounted beneath
    /// (deepest first) and deleted without crossing into another file system. `before` runs for
    /// each first (a sandbox removes the run's cgroups there). Returns what was removed and
    /// what could not be.
    @discardableResult
    public static func sweep(_ directory: String, prefix: String = "*", before: ((String) -> Void)? = nil) -> SweepReport {
        var report = SweepReport()
        for name in stale(in: directory, prefix: prefix) {
            let path = "\(directory)/\(name)"
            before?(name)
            do {
                try SafeRemoval.remove(path)
                report.removed.append(path)
            } catch {
                report.failed.append("\(path): \(error)")
            }
        }
        return report
    }
}

/// What a sweep did.
public struct SweepReport: Sendable, Equatable {
    /// Folders removed.
    public var removed: [String] = []
    /// Folders that could not be removed, with why.
    public var failed: [String] = []

    public init() {}
}

/// Deleting a folder that may hold mounts (a staging root with /proc, /sys, /dev/shm; an
/// overlay): a recursive delete would walk into the host's own file systems and empty them.
public enum SafeRemoval {
    /// Mount points at or beneath `path`, deepest first, from /proc/self/mountinfo.
    public static func mounts(beneath path: String) -> [String] {
        let root = path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescape(String(fields[4]))
            return point == root || point.hasPrefix(root + "/") ? point : nil
        }
        return points.sorted { $0.count > $1.count }
    }

    /// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
    static func unescape(_ field: String) -> String {
        var result = ""
        var chars = Array(field)[...]
        while let c = chars.popFirst() {
            if c == "\\", chars.count >= 3, let code = UInt8(String(chars.prefix(3)), radix: 8) {
                result.append(Character(UnicodeScalar(code)))
                chars = chars.dropFirst(3)
            } else {
                result.append(c)
            }
        }
        return result
    }

    /// Unmounts everything at or beneath `path`, deepest first (lazily when busy).
    public static func unmountAll(beneath path: String) throws {
        for point in mounts(beneath: path) where umount2(point, 0) != 0 {
            guard umount2(point, Int32(MNT_DETACH)) == 0 || errno == EINVAL || errno == ENOENT else {
                throw BasicsError.io(path: point, reason: "cannot unmount: \(String(cString: strerror(errno)))")
            }
        }
        if let left = mounts(beneath: path).first {
            throw BasicsError.io(path: left, reason: "still mounted after unmounting; not deleting beneath it")
        }
    }

    /// Deletes `path`: first unmounts beneath it, then removes it without crossing into another
    /// file system (a mount that could not be seen is refused, not entered).
    public static func remove(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw BasicsError.io(path: path, reason: String(cString: strerror(errno)))
        }
        try unmountAll(beneath: path)
        guard lstat(path, &info) == 0 else { return }
        try removeTree(path, device: info.st_dev)
    }

    static func removeTree(_ path: String, device: dev_t) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_dev == device else {
            throw BasicsError.io(path: path, reason: "is on another file system; not deleting across it")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            // Owner-only or read-only folders left by a build still come apart.
            chmod(path, 0o700)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                try removeTree("\(path)/\(name)", device: device)
            }
            guard rmdir(path) == 0 || errno == ENOENT else {
                throw BasicsError.io(path: path, reason: "cannot remove: \(String(cString: strerror(errno)))")
            }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else {
                throw BasicsError.io(path: path, reason: "cannot remove: \(String(cString: strerror(errno)))")
            }
        }
    }
}

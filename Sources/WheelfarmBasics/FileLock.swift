import Foundation

/// An exclusive advisory lock on a file (flock), held until `unlock` or the process ends
/// (the kernel drops it when the process dies, so a killed holder never blocks the next one).
public final class FileLock: @unchecked Sendable {
    private let fd: Int32

    /// Takes the lock, waiting for another holder to let go.
    public init(path: String) throws {
        fd = try Self.openFile(path)
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw BasicsError.io(path: path, reason: "cannot lock: \(reason)")
            }
        }
    }

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock if nobody holds it; nil when someone does.
    public static func attempt(path: String) throws -> FileLock? {
        let fd = try openFile(path)
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return FileLock(fd: fd) }
        let code = errno
        close(fd)
        guard code == EWOULDBLOCK else { throw BasicsError.io(path: path, reason: "cannot lock: \(String(cString: strerror(code)))") }
        return nil
    }

    /// Replaces the lock file's content (who holds it), for the message a waiting process prints.
    public func note(_ text: String) {
        _ = ftruncate(fd, 0)
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Lets go.
    public func unlock() {
        flock(fd, LOCK_UN)
        close(fd)
    }

    private static func openFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BasicsError.io(path: path, reason: "cannot open the lock: \(String(cString: strerror(errno)))") }
        return fd
    }
}

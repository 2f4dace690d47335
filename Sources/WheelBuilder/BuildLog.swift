import Foundation
import WheelfarmBasics

/// A build's log, streamed to disk as it comes: never held whole in memory, and capped.
///
/// Past the cap the file keeps the head (the first half) and the tail (the last half, kept
/// in a ring file beside it), joined by a line saying how much was cut: a build that prints
/// gigabytes costs the farm a bounded file and no memory.
public final class BuildLog: @unchecked Sendable {
    /// Where the log is.
    public let path: String
    /// The most bytes the finished log holds.
    public let cap: Int
    private let lock = NSLock()
    private var file: FileHandle?
    private var ring: FileHandle?
    private var headWritten = 0
    private var tailWritten = 0
    private var total = 0

    /// Opens (truncates) `path`; `cap` of at least 64 KiB.
    public init(path: String, cap: Int) throws {
        self.path = path
        self.cap = max(cap, 64 << 10)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw BasicsError.io(path: path, reason: "cannot write the build log")
        }
        file = handle
    }

    private var headCap: Int { cap / 2 }
    private var tailCap: Int { cap - headCap }

    /// Appends bytes.
    public func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        lock.lock()
        defer { lock.unlock() }
        var rest = Array(bytes)[...]
        total += rest.count
        if headWritten < headCap {
            let part = rest.prefix(headCap - headWritten)
            file?.write(Data(part))
            headWritten += part.count
            rest = rest.dropFirst(part.count)
        }
        guard !rest.isEmpty else { return }
        if ring == nil {
            let ringPath = path + ".tail"
            FileManager.default.createFile(atPath: ringPath, contents: nil)
            ring = FileHandle(forUpdatingAtPath: ringPath)
        }
        // The last `tailCap` bytes, written round a fixed-size file.
        if rest.count > tailCap {
            tailWritten += rest.count - tailCap
            rest = rest.suffix(tailCap)
        }
        while !rest.isEmpty {
            let offset = tailWritten % tailCap
            let part = rest.prefix(tailCap - offset)
            try? ring?.seek(toOffset: UInt64(offset))
            ring?.write(Data(part))
            tailWritten += part.count
            rest = rest.dropFirst(part.count)
        }
    }

    /// Appends a line of the farm's own.
    public func note(_ text: String) { append(Array((text + "\n").utf8)) }

    /// Bytes appended so far, whether kept or cut.
    public var bytesSeen: Int { lock.withLock { total } }

    /// Closes the log: the kept tail goes after the head, with a line saying what was cut.
    public func finish() {
        lock.lock()
        defer { lock.unlock() }
        guard let file else { return }
        if let ring {
            let kept = min(tailWritten, tailCap)
            let cut = total - headWritten - kept
            if cut > 0 {
                file.write(Data("\n[wheelfarm: \(cut) bytes of output were cut here; the log keeps its first \(headWritten) and last \(kept) bytes]\n".utf8))
            }
            // In order: from the oldest byte of the ring to its newest.
            if tailWritten <= tailCap {
                try? ring.seek(toOffset: 0)
                if let bytes = try? ring.read(upToCount: tailWritten) { file.write(bytes) }
            } else {
                let start = tailWritten % tailCap
                try? ring.seek(toOffset: UInt64(start))
                if let older = try? ring.read(upToCount: tailCap - start) { file.write(older) }
                try? ring.seek(toOffset: 0)
                if start > 0, let newer = try? ring.read(upToCount: start) { file.write(newer) }
            }
            try? ring.close()
            unlink(path + ".tail")
            self.ring = nil
        }
        try? file.synchronize()
        try? file.close()
        self.file = nil
    }

    /// The last `bytes` of the finished (or current) log, for a failure's message.
    public func tail(_ bytes: Int = 64 << 10) -> String {
        lock.withLock { try? file?.synchronize() }
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    deinit { finish() }
}

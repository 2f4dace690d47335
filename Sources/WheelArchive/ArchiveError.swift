/// Why a wheel or archive was rejected.
public enum ArchiveError: Error, CustomStringConvertible, Equatable {
    /// libarchive could not read the file as a zip (not a zip, truncated, corrupt).
    case unreadable(path: String, reason: String)
    /// An entry's name is absolute or climbs out with `..`.
    case unsafePath(archive: String, entry: String)
    /// An entry is a link, device, fifo or other non-regular file.
    case unsupportedEntryType(archive: String, entry: String, kind: String)
    /// The same path appears twice.
    case duplicateEntry(archive: String, entry: String)
    /// The expanded size exceeds the limits: a zip bomb, or simply too large.
    case tooLarge(archive: String, reason: String)
    /// A RECORD hash or size does not match the content.
    case recordMismatch(archive: String, entry: String, reason: String)
    /// The wheel lacks something every wheel must have, or has it malformed.
    case invalidWheel(archive: String, reason: String)
    /// Writing an archive failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read as a zip archive: \(reason)"
        case let .unsafePath(archive, entry): return "\(archive): entry '\(entry)' has an unsafe path (absolute or containing '..')"
        case let .unsupportedEntryType(archive, entry, kind): return "\(archive): entry '\(entry)' is a \(kind), which is not allowed"
        case let .duplicateEntry(archive, entry): return "\(archive): entry '\(entry)' appears more than once"
        case let .tooLarge(archive, reason): return "\(archive): \(reason)"
        case let .recordMismatch(archive, entry, reason): return "\(archive): RECORD check failed for '\(entry)': \(reason)"
        case let .invalidWheel(archive, reason): return "\(archive): not a valid wheel: \(reason)"
        case let .writeFailed(path, reason): return "\(path): cannot write archive: \(reason)"
        }
    }
}

/// Limits that stop zip bombs and runaway expansion before they fill a disk or memory.
public struct ExpansionLimits: Sendable {
    /// No archive may expand to more than this many bytes.
    public var maximumTotalBytes: Int64
    /// Archives larger than `ratioFloorBytes` once expanded may expand to at most this many times their size.
    public var maximumRatio: Int64
    /// Expanded sizes up to this are always allowed, whatever the ratio.
    public var ratioFloorBytes: Int64
    /// At most this many entries.
    public var maximumEntries: Int
    /// No member kept in memory (``KeepMode/all``) may be larger than this: larger ones are
    /// refused (or, where a reader allows it, kept in a temporary file instead).
    public var maximumKeptBytes: Int64 = 1 << 30

    /// Defaults sized for real wheels: torch expands to about 1.5 GB at a ratio under 4.
    public static let `default` = ExpansionLimits(
        maximumTotalBytes: 16 << 30, maximumRatio: 200, ratioFloorBytes: 256 << 20, maximumEntries: 500_000)

    /// Creates limits.
    public init(maximumTotalBytes: Int64, maximumRatio: Int64, ratioFloorBytes: Int64, maximumEntries: Int) {
        self.maximumTotalBytes = maximumTotalBytes
        self.maximumRatio = maximumRatio
        self.ratioFloorBytes = ratioFloorBytes
        self.maximumEntries = maximumEntries
    }

    /// The largest total expansion allowed for an archive of `archiveSize` bytes.
    public func allowedTotal(archiveSize: Int64) -> Int64 {
        min(maximumTotalBytes, max(ratioFloorBytes, archiveSize.multipliedReportingOverflow(by: maximumRatio).partialValue))
    }
}

/// Checks an archive member name: relative, no `..`, no empty or NUL tricks.
public func isSafeRelativePath(_ path: String) -> Bool {
    if path.isEmpty || path.hasPrefix("/") || path.contains("\0") || path.contains("\\") { return false }
    for component in path.split(separator: "/", omittingEmptySubsequences: true) where component == ".." { return false }
    return true
}

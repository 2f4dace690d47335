import Foundation

/// The farm's home and every path in it: nothing else in wheelfarm spells these folders.
///
/// ```
/// <home>/state/farm.sqlite          the job store (state.url may name another)
/// <home>/state/nightly.lock         held while a nightly runs
/// <home>/locks/<target>.lock        serialises making a target's image and derived roots
/// <home>/toolchains/<target>.json   which image a target uses
/// <home>/images/<digest>/           toolchain images (rootfs/, manifest.json)
/// <home>/derived/<key>/             derived roots (layer/, manifest.json)
/// <home>/scratch/                   sandboxes' mount points
/// <home>/seccomp/                   the sandbox's compiled system-call filters
/// <home>/jobs/<target>-<pid>-<n>/   a build's work folder
/// <home>/sources/<sha256>/          sdists by content
/// <home>/builds/<project>/<version>/<target>/   wheel, log, record, signature, provenance
/// <home>/repository/                the embedded artifact repository
/// <home>/keys/signing.key|.pub      the farm's signing key
/// <home>/reports/                   nightly reports
/// ```
public struct FarmLayout: Sendable, Hashable {
    /// The home folder.
    public let path: String

    /// A layout rooted at `path`.
    public init(path: String) { self.path = path }

    /// The home used when nothing names one: `/var/lib/wheelfarm` for root, else under the user's home.
    public static var defaultPath: String {
        getuid() == 0 ? "/var/lib/wheelfarm" : "\(NSHomeDirectory())/.local/share/wheelfarm"
    }

    public var state: String { "\(path)/state" }
    /// The SQLite job store.
    public var database: String { "\(state)/farm.sqlite" }
    /// The lock a nightly holds while it runs.
    public var nightlyLock: String { "\(state)/nightly.lock" }
    public var locks: String { "\(path)/locks" }
    /// The lock that serialises making `target`'s image and derived roots.
    public func targetLock(_ target: String) -> String { "\(locks)/\(target).lock" }

    /// Pointers from target names to image digests.
    public var pointers: String { "\(path)/toolchains" }
    public func pointer(_ target: String) -> String { "\(pointers)/\(target).json" }
    public var images: String { "\(path)/images" }
    public func image(_ digest: String) -> String { "\(images)/\(digest)" }
    public func rootfs(_ digest: String) -> String { "\(image(digest))/rootfs" }
    public var derived: String { "\(path)/derived" }
    public func derivedRoot(_ key: String) -> String { "\(derived)/\(key)" }
    public var scratch: String { "\(path)/scratch" }
    /// Compiled seccomp filters of the sandbox.
    public var seccomp: String { "\(path)/seccomp" }

    /// Builds' work folders.
    public var jobs: String { "\(path)/jobs" }
    public var sources: String { "\(path)/sources" }
    public var builds: String { "\(path)/builds" }
    /// The folder of one build: its wheel, log, record, signature and provenance. Each part must
    /// be one plain folder name (``isPlainName(_:)``): names and versions come from strangers,
    /// and the store's callers validate them as PEP 508/440 values first (`BuildStore`).
    public func build(project: String, version: String, target: String) throws -> String {
        for part in [project, version, target] where !Self.isPlainName(part) {
            throw BasicsError.io(path: builds, reason: "'\(part.prefix(100))' cannot name a folder of the build store")
        }
        return "\(builds)/\(project)/\(version)/\(target)"
    }

    /// A name that is one folder and nothing else: 1 to 200 characters of ASCII letters, digits
    /// and `._+!-`, not starting with a dot (so never `.`, `..` or hidden).
    public static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: "."), name.utf8.count <= 200 else { return false }
        return name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2B || b == 0x21 || b == 0x2D
        }
    }

    public var repository: String { "\(path)/repository" }
    public var keys: String { "\(path)/keys" }
    public var signingKey: String { "\(keys)/signing.key" }
    public var reports: String { "\(path)/reports" }
}

/// A Linux platform tag understood by the auditor (PEP 513/571/599/600/656).
public struct PlatformTag: Hashable, Sendable, CustomStringConvertible {
    /// Which family of tag this is.
    public enum Family: String, Sendable {
        /// `linux_<arch>`: no promise beyond the build machine.
        case linux
        /// `manylinux_X_Y_<arch>` and its legacy aliases: glibc based.
        case manylinux
        /// `musllinux_X_Y_<arch>`: musl based.
        case musllinux
    }

    /// The family.
    public var family: Family
    /// The libc major and minor version; (0, 0) for `linux`.
    public var major: Int
    /// The libc minor version.
    public var minor: Int
    /// The architecture, for example `x86_64`.
    public var architecture: String

    /// Legacy manylinux names (PEP 513, 571, 599) and the glibc versions they stand for.
    public static let legacyManylinux: [String: (Int, Int)] = [
        "manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)
    ]

    /// Creates a tag from its parts.
    public init(family: Family, major: Int, minor: Int, architecture: String) {
        self.family = family
        self.major = major
        self.minor = minor
        self.architecture = architecture
    }

    /// Parses a platform tag; nil for anything that is not a Linux tag.
    public init?(_ text: String) {
        if text.hasPrefix("linux_") {
            self.init(family: .linux, major: 0, minor: 0, architecture: String(text.dropFirst(6)))
            return
        }
        for (legacy, version) in Self.legacyManylinux where text.hasPrefix(legacy + "_") {
            self.init(
                family: .manylinux, major: version.0, minor: version.1,
                architecture: String(text.dropFirst(legacy.count + 1)))
            return
        }
        let family: Family
        if text.hasPrefix("manylinux_") { family = .manylinux } else if text.hasPrefix("musllinux_") { family = .musllinux } else { return nil }
        let rest = text.split(separator: "_", maxSplits: 3).map(String.init)
        guard rest.count == 4, let major = Int(rest[1]), let minor = Int(rest[2]), !rest[3].isEmpty else { return nil }
        self.init(family: family, major: major, minor: minor, architecture: rest[3])
    }

    /// The canonical (PEP 600/656) spelling.
    public var description: String {
        switch family {
        case .linux: return "linux_\(architecture)"
        case .manylinux: return "manylinux_\(major)_\(minor)_\(architecture)"
        case .musllinux: return "musllinux_\(major)_\(minor)_\(architecture)"
        }
    }
}

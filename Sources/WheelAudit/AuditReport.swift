/// A library the wheel needs from outside itself that the target policy does not allow.
public struct ExternalLibrary: Codable, Sendable, Hashable {
    /// The soname (`DT_NEEDED` value).
    public var soname: String
    /// Where it was found in the root, or nil when it was not found.
    public var path: String?
    /// The binaries of the wheel (or grafted libraries) that need it.
    public var neededBy: [String]

    enum CodingKeys: String, CodingKey {
        case soname, path
        case neededBy = "needed_by"
    }
}

/// One binary of the wheel, as the report describes it.
public struct BinaryReport: Codable, Sendable {
    /// The path inside the wheel.
    public var path: String
    /// `extension`, `library` or `executable`.
    public var kind: String
    /// Its `DT_NEEDED` entries.
    public var needed: [String]
    /// Its RPATH or RUNPATH, as written.
    public var rpath: String?
    /// The x86-64 ISA level it declares (1 to 4), when it declares one.
    public var isaLevel: Int?

    enum CodingKeys: String, CodingKey {
        case path, kind, needed, rpath
        case isaLevel = "isa_level"
    }
}

/// The auditor's verdict on one wheel.
public struct AuditReport: Codable, Sendable {
    /// The wheel's file name.
    public var wheel: String
    /// True when the wheel holds no binary for its platform: nothing to audit.
    public var pure: Bool
    /// The architecture of its binaries.
    public var architecture: String?
    /// `glibc` or `musl`.
    public var libc: String?
    /// The most compatible platform tag the wheel satisfies as it is.
    public var platformTag: String
    /// The most compatible platform tag a repair (grafting the external libraries) can reach.
    public var repairTag: String
    /// The tag allowed by symbol versions alone (of the wheel and of what repair would graft).
    public var symbolTag: String
    /// Whether the wheel's own platform tags are all ones it satisfies.
    public var consistentWithFilename: Bool
    /// Libraries needed from outside the wheel that the repair tag's policy does not allow.
    public var externalLibraries: [ExternalLibrary]
    /// For each system library, the symbol versions referenced by the wheel and by what repair would graft.
    public var symbolVersions: [String: [String]]
    /// Human-readable reasons that constrain the tag.
    public var findings: [String]
    /// The binaries examined.
    public var binaries: [BinaryReport]

    enum CodingKeys: String, CodingKey {
        case wheel, pure, architecture, libc, findings, binaries
        case platformTag = "platform_tag"
        case repairTag = "repair_tag"
        case symbolTag = "symbol_tag"
        case consistentWithFilename = "consistent_with_filename"
        case externalLibraries = "external_libraries"
        case symbolVersions = "symbol_versions"
    }

    /// Whether the wheel is consistent with its tags and needs nothing from outside: exit status 0.
    public var isCompliant: Bool { pure || (consistentWithFilename && externalLibraries.isEmpty) }
}

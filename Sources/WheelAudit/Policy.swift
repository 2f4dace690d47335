import Foundation
import PackagingModel

/// Which C library a wheel's binaries link against.
public enum LibcFamily: String, Sendable, Codable {
    case glibc
    case musl
}

/// One platform policy for one architecture: what a binary may reference to carry its tag.
public struct ABIPolicy: Sendable, Hashable, CustomStringConvertible {
    /// The full tag, for example `manylinux_2_17_x86_64`, or `linux_x86_64` for the fallback.
    public var name: String
    /// Legacy spellings with the architecture, for example `manylinux2014_x86_64`.
    public var aliases: [String]
    /// Higher is more compatible; the `linux` fallback has 0.
    public var priority: Int
    /// Symbol-version ceilings: version prefix (`GLIBC`, `GLIBCXX`, ...) to the allowed full names (`GLIBC_2.17`).
    public var symbolVersions: [String: Set<String>]
    /// Sonames a wheel may use from the system.
    public var allowedLibraries: Set<String>
    /// Symbols a wheel may not use, per library (`*` forbids the library outright).
    public var blacklistedSymbols: [String: Set<String>]

    /// Whether this is the `linux_<arch>` fallback that promises nothing.
    public var isFallback: Bool { priority == 0 }

    public var description: String { name }
}

/// Errors from loading policy files.
public enum PolicyError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(path: String, reason: String)
    case unknownPolicy(String, known: [String])

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read policy file \(path): \(reason)"
        case let .invalid(path, reason): return "invalid policy file \(path): \(reason)"
        case let .unknownPolicy(name, known): return "no policy named '\(name)' for this wheel; known: \(known.joined(separator: ", "))"
        }
    }
}

/// The policy data as it is written in `toolchains/policies/*.json` and in organisation policy files.
struct PolicyDocument: Codable {
    struct Entry: Codable {
        var name: String
        var aliases: [String]?
        var priority: Int?
        /// An organisation policy may start from a published one and extend it.
        var base: String?
        var allowed_libraries: [String]?
        var extra_allowed_libraries: [String]?
        var allowed_libraries_per_architecture: [String: [String]]?
        var blacklisted_symbols: [String: [String]]?
        var symbol_versions: [String: [String: VersionList]]?
    }
    var format: Int
    var family: String?
    var libc: LibcFamily?
    var policies: [Entry]
}

/// Symbol versions as written in policy files: one string separated by spaces (compact, and
/// fast to load), or a list of strings.
struct VersionList: Codable {
    var versions: [String]

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            versions = text.split(separator: " ").map(String.init)
        } else {
            versions = try container.decode([String].self)
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(versions.joined(separator: " "))
    }
}

/// The set of policy definitions (all architectures), loaded from data files.
public struct PolicyCatalog: Sendable {
    struct Definition: Sendable {
        var name: String
        var aliases: [String]
        var priority: Int
        var libc: LibcFamily
        var allowed: Set<String>
        var allowedPerArchitecture: [String: Set<String>]
        var blacklist: [String: Set<String>]
        var symbolVersions: [String: [String: [String]]]
    }

    var definitions: [Definition]

    /// Loads the published policies from the data directory, plus any organisation policy files.
    public static func load(dataDirectory: String, extraPolicyFiles: [String] = []) throws -> PolicyCatalog {
        var catalog = PolicyCatalog(definitions: [])
        for family in ["manylinux", "musllinux"] {
            try catalog.add(file: "\(dataDirectory)/toolchains/policies/\(family).json")
        }
        for file in extraPolicyFiles { try catalog.add(file: file) }
        return catalog
    }

    /// Adds the policies of one file; a policy with the name of an existing one replaces it.
    public mutating func add(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyError.unreadable(path: path, reason: "no such file or not readable")
        }
        let document: PolicyDocument
        do { document = try JSONDecoder().decode(PolicyDocument.self, from: data) } catch {
            throw PolicyError.invalid(path: path, reason: "\(error)")
        }
        guard document.format == 1 else { throw PolicyError.invalid(path: path, reason: "unsupported format \(document.format)") }
        for entry in document.policies {
            var definition: Definition
            if let baseName = entry.base {
                guard let base = definitions.first(where: { $0.name == baseName || $0.aliases.contains(baseName) }) else {
                    throw PolicyError.invalid(path: path, reason: "policy '\(entry.name)' extends unknown policy '\(baseName)'")
                }
                definition = base
                definition.name = entry.name
                definition.aliases = entry.aliases ?? []
                if let priority = entry.priority { definition.priority = priority }
            } else {
                guard let priority = entry.priority, entry.symbol_versions != nil else {
                    throw PolicyError.invalid(path: path, reason: "policy '\(entry.name)' needs 'priority' and 'symbol_versions' (or a 'base')")
                }
                definition = Definition(
                    name: entry.name, aliases: entry.aliases ?? [], priority: priority,
                    libc: document.libc ?? .glibc, allowed: [], allowedPerArchitecture: [:],
                    blacklist: [:], symbolVersions: [:])
            }
            guard definition.priority > 0 else { throw PolicyError.invalid(path: path, reason: "policy '\(entry.name)': priority must be positive") }
            if let allowed = entry.allowed_libraries { definition.allowed = Set(allowed) }
            definition.allowed.formUnion(entry.extra_allowed_libraries ?? [])
            if let perArch = entry.allowed_libraries_per_architecture { definition.allowedPerArchitecture = perArch.mapValues(Set.init) }
            if let blacklist = entry.blacklisted_symbols { definition.blacklist = blacklist.mapValues(Set.init) }
            if let versions = entry.symbol_versions { definition.symbolVersions = versions.mapValues { $0.mapValues(\.versions) } }
            definitions.removeAll { $0.name == definition.name }
            definitions.append(definition)
        }
    }

    /// The policies that apply to one libc and architecture, lowest priority (the `linux` fallback) first.
    ///
    /// musl has no symbol versioning, so analysis cannot tell musllinux_1_1 from 1_2: only the
    /// newest musl policy is offered unless `includeAll` (used for explicit `--plat` requests).
    public func policies(libc: LibcFamily, architecture: String, includeAll: Bool = false) -> [ABIPolicy] {
        var result = [ABIPolicy(name: "linux_\(architecture)", aliases: [], priority: 0, symbolVersions: [:], allowedLibraries: [], blacklistedSymbols: [:])]
        var matching = definitions.filter { $0.libc == libc && $0.symbolVersions[architecture] != nil }
        if libc == .musl && !includeAll, let newest = matching.min(by: { $0.priority < $1.priority }) { matching = [newest] }
        for d in matching {
            var versions: [String: Set<String>] = [:]
            for (prefix, list) in d.symbolVersions[architecture] ?? [:] { versions[prefix] = Set(list.map { "\(prefix)_\($0)" }) }
            result.append(
                ABIPolicy(
                    name: "\(d.name)_\(architecture)", aliases: d.aliases.map { "\($0)_\(architecture)" }, priority: d.priority,
                    symbolVersions: versions, allowedLibraries: d.allowed.union(d.allowedPerArchitecture[architecture] ?? []),
                    blacklistedSymbols: d.blacklist))
        }
        return result.sorted { $0.priority < $1.priority }
    }
}

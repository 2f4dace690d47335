import BuildSandbox
import Foundation

/// A Debian package that reached a wheel or made it, at the version the build saw.
public struct PackageUse: Codable, Sendable, Hashable {
    /// How the package's files mattered to the wheel.
    public enum How: String, Codable, Sendable {
        /// A shared library of it was grafted into the wheel.
        case grafted
        /// Built from its Debian source package by `source_libraries` and linked (statically,
        /// or grafted from the prefix); `version` is the source package's.
        case source
        /// A package the recipe installs (headers, static libraries, code generators).
        case recipe
        /// The compiler, its runtime libraries or the C library's development files.
        case toolchain
    }

    public var name: String
    public var version: String
    public var how: How

    /// Creates an entry.
    public init(name: String, version: String, how: How) {
        self.name = name
        self.version = version
        self.how = how
    }
}

/// Which of a root's packages a build depends on, and what changed in a new root. A refresh
/// that updates tzdata or apt leaves every build as it is; one that updates a grafted library,
/// a recipe's package, a source library or the compiler rebuilds the builds that used it.
public enum BuildPackages {
    /// A package whose version differs between the build and the current root.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var how: PackageUse.How
        public var old: String
        /// Nil when the current root no longer has it.
        public var new: String?

        public var description: String { "\(name) \(old) → \(new ?? "removed") (\(how.rawValue))" }
    }

    /// Whether a package is part of the compiler: code generation, the runtime it links
    /// (libgcc, libstdc++, libgfortran) and the C library's startup files and headers.
    public static func isCompiler(_ name: String) -> Bool {
        let prefixes = ["gcc", "g++", "cpp", "binutils", "libgcc", "libstdc++", "libgfortran", "gfortran", "libquadmath", "libgomp"]
        return prefixes.contains { name == $0 || name.hasPrefix("\($0)-") || name.hasPrefix($0) && name.dropFirst($0.count).first?.isNumber == true }
            || ["libc6-dev", "libc-dev-bin", "linux-libc-dev", "libbinutils", "libctf0", "libctf-nobfd0", "libsframe1"].contains(name)
    }

    /// What a build used: the compiler's packages from the image, the recipe's packages and
    /// source libraries from the derived root, and the packages of grafted libraries.
    public static func uses(image: ToolchainImage, derived: DerivedRoot?, grafted: [GraftedLibrary]) -> [PackageUse] {
        var result: [PackageUse] = []
        var seen = Set<String>()
        func add(_ name: String, _ version: String, _ how: PackageUse.How) {
            if seen.insert("\(how.rawValue) \(name)").inserted { result.append(PackageUse(name: name, version: version, how: how)) }
        }
        let added = derived?.added ?? []
        let builtFromSource = Set(added.filter { $0.architecture == "source" }.map(\.name))
        for library in grafted {
            // A library grafted from the prefix is listed once, as the source package that built it.
            if let name = library.package, let version = library.version, !builtFromSource.contains(name) { add(name, version, .grafted) }
        }
        for package in added where package.architecture == "source" { add(package.name, package.version, .source) }
        let installed = Dictionary(added.filter { $0.architecture != "source" }.map { ($0.name, $0.version) }) { first, _ in first }
        for name in derived?.requested ?? [] {
            // Requested by name: the version is what the root has (the layer's, or the base's when it was there already).
            if let version = installed[name] ?? image.packages.first(where: { $0.name == name })?.version { add(name, version, .recipe) }
        }
        for package in image.packages + added where package.architecture != "source" && isCompiler(package.name) {
            add(package.name, package.version, .toolchain)
        }
        return result.sorted { ($0.how.rawValue, $0.name) < ($1.how.rawValue, $1.name) }
    }

    /// The recorded packages whose version in `image` (and `derived`) is not the recorded one.
    public static func changes(recorded: [PackageUse], image: ToolchainImage, derived: DerivedRoot?) -> [Change] {
        let added = derived?.added ?? []
        var binary: [String: String] = [:]
        for package in image.packages where package.architecture != "source" { binary[package.name] = package.version }
        // The layer installed over the base: its versions win.
        for package in added where package.architecture != "source" { binary[package.name] = package.version }
        var sources: [String: String] = [:]
        for package in added where package.architecture == "source" { sources[package.name] = package.version }
        return recorded.compactMap { use in
            let now = use.how == .source ? sources[use.name] : binary[use.name]
            return now == use.version ? nil : Change(name: use.name, how: use.how, old: use.version, new: now)
        }
    }
}

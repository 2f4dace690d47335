import Foundation
import PackagingModel
import WheelfarmBasics

/// How to build one project: what the defaults do not know. Read from `recipes/<name>.json`
/// (the PEP 503 normalised project name); a project without a recipe builds with the defaults.
public struct Recipe: Codable, Sendable, Equatable {
    /// Distribution packages needed at build time (a derived root over the toolchain image).
    public var packages: [String]?
    /// Environment variables of the build.
    public var environment: [String: String]?
    /// PEP 517 config settings.
    public var configSettings: [String: String]?
    /// Constraints on build requirements, for example `Cython<3`.
    public var constraints: [String]?
    /// A shell command run after the test install (the wheel's interpreter is first on PATH).
    public var testCommand: String?
    /// Requirements the test command needs beside the wheel (`pytest`): fetched as wheels for
    /// the target outside the sandbox, installed offline into the test's environment.
    public var testRequires: [String]?
    /// Target name globs not to build for.
    public var skipTargets: [String]?
    /// Whether a wheel without binaries is acceptable although the sources have C code.
    public var allowPure: Bool?
    /// Sonames the project loads with dlopen, grafted under their own names.
    public var bundleLibraries: [String]?
    /// `gcc` pins the project to the root's gcc on targets that compile with zig (for a part zig
    /// cannot compile, such as Fortran); the target's tag ceiling still applies.
    public var compiler: String?
    /// Libraries built from their Debian source package with the target's compiler into
    /// `/opt/wheelfarm/prefix` (cached with the derived root), for the build to link and the repair to graft.
    public var sourceLibraries: [SourceLibrary]?
    /// What one build needs from the farm's scheduler (default: 2 GiB, 1 core).
    public var resources: Resources?
    /// System calls the sandbox's seccomp filter denies that this project's build needs all the
    /// same (for example `"ptrace"` for a test suite that debugs itself): each is a widening of
    /// the wall around the build, so each needs a `//` comment saying why.
    public var allowSyscalls: [String]?
    /// `false` skips the repair: the wheel keeps the compiler's `linux_*` tag and grafts
    /// nothing, so it installs only where its libraries are (the test install in the runtime
    /// root shows whether they are). For a ceiling-less target and for diagnosing a repair.
    public var repair: Bool?
    /// Unified diffs applied in order to the extracted sources before the build (`patch -p1`
    /// semantics). In a file, relative to that file; once loaded by ``RecipeBook``, absolute.
    public var patches: [String]?
    /// `true`: every new toolchain image of the target rebuilds the project, not only one in
    /// which a package that reached its wheel (or the compiler) changed. For a project whose
    /// build reads more of the root than the farm can see (a vendored copy of a system tool, say).
    public var followToolchain: Bool?
    /// `"builtin"`: a user recipe that extends the built-in one key by key instead of replacing it.
    public var extends: String?
    /// Changes for some versions or targets: `versions` is a PEP 440 specifier set, `targets` a target-name glob.
    public var overrides: [Override]?

    /// A per-version change of the recipe: `versions` (a PEP 440 specifier set) beside any
    /// recipe keys, which replace (or, for `environment` and `config_settings`, extend) the base ones.
    public struct Override: Codable, Sendable, Equatable {
        public var versions: String?
        public var targets: String?
        public var changes: Recipe

        enum CodingKeys: String, CodingKey { case versions, targets }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            versions = try container.decodeIfPresent(String.self, forKey: .versions)
            targets = try container.decodeIfPresent(String.self, forKey: .targets)
            guard versions != nil || targets != nil else {
                throw DecodingError.dataCorruptedError(forKey: .versions, in: container, debugDescription: "an override needs \"versions\" or \"targets\"")
            }
            changes = try Recipe(from: decoder)
            changes.overrides = nil
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(versions, forKey: .versions)
            try container.encodeIfPresent(targets, forKey: .targets)
            try changes.encode(to: encoder)
        }

        func applies(version: PackageVersion?, target: String?) -> Bool {
            if let versions {
                guard let version, let set = SpecifierSet(versions), set.contains(version, prereleases: true) else { return false }
            }
            if let targets {
                guard let target, fnmatch(targets, target, 0) == 0 else { return false }
            }
            return true
        }
    }

    /// A build's declared needs: the scheduler starts it only when they fit beside the running builds.
    public struct Resources: Codable, Sendable, Equatable {
        /// Peak memory in GiB.
        public var memoryGb: Double?
        /// Cores it keeps busy.
        public var cores: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case memoryGb = "memory_gb"
            case cores
        }

        public init(memoryGb: Double? = nil, cores: Int? = nil) {
            self.memoryGb = memoryGb
            self.cores = cores
        }
    }

    /// A library built from its Debian source package: fetched with `apt-get source` in the
    /// networked preparation step, then configured by `configure` and built by `build` (shell
    /// scripts run in the unpacked source with CC, CXX and PREFIX set) into `/opt/wheelfarm/prefix`.
    public struct SourceLibrary: Codable, Sendable, Equatable, Hashable {
        /// The Debian source package name, for example `libyaml`.
        public var source: String
        /// The configure script (optional: a failure then names the configure step, not the build).
        public var configure: String?
        /// The build and install script.
        public var build: String

        /// Creates a source library entry.
        public init(source: String, configure: String? = nil, build: String) {
            self.source = source
            self.configure = configure
            self.build = build
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case packages, environment, constraints, overrides
        case bundleLibraries = "bundle_libraries"
        case configSettings = "config_settings"
        case testCommand = "test_command"
        case testRequires = "test_requires"
        case skipTargets = "skip_targets"
        case allowPure = "allow_pure"
        case compiler
        case sourceLibraries = "source_libraries"
        case resources
        case allowSyscalls = "allow_syscalls"
        case repair, patches, extends
        case followToolchain = "follow_toolchain"
    }

    /// The empty recipe: the defaults.
    public static let none = Recipe()

    /// Creates an empty recipe.
    public init() {}

    /// The recipe with the overrides that apply to `version` (and `target`, when given) merged in.
    public func resolved(for version: PackageVersion?, target: String? = nil) -> Recipe {
        var result = self
        result.overrides = nil
        for override in overrides ?? [] where override.applies(version: version, target: target) {
            let change = override.changes
            if let v = change.packages { result.packages = v }
            if let v = change.environment { result.environment = (result.environment ?? [:]).merging(v) { $1 } }
            if let v = change.configSettings { result.configSettings = (result.configSettings ?? [:]).merging(v) { $1 } }
            if let v = change.constraints { result.constraints = v }
            if let v = change.testCommand { result.testCommand = v }
            if let v = change.testRequires { result.testRequires = v }
            if let v = change.skipTargets { result.skipTargets = v }
            if let v = change.allowPure { result.allowPure = v }
            if let v = change.bundleLibraries { result.bundleLibraries = v }
            if let v = change.compiler { result.compiler = v }
            if let v = change.sourceLibraries { result.sourceLibraries = v }
            if let v = change.resources { result.resources = v }
            if let v = change.allowSyscalls { result.allowSyscalls = v }
            if let v = change.repair { result.repair = v }
            if let v = change.patches { result.patches = v }
            if let v = change.followToolchain { result.followToolchain = v }
        }
        return result
    }

    /// Whether the recipe skips `target`.
    public func skips(_ target: String) -> Bool {
        (skipTargets ?? []).contains { fnmatch($0, target, 0) == 0 }
    }
}

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
    /// Target name globs not to build for.
    public var skipTargets: [String]?
    /// Whether a wheel without binaries is acceptable although the sources have C code.
    public var allowPure: Bool?
    /// Sonames the project loads with dlopen, grafted under their own names.
    public var bundleLibraries: [String]?
    /// Changes for some versions: `versions` is a PEP 440 specifier set.
    public var overrides: [Override]?

    /// A per-version change of the recipe: `versions` (a PEP 440 specifier set) beside any
    /// recipe keys, which replace (or, for `environment` and `config_settings`, extend) the base ones.
    public struct Override: Codable, Sendable, Equatable {
        public var versions: String
        public var changes: Recipe

        enum CodingKeys: String, CodingKey { case versions }

        public init(from decoder: Decoder) throws {
            versions = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .versions)
            changes = try Recipe(from: decoder)
            changes.overrides = nil
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(versions, forKey: .versions)
            try changes.encode(to: encoder)
        }
    }

    enum CodingKeys: String, CodingKey {
        case packages, environment, constraints, overrides
        case bundleLibraries = "bundle_libraries"
        case configSettings = "config_settings"
        case testCommand = "test_command"
        case skipTargets = "skip_targets"
        case allowPure = "allow_pure"
    }

    /// The empty recipe: the defaults.
    public static let none = Recipe()

    /// Creates an empty recipe.
    public init() {}

    /// The recipe with the overrides that apply to `version` merged in.
    public func resolved(for version: PackageVersion) -> Recipe {
        var result = self
        result.overrides = nil
        for override in overrides ?? [] {
            guard let set = SpecifierSet(override.versions), set.contains(version, prereleases: true) else { continue }
            let change = override.changes
            if let v = change.packages { result.packages = v }
            if let v = change.environment { result.environment = (result.environment ?? [:]).merging(v) { $1 } }
            if let v = change.configSettings { result.configSettings = (result.configSettings ?? [:]).merging(v) { $1 } }
            if let v = change.constraints { result.constraints = v }
            if let v = change.testCommand { result.testCommand = v }
            if let v = change.skipTargets { result.skipTargets = v }
            if let v = change.allowPure { result.allowPure = v }
            if let v = change.bundleLibraries { result.bundleLibraries = v }
        }
        return result
    }

    /// Whether the recipe skips `target`.
    public func skips(_ target: String) -> Bool {
        (skipTargets ?? []).contains { fnmatch($0, target, 0) == 0 }
    }
}

/// The recipes of `recipes/`.
public struct RecipeBook: Sendable {
    /// The folder.
    public let directory: String

    /// Creates a book over `directory`.
    public init(directory: String) { self.directory = directory }

    /// The recipe of a project and the digest of its file ("none" without one).
    public func recipe(for project: String) throws -> (Recipe, digest: String) {
        let path = "\(directory)/\(project).json"
        guard let data = FileManager.default.contents(atPath: path) else { return (.none, "none") }
        do {
            return (try JSONDecoder().decode(Recipe.self, from: data), data.withUnsafeBytes { Digest.hex(Digest.sha256($0)) })
        } catch {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "invalid recipe \(path): \(error)", log: nil)
        }
    }
}

import Foundation

/// The pipeline's stages, in order (`configure` makes the toolchain image when it is missing).
public enum BuildStage: String, Codable, Sendable, CaseIterable {
    case configure, resolve, fetch, extract, prepare, build, audit, repair, test, store, sign
}

/// Why a build failed, and where.
public struct BuildFailure: Error, CustomStringConvertible, Sendable {
    /// What kind of failure, for exit codes.
    public enum Kind: String, Codable, Sendable {
        /// The build itself failed (compiler error, test failure).
        case build
        /// The audit rejected the wheel.
        case audit
        /// There was nothing to build (all targets skipped, pure wheel done).
        case nothing
        /// Bad configuration or input (requirement, target, recipe, index).
        case configuration
        /// Trouble that may pass: the network, the index, an sdist not published yet.
        case transient
        /// Another build of the same inputs is running: wait for it instead.
        case deferred
        /// Someone asked the build to stop.
        case cancelled
    }

    public var stage: BuildStage
    public var kind: Kind
    public var reason: String
    /// The full log, when there is one.
    public var log: String?
    /// What to do about it, when the farm can tell (a missing header's Debian package and the
    /// `wheelfarm recipe add` line that adds it).
    public var suggestion: String?

    public init(stage: BuildStage, kind: Kind, reason: String, log: String? = nil) {
        self.stage = stage
        self.kind = kind
        self.reason = reason
        self.log = log
    }

    public var description: String { "\(stage.rawValue): \(reason)" + (suggestion.map { "; fix: \($0)" } ?? "") }
}

/// A build requirement as used: name, version and the wheel's sha256.
public struct UsedRequirement: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var file: String
    public var sha256: String
}

/// How a build ended.
public enum BuildOutcome: String, Codable, Sendable {
    case running, succeeded, failed, skipped
}

/// One stage as it ran: its time, and which build it belonged to (nil: the build itself; a
/// build requirement built from source first records its own stages under its name).
public struct StageRecord: Codable, Sendable, Equatable {
    public var stage: BuildStage
    public var seconds: Double
    public var detail: String
    public var build: String?

    public init(stage: BuildStage, seconds: Double, detail: String, build: String? = nil) {
        self.stage = stage
        self.seconds = seconds
        self.detail = detail
        self.build = build
    }
}

/// A library grafted into the wheel, with the Debian package it came from when known.
public struct GraftedLibrary: Codable, Sendable, Equatable {
    public var soname: String
    public var file: String
    public var package: String?
    public var version: String?

    public init(soname: String, file: String, package: String? = nil, version: String? = nil) {
        self.soname = soname
        self.file = file
        self.package = package
        self.version = version
    }
}

/// The sdist a build came from.
public struct SdistFacts: Codable, Sendable, Equatable {
    public var filename: String
    public var sha256: String
    public var url: String

    public init(filename: String, sha256: String, url: String) {
        self.filename = filename
        self.sha256 = sha256
        self.url = url
    }
}

/// A patch of the recipe applied to the sources: its file name and the sha256 of its bytes.
public struct AppliedPatch: Codable, Sendable, Equatable {
    public var file: String
    public var sha256: String

    /// Creates the entry.
    public init(file: String, sha256: String) {
        self.file = file
        self.sha256 = sha256
    }
}

/// What a build made and from what: kept beside the wheel as `record.json`, read and written
/// only through ``BuildStore``.
public struct BuildRecord: Codable, Sendable {
    public var project: String
    public var version: String
    public var target: String
    public var toolchainDigest: String
    /// The runtime root the test install ran in.
    public var runtimeDigest: String?
    public var derivedRoot: String?
    public var recipeDigest: String
    public var sdist: SdistFacts?
    public var buildRequirements: [UsedRequirement]
    public var wheel: String?
    public var wheelSha256: String?
    public var platformTag: String?
    public var pure: Bool
    public var grafted: [GraftedLibrary]
    /// Seconds per stage of the build itself (nested builds' stages are in `stages` only).
    public var timings: [String: Double]
    /// Every stage in the order it ran, nested builds' included.
    public var stages: [StageRecord]
    public var outcome: BuildOutcome
    public var failure: String?
    /// Things a person should know that did not fail the build (an optional module missing at import).
    public var warnings: [String]
    /// What to do about a failure, when the farm can tell.
    public var suggestion: String?
    /// The recipe's patches applied to the sources, in order (nil when there were none).
    public var patches: [AppliedPatch]?
    /// The Debian packages whose files reached the wheel or made it (nil in records written
    /// before they were listed): what a toolchain refresh compares to decide on a rebuild.
    public var debianPackages: [PackageUse]?
    /// The definition digest of the image the build ran on (the target file, pins and wrappers).
    public var toolchainDefinition: String?
    /// The builder host that built the wheel (nil: the coordinator itself) and the id of the
    /// key it signed its own provenance with; the farm's key signs what users trust.
    public var builderHost: String?
    public var builderKey: String?
    public var startedAt: Date
    public var builderVersion: String

    /// A record of a build that has just started.
    public init(target: String, builderVersion: String, startedAt: Date) {
        project = ""
        version = ""
        self.target = target
        toolchainDigest = ""
        runtimeDigest = nil
        derivedRoot = nil
        recipeDigest = "none"
        sdist = nil
        buildRequirements = []
        wheel = nil
        wheelSha256 = nil
        platformTag = nil
        pure = false
        grafted = []
        timings = [:]
        stages = []
        outcome = .running
        failure = nil
        warnings = []
        self.startedAt = startedAt
        self.builderVersion = builderVersion
    }

    enum CodingKeys: String, CodingKey {
        case project, version, target, sdist, wheel, pure, grafted, timings, stages, outcome, failure, warnings, patches, suggestion
        case toolchainDigest = "toolchain_digest"
        case runtimeDigest = "runtime_digest"
        case derivedRoot = "derived_root"
        case recipeDigest = "recipe_digest"
        case buildRequirements = "build_requirements"
        case wheelSha256 = "wheel_sha256"
        case platformTag = "platform_tag"
        case startedAt = "started_at"
        case builderVersion = "builder_version"
        case debianPackages = "debian_packages"
        case toolchainDefinition = "toolchain_definition"
        case builderHost = "builder_host"
        case builderKey = "builder_key"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        project = try c.decode(String.self, forKey: .project)
        version = try c.decode(String.self, forKey: .version)
        target = try c.decode(String.self, forKey: .target)
        toolchainDigest = try c.decode(String.self, forKey: .toolchainDigest)
        runtimeDigest = try c.decodeIfPresent(String.self, forKey: .runtimeDigest)
        derivedRoot = try c.decodeIfPresent(String.self, forKey: .derivedRoot)
        recipeDigest = try c.decode(String.self, forKey: .recipeDigest)
        // Records written before the typed form kept the sdist as a plain dictionary.
        sdist = (try? c.decodeIfPresent(SdistFacts.self, forKey: .sdist)) ?? nil
        buildRequirements = try c.decodeIfPresent([UsedRequirement].self, forKey: .buildRequirements) ?? []
        wheel = try c.decodeIfPresent(String.self, forKey: .wheel)
        wheelSha256 = try c.decodeIfPresent(String.self, forKey: .wheelSha256)
        platformTag = try c.decodeIfPresent(String.self, forKey: .platformTag)
        pure = try c.decodeIfPresent(Bool.self, forKey: .pure) ?? false
        grafted = try c.decodeIfPresent([GraftedLibrary].self, forKey: .grafted) ?? []
        timings = try c.decodeIfPresent([String: Double].self, forKey: .timings) ?? [:]
        stages = try c.decodeIfPresent([StageRecord].self, forKey: .stages) ?? []
        outcome = try c.decode(BuildOutcome.self, forKey: .outcome)
        failure = try c.decodeIfPresent(String.self, forKey: .failure)
        warnings = try c.decodeIfPresent([String].self, forKey: .warnings) ?? []
        patches = try c.decodeIfPresent([AppliedPatch].self, forKey: .patches)
        suggestion = try c.decodeIfPresent(String.self, forKey: .suggestion)
        debianPackages = try c.decodeIfPresent([PackageUse].self, forKey: .debianPackages)
        toolchainDefinition = try c.decodeIfPresent(String.self, forKey: .toolchainDefinition)
        builderHost = try c.decodeIfPresent(String.self, forKey: .builderHost)
        builderKey = try c.decodeIfPresent(String.self, forKey: .builderKey)
        startedAt = try c.decode(Date.self, forKey: .startedAt)
        builderVersion = try c.decode(String.self, forKey: .builderVersion)
    }
}

import Foundation

/// The pipeline's stages, in order.
public enum BuildStage: String, Codable, Sendable, CaseIterable {
    case configure, resolve, fetch, extract, prepare, build, audit, repair, test, store
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

    public init(stage: BuildStage, kind: Kind, reason: String, log: String?) {
        self.stage = stage
        self.kind = kind
        self.reason = reason
        self.log = log
    }

    public var description: String { "\(stage.rawValue): \(reason)" }
}

/// A build requirement as used: name, version and the wheel's sha256.
public struct UsedRequirement: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var file: String
    public var sha256: String
}

/// What a build made and from what: kept beside the wheel.
public struct BuildRecord: Codable, Sendable {
    public var project: String
    public var version: String
    public var target: String
    public var toolchainDigest: String
    public var derivedRoot: String?
    public var recipeDigest: String
    public var sdist: [String: String]
    public var buildRequirements: [UsedRequirement]
    public var wheel: String?
    public var wheelSha256: String?
    public var platformTag: String?
    public var pure: Bool
    public var grafted: [[String: String]]
    public var timings: [String: Double]
    public var outcome: String
    public var failure: String?
    public var startedAt: Date
    public var builderVersion: String

    enum CodingKeys: String, CodingKey {
        case project, version, target, sdist, wheel, pure, grafted, timings, outcome, failure
        case toolchainDigest = "toolchain_digest"
        case derivedRoot = "derived_root"
        case recipeDigest = "recipe_digest"
        case buildRequirements = "build_requirements"
        case wheelSha256 = "wheel_sha256"
        case platformTag = "platform_tag"
        case startedAt = "started_at"
        case builderVersion = "builder_version"
    }
}

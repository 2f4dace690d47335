import Foundation

/// One job: one requirement built for one target.
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var requestId: Int64
    /// What to build: a PEP 508 requirement as given (after constraints).
    public var requirement: String
    /// Where the requirement came from (`requirements.txt:3`, `dependency of lxml`, `tracked`).
    public var origin: String
    /// The normalised project name.
    public var project: String
    /// The pinned or resolved version, once known.
    public var version: String?
    public var target: String
    /// The requirement and target, normalised: at most one job per identity is queued or running.
    public var identity: String
    /// What decides whether a build is the same: sdist, toolchain digest, recipe and builder version, once resolved.
    public var buildKey: String?
    public var state: JobState
    public var stage: String?
    public var reason: String?
    public var failureKind: FailureKind?
    /// Higher runs first.
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    /// A retry waits until then (seconds since 1970).
    public var notBefore: Double?
    /// `pid:start-time` of the process running the job.
    public var owner: String?
    /// Declared needs, from the recipe.
    public var memoryGb: Double
    public var cores: Int
    /// sha256 values the sdist must have (a requirements file's --hash), comma-separated.
    public var hashes: String
    public var prereleases: Bool
    public var publish: Bool
    public var publishedAt: Double?
    public var cancelRequested: Bool
    public var wheel: String?
    public var wheelPath: String?
    public var wheelSha256: String?
    public var logPath: String?
    public var createdAt: Double
    public var updatedAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// The builder host holding or having built the job (nil: built by a farm process on the coordinator).
    public var builder: String?
    /// The fencing token: raised by every claim, so a result from an older claim is refused.
    public var leaseEpoch: Int64 = 0
    /// When a builder's claim lapses unless it renews it (nil: not a builder's claim).
    public var leaseExpiresAt: Double?

    /// A new queued job.
    public init(
        requestId: Int64, requirement: String, origin: String, project: String, version: String?, target: String,
        priority: Int = 0, maxAttempts: Int = 4, memoryGb: Double = 2, cores: Int = 1, hashes: [String] = [],
        prereleases: Bool = false, publish: Bool = false, now: Double = Date().timeIntervalSince1970
    ) {
        self.requestId = requestId
        self.requirement = requirement
        self.origin = origin
        self.project = project
        self.version = version
        self.target = target
        self.identity = "\(requirement.lowercased().filter { !$0.isWhitespace })@\(target)"
        self.state = .queued
        self.priority = priority
        self.attempts = 0
        self.maxAttempts = maxAttempts
        self.memoryGb = memoryGb
        self.cores = cores
        self.hashes = hashes.joined(separator: ",")
        self.prereleases = prereleases
        self.publish = publish
        self.cancelRequested = false
        self.createdAt = now
        self.updatedAt = now
    }

    /// The job's number (0 before it is stored).
    public var number: Int64 { id ?? 0 }
    /// The --hash values.
    public var hashList: [String] { hashes.split(separator: ",").map(String.init) }
}

/// One state change of a job.
public struct JobEvent: Codable, Sendable, Equatable {
    public var id: Int64?
    public var jobId: Int64
    public var at: Double
    public var fromState: JobState?
    public var toState: JobState
    public var stage: String?
    public var message: String?
}

/// One request: a `build`, a `build -r`, a nightly or a retry; jobs belong to one.
public struct RequestRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var kind: String
    public var description: String
    /// Also build the wheels' runtime dependencies.
    public var withDeps: Bool
    public var createdAt: Double

    public init(kind: String, description: String, withDeps: Bool = false, createdAt: Double = Date().timeIntervalSince1970) {
        self.kind = kind
        self.description = description
        self.withDeps = withDeps
        self.createdAt = createdAt
    }

}

/// A project the nightly follows for new releases.
public struct TrackedProject: Codable, Sendable, Equatable {
    public var name: String
    public var addedAt: Double
    public var lastVersion: String?

    public init(name: String, addedAt: Double = Date().timeIntervalSince1970, lastVersion: String? = nil) {
        self.name = name
        self.addedAt = addedAt
        self.lastVersion = lastVersion
    }
}

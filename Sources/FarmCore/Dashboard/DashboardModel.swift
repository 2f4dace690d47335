import Foundation

// The dashboard's and the API's data: plain values with stable names (snake_case in JSON, see
// `DashboardJSON`). Pages render from the same values, so the two never disagree.

/// One job as lists show it.
public struct JobSummary: Codable, Sendable, Equatable {
    public var number: Int64
    public var request: Int64
    public var requirement: String
    public var project: String
    public var version: String?
    public var target: String
    public var state: String
    public var stage: String?
    public var reason: String?
    public var attempts: Int
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// Seconds since it started (running) or how long it ran (finished).
    public var elapsedSeconds: Double?
    public var wheel: String?
    public var owner: String?
}

/// A state transition of a job.
public struct EventSummary: Codable, Sendable, Equatable {
    public var at: Double
    public var from: String?
    public var to: String
    public var stage: String?
    public var message: String?
}

/// A grafted library and where it came from.
public struct GraftSummary: Codable, Sendable, Equatable {
    public var soname: String
    public var package: String?
    public var version: String?
}

/// A stage's time, for the bar on a job page.
public struct StageTiming: Codable, Sendable, Equatable {
    public var stage: String
    public var seconds: Double
    /// Its share of the build's time, in percent (for the bar's width).
    public var percent: Double
}

/// A job with its timeline, record and log.
public struct JobDetail: Codable, Sendable {
    public var job: JobSummary
    public var events: [EventSummary]
    public var stages: [StageTiming]
    public var grafted: [GraftSummary]
    public var warnings: [String]
    public var toolchainDigest: String?
    public var sdist: String?
    public var sdistSha256: String?
    /// The end of the log (at most ``DashboardQueries/logLimit`` bytes) and whether it was cut.
    public var log: String
    public var logTruncated: Bool
    public var logAvailable: Bool
    /// The log file's size when it was read: where a live stream goes on from.
    public var logBytes: Int
}

/// Who is building: the owners of running jobs (one per farm process) and the builder hosts.
public struct BuilderSummary: Codable, Sendable, Equatable {
    public var name: String
    public var running: Int
    /// When it last reported progress.
    public var lastSeen: Double
}

/// The overview page.
public struct Overview: Codable, Sendable {
    public var counts: [String: Int]
    public var total: Int
    public var running: [JobSummary]
    public var builders: [BuilderSummary]
    /// Seconds the oldest queued job has waited.
    public var oldestQueuedSeconds: Double?
    public var failures: [JobSummary]
    public var generatedAt: Double
}

/// One cell of a project's matrix: the wheel, or why there is none.
public struct MatrixCell: Codable, Sendable, Equatable {
    public var target: String
    public var state: String
    public var job: Int64
    public var wheel: String?
    public var tag: String?
    public var sizeBytes: Int?
    public var buildNumber: String?
    public var grafted: [GraftSummary]
    /// Links to the published wheel's signature and provenance (when published).
    public var signatureURL: String?
    public var provenanceURL: String?
    public var stage: String?
    public var reason: String?
}

/// One version's row.
public struct MatrixRow: Codable, Sendable, Equatable {
    public var version: String
    /// One per target of ``ProjectMatrix/targets`` (nil: never built).
    public var cells: [MatrixCell?]
}

/// Versions × targets of a project.
public struct ProjectMatrix: Codable, Sendable {
    public var project: String
    public var targets: [String]
    public var versions: [MatrixRow]
}

/// A request with its jobs counted.
public struct RequestSummaryRow: Codable, Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var description: String
    public var createdAt: Double
    public var counts: [String: Int]
    public var total: Int
}

/// A toolchain image or runtime root.
public struct ToolchainRow: Codable, Sendable, Equatable {
    public var name: String
    public var runtime: Bool
    public var digest: String
    public var builtAt: Double
    public var ageSeconds: Double
    public var packages: Int
    public var sizeBytes: Int
    public var current: Bool
    /// Builds in the store made with this image.
    public var builds: Int
}

/// A page of a list and the cursor of the next.
public struct Page<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    /// Pass as `cursor` for the next page; nil on the last.
    public var next: String?
}

/// The API's JSON: snake_case names, sorted keys, so field names are stable and diffs small.
public enum DashboardJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

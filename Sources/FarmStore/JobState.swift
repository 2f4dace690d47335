import Foundation

/// Where a job is in its life. Every change is recorded as an event with a timestamp.
///
/// ```
/// queued ──▶ running ──▶ succeeded
///   │  ▲       │  │ └──▶ failed ──▶ queued (retry, inputs changed, dependency fixed)
///   │  └───────┘  └────▶ skipped (already built, or the recipe skips the target)
///   ▼     (transient failure, crash)
/// waiting ──▶ queued (dependency landed) / failed (dependency failed)
/// any unfinished state ──▶ cancelled ──▶ queued (retry)
/// ```
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, waiting, running, succeeded, failed, cancelled, skipped

    /// States a job can still leave without someone asking.
    public static let active: [JobState] = [.queued, .waiting, .running]

    /// Whether nothing more happens to the job unless someone (or the nightly) asks.
    public var isFinal: Bool { !Self.active.contains(self) }

    /// The states this one may move to.
    public var successors: Set<JobState> {
        switch self {
        case .queued: return [.running, .waiting, .cancelled, .skipped, .failed]
        case .waiting: return [.queued, .failed, .cancelled]
        case .running: return [.succeeded, .failed, .skipped, .queued, .waiting, .cancelled]
        case .failed: return [.queued]
        case .cancelled: return [.queued]
        case .succeeded, .skipped: return [.queued]
        }
    }

    /// Whether the machine allows `self → next`.
    public func canMove(to next: JobState) -> Bool { successors.contains(next) }
}

/// Why a job failed, which decides what happens next.
public enum FailureKind: String, Codable, Sendable {
    /// Network, index errors, an sdist not on the index yet: retried with backoff, a bounded number of times.
    case transient
    /// A compile error, an audit rejection: recorded, not retried until the inputs change or someone asks.
    case permanent
    /// A build dependency failed: re-queued when it is fixed.
    case dependency
}

/// Errors of the job store: each names the job and what was asked.
public enum FarmStoreError: Error, CustomStringConvertible, Equatable {
    case illegalTransition(job: Int64, from: JobState, to: JobState)
    case noSuchJob(Int64)
    case database(String)
    /// A builder's result for a claim that lapsed (the job was taken again, or finished): refused.
    case staleLease(job: Int64, epoch: Int64, current: Int64)

    public var description: String {
        switch self {
        case let .illegalTransition(job, from, to): return "job \(job) cannot go from \(from.rawValue) to \(to.rawValue)"
        case let .noSuchJob(id): return "there is no job \(id)"
        case let .database(message): return "the farm's database: \(message)"
        case let .staleLease(job, epoch, current):
            return "job \(job): the claim \(epoch) lapsed (the job's claim is now \(current) or it is not running); its result is refused"
        }
    }
}

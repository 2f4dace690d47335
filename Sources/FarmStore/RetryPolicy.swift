import Foundation
import WheelfarmBasics

/// How transient failures are retried: exponential backoff with jitter, a bounded number of attempts.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// The delay before the second attempt; each later one doubles it.
    public var baseSeconds: Double
    /// No delay is longer than this.
    public var maxSeconds: Double

    public init(maxAttempts: Int = 4, baseSeconds: Double = 10, maxSeconds: Double = 600) {
        self.maxAttempts = maxAttempts
        self.baseSeconds = baseSeconds
        self.maxSeconds = maxSeconds
    }

    /// The schedule: the farm's one ``Backoff``.
    public var backoff: Backoff { Backoff(attempts: maxAttempts, baseSeconds: baseSeconds, maxSeconds: maxSeconds) }

    /// The delay after failed attempt number `attempt` (1-based), as ``Backoff`` computes it.
    public func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: 0..<1)) -> Double {
        backoff.delay(afterAttempt: attempt, jitter: jitter)
    }
}

import Foundation

/// Time as the farm's logic sees it: now, and waiting. Builds and retries take a clock, so
/// tests run backoffs without waiting (``ManualClock`` in WheelfarmTesting).
public protocol Clock: Sendable {
    /// The current time.
    var now: Date { get }
    /// Waits `seconds` (a manual clock only moves its time forward).
    func sleep(seconds: Double)
}

/// The real clock.
public struct SystemClock: Clock {
    public init() {}
    public var now: Date { Date() }
    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        Thread.sleep(forTimeInterval: seconds)
    }
}

/// Exponential backoff with jitter, the one retry schedule of the farm: the index client, pip
/// downloads, remote uploads and the job store's retries of transient failures all use it.
public struct Backoff: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var attempts: Int
    /// The delay before the second attempt; each later one doubles it.
    public var baseSeconds: Double
    /// No delay is longer than this.
    public var maxSeconds: Double

    /// Creates a schedule.
    public init(attempts: Int, baseSeconds: Double, maxSeconds: Double) {
        self.attempts = attempts
        self.baseSeconds = baseSeconds
        self.maxSeconds = maxSeconds
    }

    /// The delay after failed attempt number `attempt` (1-based): base·2^(attempt-1), capped,
    /// then scaled by a factor in [0.5, 1.5) so that failures at the same moment do not retry
    /// together. `jitter` in [0, 1) picks the factor (random unless given).
    public func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: 0..<1)) -> Double {
        let exponent = Double(max(0, min(attempt - 1, 30)))
        let raw = min(maxSeconds, baseSeconds * pow(2, exponent))
        return raw * (0.5 + min(max(jitter, 0), 1))
    }

    /// Runs `body` until it succeeds, an error is not transient, or the attempts are used up;
    /// waits on `clock` between attempts. The last error is thrown.
    public func retry<T>(clock: any Clock, isTransient: (Error) -> Bool, _ body: (_ attempt: Int) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do { return try body(attempt) } catch {
                guard attempt < attempts, isTransient(error) else { throw error }
                clock.sleep(seconds: delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }
}

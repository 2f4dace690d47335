import Foundation

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

    /// The delay after failed attempt number `attempt` (1-based): base·2^(attempt-1), capped,
    /// then scaled by a factor in [0.5, 1.5) so that jobs failing together do not retry together.
    public func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: 0..<1)) -> Double {
        let exponent = Double(max(0, min(attempt - 1, 30)))
        let raw = min(maxSeconds, baseSeconds * pow(2, exponent))
        return raw * (0.5 + min(max(jitter, 0), 1))
    }
}

/// A process as the store knows it: its pid and its start time, so a reused pid is not taken for the owner.
public enum ProcessIdentity {
    /// This process.
    public static var current: String { "\(getpid()):\(startTime(getpid()) ?? 0)" }

    /// Whether the process an `owner` string names is still running.
    public static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 2, let pid = Int32(parts[0]), let started = UInt64(parts[1]) else { return false }
        guard let now = startTime(pid) else { return false }
        return now == started
    }

    /// The pid of an `owner` string.
    public static func pid(_ owner: String) -> Int32? { owner.split(separator: ":").first.flatMap { Int32($0) } }

    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot); nil when there is no such process.
    static func startTime(_ pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ')' come field 3 (state) onwards: field 22 is index 19.
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return UInt64(fields[19])
    }
}

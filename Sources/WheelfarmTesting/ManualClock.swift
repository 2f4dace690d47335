import Foundation
import WheelfarmBasics

/// A clock that moves only when told to (or when something sleeps on it): backoffs and stage
/// timings become exact numbers in tests.
public final class ManualClock: Clock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private var recorded: [Double] = []

    public init(start: Date = Date(timeIntervalSince1970: 1_700_000_000)) { current = start }

    public var now: Date { lock.withLock { current } }

    /// Sleeping moves the time forward at once, and is recorded.
    public func sleep(seconds: Double) {
        lock.withLock {
            recorded.append(seconds)
            current = current.addingTimeInterval(max(0, seconds))
        }
    }

    /// Moves the time forward without recording a sleep.
    public func advance(_ seconds: Double) { lock.withLock { current = current.addingTimeInterval(seconds) } }

    /// Every sleep so far, in order.
    public var sleeps: [Double] { lock.withLock { recorded } }
}

import Foundation

/// Results written by concurrent workers, one slot each, read once they are done.
///
/// The one shared helper for DispatchQueue.concurrentPerform and background threads: each
/// slot is written under the lock and read after the workers have finished.
public final class LockedSlots<Value>: @unchecked Sendable {
    private var slots: [Value?]
    private let lock = NSLock()

    /// Creates `count` empty slots.
    public init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// Stores a worker's value.
    public func set(_ index: Int, _ value: Value) { lock.lock(); slots[index] = value; lock.unlock() }

    /// A worker's value, if it stored one.
    public func get(_ index: Int) -> Value? { lock.lock(); defer { lock.unlock() }; return slots[index] }
}

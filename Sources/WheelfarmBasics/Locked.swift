import Foundation

/// A value shared between threads behind a lock: the farm's one locked box.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    /// Creates a box holding `value`.
    public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    @discardableResult
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value.
    public var current: Value { withLock { $0 } }
}

extension Locked where Value: RangeReplaceableCollection {
    /// Appends an element.
    public func append(_ element: Value.Element) { withLock { $0.append(element) } }

    /// Takes every element out.
    public func drain() -> Value {
        withLock { value in
            defer { value = Value() }
            return value
        }
    }
}

extension Locked {
    /// Inserts into a set; false when the element was there already.
    public func insert<Element: Hashable>(_ element: Element) -> Bool where Value == Set<Element> {
        withLock { $0.insert(element).inserted }
    }
}

extension Locked {
    /// A box of `count` empty slots, one per concurrent worker.
    public convenience init<Item>(slots count: Int) where Value == [Item?] {
        self.init(Array(repeating: nil, count: count))
    }

    /// Fills slot `index`.
    public func set<Item>(_ index: Int, _ item: Item) where Value == [Item?] { withLock { $0[index] = item } }

    /// The content of slot `index`.
    public func get<Item>(_ index: Int) -> Item? where Value == [Item?] { withLock { $0[index] } }
}

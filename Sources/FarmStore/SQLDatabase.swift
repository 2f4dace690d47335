import Foundation

/// One value going to or coming from the database. The store's columns are integers, doubles
/// and text only (booleans are 0 or 1), so the two engines agree on every row.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A Swift value the store binds as a statement's argument.
public protocol SQLBindable {
    /// The value as the database stores it.
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One row of a result, its values by column name.
public struct SQLRow: Sendable {
    /// The column names, in order.
    public let columns: [String]
    let index: [String: Int]
    /// The values, in column order.
    public let values: [SQLValue]

    init(columns: [String], values: [SQLValue]) {
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil { index[name] = position }
        self.columns = columns
        self.index = index
        self.values = values
    }

    /// The value of `column` (null when the row has no such column).
    public subscript(_ column: String) -> SQLValue { index[column].map { values[$0] } ?? .null }
    /// The first column's value.
    public var first: SQLValue { values.first ?? .null }

    /// `column` as an integer (a real is truncated; text that reads as a number is read).
    public func int64(_ column: String) -> Int64? { Self.int64(self[column]) }
    /// `column` as a double.
    public func double(_ column: String) -> Double? {
        switch self[column] {
        case let .real(value): return value
        case let .integer(value): return Double(value)
        case let .text(text): return Double(text)
        case .null: return nil
        }
    }
    /// `column` as text.
    public func string(_ column: String) -> String? {
        switch self[column] {
        case let .text(text): return text
        case let .integer(value): return String(value)
        case let .real(value): return String(value)
        case .null: return nil
        }
    }
    /// `column` as a boolean (non-zero).
    public func bool(_ column: String) -> Bool { (int64(column) ?? 0) != 0 }

    static func int64(_ value: SQLValue) -> Int64? {
        switch value {
        case let .integer(value): return value
        case let .real(value): return Int64(exactly: value.rounded(.towardZero))
        case let .text(text): return Int64(text)
        case .null: return nil
        }
    }
}

/// The two engines the farm's state runs on.
public enum StoreEngine: String, Sendable {
    /// One file on one machine, no server: the default.
    case sqlite
    /// A PostgreSQL server that builder hosts share.
    case postgres
}

/// A connection inside one transaction. Statements use `?` for their arguments on both engines.
public protocol SQLConnection {
    /// Runs one statement; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int
    /// Runs one statement and returns its rows.
    func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
    /// Runs several statements without arguments (a migration).
    func executeScript(_ sql: String) throws
}

extension SQLConnection {
    /// Runs one statement without arguments.
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }
    /// The first row, if any.
    public func queryOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? { try query(sql, arguments).first }
    /// The first column of the first row as an integer.
    public func int64(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Int64? {
        try queryOne(sql, arguments).flatMap { SQLRow.int64($0.first) }
    }
    /// The first column of the first row as text.
    public func string(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> String? {
        guard let row = try queryOne(sql, arguments), case let .text(text) = row.first else { return nil }
        return text
    }
    /// The first column of every row as integers.
    public func int64s(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [Int64] {
        try query(sql, arguments).compactMap { SQLRow.int64($0.first) }
    }
}

/// A database the store runs on: transactions of either engine. `write` transactions are
/// serialised against each other on SQLite; on PostgreSQL they run at once and the store's
/// statements lock the rows they change (`FOR UPDATE`), and a transaction that deadlocks or
/// fails to serialise is run again.
public protocol SQLDatabase: Sendable {
    /// Which engine this is.
    var engine: StoreEngine { get }
    /// Where it is, without secrets (for messages).
    var location: String { get }
    /// Runs `body` in a read-only transaction.
    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Runs `body` in a read-write transaction, committed when it returns.
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T
}

extension SQLDatabase {
    /// ` FOR UPDATE` on PostgreSQL, where concurrent writers must lock the rows they read
    /// before they change them; nothing on SQLite, where a write transaction is alone.
    var forUpdate: String { engine == .postgres ? " FOR UPDATE" : "" }
}

/// Turns `?` placeholders into PostgreSQL's `$1, $2, …`, leaving quoted text alone.
func numberedPlaceholders(_ sql: String) -> String {
    var result = ""
    result.reserveCapacity(sql.count + 16)
    var number = 0
    var quote: Character?
    for character in sql {
        if let open = quote {
            if character == open { quote = nil }
            result.append(character)
        } else if character == "'" || character == "\"" {
            quote = character
            result.append(character)
        } else if character == "?" {
            number += 1
            result += "$\(number)"
        } else {
            result.append(character)
        }
    }
    return result
}

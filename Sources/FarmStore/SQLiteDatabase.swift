import Foundation
import GRDB
import WheelfarmBasics

/// The farm's state in one SQLite file (WAL), through GRDB: the embedded default.
public final class SQLiteDatabase: SQLDatabase {
    public let engine = StoreEngine.sqlite
    /// The database file.
    public let path: String
    let pool: DatabasePool

    public var location: String { path }

    /// Opens (or creates) the file.
    public init(path: String) throws {
        self.path = path
        try Files.makeDirectories((path as NSString).deletingLastPathComponent)
        var configuration = Configuration()
        // Several wheelfarm processes (a CI run, the nightly, `status`) share the file: wait for
        // a writer instead of failing, and keep commits cheap (WAL makes NORMAL durable enough:
        // a power cut may lose the last commits, never corrupt).
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw FarmStoreError.database("cannot open \(path): \(error)")
        }
    }

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try pool.read { db in try body(GRDBConnection(db: db)) }
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try pool.write { db in try body(GRDBConnection(db: db)) }
    }

    /// The journal mode (`wal`).
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
}

/// A GRDB database handle seen as a store connection.
struct GRDBConnection: SQLConnection {
    let db: Database

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try db.execute(sql: sql, arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments)).map { row in
            SQLRow(
                columns: Array(row.columnNames),
                values: row.databaseValues.map { value in
                    switch value.storage {
                    case .null: return .null
                    case let .int64(number): return .integer(number)
                    case let .double(number): return .real(number)
                    case let .string(text): return .text(text)
                    case let .blob(data): return .text(String(decoding: data, as: UTF8.self))
                    }
                })
        }
    }

    func executeScript(_ sql: String) throws { try db.execute(sql: sql) }

    static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(
            values.map { value -> (any DatabaseValueConvertible)? in
                switch value.sqlValue {
                case .null: return nil
                case let .integer(number): return number
                case let .real(number): return number
                case let .text(text): return text
                }
            })
    }
}

import CPostgres
import Foundation

/// The farm's state on a PostgreSQL server, through Debian's libpq: the engine builder hosts
/// share. libpq rather than PostgresNIO: the store is synchronous (each call is one short
/// transaction on a worker thread), libpq is a Debian package found through pkg-config, and
/// PostgresNIO would bring swift-crypto's second copy of BoringSSL into a build that already
/// takes minutes on two cores.
public final class PostgresDatabase: SQLDatabase, @unchecked Sendable {
    public let engine = StoreEngine.postgres
    /// The connection URL as given (`postgres://user@host:port/db`).
    let url: String
    /// At most this many connections are kept open.
    let poolSize: Int
    private let lock = NSLock()
    // Guarded by `lock`: connections not in use.
    private var idle: [OpaquePointer] = []

    public var location: String { Self.redacted(url) }

    /// Connects once to check that the server answers; later connections are made on demand.
    public init(url: String, poolSize: Int = 8) throws {
        guard Self.isPostgresURL(url) else { throw FarmStoreError.database("not a PostgreSQL URL: \(Self.redacted(url))") }
        self.url = url
        self.poolSize = max(1, poolSize)
        let connection = try connect()
        release(connection)
    }

    deinit {
        for connection in idle { PQfinish(connection) }
    }

    /// Whether `text` names a PostgreSQL server.
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// The URL without its password.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://***"
    }

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try transaction("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY", body)
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try transaction("BEGIN", body)
    }

    private func transaction<T>(_ begin: String, _ body: (any SQLConnection) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let connection = try acquire()
            let session = PostgresConnection(connection: connection)
            do {
                try session.execute(begin)
                let result = try body(session)
                try session.execute("COMMIT")
                release(connection)
                return result
            } catch {
                _ = try? session.execute("ROLLBACK")
                release(connection)
                // Two transactions that lock the same rows in another order: one is chosen to
                // fail and may simply run again.
                if let failure = error as? PostgresError, failure.isRetryable, attempt < 5 {
                    usleep(useconds_t(1000 * attempt * attempt))
                    continue
                }
                throw error
            }
        }
    }

    private func acquire() throws -> OpaquePointer {
        lock.lock()
        let reused = idle.popLast()
        lock.unlock()
        if let reused {
            if PQstatus(reused) == CONNECTION_OK { return reused }
            PQfinish(reused)
        }
        return try connect()
    }

    private func release(_ connection: OpaquePointer) {
        // A broken connection (the server restarted, the link went down) is not kept.
        guard PQstatus(connection) == CONNECTION_OK, PQtransactionStatus(connection) == PQTRANS_IDLE else {
            PQfinish(connection)
            return
        }
        lock.lock()
        if idle.count < poolSize {
            idle.append(connection)
            lock.unlock()
        } else {
            lock.unlock()
            PQfinish(connection)
        }
    }

    private func connect() throws -> OpaquePointer {
        // The URL's own settings come after these defaults and override them. Keepalives and a
        // TCP user timeout make a cut link an error within about half a minute instead of a
        // hang: a builder behind a partition must notice that it lost the coordinator.
        let settings: [(String, String)] = [
            ("connect_timeout", "10"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
            ("tcp_user_timeout", "30000"), ("application_name", "wheelfarm"), ("dbname", url)
        ]
        let keywords = settings.map { strdup($0.0) }
        let values = settings.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        guard let connection = PQconnectdbParams(keywordPointers, valuePointers, 1) else {
            throw FarmStoreError.database("cannot connect to \(location): out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw FarmStoreError.database("cannot connect to \(location): \(message)")
        }
        // The server's notices ("already exists, skipping") are not for the farm's users.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        return connection
    }
}

/// A failed statement: its SQLSTATE and the server's message.
struct PostgresError: Error, CustomStringConvertible {
    var state: String
    var message: String

    /// Serialisation failure or deadlock: the transaction may run again.
    var isRetryable: Bool { state == "40001" || state == "40P01" }
    var description: String { "the farm's database: \(message) (SQLSTATE \(state))" }
}

/// One libpq connection inside a transaction.
struct PostgresConnection: SQLConnection {
    let connection: OpaquePointer

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        let result = try run(sql, arguments)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let result = try run(sql, arguments)
        defer { PQclear(result) }
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let types = (0..<columnCount).map { PQftype(result, $0) }
        return (0..<PQntuples(result)).map { row in
            SQLRow(
                columns: columns,
                values: (0..<columnCount).map { column in
                    if PQgetisnull(result, row, column) != 0 { return .null }
                    let text = String(cString: PQgetvalue(result, row, column))
                    switch types[Int(column)] {
                    case 16: return .integer(text == "t" ? 1 : 0)  // bool
                    case 20, 21, 23: return Int64(text).map(SQLValue.integer) ?? .text(text)  // int8, int2, int4
                    case 700, 701, 1700: return Double(text).map(SQLValue.real) ?? .text(text)  // float4, float8, numeric
                    default: return .text(text)
                    }
                })
        }
    }

    func executeScript(_ sql: String) throws {
        guard let result = PQexec(connection, sql) else { throw Self.failure(connection, nil) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw Self.failure(connection, result) }
    }

    private func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> OpaquePointer {
        let values = arguments.map(\.sqlValue)
        // Types are given so that the server never has to guess one (`coalesce(?, version)`).
        let types: [Oid] = values.map { value in
            switch value {
            case .null: return 0
            case .integer: return 20
            case .real: return 701
            case .text: return 25
            }
        }
        let texts: [UnsafeMutablePointer<CChar>?] = values.map { value in
            switch value {
            case .null: return nil
            case let .integer(number): return strdup(String(number))
            case let .real(number): return strdup(number.isFinite ? "\(number)" : (number.isNaN ? "NaN" : (number > 0 ? "Infinity" : "-Infinity")))
            case let .text(text): return strdup(text)
            }
        }
        defer { texts.forEach { free($0) } }
        let pointers = texts.map { $0.map { UnsafePointer($0) } }
        let result = PQexecParams(connection, numberedPlaceholders(sql), Int32(values.count), types, pointers, nil, nil, 0)
        guard let result else { throw Self.failure(connection, nil) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let error = Self.failure(connection, result)
            PQclear(result)
            throw error
        }
        return result
    }

    static func failure(_ connection: OpaquePointer, _ result: OpaquePointer?) -> PostgresError {
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? "08000"
        let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError(state: state, message: message.isEmpty ? "the connection failed" : message)
    }
}

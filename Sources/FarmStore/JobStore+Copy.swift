import Foundation

/// How many rows of each table a copy moved.
public struct StoreCopyReport: Sendable, Equatable {
    /// Rows by table, in copy order.
    public var rows: [(table: String, count: Int)]

    public static func == (lhs: StoreCopyReport, rhs: StoreCopyReport) -> Bool {
        lhs.rows.map(\.table) == rhs.rows.map(\.table) && lhs.rows.map(\.count) == rhs.rows.map(\.count)
    }
}

extension JobStore {
    /// Tables in an order that respects their references, each with the columns it is read in
    /// order of (a stable order makes the paging exact).
    static let copiedTables: [(name: String, order: String)] = [
        ("requests", "id"), ("jobs", "id"), ("job_events", "id"), ("job_dependencies", "job_id, depends_on"),
        ("tracked_projects", "name"), ("builders", "name"), ("job_logs", "job_id, seq"), ("target_toolchains", "target")
    ]

    /// Copies every request, job, event, dependency, followed project, builder and streamed log of `source`
    /// into this store, ids kept, in one transaction: a failure leaves this store as it was.
    /// This store must hold no request or job (nothing is overwritten). The per-state counts
    /// follow from the triggers; PostgreSQL's id sequences are moved past the copied ids.
    public func copy(from source: JobStore, progress: (String, Int) -> Void = { _, _ in }) throws -> StoreCopyReport {
        let missing = Set(Self.knownMigrations).subtracting(try source.appliedMigrations())
        guard missing.isEmpty else {
            throw FarmStoreError.database(
                "the source \(source.path) lacks migrations \(missing.sorted().joined(separator: ", ")): run `wheelfarm state migrate` on it first")
        }
        return try database.write { target in
            let present = (try target.int64("SELECT count(*) FROM requests") ?? 0) + (try target.int64("SELECT count(*) FROM jobs") ?? 0)
            guard present == 0 else {
                throw FarmStoreError.database("\(path) already holds requests or jobs; a copy goes into an empty store only")
            }
            var report = StoreCopyReport(rows: [])
            for (table, order) in Self.copiedTables {
                // Builders and followed projects the target already lists keep their row.
                let conflict = table == "builders" || table == "tracked_projects" || table == "target_toolchains" ? " ON CONFLICT DO NOTHING" : ""
                var offset = 0
                let page = 2000
                while true {
                    let rows = try source.database.read { db in
                        try db.query("SELECT * FROM \(table) ORDER BY \(order) LIMIT \(page) OFFSET \(offset)", [])
                    }
                    for row in rows {
                        let marks = Self.marks(row.columns.count)
                        try target.execute("INSERT INTO \(table) (\(row.columns.joined(separator: ", "))) VALUES (\(marks))\(conflict)", row.values)
                    }
                    offset += rows.count
                    progress(table, offset)
                    if rows.count < page { break }
                }
                report.rows.append((table, offset))
            }
            if database.engine == .postgres {
                for table in ["requests", "jobs", "job_events"] {
                    try target.execute(
                        "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), coalesce((SELECT max(id) FROM \(table)), 0) + 1, false)")
                }
            }
            return report
        }
    }
}

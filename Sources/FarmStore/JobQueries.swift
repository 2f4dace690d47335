import Foundation

/// Which jobs a page or the API lists.
public struct JobFilter: Sendable, Equatable {
    public var states: [JobState]?
    public var project: String?
    public var target: String?
    public var request: Int64?

    public init(states: [JobState]? = nil, project: String? = nil, target: String? = nil, request: Int64? = nil) {
        self.states = states
        self.project = project
        self.target = target
        self.request = request
    }
}

/// One page of jobs, newest first, and the cursor of the next (nil: the last page).
public struct JobPage: Sendable {
    public var jobs: [JobRecord]
    public var next: Int64?
}

/// A request with its jobs counted by state.
public struct RequestSummary: Sendable {
    public var request: RequestRecord
    public var counts: [JobState: Int]
}

/// The read side of the store for the dashboard, the API and the metrics: every query is an
/// index range or a bounded scan, so a page costs the same over 100 jobs or 100,000.
extension JobStore {
    /// Jobs matching `filter` with an id below `before` (the cursor), newest first, at most `limit`.
    public func jobPage(_ filter: JobFilter, before: Int64? = nil, limit: Int = 50) throws -> JobPage {
        let size = max(1, min(limit, 500))
        var conditions: [String] = []
        var arguments: [any SQLBindable] = []
        if let states = filter.states {
            conditions.append("state IN (\(Self.marks(states.count)))")
            arguments += states.map(\.rawValue)
        }
        for (column, value) in [("project", filter.project), ("target", filter.target)] {
            if let value {
                conditions.append("\(column) = ?")
                arguments.append(value)
            }
        }
        for (condition, value) in [("request_id = ?", filter.request), ("id < ?", before)] {
            if let value {
                conditions.append(condition)
                arguments.append(value)
            }
        }
        let sql =
            "SELECT * FROM jobs" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT \(size + 1)"
        return try database.read { db in
            let rows = try JobRecord.fetchAll(db, sql, arguments)
            let page = Array(rows.prefix(size))
            return JobPage(jobs: page, next: rows.count > size ? page.last?.id : nil)
        }
    }

    /// Records a running job's current stage and the log it writes (not an event: a stage is
    /// progress within the running state, shown live by the dashboard).
    public func noteProgress(_ id: Int64, stage: String, logPath: String, now: Double = Date().timeIntervalSince1970) throws {
        try database.write { db in
            try db.execute("UPDATE jobs SET stage = ?, log_path = ?, updated_at = ? WHERE id = ? AND state = 'running'", [stage, logPath, now, id])
        }
    }

    /// When the oldest queued job was queued (nil: none is).
    public func oldestQueuedAt() throws -> Double? {
        try database.read { db in
            try db.queryOne("SELECT created_at FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1")?.double("created_at")
        }
    }

    /// Requests, newest first, each with its jobs counted by state.
    public func requestPage(before: Int64? = nil, limit: Int = 50) throws -> (requests: [RequestSummary], next: Int64?) {
        let size = max(1, min(limit, 500))
        return try database.read { db in
            let rows =
                try db.query(
                    "SELECT * FROM requests" + (before == nil ? "" : " WHERE id < ?") + " ORDER BY id DESC LIMIT \(size + 1)", before.map { [$0] } ?? []
                ).map(RequestRecord.init(row:))
            let page = Array(rows.prefix(size))
            var summaries: [RequestSummary] = []
            for request in page {
                var counts: [JobState: Int] = [:]
                for row in try db.query("SELECT state, count(*) AS n FROM jobs WHERE request_id = ? GROUP BY state", [request.id]) {
                    if let state = row.string("state").flatMap(JobState.init(rawValue:)) { counts[state] = Int(row.int64("n") ?? 0) }
                }
                summaries.append(RequestSummary(request: request, counts: counts))
            }
            return (summaries, rows.count > size ? page.last?.id : nil)
        }
    }

    /// Jobs by state and target: the metrics' gauge. A scan of the state-id index per state.
    public func countsByTarget() throws -> [String: [JobState: Int]] {
        try database.read { db in
            var result: [String: [JobState: Int]] = [:]
            for row in try db.query("SELECT target, state, count(*) AS n FROM jobs GROUP BY target, state", []) {
                guard let state = row.string("state").flatMap(JobState.init(rawValue:)), let target = row.string("target") else { continue }
                result[target, default: [:]][state] = Int(row.int64("n") ?? 0)
            }
            return result
        }
    }

    /// The latest job of each version and target of a project (what a project page shows).
    public func latestJobs(project: String, limit: Int = 5000) throws -> [JobRecord] {
        try database.read { db in
            try JobRecord.fetchAll(
                db,
                """
                SELECT * FROM jobs WHERE id IN (
                    SELECT max(id) FROM (SELECT id, version, target FROM jobs WHERE project = ? ORDER BY id DESC LIMIT ?) AS recent
                    GROUP BY coalesce(version, ''), target)
                ORDER BY id DESC
                """, [project, limit])
        }
    }

    /// Project names that start with `prefix` (the dashboard's search), at most `limit`.
    public func projects(matching prefix: String, limit: Int = 20) throws -> [String] {
        let escaped = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(
            of: "_", with: "\\_")
        return try database.read { db in
            try db.query("SELECT DISTINCT project FROM jobs WHERE project LIKE ? ESCAPE '\\' ORDER BY project LIMIT ?", [escaped + "%", limit])
                .compactMap { $0.string("project") }
        }
    }
}

import Foundation
import WheelfarmBasics

/// What operators do to jobs (retry, cancel), crash recovery, and the queries the farm's
/// commands run.
extension JobStore {
    /// Puts a failed, cancelled or finished job back in the queue now, with its attempts reset.
    @discardableResult
    public func retry(_ id: Int64, reason: String = "retried by an operator", now: Double = Date().timeIntervalSince1970) throws -> JobRecord {
        try database.write { db in
            guard let job = try JobRecord.fetch(db, id: id, lock: database.forUpdate) else { throw FarmStoreError.noSuchJob(id) }
            if job.state == .queued || job.state == .waiting || job.state == .running { return job }
            if let holder = try db.int64("SELECT id FROM jobs WHERE identity = ? AND state IN ('queued', 'running') AND id != ?", [job.identity, id]) {
                throw FarmStoreError.database("the same build is already job \(holder) (\(job.identity)); it will run that one")
            }
            return try transition(db, id, to: .queued, stage: nil, reason: reason, kind: nil, now: now) { job in
                job.attempts = 0
                job.notBefore = nil
                job.cancelRequested = false
            }
        }
    }

    /// Cancels a job: a queued or waiting one at once; a running one is marked, and its process
    /// stops it at the next stage (or it is cancelled at once when that process is gone).
    @discardableResult
    public func cancel(_ id: Int64, now: Double = Date().timeIntervalSince1970) throws -> JobRecord {
        try database.write { db in
            guard var job = try JobRecord.fetch(db, id: id, lock: database.forUpdate) else { throw FarmStoreError.noSuchJob(id) }
            switch job.state {
            case .queued, .waiting:
                let cancelled = try transition(db, id, to: .cancelled, stage: job.stage, reason: "cancelled by an operator", kind: nil, now: now) { _ in }
                _ = try failDependents(db, of: id, now: now)
                return cancelled
            case .running:
                if Self.ownerIsAlive(job, now: now) {
                    job.cancelRequested = true
                    job.updatedAt = now
                    try job.update(db)
                    try JobEvent(jobId: id, at: now, fromState: .running, toState: .running, stage: job.stage, message: "cancellation requested").insert(db)
                    return job
                }
                return try transition(
                    db, id, to: .cancelled, stage: job.stage, reason: "cancelled by an operator (its process was gone)", kind: nil, now: now
                ) { _ in }
            default:
                return job
            }
        }
    }

    /// Whether a running job's holder is still there: a builder's lease that has not lapsed,
    /// or a live local process.
    static func ownerIsAlive(_ job: JobRecord, now: Double, isAlive: (String) -> Bool = ProcessIdentity.isAlive) -> Bool {
        if let expiry = job.leaseExpiresAt { return expiry >= now }
        return job.owner.map(isAlive) ?? false
    }

    /// Whether someone asked to cancel the job.
    public func isCancelRequested(_ id: Int64) throws -> Bool {
        try database.read { db in try db.queryOne("SELECT cancel_requested FROM jobs WHERE id = ?", [id])?.bool("cancel_requested") ?? false }
    }

    /// Re-queues running jobs whose holder is gone (a killed or crashed process, a restarted
    /// machine, a builder whose lease lapsed); `isAlive` decides about a local owner. Returns
    /// the jobs put back. A builder's job is only judged by its lease: its process is on
    /// another host.
    public func recover(isAlive: (String) -> Bool = ProcessIdentity.isAlive, now: Double = Date().timeIntervalSince1970) throws -> [JobRecord] {
        try database.write { db in
            let running = try JobRecord.fetchAll(db, "SELECT * FROM jobs WHERE state = 'running' ORDER BY id\(database.forUpdate)")
            var recovered: [JobRecord] = []
            for job in running where !Self.ownerIsAlive(job, now: now, isAlive: isAlive) {
                let holder =
                    job.builder.map { "builder \($0)'s lease lapsed" }
                    ?? "the process running it\(job.owner.flatMap(ProcessIdentity.pid).map { " (pid \($0))" } ?? "") is gone"
                if job.cancelRequested {
                    recovered.append(
                        try transition(db, job.number, to: .cancelled, stage: job.stage, reason: "cancelled; \(holder)", kind: nil, now: now) { _ in })
                    _ = try failDependents(db, of: job.number, now: now)
                    continue
                }
                recovered.append(
                    try transition(db, job.number, to: .queued, stage: job.stage, reason: "re-queued: \(holder)", kind: nil, now: now) { job in
                        // An interrupted attempt is not the build's fault: it does not count.
                        job.attempts = max(0, job.attempts - 1)
                        job.buildKey = nil
                    })
            }
            return recovered
        }
    }

    /// Marks a job's wheel as published.
    public func markPublished(_ id: Int64, now: Double = Date().timeIntervalSince1970) throws {
        try database.write { db in
            try db.execute("UPDATE jobs SET published_at = ?, updated_at = ? WHERE id = ?", [now, now, id])
            guard let text = try db.string("SELECT state FROM jobs WHERE id = ?", [id]), let state = JobState(rawValue: text) else {
                throw FarmStoreError.noSuchJob(id)
            }
            try JobEvent(jobId: id, at: now, fromState: nil, toState: state, stage: "publish", message: "published").insert(db)
        }
    }

    // MARK: - Queries

    /// The job with this id.
    public func job(_ id: Int64) throws -> JobRecord? {
        try database.read { db in try JobRecord.fetch(db, id: id) }
    }

    /// Jobs, newest first: those of `request`, in `states`, at most `limit`.
    public func jobs(request: Int64? = nil, states: [JobState]? = nil, limit: Int? = nil) throws -> [JobRecord] {
        var conditions: [String] = []
        var arguments: [any SQLBindable] = []
        if let request {
            conditions.append("request_id = ?")
            arguments.append(request)
        }
        if let states {
            conditions.append("state IN (\(Self.marks(states.count)))")
            arguments += states.map(\.rawValue)
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let bound = limit.map { " LIMIT \(max(0, $0))" } ?? ""
        return try database.read { db in try JobRecord.fetchAll(db, "SELECT * FROM jobs\(filter) ORDER BY id DESC\(bound)", arguments) }
    }

    /// A job's events, oldest first.
    public func events(_ id: Int64) throws -> [JobEvent] {
        try database.read { db in try db.query("SELECT * FROM job_events WHERE job_id = ? ORDER BY id", [id]).map(JobEvent.init(row:)) }
    }

    /// The number of jobs in each state.
    public func counts() throws -> [JobState: Int] {
        try database.read { db in
            var result: [JobState: Int] = [:]
            for row in try db.query("SELECT state, n FROM job_state_counts WHERE n > 0", []) {
                if let state = row.string("state").flatMap(JobState.init(rawValue:)) { result[state] = Int(row.int64("n") ?? 0) }
            }
            return result
        }
    }

    /// Jobs of `requests` not yet finished, and the earliest time one of them may run.
    public func pending(requests: [Int64]?) throws -> (queued: Int, waiting: Int, running: Int, nextRetry: Double?) {
        var sql = "SELECT state, count(*) AS n, min(not_before) AS next FROM jobs WHERE state IN ('queued', 'waiting', 'running')"
        if let requests { sql += " AND request_id IN (\(Self.marks(requests.count)))" }
        sql += " GROUP BY state"
        return try database.read { db in
            var queued = 0, waiting = 0, running = 0
            var next: Double? = nil
            for row in try db.query(sql, requests ?? []) {
                let n = Int(row.int64("n") ?? 0)
                switch row.string("state") {
                case "queued": queued = n; next = row.double("next")
                case "waiting": waiting = n
                default: running = n
                }
            }
            return (queued, waiting, running, next)
        }
    }

    /// The unfinished jobs outside `requests` that waiting jobs of `requests` wait for.
    public func awaitedOutside(requests: [Int64]) throws -> [JobRecord] {
        let list = Self.marks(requests.count)
        return try database.read { db in
            try JobRecord.fetchAll(
                db,
                """
                SELECT DISTINCT o.* FROM jobs j JOIN job_dependencies d ON d.job_id = j.id JOIN jobs o ON o.id = d.depends_on
                WHERE j.state = 'waiting' AND j.request_id IN (\(list)) AND o.request_id NOT IN (\(list)) AND o.state IN ('queued', 'waiting', 'running')
                """, requests + requests)
        }
    }

    /// Finished jobs that asked to be published and are not yet.
    public func unpublished(requests: [Int64]? = nil) throws -> [JobRecord] {
        var sql = """
            SELECT * FROM jobs WHERE publish = 1 AND published_at IS NULL AND wheel_path IS NOT NULL AND state IN ('succeeded', 'skipped')
            """
        if let requests { sql += " AND request_id IN (\(Self.marks(requests.count)))" }
        return try database.read { db in try JobRecord.fetchAll(db, sql + " ORDER BY id", requests ?? []) }
    }

    /// The most recent job for each (project, version, target) that landed: what the nightly re-checks.
    public func landedBuilds() throws -> [JobRecord] {
        try database.read { db in
            try JobRecord.fetchAll(
                db,
                """
                SELECT * FROM jobs WHERE id IN (
                    SELECT max(id) FROM jobs WHERE state IN ('succeeded', 'skipped') AND version IS NOT NULL AND wheel IS NOT NULL
                    GROUP BY project, version, target)
                ORDER BY project, version, target
                """)
        }
    }

    /// The last finished job for `project` (any version) on `target` before job `before`.
    public func previousOutcome(project: String, target: String, before: Int64) throws -> JobState? {
        try database.read { db in
            try db.string(
                """
                SELECT state FROM jobs WHERE project = ? AND target = ? AND id < ? AND state IN ('succeeded', 'skipped', 'failed')
                ORDER BY id DESC LIMIT 1
                """, [project, target, before]
            ).flatMap(JobState.init(rawValue:))
        }
    }

    /// The number of jobs.
    public func jobCount() throws -> Int {
        try database.read { db in Int(try db.int64("SELECT count(*) FROM jobs") ?? 0) }
    }

    /// Runs raw SQL in a write transaction (benchmarks fill the store with it; tests plant rows).
    public func execute(sql: String, arguments: [any SQLBindable] = []) throws {
        try database.write { db in try db.execute(sql, arguments) }
    }

    // MARK: - Tracked projects

    /// Follows `names` in the nightly (already followed ones are kept).
    public func track(_ names: [String], now: Double = Date().timeIntervalSince1970) throws {
        try database.write { db in
            for name in names { try db.execute("INSERT INTO tracked_projects (name, added_at) VALUES (?, ?) ON CONFLICT DO NOTHING", [name, now]) }
        }
    }

    /// Stops following `names`; returns how many were followed.
    public func untrack(_ names: [String]) throws -> Int {
        try database.write { db in
            try names.reduce(0) { removed, name in removed + (try db.execute("DELETE FROM tracked_projects WHERE name = ?", [name])) }
        }
    }

    /// The followed projects, by name.
    public func trackedProjects() throws -> [TrackedProject] {
        try database.read { db in try db.query("SELECT * FROM tracked_projects ORDER BY name", []).map(TrackedProject.init(row:)) }
    }

    /// Remembers the newest version the nightly saw of a followed project.
    public func setLastVersion(_ name: String, _ version: String) throws {
        try database.write { db in try db.execute("UPDATE tracked_projects SET last_version = ? WHERE name = ?", [version, name]) }
    }
}

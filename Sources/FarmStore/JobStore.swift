import Foundation
import GRDB
import WheelfarmBasics

/// What a finished run of a job reports to the store.
public enum JobOutcome: Sendable, Equatable {
    /// A wheel was built and stored.
    case succeeded(wheel: String, path: String, sha256: String, log: String?)
    /// Nothing needed building: already built with the same inputs, a pure wheel of another target, or the recipe skips the target.
    case skipped(reason: String, wheel: String?, path: String?, sha256: String?)
    /// The build failed at `stage`.
    case failed(kind: FailureKind, stage: String, reason: String, log: String?)
}

/// What `complete` did with a job.
public struct Completion: Sendable, Equatable {
    /// The job as stored now.
    public var job: JobRecord
    /// Jobs that became runnable (dependents of a job that landed).
    public var released: [Int64]
    /// Jobs that failed with it (dependents of a failed job).
    public var failedDependents: [Int64]
}

/// The farm's jobs, requests and events: the only source of truth for jobs. The logic is written
/// once over ``SQLDatabase``; it runs on SQLite (one machine, the default) or PostgreSQL (a
/// coordinator and builder hosts). Every state change goes through one transition function,
/// which checks the state machine and records the event in the same transaction.
public final class JobStore: Sendable {
    /// Where the state lives (a file path, or a URL without its password).
    public var path: String { database.location }
    /// The engine and connection.
    public let database: any SQLDatabase

    /// Opens (or creates) the SQLite store at `path` and brings its schema up to date.
    public convenience init(path: String) throws {
        try self.init(database: SQLiteDatabase(path: path))
    }

    /// Opens the store at `location`: `postgres://…` (or `postgresql://…`), `sqlite:PATH`, or a
    /// path to a SQLite file. Migrates unless `migrate` is false.
    public convenience init(location: String, migrate: Bool = true) throws {
        if PostgresDatabase.isPostgresURL(location) {
            try self.init(database: PostgresDatabase(url: location), migrate: migrate)
        } else {
            let path = location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location
            guard !path.isEmpty else { throw FarmStoreError.database("a state location needs a path or a postgres:// URL") }
            try self.init(database: SQLiteDatabase(path: path), migrate: migrate)
        }
    }

    /// A store over `database`, migrated unless `migrate` is false.
    public init(database: any SQLDatabase, migrate: Bool = true) throws {
        self.database = database
        if migrate {
            do {
                try Migrations.migrate(database)
            } catch let error as FarmStoreError {
                throw error
            } catch {
                throw FarmStoreError.database("cannot migrate \(database.location): \(error)")
            }
        }
    }

    /// Brings the schema up to date; returns the migrations it applied.
    @discardableResult
    public func migrate() throws -> [String] {
        let before = try appliedMigrations()
        try Migrations.migrate(database)
        return try appliedMigrations().filter { !before.contains($0) }
    }

    /// The migrations applied, in order.
    public func appliedMigrations() throws -> [String] { try Migrations.applied(database) }

    /// Every migration this version knows, in order.
    public static var knownMigrations: [String] { Migrations.all.map(\.identifier) }

    /// The journal mode of a SQLite store (`wal`); the engine's name otherwise.
    public func journalMode() throws -> String {
        try (database as? SQLiteDatabase)?.journalMode() ?? database.engine.rawValue
    }

    // MARK: - Requests and submission

    /// Stores a new request.
    public func createRequest(_ request: RequestRecord) throws -> RequestRecord {
        try database.write { db in
            var request = request
            request.id = try db.int64(
                "INSERT INTO requests (kind, description, with_deps, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                [request.kind, request.description, request.withDeps, request.createdAt])
            return request
        }
    }

    /// The request with this id.
    public func request(_ id: Int64) throws -> RequestRecord? {
        try database.read { db in try db.queryOne("SELECT * FROM requests WHERE id = ?", [id]).map(RequestRecord.init(row:)) }
    }

    /// Stores new jobs, queued, in one transaction. A job whose identity is already queued or
    /// running (another request asked for the same build) waits on that job instead; `extra`
    /// dependencies (job ids) make a job wait until they land.
    public func submit(_ jobs: [JobRecord], dependencies: [Int: [Int64]] = [:], now: Double = Date().timeIntervalSince1970) throws -> [JobRecord] {
        try database.write { db in
            var stored: [JobRecord] = []
            for (index, job) in jobs.enumerated() {
                var job = job
                job.createdAt = now
                job.updatedAt = now
                var waitOn = dependencies[index] ?? []
                if let holder = try db.int64("SELECT id FROM jobs WHERE identity = ? AND state IN ('queued', 'running')", [job.identity]) {
                    waitOn.append(holder)
                }
                let unfinished = try waitOn.filter { id in
                    guard let state = try db.string("SELECT state FROM jobs WHERE id = ?", [id]) else { return false }
                    return JobState(rawValue: state).map { !$0.isFinal } ?? false
                }
                if job.state == .skipped {
                    // Known to be built already (a pinned requirement whose build is current): recorded as such at once.
                    job.finishedAt = now
                    try job.insert(db)
                    try JobEvent(jobId: job.number, at: now, fromState: nil, toState: .queued, stage: nil, message: "submitted: \(job.origin)").insert(db)
                    try JobEvent(jobId: job.number, at: now, fromState: .queued, toState: .skipped, stage: nil, message: job.reason).insert(db)
                    stored.append(job)
                    continue
                }
                job.state = unfinished.isEmpty ? .queued : .waiting
                job.reason = unfinished.isEmpty ? nil : "waiting for job \(unfinished.map(String.init).joined(separator: ", "))"
                try job.insert(db)
                for dependency in waitOn { try Self.addDependency(db, job.number, on: dependency) }
                try JobEvent(jobId: job.number, at: now, fromState: nil, toState: job.state, stage: nil, message: job.reason ?? "submitted: \(job.origin)")
                    .insert(db)
                stored.append(job)
            }
            return stored
        }
    }

    static func addDependency(_ db: any SQLConnection, _ id: Int64, on dependency: Int64) throws {
        try db.execute("INSERT INTO job_dependencies (job_id, depends_on) VALUES (?, ?) ON CONFLICT DO NOTHING", [id, dependency])
    }

    // MARK: - Transitions

    /// Moves a job to `next`, checking the state machine, and records the event; returns the job as stored.
    @discardableResult
    public func transition(
        _ id: Int64, to next: JobState, stage: String? = nil, reason: String? = nil, kind: FailureKind? = nil,
        now: Double = Date().timeIntervalSince1970
    ) throws -> JobRecord {
        try database.write { db in try transition(db, id, to: next, stage: stage, reason: reason, kind: kind, now: now) { _ in } }
    }

    func transition(
        _ db: any SQLConnection, _ id: Int64, to next: JobState, stage: String?, reason: String?, kind: FailureKind?, now: Double,
        change: (inout JobRecord) -> Void
    ) throws -> JobRecord {
        guard var job = try JobRecord.fetch(db, id: id, lock: database.forUpdate) else { throw FarmStoreError.noSuchJob(id) }
        guard job.state.canMove(to: next) else { throw FarmStoreError.illegalTransition(job: id, from: job.state, to: next) }
        let previous = job.state
        job.state = next
        job.stage = stage ?? (next == .queued ? nil : job.stage)
        job.reason = reason
        job.failureKind = kind
        job.updatedAt = now
        if next == .running { job.startedAt = now }
        if next.isFinal { job.finishedAt = now; job.owner = nil }
        if next == .queued || next == .waiting { job.owner = nil }
        // A lease belongs to one run: any move out of running ends it.
        if next != .running { job.leaseExpiresAt = nil }
        change(&job)
        try job.update(db)
        try JobEvent(jobId: id, at: now, fromState: previous, toState: next, stage: stage, message: reason).insert(db)
        return job
    }

    /// Takes the next runnable job among `requests` (all when nil) for `owner`: highest priority
    /// first, then the request with the fewest running jobs (fair across requests), then the
    /// oldest; it must fit in `memoryGb` and `cores`. Atomic across processes.
    public func claimNext(
        requests: [Int64]?, adopted: [Int64] = [], owner: String, memoryGb: Double, cores: Int, excludingTargets: [String] = [],
        now: Double = Date().timeIntervalSince1970
    ) throws -> JobRecord? {
        var scope = ""
        var arguments: [any SQLBindable] = []
        if !excludingTargets.isEmpty {
            scope += " AND j.target NOT IN (\(Self.marks(excludingTargets.count)))"
            arguments += excludingTargets
        }
        if let requests {
            // Jobs of other requests that ours wait for are adopted: nobody else may be running them.
            scope += " AND (j.request_id IN (\(Self.marks(requests.count))) OR j.id IN (\(Self.marks(adopted.count))))"
            arguments += requests + adopted
        }
        return try database.write { db in
            guard let id = try nextClaimable(db, scope: scope, arguments: arguments, memoryGb: memoryGb, cores: cores, now: now) else { return nil }
            return try transition(db, id, to: .running, stage: nil, reason: nil, kind: nil, now: now) { job in
                job.owner = owner
                job.attempts += 1
                job.leaseEpoch += 1
            }
        }
    }

    /// The id of the job to claim next among queued jobs matching `scope`. On PostgreSQL the
    /// row is locked, and rows other claimers hold are skipped rather than waited for: claimers
    /// never queue behind each other.
    func nextClaimable(
        _ db: any SQLConnection, scope: String, arguments: [any SQLBindable], memoryGb: Double, cores: Int, now: Double
    ) throws -> Int64? {
        let arguments: [any SQLBindable] = [now, memoryGb + 1e-9, cores] + arguments
        let filter = "j.state = 'queued' AND (j.not_before IS NULL OR j.not_before <= ?) AND j.memory_gb <= ? AND j.cores <= ?\(scope)"
        guard database.engine == .postgres else {
            // The running jobs per request are counted once (a handful of rows, from the state
            // index), not once per queued candidate.
            return try db.int64(
                """
                WITH load AS (SELECT request_id, count(*) AS n FROM jobs WHERE state = 'running' GROUP BY request_id)
                SELECT j.id FROM jobs j LEFT JOIN load ON load.request_id = j.request_id WHERE \(filter)
                ORDER BY j.priority DESC, coalesce(load.n, 0) ASC, j.id ASC LIMIT 1
                """, arguments)
        }
        // With tens of thousands queued (a full rebuild), ordering every queued job costs more
        // than the claim itself. The order only ever needs each request's first jobs: the
        // requests with queued jobs are found by skipping through the queued-jobs index, each
        // gives its first 16 in (priority, age) order, and those few are ordered by priority,
        // the request's running jobs, and age. 16 rather than 1, so that concurrent claimers
        // skipping each other's locked rows still find one.
        return try db.int64(
            """
            WITH RECURSIVE requests(r) AS (
                (SELECT request_id FROM jobs WHERE state = 'queued' ORDER BY request_id LIMIT 1)
                UNION ALL
                SELECT (SELECT q.request_id FROM jobs q WHERE q.state = 'queued' AND q.request_id > requests.r ORDER BY q.request_id LIMIT 1)
                FROM requests WHERE requests.r IS NOT NULL
            ),
            load AS (SELECT request_id, count(*) AS n FROM jobs WHERE state = 'running' GROUP BY request_id),
            candidates AS (
                SELECT c.id FROM requests CROSS JOIN LATERAL (
                    SELECT j.id FROM jobs j WHERE j.request_id = requests.r AND \(filter) ORDER BY j.priority DESC, j.id LIMIT 16) c
                WHERE requests.r IS NOT NULL
            )
            SELECT j.id FROM jobs j LEFT JOIN load ON load.request_id = j.request_id
            WHERE j.id IN (SELECT id FROM candidates) AND j.state = 'queued'
            ORDER BY j.priority DESC, coalesce(load.n, 0) ASC, j.id ASC
            LIMIT 1 FOR UPDATE OF j SKIP LOCKED
            """, arguments)
    }

    /// `count` placeholders separated by commas (`NULL` for none, which matches nothing).
    static func marks(_ count: Int) -> String { count == 0 ? "NULL" : Array(repeating: "?", count: count).joined(separator: ",") }

    /// Records the build key of a running job. When another job is running the same key, this
    /// one waits for it (and returns that job's id); nil means go ahead.
    public func claimKey(_ id: Int64, key: String, version: String?, now: Double = Date().timeIntervalSince1970) throws -> Int64? {
        try database.write { db in
            if let holder = try db.int64("SELECT id FROM jobs WHERE build_key = ? AND state = 'running' AND id != ?", [key, id]) {
                try Self.addDependency(db, id, on: holder)
                _ = try transition(
                    db, id, to: .waiting, stage: nil, reason: "job \(holder) is building the same sdist with the same inputs", kind: nil, now: now
                ) { job in
                    job.version = version ?? job.version
                }
                return holder
            }
            try db.execute("UPDATE jobs SET build_key = ?, version = coalesce(?, version), updated_at = ? WHERE id = ?", [key, version, now, id])
            return nil
        }
    }

    /// The newest landed wheel of `project` for `target` (or a pure one) whose version `accepts`, when its file is there.
    public func landedWheel(project: String, target: String, accepts: (String) -> Bool) throws -> JobRecord? {
        let candidates = try database.read { db in
            try JobRecord.fetchAll(
                db,
                """
                SELECT * FROM jobs WHERE project = ? AND state IN ('succeeded', 'skipped') AND wheel_path IS NOT NULL AND version IS NOT NULL
                AND (target = ? OR wheel LIKE '%-none-any.whl') ORDER BY id DESC LIMIT 50
                """, [project, target])
        }
        return candidates.first { job in
            guard let version = job.version, let path = job.wheelPath else { return false }
            return accepts(version) && FileManager.default.fileExists(atPath: path)
        }
    }

    /// Makes running job `id` wait for a job building `dependency` (a queued, waiting or running
    /// one of the same project and target, else `dependency` itself, submitted now); returns the
    /// job waited for. Nil when that would wait in a circle or the dependency already failed
    /// (the build then makes it itself).
    public func waitForDependency(_ id: Int64, dependency: JobRecord, now: Double = Date().timeIntervalSince1970) throws -> Int64? {
        try database.write { db in
            var holder = try db.int64(
                """
                SELECT id FROM jobs WHERE project = ? AND target = ? AND state IN ('queued', 'waiting', 'running') AND id != ? ORDER BY id LIMIT 1
                """, [dependency.project, dependency.target, id])
            if holder == nil {
                if let state = try db.string("SELECT state FROM jobs WHERE identity = ? ORDER BY id DESC LIMIT 1", [dependency.identity]),
                    state == JobState.failed.rawValue || state == JobState.cancelled.rawValue
                {
                    return nil
                }
                var job = dependency
                job.createdAt = now
                job.updatedAt = now
                job.state = .queued
                try job.insert(db)
                try JobEvent(jobId: job.number, at: now, fromState: nil, toState: .queued, stage: nil, message: "submitted: \(job.origin)").insert(db)
                holder = job.id
            }
            guard let holder else { return nil }
            let circular =
                try db.int64(
                    """
                    WITH RECURSIVE awaited(id) AS (
                        SELECT depends_on FROM job_dependencies WHERE job_id = ?
                        UNION SELECT d.depends_on FROM job_dependencies d JOIN awaited a ON d.job_id = a.id)
                    SELECT count(*) FROM awaited WHERE id = ?
                    """, [holder, id]) ?? 0
            if circular > 0 { return nil }
            try Self.addDependency(db, id, on: holder)
            _ = try transition(
                db, id, to: .waiting, stage: "prepare", reason: "waits for job \(holder), which builds its build requirement \(dependency.requirement)",
                kind: nil, now: now
            ) { _ in }
            return holder
        }
    }

    /// Records how a run of a job ended. A transient failure with attempts left goes back to
    /// the queue after the policy's backoff; dependents are released when the job lands and
    /// fail with it when it fails for good. A job cancelled while it ran stays cancelled.
    /// With `epoch` (a builder's result), the job must still be running under that claim:
    /// a result from a claim that lapsed and was taken again is refused (``FarmStoreError/staleLease(job:epoch:current:)``).
    public func complete(
        _ id: Int64, outcome: JobOutcome, version: String? = nil, retry: RetryPolicy, epoch: Int64? = nil,
        now: Double = Date().timeIntervalSince1970, jitter: Double = Double.random(in: 0..<1)
    ) throws -> Completion {
        try database.write { db in
            guard let current = try JobRecord.fetch(db, id: id, lock: database.forUpdate) else { throw FarmStoreError.noSuchJob(id) }
            if let epoch, current.leaseEpoch != epoch || current.state != .running || (current.leaseExpiresAt ?? .infinity) < now {
                throw FarmStoreError.staleLease(job: id, epoch: epoch, current: current.leaseEpoch)
            }
            if current.cancelRequested || current.state == .cancelled {
                let job =
                    current.state == .cancelled
                    ? current
                    : try transition(db, id, to: .cancelled, stage: current.stage, reason: "cancelled while running", kind: nil, now: now) { _ in }
                return Completion(job: job, released: [], failedDependents: try failDependents(db, of: id, now: now))
            }
            switch outcome {
            case let .succeeded(wheel, path, sha256, log):
                let job = try transition(db, id, to: .succeeded, stage: "store", reason: nil, kind: nil, now: now) { job in
                    job.wheel = wheel; job.wheelPath = path; job.wheelSha256 = sha256; job.logPath = log; job.version = version ?? job.version
                }
                return Completion(job: job, released: try releaseDependents(db, of: id, now: now), failedDependents: [])
            case let .skipped(reason, wheel, path, sha256):
                let job = try transition(db, id, to: .skipped, stage: nil, reason: reason, kind: nil, now: now) { job in
                    job.wheel = wheel; job.wheelPath = path; job.wheelSha256 = sha256; job.version = version ?? job.version
                }
                return Completion(job: job, released: try releaseDependents(db, of: id, now: now), failedDependents: [])
            case let .failed(kind, stage, reason, log):
                if kind == .transient && current.attempts < current.maxAttempts {
                    let delay = retry.delay(afterAttempt: current.attempts, jitter: jitter)
                    let job = try transition(
                        db, id, to: .queued, stage: stage,
                        reason: "attempt \(current.attempts) of \(current.maxAttempts) failed (\(reason)); retrying in \(Int(delay.rounded(.up))) s",
                        kind: .transient, now: now
                    ) { job in
                        job.notBefore = now + delay; job.logPath = log ?? job.logPath; job.version = version ?? job.version
                    }
                    return Completion(job: job, released: [], failedDependents: [])
                }
                let final = kind == .transient ? "\(reason) (gave up after \(current.attempts) attempts)" : reason
                let job = try transition(db, id, to: .failed, stage: stage, reason: final, kind: kind, now: now) { job in
                    job.logPath = log ?? job.logPath; job.version = version ?? job.version
                }
                return Completion(job: job, released: [], failedDependents: try failDependents(db, of: id, now: now))
            }
        }
    }

    /// Dependents of a landed job whose dependencies have all landed: waiting, or failed
    /// because of a dependency (a fixed dependency re-queues them), go to the queue.
    func releaseDependents(_ db: any SQLConnection, of id: Int64, now: Double) throws -> [Int64] {
        let dependents = try db.int64s(
            """
            SELECT d.job_id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
            WHERE d.depends_on = ? AND (j.state = 'waiting' OR (j.state = 'failed' AND j.failure_kind = 'dependency'))
            """, [id])
        var released: [Int64] = []
        for dependent in dependents {
            let open =
                try db.int64(
                    """
                    SELECT count(*) FROM job_dependencies d JOIN jobs j ON j.id = d.depends_on
                    WHERE d.job_id = ? AND j.state NOT IN ('succeeded', 'skipped')
                    """, [dependent]) ?? 0
            guard open == 0 else { continue }
            // Another job may have taken the identity meanwhile: then this one waits on it.
            if let identity = try db.string("SELECT identity FROM jobs WHERE id = ?", [dependent]),
                let holder = try db.int64("SELECT id FROM jobs WHERE identity = ? AND state IN ('queued', 'running') AND id != ?", [identity, dependent])
            {
                try Self.addDependency(db, dependent, on: holder)
                continue
            }
            _ = try transition(db, dependent, to: .queued, stage: nil, reason: "job \(id) landed", kind: nil, now: now) { job in
                job.notBefore = nil
                job.attempts = 0
            }
            released.append(dependent)
        }
        return released
    }

    /// Waiting dependents of a job that failed or was cancelled fail too, marked as such.
    func failDependents(_ db: any SQLConnection, of id: Int64, now: Double) throws -> [Int64] {
        let dependents = try db.int64s(
            "SELECT d.job_id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id WHERE d.depends_on = ? AND j.state = 'waiting'", [id])
        var failed: [Int64] = []
        for dependent in dependents {
            let job = try transition(
                db, dependent, to: .failed, stage: "dependency", reason: "job \(id), which it waits for, did not land", kind: .dependency, now: now
            ) { _ in }
            failed.append(job.number)
            failed += try failDependents(db, of: dependent, now: now)
        }
        return failed
    }
}

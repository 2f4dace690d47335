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

/// The farm's jobs, requests and events in SQLite (WAL): the only source of truth for jobs.
/// Every state change goes through ``transition(_:to:in:stage:reason:kind:)``, which checks the
/// state machine and records the event in the same transaction.
public final class SQLiteJobStore: Sendable {
    /// The database file.
    public let path: String
    let pool: DatabasePool

    /// Opens (or creates) the store at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
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
            try Self.migrator.migrate(pool)
        } catch {
            throw FarmStoreError.database("cannot open \(path): \(error)")
        }
    }

    /// The numbered migrations; a migration, once released, never changes.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE requests (
                        id INTEGER PRIMARY KEY,
                        kind TEXT NOT NULL,
                        description TEXT NOT NULL,
                        with_deps INTEGER NOT NULL DEFAULT 0,
                        created_at DOUBLE NOT NULL
                    );
                    CREATE TABLE jobs (
                        id INTEGER PRIMARY KEY,
                        request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
                        requirement TEXT NOT NULL,
                        origin TEXT NOT NULL,
                        project TEXT NOT NULL,
                        version TEXT,
                        target TEXT NOT NULL,
                        identity TEXT NOT NULL,
                        build_key TEXT,
                        state TEXT NOT NULL,
                        stage TEXT,
                        reason TEXT,
                        failure_kind TEXT,
                        priority INTEGER NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        max_attempts INTEGER NOT NULL DEFAULT 4,
                        not_before DOUBLE,
                        owner TEXT,
                        memory_gb DOUBLE NOT NULL DEFAULT 2,
                        cores INTEGER NOT NULL DEFAULT 1,
                        hashes TEXT NOT NULL DEFAULT '',
                        prereleases INTEGER NOT NULL DEFAULT 0,
                        publish INTEGER NOT NULL DEFAULT 0,
                        published_at DOUBLE,
                        cancel_requested INTEGER NOT NULL DEFAULT 0,
                        wheel TEXT,
                        wheel_path TEXT,
                        wheel_sha256 TEXT,
                        log_path TEXT,
                        created_at DOUBLE NOT NULL,
                        updated_at DOUBLE NOT NULL,
                        started_at DOUBLE,
                        finished_at DOUBLE
                    );
                    -- The same build is never queued or run twice at once.
                    CREATE UNIQUE INDEX jobs_one_active_identity ON jobs(identity) WHERE state IN ('queued', 'running');
                    CREATE UNIQUE INDEX jobs_one_running_key ON jobs(build_key) WHERE state = 'running' AND build_key IS NOT NULL;
                    CREATE INDEX jobs_by_state ON jobs(state, updated_at);
                    CREATE INDEX jobs_by_request ON jobs(request_id, state);
                    CREATE INDEX jobs_by_build ON jobs(project, version, target);
                    CREATE TABLE job_events (
                        id INTEGER PRIMARY KEY,
                        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        at DOUBLE NOT NULL,
                        from_state TEXT,
                        to_state TEXT NOT NULL,
                        stage TEXT,
                        message TEXT
                    );
                    CREATE INDEX job_events_by_job ON job_events(job_id, id);
                    CREATE TABLE job_dependencies (
                        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        depends_on INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        PRIMARY KEY (job_id, depends_on)
                    );
                    CREATE INDEX job_dependencies_by_target ON job_dependencies(depends_on);
                    CREATE TABLE tracked_projects (
                        name TEXT PRIMARY KEY,
                        added_at DOUBLE NOT NULL,
                        last_version TEXT
                    );
                    """)
        }
        migrator.registerMigration("2-state-counts") { db in
            // `wheelfarm status` counts jobs by state: kept by triggers, so that the count is a
            // read of a few rows however many jobs the store holds; recent jobs of a state come
            // from an index in id order.
            try db.execute(
                sql: """
                    CREATE TABLE job_state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO job_state_counts (state, n) SELECT state, count(*) FROM jobs GROUP BY state;
                    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
                        INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
                    END;
                    CREATE TRIGGER job_counts_update AFTER UPDATE OF state ON jobs WHEN OLD.state != NEW.state BEGIN
                        UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
                        INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
                    END;
                    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
                        UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
                    END;
                    CREATE INDEX jobs_by_state_id ON jobs(state, id);
                    """)
        }
        migrator.registerMigration("3-dashboard") { db in
            // The dashboard pages jobs by project and by target, newest first, and asks for the
            // oldest queued job: each an index range, however many jobs the store holds.
            try db.execute(
                sql: """
                    CREATE INDEX jobs_by_project_id ON jobs(project, id);
                    CREATE INDEX jobs_by_target_id ON jobs(target, id);
                    """)
        }
        return migrator
    }

    /// The migrations applied to the file, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }

    /// Whether the database runs in WAL mode.
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: - Requests and submission

    /// Stores a new request.
    public func createRequest(_ request: RequestRecord) throws -> RequestRecord {
        try pool.write { db in
            var request = request
            try request.insert(db)
            return request
        }
    }

    /// The request with this id.
    public func request(_ id: Int64) throws -> RequestRecord? {
        try pool.read { db in try RequestRecord.fetchOne(db, key: id) }
    }

    /// Stores new jobs, queued, in one transaction. A job whose identity is already queued or
    /// running (another request asked for the same build) waits on that job instead; `extra`
    /// dependencies (job ids) make a job wait until they land.
    public func submit(_ jobs: [JobRecord], dependencies: [Int: [Int64]] = [:], now: Double = Date().timeIntervalSince1970) throws -> [JobRecord] {
        try pool.write { db in
            var stored: [JobRecord] = []
            for (index, job) in jobs.enumerated() {
                var job = job
                job.createdAt = now
                job.updatedAt = now
                var waitOn = dependencies[index] ?? []
                if let holder = try Int64.fetchOne(
                    db, sql: "SELECT id FROM jobs WHERE identity = ? AND state IN ('queued', 'running')", arguments: [job.identity])
                {
                    waitOn.append(holder)
                }
                let unfinished = try waitOn.filter { id in
                    guard let state = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]) else { return false }
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
                for dependency in waitOn {
                    try db.execute(sql: "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on) VALUES (?, ?)", arguments: [job.id, dependency])
                }
                try JobEvent(jobId: job.number, at: now, fromState: nil, toState: job.state, stage: nil, message: job.reason ?? "submitted: \(job.origin)")
                    .insert(db)
                stored.append(job)
            }
            return stored
        }
    }

    // MARK: - Transitions

    /// Moves a job to `next`, checking the state machine, and records the event; returns the job as stored.
    @discardableResult
    public func transition(
        _ id: Int64, to next: JobState, stage: String? = nil, reason: String? = nil, kind: FailureKind? = nil,
        now: Double = Date().timeIntervalSince1970
    ) throws -> JobRecord {
        try pool.write { db in try Self.transition(db, id, to: next, stage: stage, reason: reason, kind: kind, now: now) { _ in } }
    }

    static func transition(
        _ db: Database, _ id: Int64, to next: JobState, stage: String?, reason: String?, kind: FailureKind?, now: Double,
        change: (inout JobRecord) -> Void
    ) throws -> JobRecord {
        guard var job = try JobRecord.fetchOne(db, key: id) else { throw FarmStoreError.noSuchJob(id) }
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
        change(&job)
        try job.update(db)
        try JobEvent(jobId: id, at: now, fromState: previous, toState: next, stage: stage, message: reason).insert(db)
        return job
    }

    /// Takes the next runnable job among `requests` (all when nil) for `owner`: highest priority
    /// first, then the request with the fewest running jobs (fair across requests), then the
    /// oldest; it must fit in `memoryGb` and `cores`. Atomic across processes.
    public func claimNext(
        requests: [Int64]?, adopted: [Int64] = [], owner: String, memoryGb: Double, cores: Int,
        now: Double = Date().timeIntervalSince1970
    ) throws -> JobRecord? {
        try pool.write { db in
            var sql = """
                SELECT j.id FROM jobs j
                WHERE j.state = 'queued' AND (j.not_before IS NULL OR j.not_before <= ?) AND j.memory_gb <= ? AND j.cores <= ?
                """
            var arguments: StatementArguments = [now, memoryGb + 1e-9, cores]
            if let requests {
                // Jobs of other requests that ours wait for are adopted: nobody else may be running them.
                sql +=
                    " AND (j.request_id IN (\(requests.map { _ in "?" }.joined(separator: ","))) OR j.id IN (\(adopted.map { _ in "?" }.joined(separator: ","))))"
                for id in requests + adopted { _ = arguments.append(contentsOf: [id]) }
            }
            sql += """

                ORDER BY j.priority DESC,
                         (SELECT count(*) FROM jobs r WHERE r.request_id = j.request_id AND r.state = 'running') ASC,
                         j.id ASC
                LIMIT 1
                """
            guard let id = try Int64.fetchOne(db, sql: sql, arguments: arguments) else { return nil }
            return try Self.transition(db, id, to: .running, stage: nil, reason: nil, kind: nil, now: now) { job in
                job.owner = owner
                job.attempts += 1
            }
        }
    }

    /// Records the build key of a running job. When another job is running the same key, this
    /// one waits for it (and returns that job's id); nil means go ahead.
    public func claimKey(_ id: Int64, key: String, version: String?, now: Double = Date().timeIntervalSince1970) throws -> Int64? {
        try pool.write { db in
            if let holder = try Int64.fetchOne(db, sql: "SELECT id FROM jobs WHERE build_key = ? AND state = 'running' AND id != ?", arguments: [key, id]) {
                try db.execute(sql: "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on) VALUES (?, ?)", arguments: [id, holder])
                _ = try Self.transition(
                    db, id, to: .waiting, stage: nil, reason: "job \(holder) is building the same sdist with the same inputs", kind: nil, now: now
                ) { job in
                    job.version = version ?? job.version
                }
                return holder
            }
            try db.execute(
                sql: "UPDATE jobs SET build_key = ?, version = coalesce(?, version), updated_at = ? WHERE id = ?", arguments: [key, version, now, id])
            return nil
        }
    }

    /// The newest landed wheel of `project` for `target` (or a pure one) whose version `accepts`, when its file is there.
    public func landedWheel(project: String, target: String, accepts: (String) -> Bool) throws -> JobRecord? {
        let candidates = try pool.read { db in
            try JobRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs WHERE project = ? AND state IN ('succeeded', 'skipped') AND wheel_path IS NOT NULL AND version IS NOT NULL
                    AND (target = ? OR wheel LIKE '%-none-any.whl') ORDER BY id DESC LIMIT 50
                    """, arguments: [project, target])
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
        try pool.write { db in
            var holder = try Int64.fetchOne(
                db,
                sql: """
                    SELECT id FROM jobs WHERE project = ? AND target = ? AND state IN ('queued', 'waiting', 'running') AND id != ? ORDER BY id LIMIT 1
                    """, arguments: [dependency.project, dependency.target, id])
            if holder == nil {
                if let state = try String.fetchOne(
                    db, sql: "SELECT state FROM jobs WHERE identity = ? ORDER BY id DESC LIMIT 1", arguments: [dependency.identity]),
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
                try Bool.fetchOne(
                    db,
                    sql: """
                        WITH RECURSIVE awaited(id) AS (
                            SELECT depends_on FROM job_dependencies WHERE job_id = ?
                            UNION SELECT d.depends_on FROM job_dependencies d JOIN awaited a ON d.job_id = a.id)
                        SELECT EXISTS (SELECT 1 FROM awaited WHERE id = ?)
                        """, arguments: [holder, id]) ?? false
            if circular { return nil }
            try db.execute(sql: "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on) VALUES (?, ?)", arguments: [id, holder])
            _ = try Self.transition(
                db, id, to: .waiting, stage: "prepare", reason: "waits for job \(holder), which builds its build requirement \(dependency.requirement)",
                kind: nil, now: now
            ) { _ in }
            return holder
        }
    }

    /// Records how a run of a job ended. A transient failure with attempts left goes back to
    /// the queue after the policy's backoff; dependents are released when the job lands and
    /// fail with it when it fails for good. A job cancelled while it ran stays cancelled.
    public func complete(
        _ id: Int64, outcome: JobOutcome, version: String? = nil, retry: RetryPolicy, now: Double = Date().timeIntervalSince1970,
        jitter: Double = Double.random(in: 0..<1)
    ) throws -> Completion {
        try pool.write { db in
            guard let current = try JobRecord.fetchOne(db, key: id) else { throw FarmStoreError.noSuchJob(id) }
            if current.cancelRequested || current.state == .cancelled {
                let job =
                    current.state == .cancelled
                    ? current
                    : try Self.transition(db, id, to: .cancelled, stage: current.stage, reason: "cancelled while running", kind: nil, now: now) { _ in }
                return Completion(job: job, released: [], failedDependents: try Self.failDependents(db, of: id, now: now))
            }
            switch outcome {
            case let .succeeded(wheel, path, sha256, log):
                let job = try Self.transition(db, id, to: .succeeded, stage: "store", reason: nil, kind: nil, now: now) { job in
                    job.wheel = wheel; job.wheelPath = path; job.wheelSha256 = sha256; job.logPath = log; job.version = version ?? job.version
                }
                return Completion(job: job, released: try Self.releaseDependents(db, of: id, now: now), failedDependents: [])
            case let .skipped(reason, wheel, path, sha256):
                let job = try Self.transition(db, id, to: .skipped, stage: nil, reason: reason, kind: nil, now: now) { job in
                    job.wheel = wheel; job.wheelPath = path; job.wheelSha256 = sha256; job.version = version ?? job.version
                }
                return Completion(job: job, released: try Self.releaseDependents(db, of: id, now: now), failedDependents: [])
            case let .failed(kind, stage, reason, log):
                if kind == .transient && current.attempts < current.maxAttempts {
                    let delay = retry.delay(afterAttempt: current.attempts, jitter: jitter)
                    let job = try Self.transition(
                        db, id, to: .queued, stage: stage,
                        reason: "attempt \(current.attempts) of \(current.maxAttempts) failed (\(reason)); retrying in \(Int(delay.rounded(.up))) s",
                        kind: .transient, now: now
                    ) { job in
                        job.notBefore = now + delay; job.logPath = log ?? job.logPath; job.version = version ?? job.version
                    }
                    return Completion(job: job, released: [], failedDependents: [])
                }
                let final = kind == .transient ? "\(reason) (gave up after \(current.attempts) attempts)" : reason
                let job = try Self.transition(db, id, to: .failed, stage: stage, reason: final, kind: kind, now: now) { job in
                    job.logPath = log ?? job.logPath; job.version = version ?? job.version
                }
                return Completion(job: job, released: [], failedDependents: try Self.failDependents(db, of: id, now: now))
            }
        }
    }

    /// Dependents of a landed job whose dependencies have all landed: waiting, or failed
    /// because of a dependency (a fixed dependency re-queues them), go to the queue.
    static func releaseDependents(_ db: Database, of id: Int64, now: Double) throws -> [Int64] {
        let dependents = try Int64.fetchAll(
            db,
            sql: """
                SELECT d.job_id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
                WHERE d.depends_on = ? AND (j.state = 'waiting' OR (j.state = 'failed' AND j.failure_kind = 'dependency'))
                """, arguments: [id])
        var released: [Int64] = []
        for dependent in dependents {
            let open =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT count(*) FROM job_dependencies d JOIN jobs j ON j.id = d.depends_on
                        WHERE d.job_id = ? AND j.state NOT IN ('succeeded', 'skipped')
                        """, arguments: [dependent]) ?? 0
            guard open == 0 else { continue }
            // Another job may have taken the identity meanwhile: then this one waits on it.
            if let identity = try String.fetchOne(db, sql: "SELECT identity FROM jobs WHERE id = ?", arguments: [dependent]),
                let holder = try Int64.fetchOne(
                    db, sql: "SELECT id FROM jobs WHERE identity = ? AND state IN ('queued', 'running') AND id != ?", arguments: [identity, dependent])
            {
                try db.execute(sql: "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on) VALUES (?, ?)", arguments: [dependent, holder])
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
    static func failDependents(_ db: Database, of id: Int64, now: Double) throws -> [Int64] {
        let dependents = try Int64.fetchAll(
            db,
            sql: """
                SELECT d.job_id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id WHERE d.depends_on = ? AND j.state = 'waiting'
                """, arguments: [id])
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

    // MARK: - Operators

    /// Puts a failed, cancelled or finished job back in the queue now, with its attempts reset.
    @discardableResult
    public func retry(_ id: Int64, reason: String = "retried by an operator", now: Double = Date().timeIntervalSince1970) throws -> JobRecord {
        try pool.write { db in
            guard let job = try JobRecord.fetchOne(db, key: id) else { throw FarmStoreError.noSuchJob(id) }
            if job.state == .queued || job.state == .waiting || job.state == .running { return job }
            if let holder = try Int64.fetchOne(
                db, sql: "SELECT id FROM jobs WHERE identity = ? AND state IN ('queued', 'running') AND id != ?", arguments: [job.identity, id])
            {
                throw FarmStoreError.database("the same build is already job \(holder) (\(job.identity)); it will run that one")
            }
            return try Self.transition(db, id, to: .queued, stage: nil, reason: reason, kind: nil, now: now) { job in
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
        try pool.write { db in
            guard var job = try JobRecord.fetchOne(db, key: id) else { throw FarmStoreError.noSuchJob(id) }
            switch job.state {
            case .queued, .waiting:
                let cancelled = try Self.transition(db, id, to: .cancelled, stage: job.stage, reason: "cancelled by an operator", kind: nil, now: now) { _ in }
                _ = try Self.failDependents(db, of: id, now: now)
                return cancelled
            case .running:
                if let owner = job.owner, ProcessIdentity.isAlive(owner) {
                    job.cancelRequested = true
                    job.updatedAt = now
                    try job.update(db)
                    try JobEvent(jobId: id, at: now, fromState: .running, toState: .running, stage: job.stage, message: "cancellation requested").insert(db)
                    return job
                }
                return try Self.transition(
                    db, id, to: .cancelled, stage: job.stage, reason: "cancelled by an operator (its process was gone)", kind: nil, now: now
                ) { _ in }
            default:
                return job
            }
        }
    }

    /// Whether someone asked to cancel the job.
    public func isCancelRequested(_ id: Int64) throws -> Bool {
        try pool.read { db in try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM jobs WHERE id = ?", arguments: [id]) ?? false }
    }

    /// Re-queues running jobs whose process is gone (killed, crashed, machine restarted);
    /// `isAlive` decides about an owner. Returns the jobs put back.
    public func recover(isAlive: (String) -> Bool = ProcessIdentity.isAlive, now: Double = Date().timeIntervalSince1970) throws -> [JobRecord] {
        try pool.write { db in
            let running = try JobRecord.filter(Column("state") == JobState.running.rawValue).fetchAll(db)
            var recovered: [JobRecord] = []
            for job in running where !(job.owner.map(isAlive) ?? false) {
                let pid = job.owner.flatMap(ProcessIdentity.pid).map { " (pid \($0))" } ?? ""
                if job.cancelRequested {
                    recovered.append(
                        try Self.transition(
                            db, job.number, to: .cancelled, stage: job.stage, reason: "cancelled; its process\(pid) is gone", kind: nil, now: now
                        ) { _ in })
                    _ = try Self.failDependents(db, of: job.number, now: now)
                    continue
                }
                recovered.append(
                    try Self.transition(
                        db, job.number, to: .queued, stage: job.stage,
                        reason: "re-queued: the process running it\(pid) is gone", kind: nil, now: now
                    ) { job in
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
        try pool.write { db in
            try db.execute(sql: "UPDATE jobs SET published_at = ?, updated_at = ? WHERE id = ?", arguments: [now, now, id])
            try JobEvent(jobId: id, at: now, fromState: nil, toState: try Self.state(db, id), stage: "publish", message: "published").insert(db)
        }
    }

    static func state(_ db: Database, _ id: Int64) throws -> JobState {
        guard let text = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]), let state = JobState(rawValue: text) else {
            throw FarmStoreError.noSuchJob(id)
        }
        return state
    }

    // MARK: - Queries

    /// The job with this id.
    public func job(_ id: Int64) throws -> JobRecord? {
        try pool.read { db in try JobRecord.fetchOne(db, key: id) }
    }

    /// Jobs, newest first: those of `request`, in `states`, at most `limit`.
    public func jobs(request: Int64? = nil, states: [JobState]? = nil, limit: Int? = nil) throws -> [JobRecord] {
        try pool.read { db in
            var query = JobRecord.all()
            if let request { query = query.filter(Column("request_id") == request) }
            if let states { query = query.filter(states.map(\.rawValue).contains(Column("state"))) }
            query = query.order(Column("id").desc)
            if let limit { query = query.limit(limit) }
            return try query.fetchAll(db)
        }
    }

    /// A job's events, oldest first.
    public func events(_ id: Int64) throws -> [JobEvent] {
        try pool.read { db in try JobEvent.filter(Column("job_id") == id).order(Column("id")).fetchAll(db) }
    }

    /// The number of jobs in each state.
    public func counts() throws -> [JobState: Int] {
        try pool.read { db in
            var result: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, n FROM job_state_counts WHERE n > 0") {
                if let state = JobState(rawValue: row["state"]) { result[state] = row["n"] }
            }
            return result
        }
    }

    /// Jobs of `requests` not yet finished, and the earliest time one of them may run.
    public func pending(requests: [Int64]?) throws -> (queued: Int, waiting: Int, running: Int, nextRetry: Double?) {
        try pool.read { db in
            var sql = "SELECT state, count(*) AS n, min(not_before) AS next FROM jobs WHERE state IN ('queued', 'waiting', 'running')"
            var arguments: StatementArguments = []
            if let requests {
                sql += " AND request_id IN (\(requests.map { _ in "?" }.joined(separator: ",")))"
                for id in requests { _ = arguments.append(contentsOf: [id]) }
            }
            sql += " GROUP BY state"
            var queued = 0, waiting = 0, running = 0
            var next: Double? = nil
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let n: Int = row["n"]
                switch row["state"] as String {
                case "queued": queued = n; next = row["next"]
                case "waiting": waiting = n
                default: running = n
                }
            }
            return (queued, waiting, running, next)
        }
    }

    /// The unfinished jobs outside `requests` that waiting jobs of `requests` wait for.
    public func awaitedOutside(requests: [Int64]) throws -> [JobRecord] {
        try pool.read { db in
            let list = requests.map { _ in "?" }.joined(separator: ",")
            var arguments: StatementArguments = []
            for id in requests + requests { _ = arguments.append(contentsOf: [id]) }
            return try JobRecord.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT o.* FROM jobs j JOIN job_dependencies d ON d.job_id = j.id JOIN jobs o ON o.id = d.depends_on
                    WHERE j.state = 'waiting' AND j.request_id IN (\(list)) AND o.request_id NOT IN (\(list)) AND o.state IN ('queued', 'waiting', 'running')
                    """, arguments: arguments)
        }
    }

    /// Finished jobs that asked to be published and are not yet.
    public func unpublished(requests: [Int64]? = nil) throws -> [JobRecord] {
        try pool.read { db in
            var query = JobRecord.filter(
                Column("publish") == true && Column("published_at") == nil && Column("wheel_path") != nil
                    && [JobState.succeeded.rawValue, JobState.skipped.rawValue].contains(Column("state")))
            if let requests { query = query.filter(requests.contains(Column("request_id"))) }
            return try query.order(Column("id")).fetchAll(db)
        }
    }

    /// The most recent job for each (project, version, target) that landed: what the nightly re-checks.
    public func landedBuilds() throws -> [JobRecord] {
        try pool.read { db in
            try JobRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs WHERE id IN (
                        SELECT max(id) FROM jobs WHERE state IN ('succeeded', 'skipped') AND version IS NOT NULL AND wheel IS NOT NULL
                        GROUP BY project, version, target)
                    ORDER BY project, version, target
                    """)
        }
    }

    /// The last finished job for `project` (any version) on `target` before job `before`.
    public func previousOutcome(project: String, target: String, before: Int64) throws -> JobState? {
        try pool.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT state FROM jobs WHERE project = ? AND target = ? AND id < ? AND state IN ('succeeded', 'skipped', 'failed')
                    ORDER BY id DESC LIMIT 1
                    """, arguments: [project, target, before]
            ).flatMap(JobState.init(rawValue:))
        }
    }

    /// The number of jobs.
    public func jobCount() throws -> Int {
        try pool.read { db in try JobRecord.fetchCount(db) }
    }

    /// Runs raw SQL in a write transaction (benchmarks fill the store with it).
    public func execute(sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws {
        try pool.write { db in try db.execute(sql: sql, arguments: StatementArguments(arguments)) }
    }

    // MARK: - Tracked projects

    /// Follows `names` in the nightly (already followed ones are kept).
    public func track(_ names: [String], now: Double = Date().timeIntervalSince1970) throws {
        try pool.write { db in
            for name in names { try db.execute(sql: "INSERT OR IGNORE INTO tracked_projects (name, added_at) VALUES (?, ?)", arguments: [name, now]) }
        }
    }

    /// Stops following `names`; returns how many were followed.
    public func untrack(_ names: [String]) throws -> Int {
        try pool.write { db in
            var removed = 0
            for name in names {
                try db.execute(sql: "DELETE FROM tracked_projects WHERE name = ?", arguments: [name])
                removed += db.changesCount
            }
            return removed
        }
    }

    /// The followed projects, by name.
    public func trackedProjects() throws -> [TrackedProject] {
        try pool.read { db in try TrackedProject.order(Column("name")).fetchAll(db) }
    }

    /// Remembers the newest version the nightly saw of a followed project.
    public func setLastVersion(_ name: String, _ version: String) throws {
        try pool.write { db in try db.execute(sql: "UPDATE tracked_projects SET last_version = ? WHERE name = ?", arguments: [version, name]) }
    }
}

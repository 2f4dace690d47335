import Foundation

/// How each record maps to its table's columns: written once, so both engines read and write
/// the same rows.
extension JobRecord {
    /// The columns a job is written with, without `id`.
    static let columns = [
        "request_id", "requirement", "origin", "project", "version", "target", "identity", "build_key", "state", "stage", "reason",
        "failure_kind", "priority", "attempts", "max_attempts", "not_before", "owner", "memory_gb", "cores", "hashes", "prereleases",
        "publish", "published_at", "cancel_requested", "wheel", "wheel_path", "wheel_sha256", "log_path", "created_at", "updated_at",
        "started_at", "finished_at", "builder", "lease_epoch", "lease_expires_at"
    ]

    /// The values of ``columns``, in order.
    var values: [any SQLBindable] {
        [
            requestId, requirement, origin, project, version, target, identity, buildKey, state.rawValue, stage, reason,
            failureKind?.rawValue, priority, attempts, maxAttempts, notBefore, owner, memoryGb, cores, hashes, prereleases,
            publish, publishedAt, cancelRequested, wheel, wheelPath, wheelSha256, logPath, createdAt, updatedAt,
            startedAt, finishedAt, builder, leaseEpoch, leaseExpiresAt
        ]
    }

    init(row: SQLRow) throws {
        guard let stateText = row.string("state"), let state = JobState(rawValue: stateText) else {
            throw FarmStoreError.database("job \(row.int64("id") ?? 0) has an unknown state \(row.string("state") ?? "null")")
        }
        self.init(
            requestId: row.int64("request_id") ?? 0, requirement: row.string("requirement") ?? "", origin: row.string("origin") ?? "",
            project: row.string("project") ?? "", version: row.string("version"), target: row.string("target") ?? "",
            priority: Int(row.int64("priority") ?? 0), maxAttempts: Int(row.int64("max_attempts") ?? 4),
            memoryGb: row.double("memory_gb") ?? 2, cores: Int(row.int64("cores") ?? 1), prereleases: row.bool("prereleases"),
            publish: row.bool("publish"), now: row.double("created_at") ?? 0)
        id = row.int64("id")
        identity = row.string("identity") ?? identity
        buildKey = row.string("build_key")
        self.state = state
        stage = row.string("stage")
        reason = row.string("reason")
        failureKind = row.string("failure_kind").flatMap(FailureKind.init(rawValue:))
        attempts = Int(row.int64("attempts") ?? 0)
        notBefore = row.double("not_before")
        owner = row.string("owner")
        hashes = row.string("hashes") ?? ""
        publishedAt = row.double("published_at")
        cancelRequested = row.bool("cancel_requested")
        wheel = row.string("wheel")
        wheelPath = row.string("wheel_path")
        wheelSha256 = row.string("wheel_sha256")
        logPath = row.string("log_path")
        updatedAt = row.double("updated_at") ?? createdAt
        startedAt = row.double("started_at")
        finishedAt = row.double("finished_at")
        builder = row.string("builder")
        leaseEpoch = row.int64("lease_epoch") ?? 0
        leaseExpiresAt = row.double("lease_expires_at")
    }

    /// Stores a new job and sets its id.
    mutating func insert(_ db: any SQLConnection) throws {
        let marks = Array(repeating: "?", count: Self.columns.count).joined(separator: ", ")
        let sql = "INSERT INTO jobs (\(Self.columns.joined(separator: ", "))) VALUES (\(marks)) RETURNING id"
        id = try db.int64(sql, values)
    }

    /// Writes every column of a stored job.
    func update(_ db: any SQLConnection) throws {
        let assignments = Self.columns.map { "\($0) = ?" }.joined(separator: ", ")
        try db.execute("UPDATE jobs SET \(assignments) WHERE id = ?", values + [number])
    }

    static func fetchAll(_ db: any SQLConnection, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> [JobRecord] {
        try db.query(sql, arguments).map(JobRecord.init(row:))
    }

    static func fetch(_ db: any SQLConnection, id: Int64, lock: String = "") throws -> JobRecord? {
        try fetchAll(db, "SELECT * FROM jobs WHERE id = ?\(lock)", [id]).first
    }
}

extension JobEvent {
    init(row: SQLRow) {
        self.init(
            id: row.int64("id"), jobId: row.int64("job_id") ?? 0, at: row.double("at") ?? 0,
            fromState: row.string("from_state").flatMap(JobState.init(rawValue:)),
            toState: row.string("to_state").flatMap(JobState.init(rawValue:)) ?? .queued, stage: row.string("stage"), message: row.string("message"))
    }

    func insert(_ db: any SQLConnection) throws {
        try db.execute(
            "INSERT INTO job_events (job_id, at, from_state, to_state, stage, message) VALUES (?, ?, ?, ?, ?, ?)",
            [jobId, at, fromState?.rawValue, toState.rawValue, stage, message])
    }
}

extension RequestRecord {
    init(row: SQLRow) {
        self.init(
            kind: row.string("kind") ?? "", description: row.string("description") ?? "", withDeps: row.bool("with_deps"),
            createdAt: row.double("created_at") ?? 0)
        id = row.int64("id")
    }
}

extension TrackedProject {
    init(row: SQLRow) {
        self.init(name: row.string("name") ?? "", addedAt: row.double("added_at") ?? 0, lastVersion: row.string("last_version"))
    }
}

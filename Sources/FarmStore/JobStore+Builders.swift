import Foundation

/// A builder host as the coordinator knows it.
public struct BuilderRecord: Codable, Sendable, Equatable {
    public var name: String
    /// Machine architectures it builds natively (`x86_64`, `aarch64`).
    public var architectures: [String]
    /// The targets it builds (empty: none declared yet).
    public var targets: [String]
    public var cores: Int
    public var memoryGb: Double
    /// SHA-256 of its token: the token itself is only on the builder.
    public var tokenSha256: String
    /// Finishes its current job and takes no new one.
    public var draining: Bool
    public var registeredAt: Double
    /// Its last sign of life (a claim, a renewal, a declaration).
    public var heartbeatAt: Double
    /// The wheelfarm version it runs.
    public var version: String

    /// A builder with a token and nothing declared yet.
    public init(name: String, tokenSha256: String, now: Double = Date().timeIntervalSince1970) {
        self.name = name
        self.architectures = []
        self.targets = []
        self.cores = 0
        self.memoryGb = 0
        self.tokenSha256 = tokenSha256
        self.draining = false
        self.registeredAt = now
        self.heartbeatAt = 0
        self.version = ""
    }

    init(row: SQLRow) {
        self.init(name: row.string("name") ?? "", tokenSha256: row.string("token_sha256") ?? "", now: row.double("registered_at") ?? 0)
        architectures = Self.list(row.string("architectures"))
        targets = Self.list(row.string("targets"))
        cores = Int(row.int64("cores") ?? 0)
        memoryGb = row.double("memory_gb") ?? 0
        draining = row.bool("draining")
        heartbeatAt = row.double("heartbeat_at") ?? 0
        version = row.string("version") ?? ""
    }

    static func list(_ text: String?) -> [String] { (text ?? "").split(separator: ",").map(String.init) }
}

/// A builder's last day: what it built and what failed.
public struct BuilderActivity: Sendable, Equatable {
    public var built = 0
    public var failed = 0
    /// The job it holds now, if any.
    public var current: JobRecord?

    /// Nothing built, nothing held.
    public init() {}
}

/// Builder hosts and their claims. A claim is a lease: it lapses unless the builder renews it,
/// and each claim raises the job's epoch, the fencing token its result must carry.
extension JobStore {
    /// Registers a builder with the hash of its token; an existing builder keeps its history
    /// and gets the new token (a rotation).
    public func addBuilder(name: String, tokenSha256: String, now: Double = Date().timeIntervalSince1970) throws {
        try database.write { db in
            try db.execute(
                """
                INSERT INTO builders (name, architectures, targets, cores, memory_gb, token_sha256, draining, registered_at, heartbeat_at, version)
                VALUES (?, '', '', 0, 0, ?, 0, ?, 0, '') ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256
                """, [name, tokenSha256, now])
        }
    }

    /// Removes a builder; its running jobs go back to the queue at their lease's end.
    @discardableResult
    public func removeBuilder(name: String) throws -> Bool {
        try database.write { db in try db.execute("DELETE FROM builders WHERE name = ?", [name]) > 0 }
    }

    /// The builder whose token hashes to `tokenSha256`, if any.
    public func builder(tokenSha256: String) throws -> BuilderRecord? {
        try database.read { db in try db.queryOne("SELECT * FROM builders WHERE token_sha256 = ?", [tokenSha256]).map(BuilderRecord.init(row:)) }
    }

    /// The builder called `name`.
    public func builder(named name: String) throws -> BuilderRecord? {
        try database.read { db in try db.queryOne("SELECT * FROM builders WHERE name = ?", [name]).map(BuilderRecord.init(row:)) }
    }

    /// Every builder, by name.
    public func builders() throws -> [BuilderRecord] {
        try database.read { db in try db.query("SELECT * FROM builders ORDER BY name", []).map(BuilderRecord.init(row:)) }
    }

    /// A builder says what it is at start: architectures, targets, cores, memory and version.
    public func declareBuilder(
        name: String, architectures: [String], targets: [String], cores: Int, memoryGb: Double, version: String,
        now: Double = Date().timeIntervalSince1970
    ) throws {
        let changed = try database.write { db in
            try db.execute(
                "UPDATE builders SET architectures = ?, targets = ?, cores = ?, memory_gb = ?, version = ?, heartbeat_at = ? WHERE name = ?",
                [architectures.joined(separator: ","), targets.joined(separator: ","), cores, memoryGb, version, now, name])
        }
        guard changed == 1 else {
            throw FarmStoreError.database("there is no builder \(name): add it on the coordinator with `wheelfarm builders add \(name)`")
        }
    }

    /// Sets or clears a builder's draining mark; false when there is no such builder.
    @discardableResult
    public func setDraining(name: String, _ draining: Bool) throws -> Bool {
        try database.write { db in try db.execute("UPDATE builders SET draining = ? WHERE name = ?", [draining, name]) > 0 }
    }

    /// Takes the next queued job of `targets` that fits `memoryGb` and `cores` for builder
    /// `name`, with a lease of `leaseSeconds`. Nil when nothing is runnable or the builder
    /// drains. On PostgreSQL the claim is one short transaction that skips rows other claimers
    /// hold (`FOR UPDATE SKIP LOCKED`).
    public func claimForBuilder(
        name: String, targets: [String], memoryGb: Double, cores: Int, leaseSeconds: Double, now: Double = Date().timeIntervalSince1970
    ) throws -> JobRecord? {
        guard !targets.isEmpty else { return nil }
        return try database.write { db in
            guard let builder = try db.queryOne("SELECT draining FROM builders WHERE name = ?", [name]) else {
                throw FarmStoreError.database("there is no builder \(name)")
            }
            try db.execute("UPDATE builders SET heartbeat_at = ? WHERE name = ?", [now, name])
            if builder.bool("draining") { return nil }
            guard
                let id = try nextClaimable(
                    db, scope: " AND j.target IN (\(Self.marks(targets.count)))", arguments: targets, memoryGb: memoryGb, cores: cores, now: now)
            else { return nil }
            return try transition(db, id, to: .running, stage: nil, reason: "claimed by builder \(name)", kind: nil, now: now) { job in
                job.owner = "builder:\(name)"
                job.builder = name
                job.attempts += 1
                job.leaseEpoch += 1
                job.leaseExpiresAt = now + leaseSeconds
            }
        }
    }

    /// Extends the lease of job `id` held by `builder` under `epoch`; false when the claim is
    /// no longer that builder's (it lapsed, the job was taken again or finished): the builder
    /// must then stop building it.
    public func renewLease(_ id: Int64, builder: String, epoch: Int64, leaseSeconds: Double, now: Double = Date().timeIntervalSince1970) throws -> Bool {
        try database.write { db in
            try db.execute("UPDATE builders SET heartbeat_at = ? WHERE name = ?", [now, builder])
            return try db.execute(
                """
                UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND builder = ? AND lease_epoch = ? AND state = 'running' AND lease_expires_at >= ?
                """, [now + leaseSeconds, id, builder, epoch, now]) == 1
        }
    }

    /// Whether `builder` holds job `id` under a live claim (any epoch when `epoch` is nil).
    public func holds(builder: String, job id: Int64, epoch: Int64? = nil, now: Double = Date().timeIntervalSince1970) throws -> Bool {
        guard let job = try job(id) else { return false }
        return job.state == .running && job.builder == builder && (epoch == nil || job.leaseEpoch == epoch) && (job.leaseExpiresAt ?? 0) >= now
    }

    /// Puts back in the queue the running jobs whose lease lapsed (a builder died or was cut
    /// off); the interrupted attempt does not count. Cheap enough to call before each claim:
    /// it touches only lapsed rows, and skips rows another caller is already handling.
    @discardableResult
    public func requeueLapsed(now: Double = Date().timeIntervalSince1970) throws -> [JobRecord] {
        try database.write { db in
            let lock = database.engine == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
            let lapsed = try db.int64s("SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < ? ORDER BY id\(lock)", [now])
            return try lapsed.map { id in
                guard let job = try JobRecord.fetch(db, id: id) else { throw FarmStoreError.noSuchJob(id) }
                let why = "builder \(job.builder ?? "?")'s lease lapsed"
                if job.cancelRequested {
                    let cancelled = try transition(db, id, to: .cancelled, stage: job.stage, reason: "cancelled; \(why)", kind: nil, now: now) { _ in }
                    _ = try failDependents(db, of: id, now: now)
                    return cancelled
                }
                return try transition(db, id, to: .queued, stage: job.stage, reason: "re-queued: \(why)", kind: nil, now: now) { job in
                    job.attempts = max(0, job.attempts - 1)
                    job.buildKey = nil
                }
            }
        }
    }

    /// Each builder's jobs finished since `since` (landed or failed) and the job it holds now.
    public func builderActivity(since: Double) throws -> [String: BuilderActivity] {
        try database.read { db in
            var result: [String: BuilderActivity] = [:]
            for row in try db.query(
                "SELECT builder, state, count(*) AS n FROM jobs WHERE builder IS NOT NULL AND finished_at >= ? GROUP BY builder, state", [since])
            {
                guard let name = row.string("builder") else { continue }
                let n = Int(row.int64("n") ?? 0)
                switch row.string("state") {
                case "succeeded", "skipped": result[name, default: BuilderActivity()].built += n
                case "failed": result[name, default: BuilderActivity()].failed += n
                default: break
                }
            }
            for job in try JobRecord.fetchAll(db, "SELECT * FROM jobs WHERE state = 'running' AND builder IS NOT NULL ORDER BY id") {
                if let name = job.builder { result[name, default: BuilderActivity()].current = job }
            }
            return result
        }
    }

    /// Appends a piece of the build log of job `id` from the builder holding it under `epoch`;
    /// false (nothing stored) when it no longer holds the job.
    @discardableResult
    public func appendLog(_ id: Int64, builder: String, epoch: Int64, text: String, now: Double = Date().timeIntervalSince1970) throws -> Bool {
        try database.write { db in
            guard
                try db.queryOne(
                    "SELECT 1 FROM jobs WHERE id = ? AND builder = ? AND lease_epoch = ? AND state = 'running'\(database.forUpdate)", [id, builder, epoch])
                    != nil
            else { return false }
            let next = (try db.int64("SELECT max(seq) FROM job_logs WHERE job_id = ?", [id]) ?? 0) + 1
            try db.execute("INSERT INTO job_logs (job_id, seq, epoch, at, chunk) VALUES (?, ?, ?, ?, ?)", [id, next, epoch, now, text])
            return true
        }
    }

    /// The pieces of job `id`'s streamed log after `seq`, in order (of the latest claim only:
    /// `epoch` nil means the job's current one).
    public func logChunks(_ id: Int64, after seq: Int64 = 0, limit: Int = 1000) throws -> [(seq: Int64, text: String)] {
        try database.read { db in
            try db.query(
                """
                SELECT seq, chunk FROM job_logs WHERE job_id = ? AND seq > ?
                AND epoch = (SELECT max(epoch) FROM job_logs WHERE job_id = ?) ORDER BY seq LIMIT ?
                """, [id, seq, id, max(1, limit)]
            ).map { ($0.int64("seq") ?? 0, $0.string("chunk") ?? "") }
        }
    }

    /// Targets that a live builder of another architecture than `hostMachine` declares and is
    /// named for (`…-aarch64`): a farm process on the coordinator leaves those to the native
    /// builders instead of running them under emulation.
    public func targetsForNativeBuilders(hostMachine: String, now: Double = Date().timeIntervalSince1970, liveWithin: Double = 120) throws -> [String] {
        try builders().filter { !$0.draining && $0.heartbeatAt >= now - liveWithin }.flatMap { builder in
            builder.architectures.filter { $0 != hostMachine }.flatMap { arch in builder.targets.filter { $0.hasSuffix("-\(arch)") } }
        }
    }

    /// The farm's toolchain digest for `target`: the one assigned already, else `digest`, now
    /// assigned by `by`. With `overriding` (the coordinator's own images), `digest` replaces it.
    @discardableResult
    public func assignToolchain(
        target: String, digest: String, by: String, overriding: Bool = false, now: Double = Date().timeIntervalSince1970
    ) throws -> String {
        try database.write { db in
            let conflict =
                overriding
                ? "DO UPDATE SET digest = excluded.digest, assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at" : "DO NOTHING"
            try db.execute(
                "INSERT INTO target_toolchains (target, digest, assigned_by, assigned_at) VALUES (?, ?, ?, ?) ON CONFLICT (target) \(conflict)",
                [target, digest, by, now])
            return try db.string("SELECT digest FROM target_toolchains WHERE target = ?", [target]) ?? digest
        }
    }

    /// Each target's assigned toolchain digest.
    public func assignedToolchains() throws -> [String: String] {
        try database.read { db in
            Dictionary(
                try db.query("SELECT target, digest FROM target_toolchains", []).compactMap { row in
                    row.string("target").flatMap { target in row.string("digest").map { (target, $0) } }
                }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Jobs of `targets` still to do (queued, waiting or running).
    public func openJobs(targets: [String]) throws -> Int {
        guard !targets.isEmpty else { return 0 }
        return try database.read { db in
            Int(
                try db.int64(
                    "SELECT count(*) FROM jobs WHERE state IN ('queued', 'waiting', 'running') AND target IN (\(Self.marks(targets.count)))", targets)
                    ?? 0)
        }
    }
}

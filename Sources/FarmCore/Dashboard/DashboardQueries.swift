import BuildSandbox
import FarmStore
import Foundation
import PackagingModel
import Repository
import WheelBuilder
import WheelfarmBasics

/// The farm's read side for the dashboard, the API and the metrics: one query per page over
/// the job store's indexes, plus the build records beside the wheels (immutable once written,
/// so they are cached by path).
public final class DashboardQueries: @unchecked Sendable {
    public let store: JobStore
    public let layout: FarmLayout
    let toolchains: ToolchainStore?
    let repository: Repository?
    let records: RecordCache

    /// The most of a log a job page shows (its end).
    public static let logLimit = 256 << 10

    public init(store: JobStore, layout: FarmLayout, toolchains: ToolchainStore?, repository: Repository?) {
        self.store = store
        self.layout = layout
        self.toolchains = toolchains
        self.repository = repository
        records = RecordCache(store: BuildStore(layout: layout))
    }

    /// A job as lists show it.
    public static func summary(_ job: JobRecord, now: Double) -> JobSummary {
        let elapsed = job.startedAt.map { started in (job.finishedAt ?? (job.state == .running ? now : started)) - started }
        return JobSummary(
            number: job.number, request: job.requestId, requirement: job.requirement, project: job.project, version: job.version, target: job.target,
            // The stage is news while a job runs, and where it stopped when it failed.
            state: job.state.rawValue, stage: [.running, .failed, .cancelled].contains(job.state) ? job.stage : nil, reason: job.reason, attempts: job.attempts,
            createdAt: job.createdAt, startedAt: job.startedAt,
            finishedAt: job.finishedAt, elapsedSeconds: elapsed, wheel: job.wheel, owner: job.state == .running ? job.owner : nil)
    }

    /// Counts by state, running jobs, builders, the queue's oldest age and the last failures.
    public func overview(now: Double = Date().timeIntervalSince1970) throws -> Overview {
        let counts = try store.counts()
        let running = try store.jobPage(JobFilter(states: [.running]), limit: 200).jobs
        let failures = try store.jobPage(JobFilter(states: [.failed]), limit: 10).jobs
        var builders: [String: BuilderSummary] = [:]
        for job in running {
            let name = job.builder ?? Self.builderName(job.owner)
            var entry = builders[name] ?? BuilderSummary(name: name, running: 0, lastSeen: 0)
            entry.running += 1
            entry.lastSeen = max(entry.lastSeen, job.updatedAt)
            builders[name] = entry
        }
        // Builder hosts are listed idle too, last seen at their heartbeat.
        for host in try store.builders() {
            var entry = builders[host.name] ?? BuilderSummary(name: host.name, running: 0, lastSeen: 0)
            entry.lastSeen = max(entry.lastSeen, host.heartbeatAt)
            builders[host.name] = entry
        }
        return Overview(
            counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }), total: counts.values.reduce(0, +),
            running: running.map { Self.summary($0, now: now) }, builders: builders.values.sorted { $0.name < $1.name },
            oldestQueuedSeconds: try store.oldestQueuedAt().map { max(0, now - $0) }, failures: failures.map { Self.summary($0, now: now) },
            generatedAt: now)
    }

    /// A builder's name from a job's owner (`pid:start@host` or `pid:start`): the host, else the process.
    static func builderName(_ owner: String?) -> String {
        guard let owner, !owner.isEmpty else { return "unknown" }
        if let at = owner.firstIndex(of: "@") { return String(owner[owner.index(after: at)...]) }
        return "this host (pid \(owner.split(separator: ":").first ?? ""))"
    }

    /// A page of jobs; `cursor` is the previous page's `next`.
    public func jobs(_ filter: JobFilter, cursor: String?, limit: Int, now: Double = Date().timeIntervalSince1970) throws -> Page<JobSummary> {
        let page = try store.jobPage(filter, before: cursor.flatMap { Int64($0) }, limit: limit)
        return Page(items: page.jobs.map { Self.summary($0, now: now) }, next: page.next.map(String.init))
    }

    /// A page of requests.
    public func requests(cursor: String?, limit: Int) throws -> Page<RequestSummaryRow> {
        let page = try store.requestPage(before: cursor.flatMap { Int64($0) }, limit: limit)
        let rows = page.requests.map { summary in
            RequestSummaryRow(
                id: summary.request.id ?? 0, kind: summary.request.kind, description: summary.request.description, createdAt: summary.request.createdAt,
                counts: Dictionary(uniqueKeysWithValues: summary.counts.map { ($0.key.rawValue, $0.value) }), total: summary.counts.values.reduce(0, +))
        }
        return Page(items: rows, next: page.next.map(String.init))
    }

    /// The log a job writes or wrote: the store's path, else the one beside its wheel.
    public func logPath(of job: JobRecord) -> String? {
        job.logPath ?? job.wheelPath.map { Paths.parent($0) + "/build.log" }
    }

    /// One job with its events, stage timings, record and the end of its log.
    public func job(_ number: Int64, now: Double = Date().timeIntervalSince1970) throws -> JobDetail? {
        guard let job = try store.job(number) else { return nil }
        let events = try store.events(number).map {
            EventSummary(at: $0.at, from: $0.fromState?.rawValue, to: $0.toState.rawValue, stage: $0.stage, message: $0.message)
        }
        let record = recordOf(job)
        let stages = (record?.stages ?? []).filter { $0.build == nil }
        let total = max(stages.reduce(0) { $0 + $1.seconds }, 0.001)
        var log = ""
        var truncated = false
        var available = false
        var bytes = 0
        if let path = logPath(of: job), let tail = Self.tail(path, limit: Self.logLimit) {
            (log, truncated, available, bytes) = (tail.text, tail.truncated, true, tail.size)
        }
        return JobDetail(
            job: Self.summary(job, now: now), events: events,
            stages: stages.map { StageTiming(stage: $0.stage.rawValue, seconds: $0.seconds, percent: 100 * $0.seconds / total) },
            grafted: (record?.grafted ?? []).map { GraftSummary(soname: $0.soname, package: $0.package, version: $0.version) },
            warnings: record?.warnings ?? [],
            toolchainDigest: record?.toolchainDigest, sdist: record?.sdist?.filename, sdistSha256: record?.sdist?.sha256, log: log, logTruncated: truncated,
            logAvailable: available, logBytes: bytes)
    }

    /// The last `limit` bytes of a file, as text (cut at a line start when cut).
    public static func tail(_ path: String, limit: Int) -> (text: String, truncated: Bool, size: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        let start = size > UInt64(limit) ? size - UInt64(limit) : 0
        try? handle.seek(toOffset: start)
        // Exactly up to the size seen: what the file gains meanwhile is the live stream's.
        var bytes = Array((try? handle.read(upToCount: Int(size - start))) ?? Data())
        if start > 0, let newline = bytes.firstIndex(of: 10) { bytes.removeFirst(newline + 1) }
        return (String(decoding: bytes, as: UTF8.self), start > 0, Int(size))
    }

    /// Every stored build's record (read again only when the build store changed).
    public func storedRecords() -> [BuildRecord] { records.all(under: layout.builds) }

    /// The build record beside a job's wheel (or its failed build's folder), cached.
    func recordOf(_ job: JobRecord) -> BuildRecord? {
        guard let folder = job.wheelPath.map({ Paths.parent($0) }) ?? job.logPath.map({ Paths.parent($0) }) else { return nil }
        return records.record(in: folder)
    }

    /// Versions × targets of a project: the latest job of each, with its wheel's facts or its failure.
    public func project(_ name: String) throws -> ProjectMatrix {
        let project = ProjectName.normalise(name)
        let jobs = try store.latestJobs(project: project)
        let published = Set((try? repository?.manifest(project))??.files.map(\.filename) ?? [])
        var targets = Set<String>()
        var byVersion: [String: [String: MatrixCell]] = [:]
        for job in jobs {
            let version = job.version ?? "(unresolved)"
            targets.insert(job.target)
            guard byVersion[version]?[job.target] == nil else { continue }
            var cell = MatrixCell(
                target: job.target, state: job.state.rawValue, job: job.number, wheel: job.wheel, tag: nil, sizeBytes: nil, buildNumber: nil, grafted: [],
                signatureURL: nil, provenanceURL: nil, stage: job.state == .failed || job.state == .running ? job.stage : nil,
                reason: job.state == .failed || job.state == .cancelled ? job.reason : nil)
            if let wheel = job.wheel, let name = WheelFilename(wheel) {
                cell.tag = name.platformTags.joined(separator: ".")
                cell.buildNumber = name.build
                if let path = job.wheelPath { cell.sizeBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue }
                cell.grafted = (recordOf(job)?.grafted ?? []).map { GraftSummary(soname: $0.soname, package: $0.package, version: $0.version) }
                if published.contains(wheel) {
                    let base = "/files/\(IndexPages.pathComponent(project))/\(IndexPages.pathComponent(wheel))"
                    cell.signatureURL = base + ".minisig"
                    cell.provenanceURL = base + ".intoto.json"
                }
            }
            byVersion[version, default: [:]][job.target] = cell
        }
        let targetList = targets.sorted()
        let versions = byVersion.keys.sorted { a, b in
            switch (PackageVersion(a), PackageVersion(b)) {
            case let (x?, y?): return x > y
            default: return a > b
            }
        }
        return ProjectMatrix(
            project: project, targets: targetList,
            versions: versions.map { version in MatrixRow(version: version, cells: targetList.map { byVersion[version]?[$0] }) })
    }

    /// Every toolchain image and runtime root the home has, with the number of stored builds made with each.
    public func toolchainRows(now: Date = Date()) throws -> [ToolchainRow] {
        guard let toolchains else { return [] }
        var uses: [String: Int] = [:]
        for record in records.all(under: layout.builds) where record.outcome == .succeeded { uses[record.toolchainDigest, default: 0] += 1 }
        var rows: [ToolchainRow] = []
        var seen = Set<String>()
        for spec in toolchains.catalog.specs.values.sorted(by: { $0.name < $1.name }) {
            for (image, runtime) in [(try toolchains.image(named: spec.name), false), (try toolchains.runtimeImage(for: spec), true)] {
                guard let image, seen.insert(image.spec.name).inserted else { continue }
                rows.append(
                    ToolchainRow(
                        name: image.spec.name, runtime: runtime, digest: image.digest, builtAt: image.builtAt.timeIntervalSince1970,
                        ageSeconds: now.timeIntervalSince(image.builtAt), packages: image.packages.count, sizeBytes: Int(image.sizeBytes),
                        current: toolchains.isCurrent(image), builds: uses[image.digest] ?? 0))
            }
        }
        return rows
    }
}

/// Build records by folder: a record is written once, at the build's end, and never changed,
/// so one read serves every later page. Bounded; a full cache starts over.
final class RecordCache: @unchecked Sendable {
    private let lock = NSLock()
    private let store: BuildStore
    /// Records by folder, with the change stamp of the file they were read from (a rebuild of
    /// the same version rewrites it).
    private var records: [String: (stamp: String, record: BuildRecord)] = [:]
    private var scanned: (stamp: String, records: [BuildRecord])?
    static let limit = 50_000

    init(store: BuildStore) { self.store = store }

    func record(in folder: String) -> BuildRecord? {
        var info = stat()
        guard stat("\(folder)/record.json", &info) == 0 else { return nil }
        let stamp = "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec).\(info.st_size)"
        if let hit = lock.withLock({ records[folder] }), hit.stamp == stamp { return hit.record }
        guard let record = (try? store.record(in: folder)) ?? nil else { return nil }
        lock.withLock {
            if records.count >= Self.limit { records.removeAll() }
            records[folder] = (stamp, record)
        }
        return record
    }

    /// Every record under the build store (`<project>/<version>/<target>/record.json`), read
    /// again only when a project folder was added or changed.
    func all(under builds: String) -> [BuildRecord] {
        let projects = ((try? FileManager.default.contentsOfDirectory(atPath: builds)) ?? []).sorted()
        let stamp = projects.map { name -> String in
            var info = stat()
            return stat("\(builds)/\(name)", &info) == 0 ? "\(name):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" : name
        }.joined(separator: ",")
        if let scanned = lock.withLock({ scanned }), scanned.stamp == stamp { return scanned.records }
        var found: [BuildRecord] = []
        for project in projects {
            for version in (try? FileManager.default.contentsOfDirectory(atPath: "\(builds)/\(project)")) ?? [] {
                for target in (try? FileManager.default.contentsOfDirectory(atPath: "\(builds)/\(project)/\(version)")) ?? [] {
                    if let record = record(in: "\(builds)/\(project)/\(version)/\(target)") { found.append(record) }
                }
            }
        }
        lock.withLock { scanned = (stamp, found) }
        return found
    }
}

import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm farm-bench` (hidden): measurements of the scheduler and the store for
/// `ci/bench/farm.sh`, on a throw-away farm home.
struct FarmBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "farm-bench", abstract: "Measure the farm's scheduler and store (for ci/bench/farm.sh).", shouldDisplay: false)
    @OptionGroup var options: HomeOptions
    @Option(help: "Add this many finished jobs (with their events) to the store.") var fill = 0
    @Option(help: "Run this many jobs through the worker pool with an executor that does nothing; print the time per job.") var scheduler = 0
    @Option(help: "Builds at once for --scheduler.") var jobs = 2
    @Flag(help: "Time the queries `wheelfarm status` makes (median of 21).") var statusQueries = false
    @Option(help: "Queue this many jobs and time builder claims with --claimers threads, each claim completed at once.") var claims = 0
    @Option(help: "Concurrent claimers for --claims (each its own connection).") var claimers = 1
    @Option(help: "Queue this many jobs for --queue-target (for `wheelfarm worker --simulate` processes).") var queue = 0
    @Option(help: "The target of --queue.") var queueTarget = "sim-x86_64"

    /// An executor that builds nothing: what is left of a job's time is the scheduler's.
    struct NothingExecutor: JobExecutor {
        func execute(_ job: JobRecord, hooks: BuildHooks) -> ExecutionResult {
            .finished(.succeeded(wheel: "\(job.project)-1.0-py3-none-any.whl", path: "/dev/null", sha256: "", log: nil), version: "1.0")
        }
    }

    func run() throws {
        let context = CommandContext(options)
        let store = try context.jobStore()
        func say(_ line: String) { context.out(line) }
        if fill > 0 {
            let request = try store.createRequest(RequestRecord(kind: "bench", description: "farm-bench fill"))
            let started = Date()
            let base = try store.jobCount()
            // One statement per table: a realistic mix of outcomes, three events a job.
            try store.execute(
                sql: """
                    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                    INSERT INTO jobs (request_id, requirement, origin, project, version, target, identity, state, stage, reason, failure_kind,
                                      attempts, max_attempts, memory_gb, cores, wheel, created_at, updated_at, started_at, finished_at)
                    SELECT ?, 'bench' || (i + ?) || '==1.0', 'farm-bench', 'bench' || (i + ?), '1.0', 'cp311-bench-x86_64',
                           'bench' || (i + ?) || '==1.0@cp311-bench-x86_64',
                           CASE i % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'skipped' WHEN 2 THEN 'cancelled' ELSE 'succeeded' END,
                           CASE i % 20 WHEN 0 THEN 'build' ELSE 'store' END,
                           CASE i % 20 WHEN 0 THEN 'the build exited with status 1' ELSE NULL END,
                           CASE i % 20 WHEN 0 THEN 'permanent' ELSE NULL END,
                           1, 4, 2, 1, 'bench' || (i + ?) || '-1.0-py3-none-any.whl',
                           1.7e9 + i, 1.7e9 + i + 60, 1.7e9 + i + 1, 1.7e9 + i + 60
                    FROM n
                    """, arguments: [fill, request.id, base, base, base, base])
            try store.execute(
                sql: """
                    INSERT INTO job_events (job_id, at, from_state, to_state, stage, message)
                    SELECT id, created_at, NULL, 'queued', NULL, 'submitted' FROM jobs WHERE request_id = ?
                    UNION ALL SELECT id, started_at, 'queued', 'running', NULL, NULL FROM jobs WHERE request_id = ?
                    UNION ALL SELECT id, finished_at, 'running', state, stage, reason FROM jobs WHERE request_id = ?
                    """, arguments: [request.id, request.id, request.id])
            say(String(format: "filled %d jobs in %.2f s; the store holds %d", fill, Date().timeIntervalSince(started), try store.jobCount()))
        }
        if scheduler > 0 {
            let request = try store.createRequest(RequestRecord(kind: "bench", description: "farm-bench scheduler"))
            let requestID = request.id ?? 0
            let stamp = Int(Date().timeIntervalSince1970 * 1000)
            let planned = (1...scheduler).map { index in
                JobRecord(
                    requestId: requestID, requirement: "sched\(stamp)x\(index)==1.0", origin: "farm-bench", project: "sched\(stamp)x\(index)",
                    version: "1.0", target: "cp311-bench-x86_64", memoryGb: 0.1)
            }
            let started = Date()
            _ = try store.submit(planned)
            let limits = FarmLimits(jobs: jobs, memoryGb: 64, cores: 64, retry: RetryPolicy())
            try Farm(store: store, executor: NothingExecutor(), limits: limits, say: { _ in }).run(requests: [requestID])
            let seconds = Date().timeIntervalSince(started)
            let landed = try store.jobs(request: requestID).filter { $0.state == .succeeded }.count
            say(String(format: "scheduler: %d jobs (%d landed) in %.3f s: %.2f ms per job", scheduler, landed, seconds, seconds * 1000 / Double(scheduler)))
        }
        if queue > 0 {
            let request = try Self.queueJobs(store: store, count: queue, target: queueTarget, prefix: "sim")
            say("queued \(queue) jobs for \(queueTarget) (request \(request))")
        }
        if claims > 0 { try measureClaims(store: store, location: try context.openFarm().configuration.stateLocation, say: say) }
        if statusQueries {
            var times: [Double] = []
            for _ in 0..<21 {
                let started = Date()
                _ = try store.counts()
                _ = try store.jobs(states: [.running], limit: 50)
                _ = try store.jobs(states: [.failed], limit: 10)
                times.append(Date().timeIntervalSince(started))
            }
            times.sort()
            say(String(format: "status queries over %d jobs: median %.2f ms, worst %.2f ms", try store.jobCount(), times[10] * 1000, (times.last ?? 0) * 1000))
        }
    }

    /// Queues `count` small pinned jobs for `target` in one request, a thousand a transaction;
    /// returns the request's id.
    @discardableResult
    static func queueJobs(store: JobStore, count: Int, target: String, prefix: String) throws -> Int64 {
        let request = try store.createRequest(RequestRecord(kind: "bench", description: "farm-bench \(prefix) jobs"))
        let stamp = Int(Date().timeIntervalSince1970 * 1000)
        for start in stride(from: 0, to: count, by: 1000) {
            _ = try store.submit(
                (start..<min(count, start + 1000)).map { index in
                    JobRecord(
                        requestId: request.id ?? 0, requirement: "\(prefix)\(stamp)x\(index)==1.0", origin: "farm-bench",
                        project: "\(prefix)\(stamp)x\(index)", version: "1.0", target: target, memoryGb: 0.1)
                })
        }
        return request.id ?? 0
    }

    /// Builders claiming and completing jobs at once: the cost of a claim with its completion
    /// as each claimer sees it, and the store's throughput.
    func measureClaims(store: JobStore, location: String, say: (String) -> Void) throws {
        let stamp = Int(Date().timeIntervalSince1970 * 1000)
        let target = "claims\(stamp)-x86_64"
        try Self.queueJobs(store: store, count: claims, target: target, prefix: "claim")
        let names = (0..<claimers).map { "bench-\(stamp)-\($0)" }
        for name in names { try store.addBuilder(name: name, tokenSha256: name) }
        let stores = try names.map { _ in try JobStore(location: location, migrate: false) }
        let latencies = Locked<[Double]>([])
        let failures = Locked<[String]>([])
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: claimers) { index in
            var mine: [Double] = []
            do {
                while true {
                    let begin = Date()
                    guard
                        let job = try stores[index].claimForBuilder(name: names[index], targets: [target], memoryGb: 8, cores: 8, leaseSeconds: 600)
                    else { break }
                    _ = try stores[index].complete(
                        job.number, outcome: .skipped(reason: "bench", wheel: nil, path: nil, sha256: nil), retry: RetryPolicy(), epoch: job.leaseEpoch)
                    mine.append(Date().timeIntervalSince(begin))
                }
            } catch {
                failures.append("\(error)")
            }
            let done = mine
            latencies.withLock { $0 += done }
        }
        let wall = Date().timeIntervalSince(started)
        var times = latencies.current.sorted()
        if times.isEmpty { times = [0] }
        for failure in failures.current { say("claimer failed: \(failure)") }
        say(
            String(
                format: "claims: engine %@, %d claimers, %d jobs in the store: %d claimed in %.2f s, %.0f claims/s, claim+complete median %.2f ms, p95 %.2f ms",
                store.database.engine.rawValue, claimers, try store.jobCount(), times.count, wall, Double(times.count) / wall, times[times.count / 2] * 1000,
                times[min(times.count - 1, times.count * 95 / 100)] * 1000))
    }
}

import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import WheelBuilder

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
}

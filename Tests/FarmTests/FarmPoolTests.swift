import FarmCore
import FarmStore
import Foundation
import WheelBuilder
import WheelfarmBasics
import XCTest

/// The farm's worker pool over the store, with an executor that only pretends to build.
final class FarmPoolTests: XCTestCase {
    /// Pretends to build: sleeps, counts how many run at once, fails transiently as told.
    final class FakeExecutor: JobExecutor, @unchecked Sendable {
        let lock = NSLock()
        var running = 0
        var peak = 0
        var calls: [String: Int] = [:]
        let transientFailures: [String: Int]
        let expectedPeak: Int

        init(transientFailures: [String: Int] = [:], expectedPeak: Int) {
            self.transientFailures = transientFailures
            self.expectedPeak = expectedPeak
        }

        func execute(_ job: JobRecord, hooks: BuildHooks) -> ExecutionResult {
            let call: Int = lock.withLock {
                running += 1
                peak = max(peak, running)
                calls[job.requirement, default: 0] += 1
                return calls[job.requirement] ?? 0
            }
            // The first jobs wait (up to 10 s) until as many run as the pool should allow: the
            // peak is then what the pool gives, not what the timing happened to give.
            let deadline = Date().addingTimeInterval(10)
            while lock.withLock({ peak < expectedPeak && running > 0 }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
            lock.withLock { running -= 1 }
            if call <= transientFailures[job.requirement] ?? 0 {
                return .finished(.failed(kind: .transient, stage: "fetch", reason: "connection reset", log: nil), version: "1")
            }
            return .finished(.succeeded(wheel: "\(job.project)-1-py3-none-any.whl", path: "/nowhere/\(job.project).whl", sha256: "00", log: nil), version: "1")
        }
    }

    func testPoolRunsJobsInParallelRetriesTransientFailuresAndDrains() throws {
        let directory = try TemporaryDirectory(prefix: "wf-pool")
        let store = try JobStore(path: "\(directory.path)/state/farm.sqlite")
        let id = try XCTUnwrap(store.createRequest(RequestRecord(kind: "test", description: "pool")).id)
        _ = try store.submit(
            (1...6).map { JobRecord(requestId: id, requirement: "p\($0)==1", origin: "test", project: "p\($0)", version: "1", target: "t", memoryGb: 1) })
        let executor = FakeExecutor(transientFailures: ["p2==1": 2], expectedPeak: 3)
        let lines = LockedLines()
        let farm = Farm(
            store: store, executor: executor,
            limits: FarmLimits(jobs: 3, memoryGb: 8, cores: 8, retry: RetryPolicy(maxAttempts: 4, baseSeconds: 0.01, maxSeconds: 0.05)),
            say: { lines.append($0) })
        try farm.run(requests: [id])
        let jobs = try store.jobs(request: id)
        XCTAssertEqual(jobs.filter { $0.state == .succeeded }.count, 6, lines.text)
        XCTAssertEqual(executor.peak, 3, "three workers kept busy")
        XCTAssertEqual(executor.calls["p2==1"], 3, "two transient failures, then success")
        XCTAssertEqual(executor.calls.values.reduce(0, +), 8, "nothing else ran twice")
        let retried = try XCTUnwrap(jobs.first { $0.requirement == "p2==1" })
        XCTAssertEqual(try store.events(retried.number).map(\.toState), [.queued, .running, .queued, .running, .queued, .running, .succeeded])
    }
}

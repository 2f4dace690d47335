import FarmCore
import FarmStore
import Foundation
import WheelBuilder
import WheelfarmBasics
import XCTest

/// The job store: schema, state machine, claims, retries, dependencies, recovery.
final class JobStoreTests: XCTestCase {
    var directory: TemporaryDirectory!
    var store: JobStore!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(prefix: "wf-store")
        store = try JobStore(path: "\(directory.path)/state/farm.sqlite")
    }

    func request() throws -> Int64 { try XCTUnwrap(store.createRequest(RequestRecord(kind: "test", description: "test")).id) }

    func job(_ requirement: String, target: String = "t1", request: Int64, priority: Int = 0, memory: Double = 1, maxAttempts: Int = 3) -> JobRecord {
        JobRecord(
            requestId: request, requirement: requirement, origin: "test", project: String(requirement.prefix { $0.isLetter }),
            version: nil, target: target, priority: priority, maxAttempts: maxAttempts, memoryGb: memory)
    }

    func testSchemaIsMigratedInWALMode() throws {
        XCTAssertEqual(try store.appliedMigrations(), ["1-jobs", "2-state-counts", "3-dashboard", "4-builders"])
        XCTAssertEqual(try store.journalMode(), "wal")
        // Opening again applies nothing new and keeps the data.
        let id = try request()
        _ = try store.submit([job("a==1", request: id)])
        let again = try JobStore(path: store.path)
        XCTAssertEqual(try again.jobCount(), 1)
    }

    func testStateMachineAllowsOnlyItsTransitionsAndRecordsEachAsAnEvent() throws {
        XCTAssertTrue(JobState.queued.canMove(to: .running))
        XCTAssertFalse(JobState.succeeded.canMove(to: .running))
        XCTAssertFalse(JobState.waiting.canMove(to: .running))
        XCTAssertFalse(JobState.failed.canMove(to: .succeeded))
        let id = try request()
        let job = try XCTUnwrap(store.submit([job("a==1", request: id)]).first)
        XCTAssertThrowsError(try store.transition(job.number, to: .succeeded)) { error in
            XCTAssertEqual(error as? FarmStoreError, .illegalTransition(job: job.number, from: .queued, to: .succeeded))
        }
        let claimed = try XCTUnwrap(store.claimNext(requests: [id], owner: ProcessIdentity.current, memoryGb: 8, cores: 2))
        XCTAssertEqual(claimed.state, .running)
        XCTAssertEqual(claimed.attempts, 1)
        let done = try store.complete(job.number, outcome: .failed(kind: .permanent, stage: "build", reason: "compile error", log: nil), retry: RetryPolicy())
        XCTAssertEqual(done.job.state, .failed)
        XCTAssertEqual(done.job.failureKind, .permanent)
        XCTAssertEqual(done.job.stage, "build")
        let events = try store.events(job.number)
        XCTAssertEqual(events.map(\.toState), [.queued, .running, .failed])
        XCTAssertEqual(events.map(\.fromState), [nil, .queued, .running])
        XCTAssertTrue(zip(events, events.dropFirst()).allSatisfy { $0.at <= $1.at })
        // A permanent failure stays until someone asks.
        XCTAssertNil(try store.claimNext(requests: [id], owner: ProcessIdentity.current, memoryGb: 8, cores: 2))
        XCTAssertEqual(try store.retry(job.number).state, .queued)
        XCTAssertEqual(try store.events(job.number).last?.message, "retried by an operator")
    }

    func testTransientFailuresAreRetriedWithBackoffThenGiveUp() throws {
        let id = try request()
        let job = try XCTUnwrap(store.submit([job("a==1", request: id, maxAttempts: 3)]).first)
        let policy = RetryPolicy(maxAttempts: 3, baseSeconds: 10, maxSeconds: 100)
        var now = 1000.0
        var delays: [Double] = []
        for attempt in 1...3 {
            let claimed = try XCTUnwrap(store.claimNext(requests: [id], owner: ProcessIdentity.current, memoryGb: 8, cores: 2, now: now), "attempt \(attempt)")
            XCTAssertEqual(claimed.attempts, attempt)
            let result = try store.complete(
                job.number, outcome: .failed(kind: .transient, stage: "resolve", reason: "HTTP 503", log: nil),
                retry: policy, now: now, jitter: 0.5)
            if attempt < 3 {
                XCTAssertEqual(result.job.state, .queued)
                let notBefore = try XCTUnwrap(result.job.notBefore)
                delays.append(notBefore - now)
                // Not runnable before its time.
                XCTAssertNil(try store.claimNext(requests: [id], owner: ProcessIdentity.current, memoryGb: 8, cores: 2, now: notBefore - 1))
                now = notBefore
            } else {
                XCTAssertEqual(result.job.state, .failed)
                XCTAssertTrue(result.job.reason?.contains("gave up after 3 attempts") == true, result.job.reason ?? "")
            }
        }
        XCTAssertEqual(delays, [10, 20], "exponential: base, then twice the base (jitter factor 1.0)")
        XCTAssertEqual(policy.delay(afterAttempt: 1, jitter: 0), 5)
        XCTAssertEqual(policy.delay(afterAttempt: 1, jitter: 1), 15)
        XCTAssertEqual(policy.delay(afterAttempt: 20, jitter: 0.5), 100, "capped")
    }

    func testSameBuildIsNeverQueuedTwiceAndTheSecondWaitsForTheFirst() throws {
        let first = try request(), second = try request()
        let a = try XCTUnwrap(store.submit([job("a==1", request: first)]).first)
        let b = try XCTUnwrap(store.submit([job("a==1", request: second)]).first)
        XCTAssertEqual(b.state, .waiting)
        XCTAssertEqual(try store.awaitedOutside(requests: [second]).map(\.number), [a.number])
        _ = try store.claimNext(requests: [first], owner: ProcessIdentity.current, memoryGb: 8, cores: 2)
        let landed = try store.complete(a.number, outcome: .succeeded(wheel: "a.whl", path: "/x/a.whl", sha256: "00", log: nil), retry: RetryPolicy())
        XCTAssertEqual(landed.released, [b.number])
        XCTAssertEqual(try store.job(b.number)?.state, .queued)
    }

    func testSameBuildKeyWaitsForTheRunningHolder() throws {
        let id = try request()
        let jobs = try store.submit([job("a", request: id), job("a==1", request: id)])
        let owner = ProcessIdentity.current
        let first = try XCTUnwrap(store.claimNext(requests: [id], owner: owner, memoryGb: 8, cores: 2))
        let second = try XCTUnwrap(store.claimNext(requests: [id], owner: owner, memoryGb: 8, cores: 2))
        XCTAssertNil(try store.claimKey(first.number, key: "K", version: "1"))
        XCTAssertEqual(try store.claimKey(second.number, key: "K", version: "1"), first.number)
        XCTAssertEqual(try store.job(second.number)?.state, .waiting)
        _ = try store.complete(first.number, outcome: .failed(kind: .permanent, stage: "build", reason: "x", log: nil), retry: RetryPolicy())
        let dependent = try XCTUnwrap(store.job(jobs[1].number))
        XCTAssertEqual(dependent.state, .failed)
        XCTAssertEqual(dependent.failureKind, .dependency)
        // The dependency is fixed: its dependents go back to the queue.
        _ = try store.retry(first.number)
        _ = try store.claimNext(requests: [id], owner: owner, memoryGb: 8, cores: 2)
        let fixed = try store.complete(first.number, outcome: .succeeded(wheel: "a.whl", path: "/a.whl", sha256: "0", log: nil), retry: RetryPolicy())
        XCTAssertEqual(fixed.released, [jobs[1].number])
        XCTAssertEqual(try store.job(jobs[1].number)?.state, .queued)
    }

    func testClaimsFollowPriorityFairnessAndResources() throws {
        let big = try request(), small = try request()
        _ = try store.submit((1...3).map { job("big\($0)==1", request: big) })
        _ = try store.submit([job("small==1", request: small), job("urgent==1", request: small, priority: 5), job("huge==1", request: small, memory: 16)])
        let owner = ProcessIdentity.current
        XCTAssertEqual(try store.claimNext(requests: nil, owner: owner, memoryGb: 8, cores: 4)?.requirement, "urgent==1", "priority first")
        // The small request now runs one job and the big none: the big one goes next, then they alternate.
        XCTAssertEqual(try store.claimNext(requests: nil, owner: owner, memoryGb: 8, cores: 4)?.requirement, "big1==1")
        XCTAssertEqual(try store.claimNext(requests: nil, owner: owner, memoryGb: 8, cores: 4)?.requirement, "big2==1")
        XCTAssertEqual(try store.claimNext(requests: nil, owner: owner, memoryGb: 8, cores: 4)?.requirement, "small==1")
        // 16 GiB does not fit in 8.
        XCTAssertEqual(try store.claimNext(requests: [small], owner: owner, memoryGb: 8, cores: 4)?.requirement, nil)
        XCTAssertEqual(try store.claimNext(requests: [small], owner: owner, memoryGb: 32, cores: 4)?.requirement, "huge==1")
    }

    func testJobsOfADeadProcessAreRequeuedAndCancellationWorks() throws {
        let id = try request()
        let jobs = try store.submit([job("a==1", request: id), job("b==1", request: id), job("c==1", request: id)])
        _ = try store.claimNext(requests: [id], owner: "999999:1", memoryGb: 8, cores: 2)
        _ = try store.claimNext(requests: [id], owner: ProcessIdentity.current, memoryGb: 8, cores: 2)
        let recovered = try store.recover()
        XCTAssertEqual(recovered.map(\.number), [jobs[0].number], "only the dead owner's job")
        XCTAssertEqual(try store.job(jobs[0].number)?.state, .queued)
        XCTAssertEqual(try store.job(jobs[0].number)?.attempts, 0, "an interrupted attempt does not count")
        XCTAssertTrue(try store.events(jobs[0].number).last?.message?.contains("gone") == true)
        // Running (by a live process): marked, then cancelled when it reports.
        XCTAssertEqual(try store.cancel(jobs[1].number).state, .running)
        XCTAssertTrue(try store.isCancelRequested(jobs[1].number))
        let ended = try store.complete(jobs[1].number, outcome: .succeeded(wheel: "b.whl", path: "/b.whl", sha256: "0", log: nil), retry: RetryPolicy())
        XCTAssertEqual(ended.job.state, .cancelled)
        XCTAssertEqual(try store.cancel(jobs[2].number).state, .cancelled)
        XCTAssertEqual(try store.counts()[.cancelled], 2)
        // The counts kept by triggers agree with counting the jobs.
        XCTAssertEqual(try store.counts(), Dictionary(grouping: try store.jobs(), by: \.state).mapValues(\.count))
    }

    func testProcessIdentityTellsALiveProcessFromAGoneOne() throws {
        XCTAssertTrue(ProcessIdentity.isAlive(ProcessIdentity.current))
        let pid = getpid()
        XCTAssertFalse(ProcessIdentity.isAlive("\(pid):1"), "same pid, another start time: a reused pid")
        XCTAssertFalse(ProcessIdentity.isAlive("garbage"))
    }
}

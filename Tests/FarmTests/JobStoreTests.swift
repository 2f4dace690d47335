import FarmCore
import FarmStore
import Foundation
import TestSupport
import WheelBuilder
import WheelfarmBasics
import XCTest

/// The job store: schema, state machine, claims, retries, dependencies, recovery, builders'
/// leases, copies. The suite runs once per engine: here on SQLite, and in
/// ``PostgresJobStoreTests`` on a real PostgreSQL server.
class JobStoreTests: XCTestCase {
    var directory: TemporaryDirectory!
    var store: JobStore!

    /// The engine this class runs the suite on.
    class var engine: StoreEngine { .sqlite }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(prefix: "wf-store")
        store = try makeStore()
    }

    /// A fresh, empty store of the class's engine.
    func makeStore() throws -> JobStore {
        switch Self.engine {
        case .sqlite: return try JobStore(path: "\(directory.path)/state/farm-\(UUID().uuidString).sqlite")
        case .postgres: return try JobStore(location: try PostgresServer.freshDatabase())
        }
    }

    func request() throws -> Int64 { try XCTUnwrap(store.createRequest(RequestRecord(kind: "test", description: "test")).id) }

    func job(_ requirement: String, target: String = "t1", request: Int64, priority: Int = 0, memory: Double = 1, maxAttempts: Int = 3) -> JobRecord {
        JobRecord(
            requestId: request, requirement: requirement, origin: "test", project: String(requirement.prefix { $0.isLetter }),
            version: nil, target: target, priority: priority, maxAttempts: maxAttempts, memoryGb: memory)
    }

    func testSchemaIsMigratedInWALMode() throws {
        XCTAssertEqual(try store.appliedMigrations(), ["1-jobs", "2-state-counts", "3-dashboard", "4-builders", "5-builder-logs"])
        XCTAssertEqual(try store.journalMode(), Self.engine == .sqlite ? "wal" : "postgres")
        // Opening again applies nothing new and keeps the data.
        let id = try request()
        _ = try store.submit([job("a==1", request: id)])
        let again = try JobStore(location: store.path)
        XCTAssertEqual(try again.migrate(), [])
        XCTAssertEqual(try again.jobCount(), 1)
        // `state migrate` as the first command on a new, empty database: nothing applied yet, then all of it.
        let empty: JobStore
        switch Self.engine {
        case .sqlite: empty = try JobStore(location: "\(directory.path)/state/empty.sqlite", migrate: false)
        case .postgres: empty = try JobStore(location: try PostgresServer.freshDatabase(), migrate: false)
        }
        XCTAssertEqual(try empty.appliedMigrations(), [])
        XCTAssertEqual(try empty.migrate(), JobStore.knownMigrations)
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

    func testBuilderClaimsCarryALeaseAndALateResultIsRefused() throws {
        try store.addBuilder(name: "b1", tokenSha256: "h1", now: 900)
        try store.addBuilder(name: "b2", tokenSha256: "h2", now: 900)
        let id = try request()
        let job = try XCTUnwrap(store.submit([job("a==1", request: id)], now: 900).first)
        let first = try XCTUnwrap(store.claimForBuilder(name: "b1", targets: ["t1"], memoryGb: 8, cores: 2, leaseSeconds: 30, now: 1000))
        XCTAssertEqual(first.builder, "b1")
        XCTAssertEqual(first.leaseEpoch, 1)
        XCTAssertEqual(first.leaseExpiresAt, 1030)
        XCTAssertTrue(try store.renewLease(job.number, builder: "b1", epoch: 1, leaseSeconds: 30, now: 1010))
        XCTAssertTrue(try store.holds(builder: "b1", job: job.number, epoch: 1, now: 1020))
        XCTAssertFalse(try store.holds(builder: "b2", job: job.number, now: 1020))
        // Cut off past its lease: the renewal fails and the job goes back, the attempt not counted.
        XCTAssertFalse(try store.renewLease(job.number, builder: "b1", epoch: 1, leaseSeconds: 30, now: 1041))
        XCTAssertEqual(try store.requeueLapsed(now: 1041).map(\.number), [job.number])
        XCTAssertEqual(try store.job(job.number)?.attempts, 0)
        XCTAssertTrue(try store.events(job.number).last?.message?.contains("b1's lease lapsed") == true)
        let second = try XCTUnwrap(store.claimForBuilder(name: "b2", targets: ["t1"], memoryGb: 8, cores: 2, leaseSeconds: 30, now: 1042))
        XCTAssertEqual(second.leaseEpoch, 2)
        // b1 comes back with its result: refused, whatever it says.
        XCTAssertThrowsError(
            try store.complete(
                job.number, outcome: .succeeded(wheel: "a.whl", path: "/b1/a.whl", sha256: "1", log: nil), retry: RetryPolicy(), epoch: 1, now: 1043)
        ) { error in
            XCTAssertEqual(error as? FarmStoreError, .staleLease(job: job.number, epoch: 1, current: 2))
        }
        XCTAssertFalse(try store.renewLease(job.number, builder: "b1", epoch: 1, leaseSeconds: 30, now: 1043))
        let done = try store.complete(
            job.number, outcome: .succeeded(wheel: "a.whl", path: "/b2/a.whl", sha256: "2", log: nil), retry: RetryPolicy(), epoch: 2, now: 1044)
        XCTAssertEqual(done.job.state, .succeeded)
        XCTAssertEqual(done.job.wheelPath, "/b2/a.whl")
        XCTAssertEqual(done.job.builder, "b2")
        XCTAssertNil(done.job.leaseExpiresAt)
        // A result for a finished job is refused too.
        XCTAssertThrowsError(
            try store.complete(job.number, outcome: .failed(kind: .permanent, stage: "b", reason: "x", log: nil), retry: RetryPolicy(), epoch: 2, now: 1045))
        let activity = try store.builderActivity(since: 0)
        XCTAssertEqual(activity["b2"]?.built, 1)
        XCTAssertNil(activity["b1"])
    }

    func testBuildersClaimTheirTargetsOnlyAndADrainingBuilderTakesNothing() throws {
        try store.addBuilder(name: "arm", tokenSha256: "h", now: 1)
        try store.declareBuilder(name: "arm", architectures: ["aarch64"], targets: ["t-aarch64"], cores: 4, memoryGb: 8, version: "test", now: 2)
        XCTAssertEqual(try store.builder(named: "arm")?.architectures, ["aarch64"])
        XCTAssertEqual(try store.builder(tokenSha256: "h")?.name, "arm")
        XCTAssertThrowsError(try store.declareBuilder(name: "ghost", architectures: [], targets: [], cores: 1, memoryGb: 1, version: "", now: 2))
        let id = try request()
        _ = try store.submit([job("x86==1", target: "t-x86_64", request: id), job("arm==1", target: "t-aarch64", request: id)])
        XCTAssertTrue(try store.setDraining(name: "arm", true))
        XCTAssertNil(try store.claimForBuilder(name: "arm", targets: ["t-aarch64"], memoryGb: 8, cores: 4, leaseSeconds: 60))
        XCTAssertTrue(try store.setDraining(name: "arm", false))
        XCTAssertEqual(try store.claimForBuilder(name: "arm", targets: ["t-aarch64"], memoryGb: 8, cores: 4, leaseSeconds: 60)?.requirement, "arm==1")
        XCTAssertNil(try store.claimForBuilder(name: "arm", targets: ["t-aarch64"], memoryGb: 8, cores: 4, leaseSeconds: 60))
        XCTAssertThrowsError(try store.claimForBuilder(name: "ghost", targets: ["t-x86_64"], memoryGb: 8, cores: 4, leaseSeconds: 60))
        XCTAssertTrue(try store.removeBuilder(name: "arm"))
        XCTAssertEqual(try store.builders(), [])
    }

    func testConcurrentClaimersTakeEachJobExactlyOnce() throws {
        let id = try request()
        let count = 200
        _ = try store.submit((0..<count).map { job("p\($0)==1", request: id) })
        for name in ["c0", "c1", "c2", "c3"] { try store.addBuilder(name: name, tokenSha256: name) }
        // Each claimer has its own connection(s), as separate builder processes would.
        let claimers = try (0..<4).map { _ in try JobStore(location: store.path) }
        let lock = NSLock()
        nonisolated(unsafe) var taken: [Int64: [String]] = [:]
        nonisolated(unsafe) var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            let name = "c\(index)"
            do {
                while let job = try claimers[index].claimForBuilder(name: name, targets: ["t1"], memoryGb: 8, cores: 2, leaseSeconds: 600) {
                    lock.withLock { taken[job.number, default: []].append(name) }
                    _ = try claimers[index].complete(
                        job.number, outcome: .succeeded(wheel: "w.whl", path: "/w", sha256: "0", log: nil), retry: RetryPolicy(), epoch: job.leaseEpoch)
                }
            } catch {
                lock.withLock { errors.append("\(name): \(error)") }
            }
        }
        XCTAssertEqual(errors, [])
        XCTAssertEqual(taken.count, count)
        XCTAssertEqual(taken.values.filter { $0.count != 1 }.count, 0, "a job claimed twice")
        XCTAssertEqual(try store.counts(), [.succeeded: count])
    }

    func testCopyMovesTheWholeHistoryIntoAnEmptyStoreAndRefusesAFullOne() throws {
        // The source is the embedded default, as when a farm moves to PostgreSQL.
        let source = try JobStore(path: "\(directory.path)/state/source.sqlite")
        let first = try XCTUnwrap(source.createRequest(RequestRecord(kind: "build", description: "one", createdAt: 10)).id)
        let jobs = try source.submit([job("a==1", request: first), job("b==1", request: first)], dependencies: [1: []], now: 11)
        _ = try source.waitForDependency(
            try XCTUnwrap(source.claimNext(requests: [first], owner: ProcessIdentity.current, memoryGb: 8, cores: 2, now: 12)).number,
            dependency: job("c==1", request: first), now: 13)
        _ = try source.claimNext(requests: [first], owner: ProcessIdentity.current, memoryGb: 8, cores: 2, now: 14)
        try source.track(["numpy", "lxml"], now: 15)
        try source.setLastVersion("numpy", "2.1.3")
        try source.addBuilder(name: "arm", tokenSha256: "h", now: 16)
        let report = try store.copy(from: source)
        XCTAssertEqual(
            report.rows.map(\.table), ["requests", "jobs", "job_events", "job_dependencies", "tracked_projects", "builders", "job_logs", "target_toolchains"])
        XCTAssertEqual(report.rows.first { $0.table == "jobs" }?.count, 3)
        XCTAssertEqual(try store.jobs(), try source.jobs())
        for job in jobs { XCTAssertEqual(try store.events(job.number), try source.events(job.number)) }
        XCTAssertEqual(try store.counts(), try source.counts())
        XCTAssertEqual(try store.trackedProjects(), try source.trackedProjects())
        XCTAssertEqual(try store.builders(), try source.builders())
        XCTAssertEqual(try store.awaitedOutside(requests: [first + 1]), [])
        // New rows continue after the copied ids.
        let next = try XCTUnwrap(store.createRequest(RequestRecord(kind: "build", description: "two")).id)
        XCTAssertGreaterThan(next, first)
        let more = try XCTUnwrap(store.submit([job("d==1", request: next)]).first)
        XCTAssertGreaterThan(more.number, try XCTUnwrap(source.jobs().map(\.number).max()))
        // Nothing is overwritten: a second copy is refused and changes nothing.
        XCTAssertThrowsError(try store.copy(from: source))
        XCTAssertEqual(try store.jobCount(), 4)
    }
}

/// The same suite on PostgreSQL. Linux's test discovery does not see inherited test methods,
/// so each is named here.
final class PostgresJobStoreTests: JobStoreTests {
    override class var engine: StoreEngine { .postgres }
    override func testSchemaIsMigratedInWALMode() throws { try super.testSchemaIsMigratedInWALMode() }
    override func testStateMachineAllowsOnlyItsTransitionsAndRecordsEachAsAnEvent() throws {
        try super.testStateMachineAllowsOnlyItsTransitionsAndRecordsEachAsAnEvent()
    }
    override func testTransientFailuresAreRetriedWithBackoffThenGiveUp() throws { try super.testTransientFailuresAreRetriedWithBackoffThenGiveUp() }
    override func testSameBuildIsNeverQueuedTwiceAndTheSecondWaitsForTheFirst() throws {
        try super.testSameBuildIsNeverQueuedTwiceAndTheSecondWaitsForTheFirst()
    }
    override func testSameBuildKeyWaitsForTheRunningHolder() throws { try super.testSameBuildKeyWaitsForTheRunningHolder() }
    override func testClaimsFollowPriorityFairnessAndResources() throws { try super.testClaimsFollowPriorityFairnessAndResources() }
    override func testJobsOfADeadProcessAreRequeuedAndCancellationWorks() throws { try super.testJobsOfADeadProcessAreRequeuedAndCancellationWorks() }
    override func testProcessIdentityTellsALiveProcessFromAGoneOne() throws { try super.testProcessIdentityTellsALiveProcessFromAGoneOne() }
    override func testBuilderClaimsCarryALeaseAndALateResultIsRefused() throws { try super.testBuilderClaimsCarryALeaseAndALateResultIsRefused() }
    override func testBuildersClaimTheirTargetsOnlyAndADrainingBuilderTakesNothing() throws {
        try super.testBuildersClaimTheirTargetsOnlyAndADrainingBuilderTakesNothing()
    }
    override func testConcurrentClaimersTakeEachJobExactlyOnce() throws { try super.testConcurrentClaimersTakeEachJobExactlyOnce() }
    override func testCopyMovesTheWholeHistoryIntoAnEmptyStoreAndRefusesAFullOne() throws {
        try super.testCopyMovesTheWholeHistoryIntoAnEmptyStoreAndRefusesAFullOne()
    }
}

import FarmStore
import Foundation
import WheelBuilder
import WheelfarmBasics

/// What a builder host is and how it works.
public struct WorkerSettings: Sendable {
    /// Its name, as registered on the coordinator (`wheelfarm builders add`).
    public var name: String
    /// The targets it builds (each with the farm's toolchain digest).
    public var targets: [String]
    /// The machine architectures it builds natively.
    public var architectures: [String]
    /// Builds at once, and the memory and cores they share.
    public var jobs: Int
    public var memoryGb: Double
    public var cores: Int
    /// A claim lapses this long after its last renewal; renewed every third of it.
    public var leaseSeconds: Double
    /// How often an idle builder asks for work.
    public var pollSeconds: Double
    /// Stop once no job of its targets is left anywhere (tests, benchmarks, one-off runs).
    public var exitWhenIdle: Bool
    /// The id of the builder's own key, named in the farm's provenance.
    public var builderKey: String?
    public var retry: RetryPolicy

    /// Settings with the usual lease (60 s) and poll (2 s).
    public init(
        name: String, targets: [String], architectures: [String], jobs: Int, memoryGb: Double, cores: Int, retry: RetryPolicy,
        leaseSeconds: Double = 60, pollSeconds: Double = 2, exitWhenIdle: Bool = false, builderKey: String? = nil
    ) {
        self.name = name
        self.targets = targets
        self.architectures = architectures
        self.jobs = max(1, jobs)
        self.memoryGb = memoryGb
        self.cores = cores
        self.retry = retry
        self.leaseSeconds = max(3, leaseSeconds)
        self.pollSeconds = max(0.05, pollSeconds)
        self.exitWhenIdle = exitWhenIdle
        self.builderKey = builderKey
    }
}

/// A builder host's loop: claims jobs of its targets from the coordinator's store (a lease each,
/// renewed while the build runs), builds them with its own sandbox and images, streams their
/// logs into the store, and sends wheels to the coordinator, which checks, signs and lands them.
/// A build whose lease is lost (the builder was cut off past it) is stopped and its result
/// dropped: the job runs elsewhere.
public final class BuilderWorker: Sendable {
    let store: JobStore
    let executor: any JobExecutor
    let settings: WorkerSettings
    let uploader: ResultUploader?
    let say: @Sendable (String) -> Void
    /// The most of one build's log streamed to the coordinator.
    static let streamedLogLimit = 8 << 20

    /// A worker; without `uploader` a wheel cannot be sent (the simulated builds of tests and
    /// benchmarks produce none).
    public init(store: JobStore, executor: any JobExecutor, settings: WorkerSettings, uploader: ResultUploader?, say: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.executor = executor
        self.settings = settings
        self.uploader = uploader
        self.say = say
    }

    /// Declares the builder and works until `stop` says so (or, with `exitWhenIdle`, until no
    /// job of its targets is left). A store that cannot be reached (a partition) is retried.
    public func run(stop: @Sendable () -> Bool = { false }) throws {
        try store.declareBuilder(
            name: settings.name, architectures: settings.architectures, targets: settings.targets, cores: settings.cores, memoryGb: settings.memoryGb,
            version: wheelfarmVersion)
        say("builder \(settings.name): \(settings.targets.joined(separator: ", ")); \(settings.jobs) at once; lease \(Int(settings.leaseSeconds)) s")
        let running = Locked<[Int64: JobRecord]>([:])
        let wake = DispatchSemaphore(value: 0)
        var lastSweep = 0.0
        var failures = 0
        while !stop() {
            do {
                let now = Date().timeIntervalSince1970
                if now - lastSweep > settings.leaseSeconds / 3 {
                    for job in try store.requeueLapsed() { say("job \(job.number): \(job.reason ?? "re-queued")") }
                    lastSweep = now
                }
                var claimed = false
                while running.current.count < settings.jobs {
                    let busy = running.current.values
                    let memory = busy.isEmpty ? Double.greatestFiniteMagnitude : settings.memoryGb - busy.reduce(0) { $0 + $1.memoryGb }
                    let cores = busy.isEmpty ? Int.max : settings.cores - busy.reduce(0) { $0 + $1.cores }
                    guard
                        let job = try store.claimForBuilder(
                            name: settings.name, targets: settings.targets, memoryGb: memory, cores: cores, leaseSeconds: settings.leaseSeconds)
                    else { break }
                    claimed = true
                    running.withLock { $0[job.number] = job }
                    say("[\(job.target)] job \(job.number): \(job.requirement) (claim \(job.leaseEpoch))")
                    let thread = Thread { [self] in
                        work(job)
                        running.withLock { $0[job.number] = nil }
                        wake.signal()
                    }
                    thread.name = "wheelfarm builder job \(job.number)"
                    thread.start()
                }
                failures = 0
                // Counting what is left costs a scan of the queue: only when nothing was claimed.
                if settings.exitWhenIdle, !claimed, running.current.isEmpty, try store.openJobs(targets: settings.targets) == 0 { break }
            } catch {
                // Cut off from the coordinator: keep trying; running builds notice on their own
                // when their leases cannot be renewed.
                failures += 1
                say("cannot reach the farm's state (\(error)); retrying")
            }
            _ = wake.wait(timeout: .now() + min(30, settings.pollSeconds * Double(1 << min(failures, 4))))
        }
        while !running.current.isEmpty { _ = wake.wait(timeout: .now() + 1) }
    }

    /// Runs one claimed job to its end: heartbeats, log streaming, the build, the result.
    func work(_ job: JobRecord) {
        let id = job.number, epoch = job.leaseEpoch
        let lost = Locked(false)
        let finished = Locked(false)
        // Signalled when the job ends, so that the heartbeat and the log streamer stop at once.
        let ended = DispatchSemaphore(value: 0)
        let logPath = Locked<String?>(nil)
        // Heartbeats: renew every third of the lease; a claim not renewed in time is lost.
        let heartbeat = Thread { [self] in
            var renewed = Date().timeIntervalSince1970
            while !finished.current {
                if ended.wait(timeout: .now() + settings.leaseSeconds / 3) == .success || finished.current { break }
                let now = Date().timeIntervalSince1970
                if (try? store.renewLease(id, builder: settings.name, epoch: epoch, leaseSeconds: settings.leaseSeconds)) == true {
                    renewed = now
                } else if now - renewed >= settings.leaseSeconds || (try? store.holds(builder: settings.name, job: id, epoch: epoch)) == false {
                    lost.withLock { $0 = true }
                    break
                }
            }
        }
        heartbeat.start()
        let streamer = Thread { [self] in
            var offset = 0
            while true {
                let done = finished.current
                if let path = logPath.current { offset = stream(path, from: offset, job: id, epoch: epoch) }
                if done || lost.current { break }
                if ended.wait(timeout: .now() + 1) == .success {
                    // The job ended: one last read of the log, then stop.
                    if let path = logPath.current { offset = stream(path, from: offset, job: id, epoch: epoch) }
                    break
                }
            }
        }
        streamer.start()
        let hooks = BuildHooks(
            gate: { [store] identity in
                if let holder = try? store.claimKey(id, key: identity.key, version: identity.version) {
                    return "job \(holder) is building \(identity.project) \(identity.version) for \(identity.target) with the same inputs"
                }
                return nil
            },
            shouldStop: { [store] in lost.current || ((try? store.isCancelRequested(id)) ?? false) },
            // A build requirement is built inside the build: the farm's own wheels are on the coordinator.
            buildDependency: { _, _ in .buildHere },
            stageStarted: { [store, settings] stage, log in
                logPath.withLock { $0 = log }
                _ = try? store.renewLease(id, builder: settings.name, epoch: epoch, leaseSeconds: settings.leaseSeconds)
                try? store.execute(
                    sql: "UPDATE jobs SET stage = ?, updated_at = ? WHERE id = ? AND lease_epoch = ?",
                    arguments: [stage.rawValue, Date().timeIntervalSince1970, id, epoch])
            })
        let result = executor.execute(job, hooks: hooks)
        defer {
            // Two waiters: the heartbeat and the streamer.
            ended.signal()
            ended.signal()
        }
        if lost.current {
            finished.withLock { $0 = true }
            say("[\(job.target)] job \(id): the claim lapsed (cut off from the coordinator); the result is dropped, the job runs elsewhere")
            return
        }
        report(job, result)
        finished.withLock { $0 = true }
    }

    /// Sends the outcome: a wheel through the coordinator (which lands it), anything else
    /// straight into the store under the claim's epoch.
    func report(_ job: JobRecord, _ result: ExecutionResult) {
        let id = job.number, epoch = job.leaseEpoch
        do {
            switch result {
            case let .deferred(message):
                say("[\(job.target)] job \(id) waits: \(message)")
            case let .finished(.succeeded(wheel, path, _, _), _), let .finished(.skipped(_, .some(wheel), .some(path), _), _):
                guard let uploader else { throw FarmStoreError.database("this builder has no coordinator to send \(wheel) to") }
                let folder = (path as NSString).deletingLastPathComponent
                var files = [(name: wheel, path: path), (name: "record.json", path: "\(folder)/record.json")]
                var logFile = "\(folder)/build.log"
                if case let .finished(.succeeded(_, _, _, .some(built)), _) = result { logFile = built }
                if FileManager.default.fileExists(atPath: logFile) { files.append((name: "build.log", path: logFile)) }
                if FileManager.default.fileExists(atPath: path + ".intoto.json") { files.append((name: "builder.intoto.json", path: path + ".intoto.json")) }
                let answer = try uploader.send(job: id, epoch: epoch, files: files, builderKey: settings.builderKey)
                if answer.ok {
                    say("[\(job.target)] job \(id): built \(wheel); landed on the coordinator")
                } else if answer.refusedAsStale {
                    say("[\(job.target)] job \(id): the coordinator refused the result: the claim is no longer ours")
                } else {
                    say("[\(job.target)] job \(id): the coordinator did not take \(wheel): HTTP \(answer.status) \(answer.body)")
                    try complete(
                        job,
                        .failed(
                            kind: answer.status == 0 || answer.status >= 500 ? .transient : .permanent, stage: "store",
                            reason: "the coordinator did not take the wheel: HTTP \(answer.status)", log: nil))
                }
            case let .finished(outcome, version):
                try complete(job, Self.withoutLocalPaths(outcome), version: version)
            }
        } catch FarmStoreError.staleLease {
            say("[\(job.target)] job \(id): the result is refused: the claim lapsed and the job was taken again")
        } catch {
            say("[\(job.target)] job \(id): cannot report its outcome: \(error)")
        }
    }

    func complete(_ job: JobRecord, _ outcome: JobOutcome, version: String? = nil) throws {
        let done = try store.complete(job.number, outcome: outcome, version: version, retry: settings.retry, epoch: job.leaseEpoch)
        let name = "\(job.project) \(done.job.version ?? "")".trimmingCharacters(in: .whitespaces)
        switch done.job.state {
        case .skipped: say("[\(job.target)] job \(job.number): skipped \(name): \(done.job.reason ?? "")")
        case .queued: say("[\(job.target)] job \(job.number): \(done.job.reason ?? "queued again")")
        default: say("[\(job.target)] job \(job.number): \(done.job.state.rawValue.uppercased()) \(name) at \(done.job.stage ?? "?"): \(done.job.reason ?? "")")
        }
    }

    /// Paths on this host mean nothing on the coordinator: the log is in the store.
    static func withoutLocalPaths(_ outcome: JobOutcome) -> JobOutcome {
        switch outcome {
        case let .failed(kind, stage, reason, _): return .failed(kind: kind, stage: stage, reason: reason, log: nil)
        case let .skipped(reason, wheel, _, sha256): return .skipped(reason: reason, wheel: wheel, path: nil, sha256: sha256)
        case .succeeded: return outcome
        }
    }

    /// Streams what the log at `path` gained since `offset` into the store; returns the new offset.
    func stream(_ path: String, from offset: Int, job: Int64, epoch: Int64) -> Int {
        guard offset < Self.streamedLogLimit, let handle = FileHandle(forReadingAtPath: path) else { return offset }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil,
            let data = try? handle.read(upToCount: min(1 << 20, Self.streamedLogLimit - offset)), !data.isEmpty
        else { return offset }
        let text = String(decoding: data, as: UTF8.self)
        guard (try? store.appendLog(job, builder: settings.name, epoch: epoch, text: text)) == true else { return offset }
        return offset + data.count
    }
}

/// A build that does nothing for `seconds` and is skipped: what the scale tests and the
/// benchmark run to measure the claims, leases and store without compiling anything.
public struct SimulatedExecutor: JobExecutor {
    let seconds: Double

    public init(seconds: Double) { self.seconds = max(0, seconds) }

    public func execute(_ job: JobRecord, hooks: BuildHooks) -> ExecutionResult {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if hooks.shouldStop?() == true { return .finished(.failed(kind: .transient, stage: "build", reason: "stopped", log: nil), version: nil) }
            Thread.sleep(forTimeInterval: min(0.2, max(0, end.timeIntervalSinceNow)))
        }
        return .finished(.skipped(reason: "simulated build", wheel: nil, path: nil, sha256: nil), version: job.version)
    }
}

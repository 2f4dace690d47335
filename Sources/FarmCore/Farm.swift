import BuildSandbox
import FarmStore
import Foundation
import PackagingModel
import WheelBuilder
import WheelfarmBasics

/// What running one job gave.
public enum ExecutionResult: Sendable, Equatable {
    /// The job ran to an outcome (its project and version as resolved, when known).
    case finished(JobOutcome, version: String?)
    /// The same build was running elsewhere: the store already made the job wait for it.
    case deferred(String)
}

/// Runs one job: the real one builds with ``WheelBuilder``; unit tests use fakes.
public protocol JobExecutor: Sendable {
    /// Runs `job`, calling `hooks` as the build goes.
    func execute(_ job: JobRecord, hooks: BuildHooks) -> ExecutionResult
}

/// How much the farm runs at once, and how it retries.
public struct FarmLimits: Sendable, Equatable {
    /// Builds at once.
    public var jobs: Int
    /// Memory the builds may share, in GiB.
    public var memoryGb: Double
    /// Cores the builds may share.
    public var cores: Int
    public var retry: RetryPolicy

    public init(jobs: Int, memoryGb: Double, cores: Int, retry: RetryPolicy) {
        self.jobs = jobs
        self.memoryGb = memoryGb
        self.cores = cores
        self.retry = retry
    }

    /// The machine's: one build per two cores plus one, bounded by memory at 4 GiB a build.
    public static var machine: FarmLimits {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
        let jobs = max(1, min(max(1, cores / 2) + (cores > 1 ? 1 : 0), Int(memory / 4)))
        return FarmLimits(jobs: jobs, memoryGb: memory * 0.8, cores: cores, retry: RetryPolicy())
    }
}

/// The farm: takes jobs from the store and runs them on a pool of workers, records every
/// outcome, retries transient failures after their backoff, publishes what landed, and
/// resumes what a killed process left behind.
public final class Farm: Sendable {
    public let store: JobStore
    let executor: any JobExecutor
    let limits: FarmLimits
    let say: @Sendable (String) -> Void
    /// Publishes a landed job's wheel; false when it was refused (the job stays unpublished and is tried again next run).
    let publisher: (@Sendable (JobRecord) -> Bool)?
    /// New jobs a landed job brings (its runtime dependencies, with `--with-deps`).
    let followUps: (@Sendable (JobRecord) -> [JobRecord])?
    /// The farm's home: what dead processes left there is swept.
    let layout: FarmLayout?

    public init(
        store: JobStore, executor: any JobExecutor, limits: FarmLimits, say: @escaping @Sendable (String) -> Void,
        publisher: (@Sendable (JobRecord) -> Bool)? = nil, followUps: (@Sendable (JobRecord) -> [JobRecord])? = nil,
        layout: FarmLayout? = nil
    ) {
        self.layout = layout
        self.store = store
        self.executor = executor
        self.limits = limits
        self.say = say
        self.publisher = publisher
        self.followUps = followUps
    }

    /// Runs the jobs of `requests` (every queued job when nil) until none is queued, running or
    /// waiting on something that can still land. Jobs a killed process left running are re-queued
    /// first, and landed jobs not yet published are published.
    public func run(requests: [Int64]?) throws {
        let owner = ProcessIdentity.current
        for job in try store.recover() {
            say("job \(job.number) (\(job.requirement) for \(job.target)) was interrupted: \(job.state == .cancelled ? "cancelled" : "queued again")")
        }
        if let layout {
            let swept = Leftovers.sweep(layout)
            for path in swept.removed { say("removed \(path), left by a process that is gone") }
            for problem in swept.failed { say("cannot remove a dead process's leftover: \(problem)") }
        }
        publishPending(requests: requests)

        let finished = Locked<[Int64]>([])
        let wake = DispatchSemaphore(value: 0)
        var running: [Int64: JobRecord] = [:]
        while true {
            // Start what fits.
            var adopted: [Int64] = []
            if let requests { adopted = try store.awaitedOutside(requests: requests).filter { $0.state == .queued }.map(\.number) }
            // Targets of another architecture that native builder hosts take: not emulated here.
            let native = try store.targetsForNativeBuilders(hostMachine: ZigToolchain.hostMachine)
            while running.count < limits.jobs {
                let usedMemory = running.values.reduce(0) { $0 + $1.memoryGb }
                let usedCores = running.values.reduce(0) { $0 + $1.cores }
                // A build that needs more than the whole farm still runs, alone.
                let memory = running.isEmpty ? Double.greatestFiniteMagnitude : limits.memoryGb - usedMemory
                let cores = running.isEmpty ? Int.max : limits.cores - usedCores
                guard
                    let job = try store.claimNext(
                        requests: requests, adopted: adopted, owner: owner, memoryGb: memory, cores: cores, excludingTargets: native)
                else { break }
                running[job.number] = job
                say("[\(job.target)] job \(job.number): \(job.requirement)" + (job.attempts > 1 ? " (attempt \(job.attempts) of \(job.maxAttempts))" : ""))
                // A thread per build: builds block on their processes for minutes, and
                // Dispatch's pool on Linux runs no more blocking items than there are cores.
                let worker = Thread { [self] in
                    execute(job)
                    finished.append(job.number)
                    wake.signal()
                }
                worker.name = "wheelfarm job \(job.number)"
                worker.start()
            }
            if running.isEmpty {
                // A process this run waits for may have died meanwhile: its jobs go back to the queue.
                for job in try store.recover() {
                    say("job \(job.number) (\(job.requirement) for \(job.target)) was interrupted: \(job.state == .cancelled ? "cancelled" : "queued again")")
                }
                let pending = try store.pending(requests: requests)
                // Waiting jobs move only when something they wait for lands. With every job in
                // scope, nothing queued or running means nothing will; a request's jobs may also
                // wait for unfinished jobs of other requests.
                let outside = try requests.map { try store.awaitedOutside(requests: $0) } ?? []
                if pending.queued == 0 && pending.running == 0 && (requests == nil || outside.isEmpty) { break }
                // Retries not due yet, or jobs of another process this run waits for.
                let now = Date().timeIntervalSince1970
                let pause = min(1.0, max(0.05, (pending.nextRetry ?? now + 1) - now))
                Thread.sleep(forTimeInterval: pause)
                continue
            }
            _ = wake.wait(timeout: .now() + 1)
            for id in finished.drain() { running[id] = nil }
        }
    }

    /// Runs one claimed job to its outcome and records it.
    func execute(_ job: JobRecord) {
        let id = job.number
        let hooks = BuildHooks(
            gate: { [store] identity in
                do {
                    if let holder = try store.claimKey(id, key: identity.key, version: identity.version) {
                        return "job \(holder) is building \(identity.project) \(identity.version) for \(identity.target) with the same inputs"
                    }
                } catch {
                    return "cannot record the build key: \(error)"
                }
                return nil
            }, shouldStop: { [store] in (try? store.isCancelRequested(id)) ?? false },
            buildDependency: { [store] text, target in
                Self.dependencyAnswer(store: store, job: job, requirement: text, target: target)
            },
            stageStarted: { [store] stage, log in try? store.noteProgress(id, stage: stage.rawValue, logPath: log) })
        let result = executor.execute(job, hooks: hooks)
        do {
            switch result {
            case let .deferred(message):
                say("[\(job.target)] job \(id) waits: \(message)")
            case let .finished(outcome, version):
                let completion = try store.complete(id, outcome: outcome, version: version, retry: limits.retry)
                report(completion.job)
                for dependent in completion.failedDependents { say("job \(dependent) failed with job \(id), which it waited for") }
                if completion.job.state == .succeeded || completion.job.state == .skipped {
                    if completion.job.publish { publish(completion.job) }
                    if let followUps {
                        let new = followUps(completion.job)
                        if !new.isEmpty {
                            for added in try store.submit(new) { say("[\(added.target)] job \(added.number): \(added.requirement) (\(added.origin))") }
                        }
                    }
                }
            }
        } catch {
            say("[\(job.target)] job \(id): cannot record its outcome: \(error)")
        }
    }

    /// A build requirement of `job` with no wheel for its target: the farm's own wheel of it,
    /// else a job that builds it first (in the same request, a little more urgent) while `job` waits.
    public static func dependencyAnswer(store: JobStore, job: JobRecord, requirement text: String, target: String) -> DependencyAnswer {
        guard let requirement = Requirement(text) else { return .buildHere }
        let project = ProjectName.normalise(requirement.name)
        do {
            if let landed = try store.landedWheel(
                project: project, target: target,
                accepts: { version in
                    PackageVersion(version).map { requirement.specifier.contains($0, prereleases: true) } ?? false
                }), let path = landed.wheelPath
            {
                return .wheel(path)
            }
            var plain = requirement
            plain.marker = nil
            let dependency = JobRecord(
                requestId: job.requestId, requirement: plain.description, origin: "build requirement of \(job.project)",
                project: project, version: nil, target: target, priority: job.priority + 1, maxAttempts: job.maxAttempts,
                memoryGb: job.memoryGb, cores: job.cores, prereleases: job.prereleases, publish: job.publish)
            guard let holder = try store.waitForDependency(job.number, dependency: dependency) else { return .buildHere }
            return .wait("waits for job \(holder), which builds its build requirement \(text)")
        } catch {
            return .buildHere
        }
    }

    func report(_ job: JobRecord) {
        let name = "\(job.project) \(job.version ?? "")".trimmingCharacters(in: .whitespaces)
        switch job.state {
        case .succeeded: say("[\(job.target)] job \(job.number): built \(name): \(job.wheel ?? "")")
        case .skipped: say("[\(job.target)] job \(job.number): skipped \(name): \(job.reason ?? "")")
        case .queued: say("[\(job.target)] job \(job.number): \(job.reason ?? "queued again")")
        case .cancelled: say("[\(job.target)] job \(job.number): cancelled")
        default: say("[\(job.target)] job \(job.number): FAILED \(name) at \(job.stage ?? "?"): \(job.reason ?? "")")
        }
    }

    func publish(_ job: JobRecord) {
        guard let publisher, job.publishedAt == nil, job.wheelPath != nil else { return }
        if publisher(job) {
            do { try store.markPublished(job.number) } catch { say("job \(job.number): published, but cannot record it: \(error)") }
        }
    }

    /// Publishes landed jobs that asked for it and are not published yet (a run killed between
    /// storing and publishing). Publishing the same bytes twice is a no-op for the repository.
    func publishPending(requests: [Int64]?) {
        guard publisher != nil, let pending = try? store.unpublished(requests: requests) else { return }
        for job in pending { publish(job) }
    }
}

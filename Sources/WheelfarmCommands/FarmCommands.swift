import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import Repository
import WheelfarmBasics

/// Formats a time as the user reads it: the age for recent times.
func age(_ seconds: Double?, now: Double = Date().timeIntervalSince1970) -> String {
    guard let seconds else { return "-" }
    let delta = max(0, now - seconds)
    if delta < 120 { return "\(Int(delta)) s ago" }
    if delta < 7200 { return "\(Int(delta / 60)) min ago" }
    if delta < 172_800 { return "\(Int(delta / 3600)) h ago" }
    return "\(Int(delta / 86400)) days ago"
}

func shorten(_ text: String?, _ limit: Int = 80) -> String {
    let line = (text ?? "").replacingOccurrences(of: "\n", with: " ")
    return line.count > limit ? String(line.prefix(limit - 1)) + "…" : line
}

extension CommandContext {
    /// The farm's job store, or exit status 2 with the reason.
    func jobStore() throws -> JobStore {
        do { return try farm().jobs() } catch { throw inputFailure(error) }
    }
}

/// `wheelfarm status`: the queue, what runs, recent failures.
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the farm's queue, running jobs and recent failures.")
    @OptionGroup var options: HomeOptions
    @Option(help: "How many recent failures to show.") var failures = 10
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "text or json (json: the same as --json).") var format: OutputFormat = .text

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let store = try context.jobStore()
        let counts = try store.counts()
        let running = try store.jobs(states: [.running], limit: 50)
        let failed = try store.jobs(states: [.failed], limit: failures)
        let rate = Verifications(layout: try context.farm().layout).rate()
        if json || format == .json {
            struct Reproducibility: Encodable { var identical: Int; var verified: Int; var perTarget: [String: [String: Int]] }
            struct Status: Encodable {
                var counts: [String: Int]
                var running: [JobRecord]
                var recentFailures: [JobRecord]
                var reproducibility: Reproducibility
            }
            let reproducibility = Reproducibility(
                identical: rate.identical, verified: rate.verified,
                perTarget: rate.perTarget.mapValues { ["identical": $0.identical, "verified": $0.verified] })
            context.out(
                try farmJSON(
                    Status(
                        counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }), running: running, recentFailures: failed,
                        reproducibility: reproducibility)))
            return
        }
        let order: [JobState] = [.queued, .waiting, .running, .succeeded, .skipped, .failed, .cancelled]
        context.out("jobs: " + order.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ") + "  (\(store.path))")
        if rate.verified > 0 {
            let targets = rate.perTarget.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.identical)/\($0.value.verified)" }
            context.out("reproducible: \(rate.identical) of \(rate.verified) verified builds (\(targets.joined(separator: ", ")))")
        }
        context.out("")
        if running.isEmpty {
            context.out("running: nothing")
        } else {
            context.out("running:")
            context.out(
                Table.render(
                    header: ["JOB", "TARGET", "REQUIREMENT", "ATTEMPT", "STARTED", "ON"],
                    rows: running.map { job in
                        [
                            String(job.number), job.target, job.requirement, "\(job.attempts)/\(job.maxAttempts)", age(job.startedAt),
                            job.builder.map { "builder \($0)" } ?? job.owner.flatMap(ProcessIdentity.pid).map { "pid \($0)" } ?? "-"
                        ]
                    }))
        }
        context.out("")
        if failed.isEmpty {
            context.out("recent failures: none")
        } else {
            context.out("recent failures (wheelfarm logs JOB, wheelfarm retry JOB):")
            context.out(
                Table.render(
                    header: ["JOB", "TARGET", "REQUIREMENT", "STAGE", "WHEN", "REASON"],
                    rows: failed.map { job in
                        [String(job.number), job.target, job.requirement, job.stage ?? "-", age(job.finishedAt), shorten(job.reason)]
                    }))
        }
    }
}

/// `wheelfarm jobs`: the jobs, newest first.
public struct JobsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List the farm's jobs, newest first.")
    @OptionGroup var options: HomeOptions
    @Flag(help: "Only failed jobs.") var failed = false
    @Option(name: .customLong("in-state"), help: "Only jobs in this state (queued, waiting, running, succeeded, failed, cancelled, skipped).")
    var state: String?
    @Option(help: "Only the jobs of this request.") var request: Int64?
    @Option(help: "At most this many.") var limit = 50
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "text or json (json: the same as --json).") var format: OutputFormat = .text

    public init() {}

    public func validate() throws {
        if let location = options.state, JobState(rawValue: location) != nil {
            throw ValidationError("--state names where the farm's state lives (postgres://…); to list the jobs in a state, use --in-state \(location)")
        }
        if let state, JobState(rawValue: state) == nil {
            throw ValidationError("unknown state '\(state)'; states: \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        var states: [JobState]? = state.flatMap(JobState.init(rawValue:)).map { [$0] }
        if failed { states = [.failed] }
        let jobs = try context.jobStore().jobs(request: request, states: states, limit: limit)
        if json || format == .json {
            context.out(try farmJSON(jobs))
            return
        }
        if jobs.isEmpty { context.out("no jobs"); return }
        context.out(
            Table.render(
                header: ["JOB", "REQ", "STATE", "TARGET", "REQUIREMENT", "VERSION", "UPDATED", "BUILDER", "RESULT"],
                rows: jobs.map { job in
                    let result: String
                    switch job.state {
                    case .succeeded: result = job.wheel ?? ""
                    case .failed: result = "\(job.stage ?? "?"): " + shorten(job.reason, 60)
                    default: result = shorten(job.reason, 60)
                    }
                    return [
                        String(job.number), String(job.requestId), job.state.rawValue, job.target, job.requirement, job.version ?? "-", age(job.updatedAt),
                        job.builder ?? "-", result
                    ]
                }))
    }
}

/// `wheelfarm logs JOB`: a job's events and its build log.
public struct LogsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "logs", abstract: "Show a job's events and its build log.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "The job's number (from wheelfarm jobs).") var job: Int64
    @Option(help: "Only the last N lines of the log (0: all).") var tail = 0
    @Flag(help: "Only the events.") var eventsOnly = false
    @Flag(help: "Keep printing the log while the job runs (also a builder host's, streamed to the farm's state).") var follow = false

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let store = try context.jobStore()
        guard let record = try store.job(job) else { throw context.inputFailure(FarmStoreError.noSuchJob(job)) }
        if follow && !eventsOnly {
            try Self.follow(record, store: store, context: context)
            return
        }
        let formatter = ISO8601DateFormatter()
        context.out("job \(record.number): \(record.requirement) for \(record.target), \(record.state.rawValue)" + (record.reason.map { ": \($0)" } ?? ""))
        for event in try store.events(job) {
            let when = formatter.string(from: Date(timeIntervalSince1970: event.at))
            context.out(
                "  \(when)  \(event.fromState?.rawValue ?? "-") -> \(event.toState.rawValue)" + (event.stage.map { " [\($0)]" } ?? "")
                    + (event.message.map { ": \($0)" } ?? ""))
        }
        guard !eventsOnly else { return }
        if record.builder != nil, record.state == .running || record.logPath.map({ !FileManager.default.fileExists(atPath: $0) }) ?? true {
            // A builder host's log: what it streamed into the state.
            let chunks = try store.logChunks(job, limit: 100_000)
            context.out("---- streamed by builder \(record.builder ?? "")")
            let lines = chunks.map(\.text).joined().split(separator: "\n", omittingEmptySubsequences: false)
            context.out((tail > 0 ? lines.suffix(tail) : lines[...]).joined(separator: "\n"))
            return
        }
        guard let path = record.logPath ?? record.wheelPath.map({ ($0 as NSString).deletingLastPathComponent + "/build.log" }) else {
            context.out(record.state == .running ? "(the job is running: its log is kept when it ends)" : "(no build log: the job did not get to build)")
            return
        }
        guard let text = Files.readText(path, limit: 512 << 20) else {
            context.out("(the log \(path) is gone: wheelfarm gc may have removed it)")
            return
        }
        context.out("---- \(path)")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        context.out((tail > 0 ? lines.suffix(tail) : lines[...]).joined(separator: "\n"))
    }
}

extension LogsCommand {
    /// Prints the job's log as it grows until the job stops running: the chunks a builder host
    /// streams into the state, or the file a farm process on this host writes.
    static func follow(_ first: JobRecord, store: JobStore, context: CommandContext) throws {
        var record = first
        var seq: Int64 = 0
        var offset: UInt64 = 0
        var partial = ""
        context.out(
            "job \(record.number): \(record.requirement) for \(record.target), \(record.state.rawValue)" + (record.builder.map { " on builder \($0)" } ?? ""))
        while true {
            var text = ""
            if record.builder != nil {
                for chunk in try store.logChunks(record.number, after: seq) {
                    text += chunk.text
                    seq = chunk.seq
                }
            } else if let path = record.logPath, let handle = FileHandle(forReadingAtPath: path) {
                try? handle.seek(toOffset: offset)
                let data = (try? handle.read(upToCount: 4 << 20)) ?? Data()
                offset += UInt64(data.count)
                try? handle.close()
                text = String(decoding: data, as: UTF8.self)
            }
            let lines = (partial + text).split(separator: "\n", omittingEmptySubsequences: false)
            partial = String(lines.last ?? "")
            for line in lines.dropLast() { context.out(String(line)) }
            guard record.state == .running || record.state == .queued || record.state == .waiting else { break }
            Thread.sleep(forTimeInterval: 1)
            record = try store.job(record.number) ?? record
        }
        if !partial.isEmpty { context.out(partial) }
        context.out("job \(record.number): \(record.state.rawValue)" + (record.reason.map { ": \($0)" } ?? ""))
    }
}

/// `wheelfarm retry JOB...`: puts jobs back in the queue, then runs them.
public struct RetryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Queue failed or cancelled jobs again (attempts reset) and run them.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Job numbers.") var jobs: [Int64]
    @Flag(help: "Only queue them; a later `wheelfarm work`, build or nightly runs them.") var queueOnly = false

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let store = try context.jobStore()
        var requests: [Int64] = []
        for id in jobs {
            do {
                let job = try store.retry(id)
                context.out("job \(id) (\(job.requirement) for \(job.target)): \(job.state.rawValue)")
                requests.append(job.requestId)
            } catch { throw context.inputFailure(error) }
        }
        guard !queueOnly else { return }
        try WorkCommand.drain(context: context, requests: Array(Set(requests)))
        var failed = false
        for id in jobs {
            guard let job = try store.job(id) else { continue }
            context.out("job \(id): \(job.state.rawValue)" + (job.reason.map { ": \($0)" } ?? job.wheel.map { ": \($0)" } ?? ""))
            if job.state == .failed || job.state == .cancelled { failed = true }
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }
}

/// `wheelfarm cancel JOB...`.
public struct CancelCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel jobs: queued or waiting ones at once, running ones within a second.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Job numbers.") var jobs: [Int64]

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let store = try context.jobStore()
        for id in jobs {
            do {
                let job = try store.cancel(id)
                switch job.state {
                case .cancelled: context.out("job \(id): cancelled")
                case .running: context.out("job \(id): running; its sandbox is stopped within a second")
                default: context.out("job \(id): already \(job.state.rawValue); nothing to cancel")
                }
            } catch { throw context.inputFailure(error) }
        }
    }
}

/// `wheelfarm work`: runs queued jobs until none is left.
public struct WorkCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "work", abstract: "Run every queued job (of any request) until the queue is empty; interrupted jobs are resumed first.")
    @OptionGroup var options: HomeOptions
    @Option(help: "Builds at once (default: the configuration's jobs).") var jobs: Int?

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        // Flags are applied here, where tests drive the command too.
        context.override("jobs", jobs.map(String.init))
        try Self.drain(context: context, requests: nil)
        let counts = try context.jobStore().counts()
        context.out("queue empty: \(counts[.succeeded] ?? 0) succeeded, \(counts[.skipped] ?? 0) skipped, \(counts[.failed] ?? 0) failed in all")
    }

    /// Runs the jobs of `requests` (all when nil) with the real builder; landed jobs that ask for
    /// it are published (to the embedded repository, and the configured remote one).
    static func drain(context: CommandContext, requests: [Int64]?) throws {
        let farm = try context.openFarm()
        let builder = try farm.builder(indexURL: nil, notice: { context.out($0) }, progress: { target, line in context.step("[\(target)] \(line)") })
        // The remote repository's secret is needed only when a job to run publishes.
        var publisher: Publisher? = nil
        do { publisher = try farm.publisher(remoteURL: farm.configuration.repositoryURL) } catch {
            let pending = try context.jobStore().jobs(states: [.queued, .waiting, .running])
            if pending.contains(where: { $0.publish && (requests == nil || requests?.contains($0.requestId) == true) }) { throw error }
        }
        try farm.farm(builder: builder, say: { context.out($0) }, publisher: publisher).run(requests: requests)
    }
}

/// `wheelfarm config show`.
public struct ConfigCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show the configuration in effect.",
        subcommands: [Show.self], defaultSubcommand: Show.self)

    public init() {}

    /// Prints every setting with where it came from.
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the settings in effect, as TOML, each with its source (default, file, environment, flag).",
            discussion:
                "Environment variables override the file: WHEELFARM_ and the key upper-cased with . as _ (retry.max_attempts: WHEELFARM_RETRY_MAX_ATTEMPTS).")
        @OptionGroup var options: HomeOptions
        @Option(help: "Override jobs, as build -r --jobs does.") var jobs: Int?

        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            context.override("jobs", jobs.map(String.init))
            context.write(Data(try context.openFarm().configuration.rendered().utf8), raw: true)
        }
    }
}

import ArgumentParser
import FarmCore
import FarmStore
import Foundation

/// Options every farm command takes: where the farm is and which configuration file applies.
struct FarmOptions: ParsableArguments {
    @Option(help: "The farm's home (default: the configuration's, else $WHEELFARM_HOME, else /var/lib/wheelfarm for root).") var home: String?
    @Option(help: "The configuration file (default: $WHEELFARM_CONFIG, else <home>/config.toml).") var config: String?

    /// The farm's context; a configuration or store that cannot be opened is an input error (exit 2).
    func open(flags: [String: String] = [:]) throws -> FarmContext {
        do { return try FarmContext.open(config: config, home: home, flags: flags) } catch { throw inputFailure(error) }
    }
}

/// Pretty, sorted JSON with snake_case keys, as the farm's commands print it.
func farmJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

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

/// `wheelfarm status`: the queue, what runs, recent failures.
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the farm's queue, running jobs and recent failures.")
    @OptionGroup var farm: FarmOptions
    @Option(help: "How many recent failures to show.") var failures = 10
    @Flag(help: "Print JSON.") var json = false

    public init() {}

    public func run() throws {
        let context = try farm.open()
        let counts = try context.jobs.counts()
        let running = try context.jobs.jobs(states: [.running], limit: 50)
        let failed = try context.jobs.jobs(states: [.failed], limit: failures)
        if json {
            struct Status: Encodable { var counts: [String: Int]; var running: [JobRecord]; var recentFailures: [JobRecord] }
            say(try farmJSON(Status(counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }), running: running, recentFailures: failed)))
            return
        }
        let order: [JobState] = [.queued, .waiting, .running, .succeeded, .skipped, .failed, .cancelled]
        say("jobs: " + order.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ") + "  (\(context.jobs.path))")
        say("")
        if running.isEmpty {
            say("running: nothing")
        } else {
            say("running:")
            say(Table.render(header: ["JOB", "TARGET", "REQUIREMENT", "ATTEMPT", "STARTED", "PID"], rows: running.map { job in
                [String(job.number), job.target, job.requirement, "\(job.attempts)/\(job.maxAttempts)", age(job.startedAt),
                 job.owner.flatMap(ProcessIdentity.pid).map(String.init) ?? "-"]
            }))
        }
        say("")
        if failed.isEmpty {
            say("recent failures: none")
        } else {
            say("recent failures (wheelfarm logs JOB, wheelfarm retry JOB):")
            say(Table.render(header: ["JOB", "TARGET", "REQUIREMENT", "STAGE", "WHEN", "REASON"], rows: failed.map { job in
                [String(job.number), job.target, job.requirement, job.stage ?? "-", age(job.finishedAt), shorten(job.reason)]
            }))
        }
    }
}

/// `wheelfarm jobs`: the jobs, newest first.
public struct JobsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List the farm's jobs, newest first.")
    @OptionGroup var farm: FarmOptions
    @Flag(help: "Only failed jobs.") var failed = false
    @Option(help: "Only jobs in this state (queued, waiting, running, succeeded, failed, cancelled, skipped).") var state: String?
    @Option(help: "Only the jobs of this request.") var request: Int64?
    @Option(help: "At most this many.") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    public init() {}

    public func validate() throws {
        if let state, JobState(rawValue: state) == nil {
            throw ValidationError("unknown state '\(state)'; states: \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public func run() throws {
        let context = try farm.open()
        var states: [JobState]? = state.flatMap(JobState.init(rawValue:)).map { [$0] }
        if failed { states = [.failed] }
        let jobs = try context.jobs.jobs(request: request, states: states, limit: limit)
        if json {
            say(try farmJSON(jobs))
            return
        }
        if jobs.isEmpty { say("no jobs"); return }
        say(Table.render(header: ["JOB", "REQ", "STATE", "TARGET", "REQUIREMENT", "VERSION", "UPDATED", "RESULT"], rows: jobs.map { job in
            let result: String
            switch job.state {
            case .succeeded: result = job.wheel ?? ""
            case .skipped: result = shorten(job.reason, 60)
            case .failed: result = "\(job.stage ?? "?"): " + shorten(job.reason, 60)
            default: result = shorten(job.reason, 60)
            }
            return [String(job.number), String(job.requestId), job.state.rawValue, job.target, job.requirement, job.version ?? "-", age(job.updatedAt), result]
        }))
    }
}

/// `wheelfarm logs JOB`: a job's events and its build log.
public struct LogsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "logs", abstract: "Show a job's events and its build log.")
    @OptionGroup var farm: FarmOptions
    @Argument(help: "The job's number (from wheelfarm jobs).") var job: Int64
    @Option(help: "Only the last N lines of the log (0: all).") var tail = 0
    @Flag(help: "Only the events.") var eventsOnly = false

    public init() {}

    public func run() throws {
        let context = try farm.open()
        guard let record = try context.jobs.job(job) else { throw inputFailure(FarmStoreError.noSuchJob(job)) }
        let formatter = ISO8601DateFormatter()
        say("job \(record.number): \(record.requirement) for \(record.target), \(record.state.rawValue)" + (record.reason.map { ": \($0)" } ?? ""))
        for event in try context.jobs.events(job) {
            let when = formatter.string(from: Date(timeIntervalSince1970: event.at))
            say("  \(when)  \(event.fromState?.rawValue ?? "-") -> \(event.toState.rawValue)" + (event.stage.map { " [\($0)]" } ?? "") + (event.message.map { ": \($0)" } ?? ""))
        }
        guard !eventsOnly else { return }
        guard let path = record.logPath ?? record.wheelPath.map({ ($0 as NSString).deletingLastPathComponent + "/build.log" }) else {
            say(record.state == .running ? "(the job is running: its log is kept when it ends)" : "(no build log: the job did not get to build)")
            return
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            say("(the log \(path) is gone: wheelfarm gc may have removed it)")
            return
        }
        say("---- \(path)")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        say((tail > 0 ? lines.suffix(tail) : lines[...]).joined(separator: "\n"))
    }
}

/// `wheelfarm retry JOB...`: puts jobs back in the queue, then runs them.
public struct RetryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "retry", abstract: "Queue failed or cancelled jobs again (attempts reset) and run them.")
    @OptionGroup var farm: FarmOptions
    @Argument(help: "Job numbers.") var jobs: [Int64]
    @Flag(help: "Only queue them; a later `wheelfarm work`, build or nightly runs them.") var queueOnly = false

    public init() {}

    public func run() throws {
        let context = try farm.open()
        var requests: [Int64] = []
        for id in jobs {
            do {
                let job = try context.jobs.retry(id)
                say("job \(id) (\(job.requirement) for \(job.target)): \(job.state.rawValue)")
                requests.append(job.requestId)
            } catch { throw inputFailure(error) }
        }
        guard !queueOnly else { return }
        try WorkCommand.drain(context: context, requests: Array(Set(requests)))
        var failed = false
        for id in jobs {
            guard let job = try context.jobs.job(id) else { continue }
            say("job \(id): \(job.state.rawValue)" + (job.reason.map { ": \($0)" } ?? job.wheel.map { ": \($0)" } ?? ""))
            if job.state == .failed || job.state == .cancelled { failed = true }
        }
        if failed { throw ExitCode(1) }
    }
}

/// `wheelfarm cancel JOB...`.
public struct CancelCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel jobs: queued or waiting ones at once, running ones at their next stage.")
    @OptionGroup var farm: FarmOptions
    @Argument(help: "Job numbers.") var jobs: [Int64]

    public init() {}

    public func run() throws {
        let context = try farm.open()
        for id in jobs {
            do {
                let job = try context.jobs.cancel(id)
                switch job.state {
                case .cancelled: say("job \(id): cancelled")
                case .running: say("job \(id): running; it stops at its next stage")
                default: say("job \(id): already \(job.state.rawValue); nothing to cancel")
                }
            } catch { throw inputFailure(error) }
        }
    }
}

/// `wheelfarm work`: runs queued jobs until none is left.
public struct WorkCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "work", abstract: "Run every queued job (of any request) until the queue is empty; interrupted jobs are resumed first.")
    @OptionGroup var farm: FarmOptions
    @Option(help: "Builds at once (default: the configuration's jobs).") var jobs: Int?

    public init() {}

    public func run() throws {
        let context = try farm.open(flags: jobs.map { ["jobs": String($0)] } ?? [:])
        try Self.drain(context: context, requests: nil)
        let counts = try context.jobs.counts()
        say("queue empty: \(counts[.succeeded] ?? 0) succeeded, \(counts[.skipped] ?? 0) skipped, \(counts[.failed] ?? 0) failed in all")
    }

    /// Runs the jobs of `requests` (all when nil) with the real builder.
    static func drain(context: FarmContext, requests: [Int64]?) throws {
        let display = ProgressDisplay()
        let (builder, _) = try context.makeBuilder(indexURL: nil, display: display)
        let farm = context.makeFarm(builder: builder, display: display, repositoryURL: context.configuration.repositoryURL,
                                    username: context.configuration.repositoryUsername)
        try farm.run(requests: requests)
    }
}

/// `wheelfarm config show`.
public struct ConfigCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "config", abstract: "Show the configuration in effect.",
                                                           subcommands: [Show.self], defaultSubcommand: Show.self)

    public init() {}

    /// Prints every setting with where it came from.
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the settings in effect, as TOML, each with its source (default, file, environment, flag).",
            discussion: "Environment variables override the file: WHEELFARM_ and the key upper-cased with . as _ (retry.max_attempts: WHEELFARM_RETRY_MAX_ATTEMPTS).")
        @OptionGroup var farm: FarmOptions
        @Option(help: "Override jobs, as build -r --jobs does.") var jobs: Int?

        public init() {}

        public func run() throws {
            do {
                let configuration = try FarmConfiguration(configPath: farm.config, homeFlag: farm.home, flags: jobs.map { ["jobs": String($0)] } ?? [:])
                FileHandle.standardOutput.write(Data(configuration.rendered().utf8))
            } catch { throw inputFailure(error) }
        }
    }
}

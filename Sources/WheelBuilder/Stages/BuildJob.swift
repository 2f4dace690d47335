import BuildSandbox
import Foundation
import WheelfarmBasics

/// One build of one source for one target while it runs: its record, its streamed log, its
/// work folder and the scheduler's hooks. Stages read and fill it through ``withStage(_:_:_:)``.
final class BuildJob: @unchecked Sendable {
    var record: BuildRecord
    let log: BuildLog
    let work: String
    let hooks: BuildHooks
    let environment: BuildEnvironment
    let spec: ToolchainSpec
    /// The build requirement this job builds from source for an outer build (nil: the build itself).
    var nested: String?
    /// The memory the recipe declares, once the recipe is known.
    var memoryGb: Double?
    /// The memory of a second attempt after the first exceeded its limit (wins over the recipe's).
    var memoryRetryGb: Double?
    /// The memory limit a sandbox run of this job was killed at, if one was.
    var memoryExceededGb: Double?
    var compilerPinnedToGcc = false
    /// System calls the recipe allows besides the usual (`allow_syscalls`).
    var allowedSyscalls: Set<String> = []
    /// What the host fetched on this build's behalf (build and test requirements): files by
    /// path and their bytes, bounded by ``Stages/Requirements/limits``.
    var fetched: [String: Int] = [:]

    init(record: BuildRecord, log: BuildLog, work: String, hooks: BuildHooks, environment: BuildEnvironment, spec: ToolchainSpec) {
        self.record = record
        self.log = log
        self.work = work
        self.hooks = hooks
        self.environment = environment
        self.spec = spec
    }

    var target: String { record.target }

    /// A line of the farm's own in the log.
    func note(_ text: String) { log.note(text) }

    /// Runs one stage: checks for cancellation, says so in the log and the progress, and times
    /// it into the record whether it succeeds or throws. Stages of a nested build are recorded
    /// under its name, so their time is never confused with (or overwrites) the outer build's.
    func withStage<T>(_ stage: BuildStage, _ detail: String, _ body: () throws -> T) throws -> T {
        if hooks.shouldStop?() == true {
            throw BuildFailure(stage: stage, kind: .cancelled, reason: "cancelled before \(stage.rawValue)")
        }
        let label = nested.map { " (\($0))" } ?? ""
        if nested == nil { hooks.stageStarted?(stage, log.path) }
        note("== \(stage.rawValue)\(label): \(detail)")
        environment.progress(target, "\(stage.rawValue)\(label): \(detail)")
        let started = environment.clock.now
        defer {
            let seconds = environment.clock.now.timeIntervalSince(started)
            record.stages.append(StageRecord(stage: stage, seconds: seconds, detail: detail, build: nested))
            if nested == nil { record.timings[stage.rawValue, default: 0] += seconds }
        }
        return try body()
    }

    /// Runs a command in a sandbox of `layers`, streaming its output into the log; `control`
    /// gets what the farm's helper wrote on the control channel.
    func sandbox(
        layers: [String], command: [String], environment variables: [String: String], mounts: [BindMount], wall: Double,
        controlChannel: Bool = false, collect: OutputCollection? = nil, also: ((ArraySlice<UInt8>) -> Void)? = nil
    ) throws -> SandboxResult {
        // A recipe declaring more memory than the usual 4 GiB gets it (the scheduler reserved it).
        let memory = max(Int64(4) << 30, Int64((memoryRetryGb ?? memoryGb ?? 0) * Double(1 << 30)))
        var config = SandboxConfiguration(
            layers: layers, command: command, environment: variables, mounts: mounts,
            limits: SandboxLimits(wallSeconds: wall, memoryBytes: memory, maxProcesses: 2048, diskBytes: 8 << 30))
        config.stop = hooks.shouldStop
        config.controlChannel = controlChannel
        config.collect = collect
        do { config.seccomp = try environment.seccomp?(allowedSyscalls) } catch {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "\(error)")
        }
        let result = try environment.sandbox.run(config) { chunk, _ in
            log.append(chunk)
            also?(chunk)
        }
        note("-- sandbox: \(result.outcome) in \(String(format: "%.1f", result.seconds)) s")
        if case .memoryExceeded = result.outcome { memoryExceededGb = Double(memory) / Double(1 << 30) }
        return result
    }
}

/// The stages of a build, each a type with a clear input and output (``WheelBuilder`` runs them in order).
enum Stages {}

import BuildSandbox
import Foundation
import WheelfarmBasics

/// What a scripted sandbox run does.
public struct ScriptedRun: Sendable {
    public var outcome: SandboxOutcome
    /// What the command "printed" (goes to the build log).
    public var output: String
    /// What the farm's helper "wrote" on the control channel.
    public var control: String
    /// Files to create, by their path inside the sandbox (under a bind mount's destination).
    public var files: [String: [UInt8]]
    /// Seconds the run takes on the clock.
    public var seconds: Double

    public init(outcome: SandboxOutcome = .exited(0), output: String = "", control: String = "", files: [String: [UInt8]] = [:], seconds: Double = 0) {
        self.outcome = outcome
        self.output = output
        self.control = control
        self.files = files
        self.seconds = seconds
    }
}

/// A sandbox that runs nothing: each run is answered by a script, which sees the run's
/// configuration (command, environment, mounts) and says what happened. Files it names are
/// written through the run's bind mounts, as a real build would leave a wheel in `/out`.
public final class ScriptedSandbox: SandboxRunner, @unchecked Sendable {
    public typealias Script = @Sendable (SandboxConfiguration) throws -> ScriptedRun
    private let lock = NSLock()
    private let script: Script
    private let clock: ManualClock?
    private var seen: [SandboxConfiguration] = []

    public init(clock: ManualClock? = nil, _ script: @escaping Script) {
        self.clock = clock
        self.script = script
    }

    /// The configurations of every run so far.
    public var runs: [SandboxConfiguration] { lock.withLock { seen } }

    public func run(_ config: SandboxConfiguration, output: (ArraySlice<UInt8>, Bool) -> Void) throws -> SandboxResult {
        lock.withLock { seen.append(config) }
        let run = try script(config)
        for (inside, bytes) in run.files {
            // Files of the output folder reach the collection's host folder, as the sandbox's init copies them.
            var places = config.mounts.map { ($0.destination, $0.source) }
            if let collect = config.collect { places.append((collect.inside, collect.host)) }
            guard let (destination, source) = places.first(where: { inside.hasPrefix($0.0 + "/") }) else {
                throw ScriptedSandboxError(description: "\(inside) is under no bind mount or output folder of the run")
            }
            let host = source + inside.dropFirst(destination.count)
            try Files.makeDirectories((host as NSString).deletingLastPathComponent)
            try Files.writeAtomically(bytes, to: host)
        }
        let printed = Array(run.output.utf8)
        output(printed[...], false)
        clock?.advance(run.seconds)
        return SandboxResult(outcome: run.outcome, seconds: run.seconds, control: config.controlChannel ? Array(run.control.utf8) : [])
    }
}

/// A scripted run that cannot be carried out.
public struct ScriptedSandboxError: Error, CustomStringConvertible {
    public var description: String
}

extension SandboxConfiguration {
    /// Whether this run is the build's helper (the backend's hook, then `pip wheel`).
    public var isBuild: Bool { command.count > 2 && command[0] == "python3" && command[2].contains("BuildBackendHookCaller") }
    /// Whether this run is the test install.
    public var isTestInstall: Bool {
        command.count > 2 && command[0] == "sh" && command[2].contains("python -I -S -c") && command[2].contains("secrets.randbelow")
    }
}

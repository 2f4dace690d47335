import ArgumentParser
import BuildSandbox
import Foundation
import WheelAudit

/// `wheelfarm sandbox run`: a command in a fresh, isolated root of a target, for debugging.
public struct SandboxCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run commands in an isolated root of a target (what builds run in).",
        subcommands: [Run.self])

    public init() {}

    /// `wheelfarm sandbox run TARGET [--network] [--mount SRC:DST[:ro]] -- CMD...`.
    public struct Run: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Run a command in a fresh writable layer over the target's image, with no network.",
            discussion: "The exit status is the command's; 124 when it timed out, 137 when it was killed for memory, 125 when the sandbox could not be set up.")
        @Argument(help: "Target name (see 'wheelfarm toolchain list').") var target: String
        @Flag(help: "Share the host's network (for debugging by hand; builds never do).") var network = false
        @Option(name: .customLong("mount"), help: "Bind a host directory: SRC:DST[:ro]; may be repeated.") var mounts: [String] = []
        @Option(help: "Wall-clock limit in seconds.") var timeout: Double = 3600
        @Option(help: "Memory limit in MiB.") var memory: Int64 = 4096
        @Option(help: "Size of the writable layer in MiB.") var disk: Int64 = 8192
        @Option(help: "Maximum number of processes.") var pids: Int = 1024
        @Flag(help: "Run as root inside (still without capabilities over the host).") var root = false
        @Flag(help: "Run without the seccomp filter builds run under.") var noSeccomp = false
        @Flag(help: "Run in the target's runtime root (what production has: no compiler, no -dev packages) instead of its build image.") var runtime = false
        @Option(help: "Working directory inside.") var workdir: String = "/tmp"
        @OptionGroup var options: HomeOptions
        @Argument(parsing: .postTerminator, help: "The command to run.") var command: [String] = []
        public init() {}

        public mutating func validate() throws {
            if command.isEmpty { throw ValidationError("give the command after --, for example: wheelfarm sandbox run cp311-bookworm-x86_64 -- python3 -V") }
            for mount in mounts where BindMount(parsing: mount) == nil { throw ValidationError("--mount \(mount): expected SRC:DST[:ro] with absolute paths") }
        }

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let store = try ToolchainCommand.store(context)
            let spec: ToolchainSpec
            do { spec = try store.catalog.spec(target) } catch { throw context.inputFailure(error) }
            guard let image = runtime ? try store.runtimeImage(for: spec) : try store.image(named: target) else {
                throw context.inputFailure(
                    ToolchainError.notBuilt(runtime ? "\(spec.runtime.name) (wheelfarm toolchain build \(target) --runtime)" : target))
            }
            var config = SandboxConfiguration(
                layers: [store.rootfs(digest: image.digest)], command: command, workingDirectory: workdir,
                mounts: mounts.compactMap(BindMount.init(parsing:)), network: network,
                uid: root ? 0 : 65534, gid: root ? 0 : 65534,
                limits: SandboxLimits(wallSeconds: timeout, memoryBytes: memory << 20, maxProcesses: pids, diskBytes: disk << 20))
            if !noSeccomp {
                do { config.seccomp = try SeccompPolicy.prepare(in: store.layout.seccomp) } catch { throw context.inputFailure(error) }
            }
            let result = try NamespaceSandbox(layout: store.layout).run(config) { chunk, isError in context.write(chunk, error: isError) }
            switch result.outcome {
            case let .exited(code): if code != 0 { throw ExitCode(code) }
            case let .signaled(signal): throw ExitCode(128 + signal)
            case .timedOut, .memoryExceeded, .setupFailed:
                context.err("wheelfarm: \(result.outcome)")
                switch result.outcome {
                case .timedOut: throw ExitCode(ExitStatus.sandboxTimedOut)
                case .memoryExceeded: throw ExitCode(ExitStatus.sandboxMemory)
                default: throw ExitCode(ExitStatus.sandboxSetupFailed)
                }
            }
        }
    }
}

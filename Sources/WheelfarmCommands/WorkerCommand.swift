import ArgumentParser
import BuildSandbox
import FarmCore
import FarmStore
import Foundation
import WheelfarmBasics

/// `wheelfarm worker`: a builder host's process.
public struct WorkerCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a builder host: claim jobs of its targets from the farm's PostgreSQL state, build them here, send the wheels to the coordinator.",
        discussion: """
            On the coordinator: wheelfarm builders add NAME (prints the token), and run wheelfarm serve \
            (it lands, signs and publishes what builders send). On the builder host: \
            wheelfarm worker --state postgres://USER@COORDINATOR/DB --coordinator http://COORDINATOR:8080 \
            --name NAME --token-file FILE --target T. The builder keeps its own home (images, sandbox, \
            its own key); it builds a target only when its image has the farm's toolchain digest for it. \
            SIGINT or SIGTERM: finish the current builds, take nothing new.
            """)
    @OptionGroup var options: HomeOptions
    @Option(help: "This builder's name, as registered with `wheelfarm builders add`.") var name: String
    @Option(help: "File holding the builder token (default: $WHEELFARM_BUILDER_TOKEN).") var tokenFile: String?
    @Option(help: "The coordinator's URL (`wheelfarm serve`), where wheels are sent.") var coordinator: String?
    @Option(name: .customLong("target"), help: "A target to build (repeat; default: the configured targets, else the default one).") var targets: [String] = []
    @Option(help: "Builds at once (default: the configuration's jobs).") var jobs: Int?
    @Option(help: "Seconds a claim lasts without renewal.") var leaseSeconds = 60.0
    @Option(help: "Seconds between asks for work when idle.") var pollSeconds = 2.0
    @Option(help: "Do not build: hold each job this many seconds and mark it skipped (tests and benchmarks of the farm itself).")
    var simulate: Double?
    @Flag(help: "Stop once no job of this builder's targets is left.") var exitWhenIdle = false

    public init() {}

    public func validate() throws {
        _ = try BuildersCommand.checkName(name)
        if simulate == nil && coordinator == nil { throw ValidationError("--coordinator URL is needed to send wheels (or --simulate for a dry run)") }
        if let coordinator, !(coordinator.hasPrefix("http://") || coordinator.hasPrefix("https://")) {
            throw ValidationError("--coordinator is an http:// or https:// URL")
        }
        guard leaseSeconds >= 3, pollSeconds > 0 else { throw ValidationError("--lease-seconds is at least 3 and --poll-seconds positive") }
    }

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let farm = try context.openFarm()
        let token: String
        if let tokenFile {
            guard let text = Files.readText(tokenFile, limit: 4096) else { throw context.inputFailure(ValidationError("cannot read \(tokenFile)")) }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            token = ProcessInfo.processInfo.environment["WHEELFARM_BUILDER_TOKEN"] ?? ""
        }
        let store = try context.jobStore()
        guard !token.isEmpty, let registered = try store.builder(tokenSha256: Digest.hex(Digest.sha256(Array(token.utf8)))), registered.name == name else {
            throw context.inputFailure(ValidationError("the token is not builder \(name)'s (wheelfarm builders add \(name) on the coordinator prints one)"))
        }
        // What a killed worker of this home left (work folders, mounts) goes first.
        let swept = Leftovers.sweep(farm.layout)
        for path in swept.removed { context.out("removed \(path), left by a process that is gone") }
        for problem in swept.failed { context.err("cannot remove a dead process's leftover: \(problem)") }
        var chosen = farm.targets(targets)
        let executor: any JobExecutor
        var builderKey: String?
        if let simulate {
            executor = SimulatedExecutor(seconds: simulate)
        } else {
            let builder = try farm.builder(indexURL: nil, notice: { context.out($0) }, progress: { target, line in context.step("[\(target)] \(line)") })
            builderKey = try farm.keys().load()?.keyIDText
            // One root per target across the farm: this host builds a target only with the
            // image the farm assigned to it (the first host to declare one assigns it).
            let toolchains = try farm.toolchains()
            chosen = try chosen.filter { target in
                let image = try toolchains.image(named: target) ?? toolchains.build(target) { context.step("[\(target)] \($0)") }
                let assigned = try store.assignToolchain(target: target, digest: image.digest, by: name)
                guard assigned == image.digest else {
                    context.err("[\(target)] this host's image is \(image.digest.prefix(12)), the farm's is \(assigned.prefix(12)): not building it")
                    return false
                }
                return true
            }
            executor = BuilderExecutor(builder: builder)
        }
        guard !chosen.isEmpty else { throw ExitCode(ExitStatus.failure) }
        let limits = farm.configuration.limits
        let settings = WorkerSettings(
            name: name, targets: chosen, architectures: [ZigToolchain.hostMachine], jobs: jobs ?? limits.jobs, memoryGb: limits.memoryGb,
            cores: limits.cores, retry: limits.retry, leaseSeconds: leaseSeconds, pollSeconds: pollSeconds, exitWhenIdle: exitWhenIdle,
            builderKey: builderKey)
        let stopping = Locked(false)
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler {
                stopping.withLock { $0 = true }
                context.err("stopping: the current builds finish, nothing new is taken")
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let worker = BuilderWorker(
            store: store, executor: executor, settings: settings, uploader: coordinator.map { ResultUploader(coordinator: $0, token: token) },
            say: { context.out($0) })
        try worker.run(stop: { stopping.current })
    }
}

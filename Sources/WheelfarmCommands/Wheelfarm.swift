import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import WheelfarmBasics

/// The root command: a wheel-building farm for binary Python packages.
public struct Wheelfarm: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "wheelfarm",
        abstract: "Build, audit, repair and publish manylinux wheels.",
        discussion: """
            wheelfarm builds wheels from sdists in isolated roots of each target's toolchain, audits \
            the binaries for manylinux/musllinux compatibility (PEP 600/656), grafts the external \
            libraries they need, signs them, and publishes them to a repository pip installs from. \
            `build -r` (the CI job) and `nightly` run on the farm: jobs in a SQLite store, a worker \
            pool, retries, and state that survives a crash (`status`, `jobs`, `logs`, `retry`, \
            `cancel`, `work`, `gc`, `config show`). `doctor` checks that this host has what the farm needs.

            Exit status (each command's help says which it uses):
            \(ExitStatus.table)
            """,
        version: wheelfarmVersion,
        subcommands: [
            DoctorCommand.self, BuildCommand.self, FetchCommand.self, AuditCommand.self, RepairCommand.self, VerifyCommand.self, KeyCommand.self,
            PublishCommand.self, ServeCommand.self, TokenCommand.self, YankCommand.self, ToolchainCommand.self, SandboxCommand.self,
            StatusCommand.self, JobsCommand.self, LogsCommand.self, RetryCommand.self, CancelCommand.self, WorkCommand.self,
            TrackCommand.self, NightlyCommand.self, StateCommand.self, BuildersCommand.self, WorkerCommand.self, RecipeCommand.self, SBOMCommand.self,
            LockCommand.self,
            BundleCommand.self, GCCommand.self,
            ConfigCommand.self, FarmBenchCommand.self
        ])

    public init() {}
}

/// Every exit status a command returns.
public enum ExitStatus {
    /// Everything as asked.
    public static let success: Int32 = 0
    /// A build, a test install, a verification or a publish failed; a wheel is not compliant; something doctor checks is missing.
    public static let failure: Int32 = 1
    /// The input or the configuration could not be read or is invalid.
    public static let invalidInput: Int32 = 2
    /// The audit or the repair rejected a built wheel (`build`).
    public static let rejected: Int32 = 3
    /// There was nothing to build (`build`).
    public static let nothingToBuild: Int32 = 4
    /// Usage error (unknown option, missing argument).
    public static let usage: Int32 = 64
    /// Busy: another nightly runs, or jobs run while `gc` would remove their files.
    public static let busy: Int32 = 75
    /// `sandbox run`: timed out (124), could not be set up (125), killed for memory (137); else the command's own status.
    public static let sandboxTimedOut: Int32 = 124
    public static let sandboxSetupFailed: Int32 = 125
    public static let sandboxMemory: Int32 = 137

    /// The table the root help shows.
    static let table = """
          0    success
          1    a build, test install, verification or publish failed; a wheel is not compliant; doctor found something missing
          2    invalid input or configuration (the message names the file, line or value)
          3    build: the audit or repair rejected the wheel (tag ceiling, disallowed library)
          4    build: nothing to build
          64   usage error
          75   busy: another nightly runs, or gc found running jobs
          124  sandbox run: timed out; 125 could not be set up; 137 killed for memory (else the command's own status)
        """
}

/// Options of every command that works on a farm's home.
struct HomeOptions: ParsableArguments {
    @Option(help: "The farm's home (default: the configuration's, else $WHEELFARM_HOME, else /var/lib/wheelfarm for root).") var home: String?
    @Option(help: "The configuration file (default: $WHEELFARM_CONFIG, else <home>/config.toml).") var config: String?
    @Option(help: "Where the farm's state lives: postgres://USER@HOST/DB or sqlite:PATH (default: state.url, else <home>/state/farm.sqlite).")
    var state: String?

    func validate() throws {
        if let state, !(PostgresDatabase.isPostgresURL(state) || state.hasPrefix("sqlite:") || state.hasPrefix("/") || state.hasPrefix(".")) {
            throw ValidationError("--state is postgres://USER@HOST:PORT/DB, sqlite:PATH or a path: '\(state)'")
        }
    }
}

/// What a command works with: where its output goes (tests pass a capturing context) and the
/// farm, whose configuration and home are resolved once, on first use.
public final class CommandContext: @unchecked Sendable {
    private let lock = NSLock()
    private var captured: [String]? = nil
    private var capturedErrors: [String]? = nil
    private let homeFlag: String?
    private let configPath: String?
    private var flags: [String: String]
    private var opened: FarmContext?
    private let display: ProgressDisplay?

    /// A context writing to the process's standard output and error, with live progress on a terminal.
    public static func standard(home: String? = nil, config: String? = nil) -> CommandContext {
        CommandContext(capturing: false, home: home, config: config)
    }

    /// A context; a capturing one keeps what is written, for tests.
    public init(capturing: Bool, home: String? = nil, config: String? = nil, flags: [String: String] = [:]) {
        if capturing { captured = []; capturedErrors = [] }
        homeFlag = home
        configPath = config
        self.flags = flags
        display = capturing ? nil : ProgressDisplay()
    }

    convenience init(_ options: HomeOptions) {
        self.init(capturing: false, home: options.home, config: options.config, flags: options.state.map { ["state.url": $0] } ?? [:])
    }

    /// Values given on the command line that override the configuration (by key), before the farm is opened.
    func override(_ key: String, _ value: String?) {
        guard let value else { return }
        lock.withLock { flags[key] = value }
    }

    /// `--recipes` folders: searched before the configured `recipes.paths`. The configuration
    /// is read here once, without the flag, to learn those.
    func prependRecipeFolders(_ folders: [String]) {
        guard !folders.isEmpty else { return }
        let configured = (try? FarmConfiguration(configPath: configPath, homeFlag: homeFlag, flags: lock.withLock { flags }))?.recipePaths ?? []
        override("recipes.paths", (folders.map(Paths.absolute) + configured).joined(separator: ","))
    }

    /// The farm: the configuration (file, environment, flags) and the home, resolved once.
    public func farm() throws -> FarmContext {
        try lock.withLock {
            if let opened { return opened }
            let context = try FarmContext.open(configPath: configPath, homeFlag: homeFlag, flags: flags)
            opened = context
            return context
        }
    }

    /// A line on standard output.
    public func out(_ line: String) {
        // Lines carry text from builds and projects: every one passes the sanitiser.
        let line = TerminalText.escaped(line)
        lock.lock(); defer { lock.unlock() }
        if captured != nil { captured?.append(line); return }
        if let display { display.message(line) } else { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }

    /// A line on standard error.
    public func err(_ line: String) {
        let line = TerminalText.escaped(line)
        lock.lock(); defer { lock.unlock() }
        if capturedErrors != nil { capturedErrors?.append(line); return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A progress step: on a terminal the running step stays on one live line with its time.
    public func step(_ line: String) {
        let line = TerminalText.escaped(line)
        lock.lock(); defer { lock.unlock() }
        if captured != nil { captured?.append(line); return }
        if let display { display.step(line) } else { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }

    /// Bytes to standard output, sanitised unless `raw` (a key file or a document the farm
    /// wrote itself): a sandboxed command's output and diffoscope's report of a wheel are a
    /// stranger's text.
    func write(_ bytes: some DataProtocol, error: Bool = false, raw: Bool = false) {
        let bytes = raw ? Array(bytes) : Array(TerminalText.escaped(String(decoding: Array(bytes), as: UTF8.self)).utf8)
        lock.lock(); defer { lock.unlock() }
        if captured != nil {
            let text = String(decoding: Array(bytes), as: UTF8.self)
            if error { capturedErrors?.append(text) } else { captured?.append(text) }
            return
        }
        (error ? FileHandle.standardError : FileHandle.standardOutput).write(Data(bytes))
    }

    /// Says an error of input or configuration and gives the exit code (2) to throw.
    func inputFailure(_ error: Error) -> ExitCode {
        err("wheelfarm: \(error)")
        return ExitCode(ExitStatus.invalidInput)
    }

    /// The farm, or exit status 2 with the reason.
    func openFarm() throws -> FarmContext {
        do { return try farm() } catch { throw inputFailure(error) }
    }

    /// What was written to standard output (capturing contexts only).
    public var output: String { lock.lock(); defer { lock.unlock() }; return (captured ?? []).joined(separator: "\n") }
    /// What was written to standard error (capturing contexts only).
    public var errors: String { lock.lock(); defer { lock.unlock() }; return (capturedErrors ?? []).joined(separator: "\n") }
}

/// Pretty, sorted JSON with snake_case keys, as the farm's commands print it.
func farmJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Plain aligned text tables.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

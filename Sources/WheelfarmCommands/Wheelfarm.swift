import ArgumentParser
import Foundation

/// The version printed by `wheelfarm --version` and written into SBOMs.
public let wheelfarmVersion = "0.1.0"

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
        `cancel`, `work`, `gc`, `config show`).

        Exit status: 0 success, 1 the wheel is not compliant or a repair failed, \
        2 unreadable or invalid input, 64 usage error.
        """,
        version: wheelfarmVersion,
        subcommands: [DoctorCommand.self, BuildCommand.self, FetchCommand.self, AuditCommand.self, RepairCommand.self, VerifyCommand.self, KeyCommand.self,
                      PublishCommand.self, ServeCommand.self, TokenCommand.self, YankCommand.self, ToolchainCommand.self, SandboxCommand.self,
                      StatusCommand.self, JobsCommand.self, LogsCommand.self, RetryCommand.self, CancelCommand.self, WorkCommand.self,
                      TrackCommand.self, NightlyCommand.self, GCCommand.self, ConfigCommand.self, FarmBenchCommand.self])

    public init() {}
}

/// Where a command writes what the user sees; tests pass a capturing context.
public final class CommandContext: @unchecked Sendable {
    private let lock = NSLock()
    private var captured: [String]? = nil
    private var capturedErrors: [String]? = nil

    /// A context that writes to the process's standard output and error.
    public static func standard() -> CommandContext { CommandContext(capturing: false) }

    /// A context that keeps what is written, for tests.
    public init(capturing: Bool) {
        if capturing { captured = []; capturedErrors = [] }
    }

    /// Writes a line to standard output.
    public func out(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if captured != nil { captured?.append(line); return }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes a line to standard error.
    public func err(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if capturedErrors != nil { capturedErrors?.append(line); return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// What was written to standard output (capturing contexts only).
    public var output: String { lock.lock(); defer { lock.unlock() }; return (captured ?? []).joined(separator: "\n") }
    /// What was written to standard error (capturing contexts only).
    public var errors: String { lock.lock(); defer { lock.unlock() }; return (capturedErrors ?? []).joined(separator: "\n") }
}

/// Exit statuses shared by the commands.
public enum ExitStatus {
    /// Everything as asked.
    public static let success: Int32 = 0
    /// The wheel is not compliant, or a repair could not be done.
    public static let notCompliant: Int32 = 1
    /// The input could not be read or is invalid.
    public static let invalidInput: Int32 = 2
}

/// Writes a line to standard output at once (print() is block-buffered on a pipe, which
/// would hold progress lines back).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Reports an error of unreadable or invalid input on standard error and gives the exit code
/// (2) to throw: `throw inputFailure(error)`.
func inputFailure(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("wheelfarm: \(error)\n".utf8))
    return ExitCode(ExitStatus.invalidInput)
}

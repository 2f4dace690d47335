import Foundation

/// The captured result of a finished child process.
public struct ProcessOutput: Sendable {
    /// The exit status, or 128 + signal number when the process was killed.
    public var status: Int32
    /// Everything the process wrote on standard output.
    public var stdout: String
    /// Everything the process wrote on standard error.
    public var stderr: String
}

/// Runs child processes and captures their output.
public enum ProcessRunner {
    /// Runs `program` with `arguments`, waiting for it to finish.
    ///
    /// `program` may be a bare name, looked up in `PATH`. Output is read on
    /// background threads while the process runs, so a chatty child never
    /// blocks on a full pipe.
    public static func run(
        _ program: String, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> ProcessOutput {
        guard let executable = resolveExecutable(program, environment: environment) else {
            throw BasicsError.spawn(program: program, reason: "not found in PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw BasicsError.spawn(program: program, reason: "\(error)")
        }
        let collector = PipeCollector()
        let group = DispatchGroup()
        for (index, pipe) in [outPipe, errPipe].enumerated() {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collector.set(index, data)
                group.leave()
            }
        }
        process.waitUntilExit()
        group.wait()
        var status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal { status += 128 }
        return ProcessOutput(
            status: status,
            stdout: String(decoding: collector.get(0), as: UTF8.self),
            stderr: String(decoding: collector.get(1), as: UTF8.self))
    }

    /// Runs a program and throws when it exits non-zero; returns its standard output.
    @discardableResult
    public static func check(
        _ program: String, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> String {
        let output = try run(program, arguments, environment: environment, currentDirectory: currentDirectory)
        guard output.status == 0 else {
            throw BasicsError.processFailed(program: program, status: output.status, stderr: output.stderr)
        }
        return output.stdout
    }

    /// Finds an executable by absolute path or in `PATH`.
    public static func resolveExecutable(_ program: String, environment: [String: String]? = nil) -> String? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? program : nil
        }
        let path = (environment ?? ProcessInfo.processInfo.environment)["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Collects the bytes read from a child's pipes on other threads.
private final class PipeCollector: @unchecked Sendable {
    // Guarded by `lock`: written once per pipe from a reader thread, read after the group is done.
    private var buffers: [Data] = [Data(), Data()]
    private let lock = NSLock()
    func set(_ index: Int, _ data: Data) { lock.lock(); buffers[index] = data; lock.unlock() }
    func get(_ index: Int) -> Data { lock.lock(); defer { lock.unlock() }; return buffers[index] }
}

import CSupport
import Foundation

/// The captured result of a finished child process.
public struct ProcessOutput: Sendable {
    /// The exit status, or 128 + signal number when the process was killed.
    public var status: Int32
    /// Everything the process wrote on standard output.
    public var stdout: String
    /// Everything the process wrote on standard error.
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs child processes and captures their output.
///
/// It uses posix_spawn and poll directly: Foundation's Process costs about ten times more per
/// child, which shows when a repair runs patchelf a few times for a small wheel.
public enum ProcessRunner {
    /// Runs `tool` with `arguments`, waiting for it to finish.
    ///
    /// Both output pipes are drained while the process runs, so a chatty child never blocks on
    /// a full pipe. Standard input is /dev/null.
    public static func run(
        _ tool: HostTool, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> ProcessOutput {
        try run(try executable(tool), arguments, environment: environment, currentDirectory: currentDirectory)
    }

    /// Runs `tool`, handing its output to `onOutput` as it arrives (see the program form).
    public static func stream(
        _ tool: HostTool, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil,
        tickInterval: Double = 0.25, tick: ((pid_t) -> Void)? = nil,
        onOutput: (ArraySlice<UInt8>, Bool) -> Void
    ) throws -> Int32 {
        try stream(
            try executable(tool), arguments, environment: environment, currentDirectory: currentDirectory,
            tickInterval: tickInterval, tick: tick, onOutput: onOutput)
    }

    /// Runs `tool` and throws when it exits non-zero; returns its standard output.
    @discardableResult
    public static func check(
        _ tool: HostTool, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> String {
        try check(try executable(tool), arguments, environment: environment, currentDirectory: currentDirectory)
    }

    /// The path of `tool`, or an error naming what provides it.
    public static func executable(_ tool: HostTool) throws -> String {
        guard let path = tool.resolve() else {
            throw BasicsError.spawn(program: tool.name, reason: "not installed (\(tool.fix); `wheelfarm doctor` checks every tool)")
        }
        return path
    }

    /// Runs `program` with `arguments`, waiting for it to finish. For tests and programs that
    /// are not the host's (a venv's interpreter): the farm itself runs only ``HostTool``s.
    ///
    /// `program` may be a bare name, looked up in `PATH`.
    @_spi(AnyProgram) public static func run(
        _ program: String, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> ProcessOutput {
        var out: [UInt8] = [], err: [UInt8] = []
        let status = try stream(program, arguments, environment: environment, currentDirectory: currentDirectory) { chunk, isError in
            if isError { err.append(contentsOf: chunk) } else { out.append(contentsOf: chunk) }
        }
        return ProcessOutput(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    /// How a child is started beyond its arguments and environment.
    public struct SpawnOptions: Sendable {
        /// A new session (`setsid`): the child has no controlling terminal, so nothing it runs can
        /// push keystrokes into the operator's terminal (TIOCSTI) or receive its signals.
        public var newSession: Bool
        /// A third pipe on the child's fd 3, read into `onControl`: a channel that only a program
        /// handed that descriptor can write, unlike standard output.
        public var controlChannel: Bool

        public init(newSession: Bool = false, controlChannel: Bool = false) {
            self.newSession = newSession
            self.controlChannel = controlChannel
        }
    }

    /// Runs `tool` with ``SpawnOptions``, handing standard output and error to `onOutput` and the
    /// control channel (fd 3) to `onControl`; returns the exit status.
    public static func stream(
        _ tool: HostTool, _ arguments: [String], environment: [String: String]? = nil, options: SpawnOptions,
        tickInterval: Double = 0.25, tick: ((pid_t) -> Void)? = nil,
        onOutput: (ArraySlice<UInt8>, Bool) -> Void, onControl: (ArraySlice<UInt8>) -> Void
    ) throws -> Int32 {
        try spawn(
            try executable(tool), arguments, environment: environment, currentDirectory: nil, options: options,
            tickInterval: tickInterval, tick: tick, onOutput: onOutput, onControl: onControl)
    }

    /// Runs `program`, handing its output to `onOutput` as it arrives (`true` for standard
    /// error), and returns its exit status. `tick` is called about every `tickInterval` seconds
    /// while the child runs (for deadlines and progress); it receives the child's pid.
    @_spi(AnyProgram) public static func stream(
        _ program: String, _ arguments: [String],
        environment: [String: String]? = nil, currentDirectory: String? = nil,
        tickInterval: Double = 0.25, tick: ((pid_t) -> Void)? = nil,
        onOutput: (ArraySlice<UInt8>, Bool) -> Void
    ) throws -> Int32 {
        try spawn(
            program, arguments, environment: environment, currentDirectory: currentDirectory, options: SpawnOptions(),
            tickInterval: tickInterval, tick: tick, onOutput: onOutput, onControl: { _ in })
    }

    static func spawn(
        _ program: String, _ arguments: [String], environment: [String: String]?, currentDirectory: String?, options: SpawnOptions,
        tickInterval: Double, tick: ((pid_t) -> Void)?,
        onOutput: (ArraySlice<UInt8>, Bool) -> Void, onControl: (ArraySlice<UInt8>) -> Void
    ) throws -> Int32 {
        guard let executable = resolveExecutable(program, environment: environment) else {
            throw BasicsError.spawn(program: program, reason: "not found in PATH")
        }
        // Pipes: standard output, standard error, and the control channel when asked for.
        var pipes: [[Int32]] = []
        defer { for pipe in pipes { for fd in pipe where fd >= 0 { close(fd) } } }
        for _ in 0..<(options.controlChannel ? 3 : 2) {
            var fds: [Int32] = [-1, -1]
            guard wf_pipe_cloexec(&fds) == 0 else { throw BasicsError.spawn(program: program, reason: String(cString: strerror(errno))) }
            pipes.append(fds)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (index, pipe) in pipes.enumerated() { posix_spawn_file_actions_adddup2(&actions, pipe[1], Int32(index + 1)) }
        // Nothing else reaches the child: a descriptor some library left open without
        // close-on-exec (a lock, a database) would be held by the child and everything it
        // starts, and pushes the numbers a child's own pipes get above 9, where dash's
        // redirections (mmdebstrap's `cat >&13`) stop working.
        wf_spawn_addclosefrom(&actions, Int32(pipes.count + 1))
        if let currentDirectory { wf_spawn_addchdir(&actions, currentDirectory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if options.newSession { wf_spawnattr_setsid(&attributes) }

        let argv = [executable] + arguments
        let envList = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let spawnStatus = withCStrings(argv) { cArgv in
            withCStrings(envList) { cEnv in posix_spawn(&pid, executable, &actions, &attributes, cArgv, cEnv) }
        }
        for index in pipes.indices { close(pipes[index][1]); pipes[index][1] = -1 }
        guard spawnStatus == 0 else {
            throw BasicsError.spawn(program: program, reason: String(cString: strerror(spawnStatus)))
        }
        // Every pipe is read until the child and everything that inherited it close it.
        var fds = pipes.map { pollfd(fd: $0[0], events: Int16(POLLIN), revents: 0) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var open = fds.count
        var lastTick = Date()
        while open > 0 {
            let ready = poll(&fds, nfds_t(fds.count), tick == nil ? -1 : Int32(tickInterval * 1000))
            if let tick, Date().timeIntervalSince(lastTick) >= tickInterval {
                lastTick = Date()
                tick(pid)
            }
            if ready < 0 { if errno == EINTR { continue }; break }
            if ready == 0 { continue }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 2 { onControl(chunk[0..<n]) } else { onOutput(chunk[0..<n], i == 1) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    fds[i].fd = -1
                    open -= 1
                }
            }
        }
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
        return (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
    }

    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }

    /// Runs a program and throws when it exits non-zero; returns its standard output.
    @discardableResult
    @_spi(AnyProgram) public static func check(
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
            return access(program, X_OK) == 0 ? program : nil
        }
        let path = (environment ?? ProcessInfo.processInfo.environment)["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            var info = stat()
            if access(candidate, X_OK) == 0 && stat(candidate, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { return candidate }
        }
        return nil
    }
}

import Foundation
import WheelfarmBasics

/// A host directory made visible inside the sandbox.
public struct BindMount: Sendable, Hashable {
    /// The host path.
    public var source: String
    /// The path inside the sandbox.
    public var destination: String
    /// Whether the sandbox may only read it.
    public var readOnly: Bool

    /// Creates a bind mount.
    public init(source: String, destination: String, readOnly: Bool) {
        self.source = source
        self.destination = destination
        self.readOnly = readOnly
    }

    /// Parses `SRC:DST[:ro|:rw]`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, parts[0].hasPrefix("/"), parts[1].hasPrefix("/") else { return nil }
        if parts.count == 3 && parts[2] != "ro" && parts[2] != "rw" { return nil }
        self.init(source: parts[0], destination: parts[1], readOnly: parts.count == 3 && parts[2] == "ro")
    }
}

/// Resource limits of one sandbox run.
public struct SandboxLimits: Sendable, Hashable {
    /// Wall-clock time before everything is killed.
    public var wallSeconds: Double
    /// Memory of all processes together (cgroup), or address space per process (rlimit fallback).
    public var memoryBytes: Int64
    /// Number of processes and threads.
    public var maxProcesses: Int
    /// Size of the writable layer (a tmpfs): what the run may write in total.
    public var diskBytes: Int64

    /// Creates limits.
    public init(wallSeconds: Double = 3600, memoryBytes: Int64 = 4 << 30, maxProcesses: Int = 1024, diskBytes: Int64 = 8 << 30) {
        self.wallSeconds = wallSeconds
        self.memoryBytes = memoryBytes
        self.maxProcesses = maxProcesses
        self.diskBytes = diskBytes
    }
}

/// Everything one sandbox run needs.
public struct SandboxConfiguration: Sendable {
    /// Read-only root layers, topmost first (a derived layer, then the toolchain image).
    public var layers: [String]
    /// The command and its arguments.
    public var command: [String]
    /// The complete environment inside (nothing is inherited from the host).
    public var environment: [String: String]
    /// The working directory inside.
    public var workingDirectory: String
    /// Host directories to bind.
    public var mounts: [BindMount]
    /// Whether the host's network is reachable (for debugging by hand; builds never use it).
    public var network: Bool
    /// The uid and gid inside (65534, nobody, by default; 0 only for preparing derived roots).
    public var uid: Int
    public var gid: Int
    /// Resource limits.
    public var limits: SandboxLimits
    /// Asked about once a second while the command runs: true kills everything in the sandbox
    /// (the run ends as killed by SIGKILL). A scheduler cancels a running build with it.
    public var stop: (@Sendable () -> Bool)?
    /// Whether the command gets the control channel on its fd 3 (see ``SandboxResult/control``).
    public var controlChannel = false
    /// What the run leaves for the farm, collected after it (see ``OutputCollection``).
    public var collect: OutputCollection?
    /// The seccomp filter the command runs under (nil: none; the farm's builds always have one).
    public var seccomp: SeccompPolicy?
    /// Host folders to use as the overlay's upper and work folders, so that what the command
    /// writes is kept (a library built into a derived root); nil: a fresh layer on the
    /// size-limited scratch, gone after the run.
    public var keep: (upper: String, work: String)?

    /// Creates a configuration with a minimal default environment.
    public init(
        layers: [String], command: [String], environment: [String: String] = SandboxConfiguration.defaultEnvironment,
        workingDirectory: String = "/tmp", mounts: [BindMount] = [], network: Bool = false,
        uid: Int = 65534, gid: Int = 65534, limits: SandboxLimits = SandboxLimits()
    ) {
        self.layers = layers
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.mounts = mounts
        self.network = network
        self.uid = uid
        self.gid = gid
        self.limits = limits
    }

    /// PATH, HOME and locale: the host's variables (PIP_*, proxies, ...) never leak in.
    public static let defaultEnvironment: [String: String] = [
        "PATH": "/opt/wheelfarm/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1",
        "PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"
    ]
}

/// How a run hands files back: the command writes them to a folder of its own scratch (size
/// limited like all of it), never to a host folder. When the command has ended, every process
/// left in the run is killed, and only then does the sandbox's own init copy the regular files
/// of that folder, each at most `limitBytes`, into `host`, a root-only folder the command never
/// sees. A link, fifo or device there is not copied; it leaves a marker file instead.
public struct OutputCollection: Sendable, Hashable {
    /// The folder inside the sandbox (created empty and writable for the command).
    public var inside: String
    /// The host folder the files are copied to (made by the sandbox, mode 0700).
    public var host: String
    /// The most bytes copied of one file (a copied file that big was cut: the caller refuses it).
    public var limitBytes: Int64
    /// The most files copied.
    public var limitFiles: Int
    /// A shell glob the copied files' names match (`*.whl`); others are not copied, only marked.
    public var pattern: String

    /// The marker left in `host` for entries that are not regular files.
    public static let notAFileMarker = ".wheelfarm-not-a-regular-file"
    /// The marker left in `host` for regular files beyond the limit or not matching the pattern.
    public static let unexpectedFileMarker = ".wheelfarm-unexpected-file"

    public init(inside: String, host: String, limitBytes: Int64 = 2 << 30, limitFiles: Int = 16, pattern: String = "*") {
        self.inside = inside
        self.host = host
        self.limitBytes = limitBytes
        self.limitFiles = limitFiles
        self.pattern = pattern
    }
}

/// How a sandbox run ended.
public enum SandboxOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The command exited with this status.
    case exited(Int32)
    /// The command was killed by this signal.
    case signaled(Int32)
    /// The wall-clock limit was reached and everything was killed.
    case timedOut(seconds: Double)
    /// The memory limit was exceeded and the kernel killed the run.
    case memoryExceeded(bytes: Int64)
    /// The sandbox could not be set up (not the command's fault).
    case setupFailed(String)

    public var description: String {
        switch self {
        case let .exited(code): return "exited with status \(code)"
        case let .signaled(signal): return "killed by signal \(signal)"
        case let .timedOut(seconds): return "timed out after \(Int(seconds)) s: every process was killed"
        case let .memoryExceeded(bytes): return "exceeded the memory limit of \(bytes >> 20) MiB and was killed"
        case let .setupFailed(reason): return "sandbox setup failed: \(reason)"
        }
    }

    /// Whether the command ran and exited with status 0.
    public var succeeded: Bool { self == .exited(0) }
}

/// The result of a run.
public struct SandboxResult: Sendable {
    /// How it ended.
    public var outcome: SandboxOutcome
    /// Wall-clock duration, setup and teardown included.
    public var seconds: Double
    /// What the command wrote to fd 3 when ``SandboxConfiguration/controlChannel`` was set (at
    /// most ``SandboxResult/controlLimit`` bytes). Only a program that keeps that descriptor
    /// can write it: the farm's own helper does, and closes it for everything it starts, so
    /// lines a build prints on its standard output cannot pose as the helper's answers.
    public var control: [UInt8] = []

    /// The most the control channel keeps.
    public static let controlLimit = 1 << 20

    public init(outcome: SandboxOutcome, seconds: Double, control: [UInt8] = []) {
        self.outcome = outcome
        self.seconds = seconds
        self.control = control
    }
}

/// Runs commands in isolated roots. ``NamespaceSandbox`` is the real one; tests use a scripted
/// one (WheelfarmTesting's `ScriptedSandbox`), so the build's logic runs without root.
public protocol SandboxRunner: Sendable {
    /// Runs a command, handing its output to `output` as it arrives (`true` for standard error).
    func run(_ config: SandboxConfiguration, output: (ArraySlice<UInt8>, Bool) -> Void) throws -> SandboxResult
}

/// The exact program a run executes, computed before anything happens (plan, then apply).
public struct SandboxPlan: Sendable {
    /// The host program and its arguments (setpriv, unshare, sh -c SCRIPT, the command).
    public var argv: [String]
    /// The script that runs as the namespace's first process.
    public var script: String
}

/// Runs commands in isolated roots: private mount, PID, IPC, UTS and network namespaces, a
/// fresh overlay over read-only layers on a size-limited tmpfs, pivot_root, an unprivileged uid
/// with no capabilities and `no_new_privs`, nosuid/nodev mounts, cgroup (or rlimit) limits and
/// a wall-clock deadline. Everything is torn down afterwards, also when wheelfarm is killed:
/// the mounts live only in the namespace, and the namespace dies with wheelfarm.
public struct NamespaceSandbox: SandboxRunner {
    /// Where runs keep their (empty, host-side) scratch directories.
    public let scratchDirectory: String

    /// Creates a sandbox runner using `layout`'s scratch directory.
    public init(layout: FarmLayout) {
        scratchDirectory = layout.scratch
    }

    static let setupFailureStatus: Int32 = 125
    static let setupMarker = "wheelfarm-sandbox: "

    /// Computes the plan of a run.
    public func plan(_ config: SandboxConfiguration, scratch: String, cgroupDirectories: [String], rlimits: [String]) -> SandboxPlan {
        let q = Shell.quote
        var lines: [String] = [
            "set -u",
            "fail() { echo \(q(Self.setupMarker))\"$*\" >&2; exit \(Self.setupFailureStatus); }",
            "step() { \"$@\" || fail \"$*\"; }"
        ]
        // Join the run's cgroups first, so that everything after is limited and killable.
        for dir in cgroupDirectories { lines.append("echo $$ > \(q(dir + "/cgroup.procs")) || fail 'cannot join cgroup \(dir)'") }
        let s = q(scratch)
        lines += [
            "step mount --make-rprivate /",
            "step mount -t tmpfs -o size=\(config.limits.diskBytes),mode=0755 wheelfarm-scratch \(s)",
            "step mkdir -p \(s)/upper \(s)/work \(s)/root",
            "step mount -t overlay wheelfarm-root -o \(q("lowerdir=\(config.layers.joined(separator: ":")),upperdir=\(config.keep?.upper ?? "\(scratch)/upper"),workdir=\(config.keep?.work ?? "\(scratch)/work")")),nosuid,nodev \(s)/root",
            "R=\(s)/root",
            "step mount -t proc -o nosuid,nodev,noexec proc \"$R/proc\"",
            "step mount -t tmpfs -o nosuid,noexec,mode=0755,size=65536 wheelfarm-dev \"$R/dev\"",
            // Copies of the host's harmless device nodes, made in one step.
            "step cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom \"$R/dev/\"",
            "ln -s /proc/self/fd \"$R/dev/fd\"; ln -s /proc/self/fd/0 \"$R/dev/stdin\"; ln -s /proc/self/fd/1 \"$R/dev/stdout\"; ln -s /proc/self/fd/2 \"$R/dev/stderr\"",
            "mkdir -p \"$R/dev/shm\" && step mount -t tmpfs -o nosuid,nodev,size=67108864 wheelfarm-shm \"$R/dev/shm\"",
            "mkdir -p \"$R/tmp\" && chmod 1777 \"$R/tmp\""
        ]
        for mount in config.mounts {
            let dst = q(mount.destination)
            lines.append("mkdir -p \"$R\"\(dst) && step mount --bind \(q(mount.source)) \"$R\"\(dst)")
            lines.append("step mount -o remount,bind,\(mount.readOnly ? "ro," : "")nosuid,nodev \"$R\"\(dst)")
        }
        if let collect = config.collect {
            let inside = q(collect.inside)
            lines += [
                "mkdir -p \"$R\"\(inside) && chmod 0777 \"$R\"\(inside)",
                "mkdir -p \"$R/.wheelfarm-collect\" && step mount --bind \(q(collect.host)) \"$R/.wheelfarm-collect\"",
                "step mount -o remount,bind,nosuid,nodev,noexec \"$R/.wheelfarm-collect\""
            ]
        }
        if let seccomp = config.seccomp {
            // The launcher and its filter, read-only; the launcher loads the filter, then runs the command.
            lines += [
                "mkdir -p \"$R/.wheelfarm\" && : > \"$R/.wheelfarm/launch\" && : > \"$R/.wheelfarm/filter\"",
                "step mount --bind \(q(seccomp.launcher)) \"$R/.wheelfarm/launch\"",
                "step mount -o remount,bind,ro,nosuid,nodev \"$R/.wheelfarm/launch\"",
                "step mount --bind \(q(seccomp.program)) \"$R/.wheelfarm/filter\"",
                "step mount -o remount,bind,ro,nosuid,nodev,noexec \"$R/.wheelfarm/filter\""
            ]
        }
        if config.network {
            lines.append("cp /etc/resolv.conf \"$R/etc/resolv.conf\" 2>/dev/null || true")
        } else {
            // Only loopback exists in the new network namespace, and it starts down.
            lines.append("ip link set lo up 2>/dev/null || true")
        }
        lines += [
            "hostname wheelfarm",
            "cd \"$R\" && mkdir .wheelfarm-oldroot && step pivot_root . .wheelfarm-oldroot",
            "cd / && step umount -l /.wheelfarm-oldroot && rmdir /.wheelfarm-oldroot"
        ]
        var exec = ["/usr/bin/setpriv", "--reuid=\(config.uid)", "--regid=\(config.gid)", "--clear-groups"]
        if config.uid != 0 { exec += ["--inh-caps=-all", "--bounding-set=-all"] }
        exec += ["--no-new-privs", "--"]
        if !rlimits.isEmpty { exec += ["/usr/bin/prlimit"] + rlimits + ["--"] }
        if config.seccomp != nil { exec += ["/.wheelfarm/launch", "/.wheelfarm/filter", "--"] }
        exec += ["/usr/bin/env", "-i", "-C", config.workingDirectory]
        exec += config.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        // The shell stays as the namespace's PID 1 and runs the command as its child: dropping
        // privileges clears the parent-death signal, so the command itself cannot be the process
        // that dies with wheelfarm; when this root shell dies, the kernel kills the namespace.
        lines.append(exec.map(q).joined(separator: " ") + " \"$@\"")
        lines.append("status=$?")
        if let collect = config.collect {
            // Nothing of the run may still be writing: every process but this init is killed first.
            let inside = q(collect.inside)
            lines += [
                "n=0; while kill -KILL -1 2>/dev/null && [ $n -lt 40 ]; do n=$((n + 1)); sleep 0.05; done",
                "n=0; for f in \(inside)/* \(inside)/.[!.]* \(inside)/..?*; do",
                "  [ -e \"$f\" ] || [ -h \"$f\" ] || continue",
                "  if [ ! -f \"$f\" ] || [ -h \"$f\" ]; then",
                "    : > \(q("/.wheelfarm-collect/" + OutputCollection.notAFileMarker))",
                "  elif [ $n -ge \(collect.limitFiles) ]; then",
                "    : > \(q("/.wheelfarm-collect/" + OutputCollection.unexpectedFileMarker))",
                "  else",
                "    case \"${f##*/}\" in",
                "      \(collect.pattern.replacingOccurrences(of: "'", with: "")))",
                "        n=$((n + 1)); dd if=\"$f\" of=\"/.wheelfarm-collect/${f##*/}\" bs=1048576 count=\(max(1, collect.limitBytes >> 20)) iflag=nofollow,nonblock 2>/dev/null ;;",
                "      *) : > \(q("/.wheelfarm-collect/" + OutputCollection.unexpectedFileMarker)) ;;",
                "    esac",
                "  fi",
                "done"
            ]
        }
        lines.append("exit $status")
        let script = lines.joined(separator: "\n") + "\n"
        var namespaces = ["--mount", "--pid", "--ipc", "--uts"]
        if !config.network { namespaces.append("--net") }
        let argv =
            ["setpriv", "--pdeathsig", "KILL", "--", "unshare"] + namespaces
            + ["--fork", "--kill-child", "--", "/bin/sh", "-c", script, "wheelfarm-sandbox"] + config.command
        return SandboxPlan(argv: argv, script: script)
    }

    /// Runs a command in the sandbox, handing its output to `output` as it arrives.
    public func run(_ config: SandboxConfiguration, output: (ArraySlice<UInt8>, Bool) -> Void) throws -> SandboxResult {
        guard getuid() == 0 else { throw ToolchainError.needsRoot("the sandbox") }
        for tool in [HostTool.unshare, .setpriv, .mount] where tool.resolve() == nil {
            throw ToolchainError.missingTool(tool.name, hint: tool.fix)
        }
        Self.sweepStale(scratchDirectory)
        let started = Date()
        try Files.makeDirectories(scratchDirectory)
        let id = OwnedFolders.name("run")
        let scratch = "\(scratchDirectory)/\(id)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        if let collect = config.collect {
            // Root's alone: the command, an unprivileged user, cannot enter it.
            try? SafeRemoval.remove(collect.host)
            try FileManager.default.createDirectory(atPath: collect.host, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chmod(collect.host, 0o700)
        }
        let cgroup = RunCgroup(id: id, memoryBytes: config.limits.memoryBytes, maxProcesses: config.limits.maxProcesses)
        defer {
            cgroup.remove()
            rmdir(scratch)
        }
        var rlimits: [String] = []
        if !cgroup.enforcesMemory { rlimits.append("--as=\(config.limits.memoryBytes)") }
        if !cgroup.enforcesProcesses { rlimits.append("--nproc=\(config.limits.maxProcesses)") }
        let plan = plan(config, scratch: scratch, cgroupDirectories: cgroup.directories, rlimits: rlimits)
        let deadline = started.addingTimeInterval(config.limits.wallSeconds)
        var timedOut = false
        var setupError: [UInt8] = []
        let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
        var stopped = false
        var nextStopCheck = started
        var control: [UInt8] = []
        // A new session: the build has no controlling terminal, so it can neither push keystrokes
        // into the operator's terminal (TIOCSTI) nor get its signals.
        let options = ProcessRunner.SpawnOptions(newSession: true, controlChannel: config.controlChannel)
        let status = try ProcessRunner.stream(
            .setpriv, Array(plan.argv.dropFirst()), environment: environment, options: options,
            tick: { pid in
                if !timedOut && Date() >= deadline {
                    timedOut = true
                    cgroup.killAll()
                    kill(pid, SIGKILL)
                }
                if !stopped, let stop = config.stop, Date() >= nextStopCheck {
                    nextStopCheck = Date().addingTimeInterval(1)
                    if stop() {
                        stopped = true
                        cgroup.killAll()
                        kill(pid, SIGKILL)
                    }
                }
            },
            onOutput: { chunk, isError in
                // util-linux's unshare complains when its child was killed by a signal; that is our doing.
                if isError && chunk.starts(with: Array("unshare: sigprocmask".utf8)) { return }
                // The marker line may arrive in one chunk with a tool's own message before it (mount's,
                // say): keep the start of standard error and look for the marker's line at the end.
                if isError && setupError.count < 16384 { setupError.append(contentsOf: chunk.prefix(16384 - setupError.count)) }
                output(chunk, isError)
            },
            onControl: { chunk in
                if control.count < SandboxResult.controlLimit { control.append(contentsOf: chunk.prefix(SandboxResult.controlLimit - control.count)) }
            })
        let seconds = Date().timeIntervalSince(started)
        let outcome: SandboxOutcome
        if timedOut {
            outcome = .timedOut(seconds: config.limits.wallSeconds)
        } else if cgroup.hitMemoryLimit && status != 0 {
            outcome = .memoryExceeded(bytes: config.limits.memoryBytes)
        } else if status == Self.setupFailureStatus,
            let line = String(decoding: setupError, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix(Self.setupMarker) })
        {
            outcome = .setupFailed(String(line.dropFirst(Self.setupMarker.count)).trimmingCharacters(in: .whitespacesAndNewlines))
        } else if status > 128 {
            outcome = .signaled(status - 128)
        } else {
            outcome = .exited(status)
        }
        return SandboxResult(outcome: outcome, seconds: seconds, control: control)
    }

    /// Removes scratch directories and cgroups of runs whose wheelfarm process is gone
    /// (killed with -9, say): nothing of a dead run is left behind for long.
    @discardableResult
    public static func sweepStale(_ scratchDirectory: String) -> SweepReport {
        OwnedFolders.sweep(scratchDirectory, prefix: "run") { name in RunCgroup(adopting: name).remove() }
    }
}

extension RunCgroup {
    /// The cgroups of an earlier run, found by id, to kill and remove them.
    convenience init(adopting id: String) {
        let candidates = [
            "/sys/fs/cgroup/wheelfarm", "/sys/fs/cgroup/memory/wheelfarm", "/sys/fs/cgroup/pids/wheelfarm",
            "/sys/fs/cgroup/unified/wheelfarm", "/sys/fs/cgroup/freezer/wheelfarm"
        ].map { "\($0)/\(id)" }
        self.init(existing: candidates.filter { FileManager.default.fileExists(atPath: $0) })
    }
}

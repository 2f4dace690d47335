import CSeccomp
import Foundation
import WheelfarmBasics

/// The system calls a build never needs, denied with `EPERM` (so the build sees an error, not
/// a crash). The list follows Docker's default profile and bubblewrap's: what lets a process
/// reach beyond its namespaces, touch the kernel's state, or attack other processes.
public enum SeccompRules {
    /// One rule: a system call, and why a build does not get it.
    public struct Rule: Sendable {
        public var name: String
        public var why: String
        /// Only calls whose argument `index` masked with `mask` equals `value` are denied (or,
        /// with `above`, whose argument is greater than `value`).
        public var argument: (index: UInt32, mask: UInt64, value: UInt64)?
        /// Compare the argument as "greater than `value`" instead of "masked equals".
        public var above = false
        /// The error returned (`EPERM`; `ENOSYS` where the C library then falls back to an older call).
        public var errno: Int32
    }

    static func rule(_ name: String, _ why: String, argument: (UInt32, UInt64, UInt64)? = nil, above: Bool = false, errno: Int32 = EPERM) -> Rule {
        Rule(name: name, why: why, argument: argument.map { (index: $0.0, mask: $0.1, value: $0.2) }, above: above, errno: errno)
    }

    /// The socket families a build may open: AF_UNIX (1), AF_INET (2) and AF_INET6 (10). The
    /// network namespace has only loopback for the two IP families; every other family is
    /// refused as unsupported (AF_VSOCK is not isolated by a network namespace and reaches the
    /// hypervisor of a VM; AF_NETLINK, AF_PACKET and the rest are kernel surface a build never
    /// needs: glibc treats a refused netlink socket as "addresses of both kinds").
    static let allowedSocketFamilies: Set<UInt64> = [1, 2, 10]

    /// socket() and socketpair() of every family outside ``allowedSocketFamilies``: equal to
    /// each small family number below AF_INET6, and anything above it.
    static func socketFamilyRules(_ call: String) -> [Rule] {
        let why = "socket families other than AF_UNIX, AF_INET and AF_INET6 (AF_VSOCK reaches the hypervisor; netlink, packet and the rest are kernel surface)"
        return (0...10).filter { !allowedSocketFamilies.contains($0) }.map { family in
            rule(call, why, argument: (0, 0xffff_ffff_ffff_ffff, UInt64(family)), errno: EAFNOSUPPORT)
        } + [rule(call, why, argument: (0, 0, 10), above: true, errno: EAFNOSUPPORT)]
    }

    /// CLONE_NEWUSER (sched.h hides it without _GNU_SOURCE); the same on every Linux architecture.
    static let newUser: UInt64 = 0x1000_0000
    /// TIOCSTI of asm-generic (x86_64 and aarch64 alike).
    static let tiocsti: UInt64 = 0x5412

    /// The rules, in the README's order.
    public static let denied: [Rule] =
        [
            rule("unshare", "a new user namespace gives a fresh set of capabilities over its own namespaces", argument: (0, newUser, newUser)),
            rule("clone", "the same, through clone(CLONE_NEWUSER)", argument: (0, newUser, newUser)),
            rule("clone3", "its flags sit in memory a filter cannot read; glibc falls back to clone", errno: ENOSYS),
            rule("setns", "joining another namespace"),
            rule("keyctl", "the kernel keyring is shared with the host"), rule("add_key", "the kernel keyring"), rule("request_key", "the kernel keyring"),
            rule("ptrace", "tracing other processes"), rule("process_vm_readv", "reading other processes' memory"),
            rule("process_vm_writev", "writing other processes' memory"), rule("kcmp", "comparing other processes' kernel state"),
            rule("bpf", "loading programs into the kernel"), rule("perf_event_open", "kernel and hardware performance counters"),
            rule("userfaultfd", "a common building block of kernel exploits"),
            rule("kexec_load", "replacing the running kernel"), rule("kexec_file_load", "replacing the running kernel"),
            rule("init_module", "loading kernel modules"), rule("finit_module", "loading kernel modules"), rule("delete_module", "unloading kernel modules"),
            rule("mount", "changing the sandbox's mounts"), rule("umount2", "changing the sandbox's mounts"), rule("pivot_root", "changing the root"),
            rule("fsopen", "the new mount API"), rule("fsmount", "the new mount API"), rule("move_mount", "the new mount API"),
            rule("open_tree", "the new mount API"), rule("open_by_handle_at", "opening files by handle escapes a chroot"),
            rule("swapon", "the host's swap"), rule("swapoff", "the host's swap"), rule("reboot", "the host"),
            rule("acct", "process accounting of the host"), rule("settimeofday", "the host's clock"), rule("clock_settime", "the host's clock"),
            rule("clock_adjtime", "the host's clock"), rule("adjtimex", "the host's clock"), rule("syslog", "the kernel's log"),
            rule("quotactl", "file system quotas"), rule("lookup_dcookie", "kernel profiling"), rule("iopl", "raw I/O ports"),
            rule("ioperm", "raw I/O ports"), rule("vhangup", "terminals"),
            rule("ioctl", "TIOCSTI pushes keystrokes into a terminal (the sandbox has none; this closes it twice)", argument: (1, 0xffff_ffff, tiocsti)),
            // io_uring does system calls' work outside the filter's sight; ENOSYS, so that libraries fall back to plain calls.
            rule("io_uring_setup", "io_uring works beside the filter (denied by Docker's and ChromeOS's profiles)", errno: ENOSYS),
            rule("io_uring_enter", "io_uring", errno: ENOSYS), rule("io_uring_register", "io_uring", errno: ENOSYS),
            rule("fanotify_init", "watching the file systems of the host"), rule("name_to_handle_at", "file handles (see open_by_handle_at)"),
            rule("personality", "changing the execution domain (READ_IMPLIES_EXEC and the like)", argument: (0, 0xffff_ffff, 0x0040_0000)),
            rule("mount_setattr", "the new mount API"), rule("fspick", "the new mount API"),
            rule("nfsservctl", "the kernel's NFS server"), rule("uselib", "an obsolete loader interface")
        ] + socketFamilyRules("socket") + socketFamilyRules("socketpair")
}

/// A compiled filter and the launcher that loads it in the sandbox.
public struct SeccompPolicy: Sendable, Hashable {
    /// The host path of the `wheelfarm-launch` executable.
    public var launcher: String
    /// The host path of the BPF program.
    public var program: String

    public init(launcher: String, program: String) {
        self.launcher = launcher
        self.program = program
    }

    /// The launcher beside the running executable (`wheelfarm-launch`), or `WHEELFARM_LAUNCH`.
    public static func locateLauncher(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let path = environment["WHEELFARM_LAUNCH"], !path.isEmpty { return FileManager.default.isExecutableFile(atPath: path) ? path : nil }
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let beside = ((executable as NSString).deletingLastPathComponent as NSString).appendingPathComponent("wheelfarm-launch")
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : nil
    }

    /// Compiles the rules (with `allowed` system calls left out: a recipe's `sandbox.allow_syscalls`)
    /// into a BPF program for this host's architecture, written to `path`.
    public static func compile(to path: String, allowed: Set<String> = []) throws -> [String] {
        guard let context = seccomp_init(SCMP_ACT_ALLOW) else { throw SeccompError("libseccomp could not start a filter") }
        defer { seccomp_release(context) }
        // Calls of another ABI (32-bit x86 on x86_64) are refused outright: the rules name only the native ones.
        _ = seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, 0x0005_0000 | UInt32(EPERM))
        var unknown: [String] = []
        for rule in SeccompRules.denied where !allowed.contains(rule.name) {
            let number = seccomp_syscall_resolve_name(rule.name)
            if number == __NR_SCMP_ERROR {
                unknown.append(rule.name)
                continue
            }
            let action: UInt32 = 0x0005_0000 | UInt32(rule.errno & 0xffff)
            let status: Int32
            if let argument = rule.argument, rule.above {
                var comparison = scmp_arg_cmp(arg: argument.index, op: SCMP_CMP_GT, datum_a: argument.value, datum_b: 0)
                status = seccomp_rule_add_array(context, action, number, 1, &comparison)
            } else if let argument = rule.argument {
                var comparison = scmp_arg_cmp(arg: argument.index, op: SCMP_CMP_MASKED_EQ, datum_a: argument.mask, datum_b: argument.value)
                status = seccomp_rule_add_array(context, action, number, 1, &comparison)
            } else {
                status = seccomp_rule_add_array(context, action, number, 0, nil)
            }
            guard status == 0 else { throw SeccompError("cannot add the rule for \(rule.name): \(String(cString: strerror(-status)))") }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SeccompError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let exported = seccomp_export_bpf(context, fd)
        guard exported == 0 else { throw SeccompError("cannot export the filter: \(String(cString: strerror(-exported)))") }
        return unknown
    }

    /// The farm's policy: the launcher and a filter compiled into `directory` (once per
    /// process, and again when the allowed calls differ).
    public static func prepare(in directory: String, allowed: Set<String> = []) throws -> SeccompPolicy {
        guard let launcher = locateLauncher() else {
            throw SeccompError("wheelfarm-launch, which loads the sandbox's seccomp filter, is not beside the wheelfarm executable (swift build makes both)")
        }
        let rules = SeccompRules.denied.map { "\($0.name) \($0.argument.map { "\($0.index) \($0.mask) \($0.value)" } ?? "") \($0.above) \($0.errno)" }
        let key = Digest.hex(Digest.sha256(Array((rules + ["allowed"] + allowed.sorted()).joined(separator: "\n").utf8))).prefix(16)
        let path = "\(directory)/seccomp-\(key).bpf"
        try cache.withLock { _ in
            // The program depends only on the rules (their version is in the name) and the allowed calls:
            // one made by an earlier process is reused.
            guard !FileManager.default.fileExists(atPath: path) else { return }
            try Files.makeDirectories(directory)
            let temporary = "\(path).\(OwnedFolders.name("tmp"))"
            _ = try compile(to: temporary, allowed: allowed)
            guard rename(temporary, path) == 0 else { throw SeccompError("cannot store the filter at \(path)") }
        }
        return SeccompPolicy(launcher: launcher, program: path)
    }

    /// Serialises making the filter file between this process's threads.
    private static let cache = Locked<Set<String>>([])
}

/// The seccomp filter could not be made.
public struct SeccompError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

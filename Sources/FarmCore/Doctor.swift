import BuildSandbox
import Foundation
import PackageIndex
import WheelAudit
import WheelfarmBasics

/// One finding of `wheelfarm doctor`.
public struct HostCheck: Codable, Sendable, Equatable {
    /// Whether the farm can rely on it.
    public enum Status: String, Codable, Sendable {
        /// Present and working.
        case ok
        /// Missing or broken, and a configured target needs it: the farm cannot build.
        case missing
        /// Missing or doubtful, but nothing configured needs it (or the farm works around it).
        case warning
    }

    /// `program`, `kernel`, `emulation`, `host` or `network`.
    public var category: String
    /// What was checked (a program's name, a kernel feature).
    public var name: String
    public var status: Status
    /// What was found: a path and version, or what is wrong.
    public var detail: String
    /// What fixes it: a Debian package to install, a setting.
    public var fix: String?

    public init(category: String, name: String, status: Status, detail: String, fix: String? = nil) {
        self.category = category
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// Checks the host for everything the farm uses: the programs of ``HostTool/all``, the kernel
/// features of the sandbox, emulation for foreign targets, root, free space, and whether the
/// package index and the Debian mirror answer. It changes nothing.
public struct Doctor: Sendable {
    /// The farm's home (free space is measured where it is, or would be; leftovers are looked for there).
    public var layout: FarmLayout
    var home: String { layout.path }
    /// The targets the farm is configured to build: they decide what is needed.
    public var targets: [ToolchainSpec]
    /// Whether to ask the package index and the mirror.
    public var checkNetwork: Bool
    /// The package index, when one could be found (nil: reported as a problem).
    public var index: IndexConfiguration?

    /// Creates a doctor for a home and its targets.
    public init(layout: FarmLayout, targets: [ToolchainSpec], index: IndexConfiguration?, checkNetwork: Bool = true) {
        self.layout = layout
        self.targets = targets
        self.index = index
        self.checkNetwork = checkNetwork
    }

    /// Runs every check, in a stable order.
    public func run() -> [HostCheck] {
        var checks = [rootCheck(), spaceCheck(), leftoversCheck()]
        checks += programChecks()
        checks += kernelChecks()
        checks += emulationChecks()
        if checkNetwork { checks += networkChecks() }
        return checks
    }

    /// Architectures (wheel spelling) of the targets that this host runs only under emulation.
    var foreignArchitectures: [String] {
        Array(Set(targets.filter(\.needsEmulation).map(\.architecture))).sorted()
    }

    func needed(_ tool: HostTool) -> Bool {
        switch tool.need {
        case .always: return true
        case .optional: return false
        case .emulation:
            if tool.name.hasPrefix("qemu-") { return foreignArchitectures.contains { HostTool.emulator(for: $0) == tool } }
            return !foreignArchitectures.isEmpty
        }
    }

    // MARK: - Host

    func rootCheck() -> HostCheck {
        getuid() == 0
            ? HostCheck(category: "host", name: "root", status: .ok, detail: "running as root")
            : HostCheck(
                category: "host", name: "root", status: .missing, detail: "running as uid \(getuid()): namespaces, mounts and cgroups need root",
                fix: "run wheelfarm as root")
    }

    func spaceCheck() -> HostCheck {
        // The home may not exist yet: measure the file system it will be made on.
        var path = home
        while !FileManager.default.fileExists(atPath: path) && path != "/" && !path.isEmpty { path = (path as NSString).deletingLastPathComponent }
        var info = statvfs()
        guard statvfs(path.isEmpty ? "/" : path, &info) == 0 else {
            return HostCheck(category: "host", name: "free space", status: .warning, detail: "cannot measure \(path): \(String(cString: strerror(errno)))")
        }
        let free = Double(info.f_bavail) * Double(info.f_frsize) / Double(1 << 30)
        let detail = String(format: "%.1f GiB free for %@ (an image takes about 1 GiB, a build up to its 8 GiB scratch)", free, home)
        if free < 5 {
            return HostCheck(category: "host", name: "free space", status: .missing, detail: detail, fix: "free space, or set `home` on a larger file system")
        }
        if free < 20 { return HostCheck(category: "host", name: "free space", status: .warning, detail: detail, fix: "20 GiB or more is comfortable") }
        return HostCheck(category: "host", name: "free space", status: .ok, detail: detail)
    }

    /// What dead processes left in the home (`wheelfarm gc` or the next build removes it).
    func leftoversCheck() -> HostCheck {
        let folders = Leftovers.find(layout)
        let mounts = Leftovers.mounts(layout)
        if folders.isEmpty && mounts.isEmpty {
            return HostCheck(category: "host", name: "leftovers", status: .ok, detail: "no leftovers of dead processes in \(home)")
        }
        let what = (mounts.map { "mount \($0)" } + folders).prefix(5).joined(separator: ", ")
        return HostCheck(
            category: "host", name: "leftovers", status: .warning,
            detail: "\(folders.count) folders and \(mounts.count) mounts left by processes that are gone: \(what)", fix: "wheelfarm gc")
    }

    // MARK: - Programs

    func programChecks() -> [HostCheck] {
        var checks: [HostCheck] = []
        for tool in HostTool.all {
            let needed = needed(tool)
            if tool == .patchelf { checks.append(patchelfCheck()); continue }
            guard let path = tool.resolve() else {
                let why = needed ? tool.purpose : "\(tool.purpose) (not needed by the configured targets)"
                checks.append(
                    HostCheck(category: "program", name: tool.name, status: needed ? .missing : .warning, detail: "not installed: \(why)", fix: tool.fix))
                continue
            }
            checks.append(HostCheck(category: "program", name: tool.name, status: .ok, detail: "\(path): \(tool.purpose)"))
            if tool == .python3 { checks.append(pipCheck(path)) }
        }
        return checks
    }

    func patchelfCheck() -> HostCheck {
        do {
            let patchelf = try Patchelf.locate()
            return HostCheck(category: "program", name: "patchelf", status: .ok, detail: "\(patchelf.path) \(patchelf.version): \(HostTool.patchelf.purpose)")
        } catch {
            return HostCheck(
                category: "program", name: "patchelf", status: .missing, detail: "\(error)",
                fix: "\(HostTool.patchelf.fix); Debian 12's patchelf 0.14.3 is too old")
        }
    }

    func pipCheck(_ python: String) -> HostCheck {
        let output = try? ProcessRunner.run(.python3, ["-m", "pip", "--version"], environment: ["PATH": HostTool.searchPath, "LANG": "C.UTF-8"])
        guard let output, output.status == 0 else {
            return HostCheck(
                category: "program", name: "pip", status: .missing, detail: "\(python) has no pip: build requirements are downloaded with it",
                fix: "apt-get install python3-pip")
        }
        let version = output.stdout.split(separator: " ").prefix(2).joined(separator: " ")
        return HostCheck(category: "program", name: "pip", status: .ok, detail: "\(version) for \(python): downloads build requirements")
    }

    // MARK: - Kernel

    func kernelChecks() -> [HostCheck] {
        var checks: [HostCheck] = []
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        let hasOverlay = filesystems.split(separator: "\n").contains { $0.hasSuffix("\toverlay") }
        checks.append(
            hasOverlay
                ? HostCheck(category: "kernel", name: "overlayfs", status: .ok, detail: "every sandbox writes to an overlay over its read-only image")
                : HostCheck(
                    category: "kernel", name: "overlayfs", status: .missing, detail: "the kernel offers no overlay file system", fix: "modprobe overlay"))
        checks.append(namespaceCheck())
        checks.append(cgroupCheck())
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        checks.append(
            status.contains("Seccomp:")
                ? HostCheck(category: "kernel", name: "seccomp", status: .ok, detail: "system call filters are available")
                : HostCheck(
                    category: "kernel", name: "seccomp", status: .missing, detail: "the kernel has no seccomp", fix: "a kernel built with CONFIG_SECCOMP_FILTER"
                ))
        return checks
    }

    func namespaceCheck() -> HostCheck {
        let kinds = ["mnt", "pid", "ipc", "uts", "net"]
        let absent = kinds.filter { !FileManager.default.fileExists(atPath: "/proc/self/ns/\($0)") }
        guard absent.isEmpty else {
            return HostCheck(
                category: "kernel", name: "namespaces", status: .missing, detail: "no \(absent.joined(separator: ", ")) namespaces",
                fix: "a kernel with CONFIG_NAMESPACES and its mount, PID, IPC, UTS and network namespaces")
        }
        guard getuid() == 0 else {
            return HostCheck(category: "kernel", name: "namespaces", status: .warning, detail: "present; not tried (needs root)")
        }
        let tried = try? ProcessRunner.run(.unshare, ["--mount", "--pid", "--ipc", "--uts", "--net", "--fork", "--", "/bin/true"])
        guard let tried, tried.status == 0 else {
            return HostCheck(
                category: "kernel", name: "namespaces", status: .missing,
                detail: "unshare could not make them: \(tried?.stderr.trimmingCharacters(in: .whitespacesAndNewlines) ?? "did not run")",
                fix: "allow namespaces to root (a container host may forbid them)")
        }
        return HostCheck(category: "kernel", name: "namespaces", status: .ok, detail: "mount, PID, IPC, UTS and network namespaces work")
    }

    func cgroupCheck() -> HostCheck {
        let root = "/sys/fs/cgroup"
        let fm = FileManager.default
        if let controllers = try? String(contentsOfFile: "\(root)/cgroup.controllers", encoding: .utf8) {
            let present = Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init))
            let lacking = ["memory", "pids"].filter { !present.contains($0) }
            return lacking.isEmpty
                ? HostCheck(category: "kernel", name: "cgroups", status: .ok, detail: "v2 with memory and pids: per-build limits and cgroup.kill")
                : HostCheck(
                    category: "kernel", name: "cgroups", status: .warning, detail: "v2 without \(lacking.joined(separator: ", ")): limits fall back to rlimits",
                    fix: "enable the controllers (systemd: Delegate=, or cgroup_enable= on the kernel command line)")
        }
        let memory = fm.fileExists(atPath: "\(root)/memory/memory.limit_in_bytes")
        let pids = fm.fileExists(atPath: "\(root)/pids/pids.max") || fm.fileExists(atPath: "\(root)/pids")
        let kill = fm.fileExists(atPath: "\(root)/unified/cgroup.procs")
        if memory && pids {
            return HostCheck(
                category: "kernel", name: "cgroups", status: .ok,
                detail: "v1 memory and pids" + (kill ? ", v2 hierarchy for cgroup.kill" : ", freezer to stop runs"))
        }
        return HostCheck(
            category: "kernel", name: "cgroups", status: .warning, detail: "no memory or pids controller: limits fall back to rlimits",
            fix: "mount the cgroup v2 hierarchy with memory and pids")
    }

    // MARK: - Emulation

    func emulationChecks() -> [HostCheck] {
        foreignArchitectures.map { architecture in
            let name = "binfmt qemu-\(architecture)"
            guard HostTool.emulator(for: architecture) != nil else {
                return HostCheck(category: "emulation", name: name, status: .missing, detail: "no emulator is known for \(architecture)")
            }
            let entry = "/proc/sys/fs/binfmt_misc/qemu-\(architecture)"
            if let state = try? String(contentsOfFile: entry, encoding: .utf8), state.hasPrefix("enabled") {
                return HostCheck(category: "emulation", name: name, status: .ok, detail: "\(architecture) binaries run through qemu-user")
            }
            // Registration happens on first use when binfmt-support knows the emulator.
            let registrable = HostTool.updateBinfmts.resolve() != nil && FileManager.default.fileExists(atPath: "/usr/share/binfmts/qemu-\(architecture)")
            return registrable
                ? HostCheck(category: "emulation", name: name, status: .ok, detail: "not registered yet; wheelfarm registers it on first use")
                : HostCheck(
                    category: "emulation", name: name, status: .missing, detail: "\(architecture) binaries cannot run on this host",
                    fix: "apt-get install qemu-user-static binfmt-support")
        }
    }

    // MARK: - Network

    func networkChecks() -> [HostCheck] {
        var checks: [HostCheck] = []
        if let index {
            do {
                let files = try IndexClient(configuration: index).files(of: "pip")
                checks.append(
                    HostCheck(
                        category: "network", name: "package index", status: .ok,
                        detail: "\(index.indexURL) (\(index.source)) answers: \(files.count) files of pip"))
            } catch {
                checks.append(
                    HostCheck(
                        category: "network", name: "package index", status: .missing, detail: "\(index.indexURL) (\(index.source)): \(error)",
                        fix: "check the network, or set index.url / pip's index-url"))
            }
        } else {
            checks.append(
                HostCheck(
                    category: "network", name: "package index", status: .missing, detail: "no package index is configured",
                    fix: "set index.url, PIP_INDEX_URL or pip.conf's index-url"))
        }
        guard let mirror = DebianMirror.host() else {
            checks.append(
                HostCheck(
                    category: "network", name: "Debian mirror", status: .warning,
                    detail: "the host's apt sources name no Debian archive: mmdebstrap uses its built-in default",
                    fix: "add the archive to /etc/apt/sources.list.d/"))
            return checks
        }
        for suite in Set(targets.map(\.suite)).sorted() {
            let url = mirror.releaseURL(suite: suite)
            let result = try? ProcessRunner.run(.curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", "--retry", "2", url])
            let code = result?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            checks.append(
                code == "200"
                    ? HostCheck(category: "network", name: "Debian mirror (\(suite))", status: .ok, detail: "\(url) answers")
                    : HostCheck(
                        category: "network", name: "Debian mirror (\(suite))", status: .missing,
                        detail:
                            "\(url): \(code.isEmpty ? (result?.stderr.trimmingCharacters(in: .whitespacesAndNewlines) ?? "curl did not run") : "HTTP \(code)")",
                        fix: "check the network and the host's apt sources"))
        }
        return checks
    }
}

import Foundation
import WheelfarmBasics

/// A per-run control group that limits memory and processes and can kill everything in it.
///
/// Hosts differ: systemd hosts are cgroup v2 only (`memory.max`, `pids.max`, `cgroup.kill`);
/// others mount v1 controllers (`memory`, `pids`, `freezer`) beside a v2 hierarchy without
/// controllers, which still offers `cgroup.kill`. Both are handled; without any, limits fall
/// back to rlimits set by the sandbox itself.
public final class RunCgroup: @unchecked Sendable {
    /// Directories the sandboxed processes join (their `cgroup.procs`).
    public private(set) var directories: [String] = []
    private var memoryDirectory: String?
    private var killDirectory: String?
    private var freezerDirectory: String?
    private var unifiedMemory = false

    /// Whether a memory limit is enforced by a cgroup (otherwise rlimits are needed).
    public var enforcesMemory: Bool { memoryDirectory != nil }
    /// Whether a process limit is enforced by a cgroup.
    public private(set) var enforcesProcesses = false

    /// Creates the cgroup(s) for run `id` with the given limits; never throws: what cannot be
    /// created is simply not enforced by cgroups.
    public init(id: String, memoryBytes: Int64?, maxProcesses: Int?) {
        let fm = FileManager.default
        let root = "/sys/fs/cgroup"
        if fm.fileExists(atPath: "\(root)/cgroup.controllers") {
            // Pure v2.
            let parent = "\(root)/wheelfarm"
            try? Files.makeDirectories(parent)
            _ = Self.write("+memory +pids", to: "\(parent)/cgroup.subtree_control")
            let dir = "\(parent)/\(id)"
            if (try? fm.createDirectory(atPath: dir, withIntermediateDirectories: false)) != nil {
                directories.append(dir)
                killDirectory = dir
                if let memoryBytes, Self.write("\(memoryBytes)", to: "\(dir)/memory.max") {
                    _ = Self.write("0", to: "\(dir)/memory.swap.max")
                    memoryDirectory = dir
                    unifiedMemory = true
                }
                if let maxProcesses, Self.write("\(maxProcesses)", to: "\(dir)/pids.max") { enforcesProcesses = true }
            }
            return
        }
        // Hybrid or v1.
        if let memoryBytes, let dir = Self.make("\(root)/memory", id), Self.write("\(memoryBytes)", to: "\(dir)/memory.limit_in_bytes") {
            _ = Self.write("\(memoryBytes)", to: "\(dir)/memory.memsw.limit_in_bytes")
            directories.append(dir)
            memoryDirectory = dir
        }
        if let maxProcesses, let dir = Self.make("\(root)/pids", id), Self.write("\(maxProcesses)", to: "\(dir)/pids.max") {
            directories.append(dir)
            enforcesProcesses = true
        }
        if let dir = Self.make("\(root)/unified", id), fm.fileExists(atPath: "\(dir)/cgroup.kill") {
            directories.append(dir)
            killDirectory = dir
        } else if let dir = Self.make("\(root)/freezer", id) {
            directories.append(dir)
            freezerDirectory = dir
        }
    }

    /// Takes over existing cgroup directories (of a run whose wheelfarm died).
    init(existing: [String]) {
        directories = existing
        for dir in existing {
            if FileManager.default.fileExists(atPath: "\(dir)/cgroup.kill") { killDirectory = dir }
            if dir.contains("/freezer/") { freezerDirectory = dir }
        }
    }

    private static func make(_ hierarchy: String, _ id: String) -> String? {
        guard FileManager.default.fileExists(atPath: hierarchy) else { return nil }
        let parent = "\(hierarchy)/wheelfarm"
        try? Files.makeDirectories(parent)
        let dir = "\(parent)/\(id)"
        return (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)) != nil ? dir : nil
    }

    @discardableResult
    static func write(_ value: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }

    /// Process ids still in the run's cgroups.
    public var processes: [pid_t] {
        var pids = Set<pid_t>()
        for dir in directories {
            let text = (try? String(contentsOfFile: "\(dir)/cgroup.procs", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") { if let pid = pid_t(line) { pids.insert(pid) } }
        }
        return pids.sorted()
    }

    /// Kills every process of the run, including daemons that left the process group.
    public func killAll() {
        if let killDirectory, Self.write("1", to: "\(killDirectory)/cgroup.kill") { return }
        if let freezerDirectory { _ = Self.write("FROZEN", to: "\(freezerDirectory)/freezer.state") }
        for _ in 0..<3 {
            let pids = processes
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
        }
        if let freezerDirectory { _ = Self.write("THAWED", to: "\(freezerDirectory)/freezer.state") }
    }

    /// Whether the kernel killed a process of the run for exceeding the memory limit.
    public var hitMemoryLimit: Bool {
        guard let dir = memoryDirectory else { return false }
        if unifiedMemory {
            let events = (try? String(contentsOfFile: "\(dir)/memory.events", encoding: .utf8)) ?? ""
            return events.split(separator: "\n").contains { $0.hasPrefix("oom_kill ") && !$0.hasSuffix(" 0") }
        }
        let control = (try? String(contentsOfFile: "\(dir)/memory.oom_control", encoding: .utf8)) ?? ""
        if control.split(separator: "\n").contains(where: { $0.hasPrefix("oom_kill ") && !$0.hasSuffix(" 0") }) { return true }
        let failures = (try? String(contentsOfFile: "\(dir)/memory.failcnt", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return failures.map { $0 != "0" } ?? false
    }

    /// Kills what is left and removes the cgroups (they must be empty to go).
    public func remove() {
        killAll()
        for dir in directories.reversed() {
            for _ in 0..<50 {
                if rmdir(dir) == 0 || errno == ENOENT { break }
                usleep(20_000)
            }
        }
        directories = []
    }
}

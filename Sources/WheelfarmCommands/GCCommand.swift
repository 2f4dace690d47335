import ArgumentParser
import FarmStore
import Foundation
import WheelfarmBasics

/// `wheelfarm gc`: removes what nothing needs any more, keeping what published wheels' records need.
public struct GCCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove old toolchain images, logs, sdists and unreferenced build artifacts.",
        discussion: """
        Removed: toolchain images no target points at (and derived roots over them); work folders \
        of processes that are gone; logs and records of failed builds older than gc.keep_days; \
        wheels, signatures and provenance in the build store that their folder's record no longer \
        names and the repository does not hold; sdists no stored build record names, older than \
        gc.keep_days. Kept: everything a stored build's record names (its wheel, log, sdist), \
        so each published wheel stays verifiable and reproducible. The repository itself is never touched.
        """)
    @OptionGroup var farm: FarmOptions
    @Flag(help: "Only say what would be removed.") var dryRun = false
    @Option(help: "Keep logs, failed builds and unreferenced sdists younger than this many days (default: gc.keep_days).") var keepDays: Int?
    @Flag(help: "Run even while jobs are running (they may lose the image they use).") var force = false

    public init() {}

    struct Removal {
        var path: String
        var reason: String
        var bytes: Int64
    }

    public func run() throws {
        let context = try farm.open()
        let running = try context.jobs.jobs(states: [.running]).filter { $0.owner.map(ProcessIdentity.isAlive) ?? false }
        if !running.isEmpty && !force {
            FileHandle.standardError.write(Data("wheelfarm: \(running.count) job(s) are running (\(running.map { String($0.number) }.joined(separator: ", "))); run gc when they end, or --force\n".utf8))
            throw ExitCode(75)
        }
        let removals = plan(home: context.home.path, keepDays: keepDays ?? context.configuration.keepDays)
        var total: Int64 = 0
        for removal in removals {
            say("\(dryRun ? "would remove" : "removing") \(removal.path) (\(Self.size(removal.bytes))): \(removal.reason)")
            total += removal.bytes
            guard !dryRun else { continue }
            // Renamed first, so that a removal cut short never leaves half a folder under a live name.
            let doomed = (removal.path as NSString).deletingLastPathComponent + "/.removing-\(getpid())-" + (removal.path as NSString).lastPathComponent
            if rename(removal.path, doomed) == 0 { try? FileManager.default.removeItem(atPath: doomed) }
        }
        say(removals.isEmpty ? "nothing to remove" : "\(dryRun ? "would free" : "freed") \(Self.size(total)) in \(removals.count) item\(removals.count == 1 ? "" : "s")")
    }

    static func size(_ bytes: Int64) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) : bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(bytes) / Double(1 << 20)) : "\(bytes / 1024) KiB"
    }

    func plan(home: String, keepDays: Int) -> [Removal] {
        let fm = FileManager.default
        let cutoff = Date().addingTimeInterval(-Double(keepDays) * 86400)
        var removals: [Removal] = []
        func list(_ path: String) -> [String] { ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }
        func json(_ path: String) -> [String: Any]? { fm.contents(atPath: path).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } }
        func modified(_ path: String) -> Date { ((try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? Date() }

        // Images no target points at, and derived roots over them.
        let pointed = Set(list("\(home)/toolchains").compactMap { json("\(home)/toolchains/\($0)")?["digest"] as? String })
        for digest in list("\(home)/images") where !pointed.contains(digest) {
            removals.append(Removal(path: "\(home)/images/\(digest)", reason: "toolchain image no target points at", bytes: Self.usage("\(home)/images/\(digest)")))
        }
        for key in list("\(home)/derived") {
            guard let base = json("\(home)/derived/\(key)/manifest.json")?["base_digest"] as? String, !pointed.contains(base) else { continue }
            removals.append(Removal(path: "\(home)/derived/\(key)", reason: "derived root over a removed image", bytes: Self.usage("\(home)/derived/\(key)")))
        }
        // Work folders of processes that are gone.
        for name in list("\(home)/jobs") {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), kill(pid, 0) != 0, errno == ESRCH else { continue }
            removals.append(Removal(path: "\(home)/jobs/\(name)", reason: "work folder of a process that is gone", bytes: Self.usage("\(home)/jobs/\(name)")))
        }
        // The build store.
        var neededSdists = Set<String>()
        for project in list("\(home)/builds") {
            for version in list("\(home)/builds/\(project)") {
                for target in list("\(home)/builds/\(project)/\(version)") {
                    let folder = "\(home)/builds/\(project)/\(version)/\(target)"
                    let record = json("\(folder)/record.json")
                    let outcome = record?["outcome"] as? String
                    if outcome == "succeeded" {
                        if let sdist = (record?["sdist"] as? [String: Any])?["sha256"] as? String { neededSdists.insert(sdist) }
                        let wheel = record?["wheel"] as? String ?? ""
                        for file in list(folder) where file.hasSuffix(".whl") || file.hasSuffix(".whl.minisig") || file.hasSuffix(".whl.intoto.json") {
                            let wheelName = file.hasSuffix(".whl") ? file : String(file[..<(file.range(of: ".whl")?.upperBound ?? file.endIndex)])
                            guard wheelName != wheel, !fm.fileExists(atPath: "\(home)/repository/files/\(project)/\(wheelName)") else { continue }
                            removals.append(Removal(path: "\(folder)/\(file)", reason: "earlier build not named by the record and not published", bytes: Self.usage("\(folder)/\(file)")))
                        }
                        for file in ["failed-build.log", "failed-record.json"] where fm.fileExists(atPath: "\(folder)/\(file)") && modified("\(folder)/\(file)") < cutoff {
                            removals.append(Removal(path: "\(folder)/\(file)", reason: "log of a failed rebuild older than \(keepDays) days", bytes: Self.usage("\(folder)/\(file)")))
                        }
                    } else if modified(folder) < cutoff && !list(folder).contains(where: { $0.hasSuffix(".whl") }) {
                        removals.append(Removal(path: folder, reason: "failed build older than \(keepDays) days", bytes: Self.usage(folder)))
                    }
                }
            }
        }
        // Sdists no stored build needs.
        for digest in list("\(home)/sources") where !neededSdists.contains(digest) && modified("\(home)/sources/\(digest)") < cutoff {
            removals.append(Removal(path: "\(home)/sources/\(digest)", reason: "sdist no stored build names, older than \(keepDays) days", bytes: Self.usage("\(home)/sources/\(digest)")))
        }
        return removals
    }

    /// Bytes under a path (files only; hard links counted each time).
    static func usage(_ path: String) -> Int64 {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        if !isDirectory.boolValue { return Int64(((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0) }
        var total: Int64 = 0
        if let walker = FileManager.default.enumerator(atPath: path) {
            while let item = walker.nextObject() as? String {
                var st = stat()
                if lstat("\(path)/\(item)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { total += Int64(st.st_size) }
            }
        }
        return total
    }
}

import BuildSandbox
import Foundation
import WheelBuilder
import WheelfarmBasics

/// Decides what a farm's home no longer needs (``plan()``), then removes it (``apply(_:)``).
///
/// Removed: toolchain images no target points at (and derived roots over them, or made before
/// the image's last refresh and named by no stored build); leftovers of
/// dead processes; logs and records of failed builds older than `keepDays`; wheels, signatures
/// and provenance in the build store that their folder's record no longer names and the
/// repository does not hold; sdists no stored build names, older than `keepDays`. Kept:
/// everything a stored build's record names, so each published wheel stays verifiable and
/// reproducible. The repository itself is never touched.
public struct GarbageCollector: Sendable {
    /// One thing to remove, and why.
    public struct Removal: Sendable, Equatable {
        public var path: String
        public var reason: String
        public var bytes: Int64
    }

    public let layout: FarmLayout
    public let toolchains: ToolchainStore
    public let keepDays: Int
    let now: Date

    public init(toolchains: ToolchainStore, keepDays: Int, now: Date = Date()) {
        self.layout = toolchains.layout
        self.toolchains = toolchains
        self.keepDays = keepDays
        self.now = now
    }

    /// What would be removed, in a stable order.
    public func plan() throws -> [Removal] {
        let fm = FileManager.default
        let cutoff = now.addingTimeInterval(-Double(keepDays) * 86400)
        var removals: [Removal] = []
        func list(_ path: String) -> [String] { ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }
        func modified(_ path: String) -> Date { ((try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? now }
        func add(_ path: String, _ reason: String) { removals.append(Removal(path: path, reason: reason, bytes: Self.usage(path))) }

        let pointed = toolchains.pointedDigests()
        for digest in list(layout.images) where !pointed.contains(digest) { add(layout.image(digest), "toolchain image no target points at") }
        var failedRecords: [String] = []
        let builds = BuildStore(layout: layout).all { directory, _ in failedRecords.append(directory) }
        if let unreadable = failedRecords.first {
            throw BuildStoreError(description: "\(unreadable)/record.json cannot be read; gc removes nothing while a record is unreadable")
        }
        // A refresh makes derived roots again; the ones before it go once no stored build names
        // them and the refresh is a day old (no build that started on them can still be running).
        let namedRoots = Set(builds.compactMap { $0.record.outcome == .succeeded ? $0.record.derivedRoot : nil })
        let refreshed = toolchains.lastRefresh()
        for key in list(layout.derived) {
            guard let root = toolchains.storedDerivedRoot(key: key) else { continue }
            if !pointed.contains(root.baseDigest) {
                add(layout.derivedRoot(key), "derived root over a removed image")
            } else if !namedRoots.contains(key), let refresh = refreshed[root.baseDigest], root.builtAt < refresh, now.timeIntervalSince(refresh) > 86_400 {
                add(layout.derivedRoot(key), "derived root made before its image's last refresh, named by no stored build")
            }
        }
        for leftover in Leftovers.find(layout) { add(leftover, "left by a process that is gone") }
        var neededSdists = Set<String>()
        for (folder, record) in builds {
            if record.outcome == .succeeded {
                if let sdist = record.sdist?.sha256, !sdist.isEmpty { neededSdists.insert(sdist) }
                let project = (folder as NSString).deletingLastPathComponent.split(separator: "/").dropLast().last.map(String.init) ?? record.project
                for file in list(folder) where file.hasSuffix(".whl") || file.hasSuffix(".whl.minisig") || file.hasSuffix(".whl.intoto.json") {
                    let wheelName = file.hasSuffix(".whl") ? file : String(file[..<(file.range(of: ".whl")?.upperBound ?? file.endIndex)])
                    guard wheelName != record.wheel, !fm.fileExists(atPath: "\(layout.repository)/files/\(project)/\(wheelName)") else { continue }
                    add("\(folder)/\(file)", "earlier build not named by the record and not published")
                }
                for file in ["failed-build.log", "failed-record.json"]
                where fm.fileExists(atPath: "\(folder)/\(file)") && modified("\(folder)/\(file)") < cutoff {
                    add("\(folder)/\(file)", "log of a failed rebuild older than \(keepDays) days")
                }
            } else if modified(folder) < cutoff && !list(folder).contains(where: { $0.hasSuffix(".whl") }) {
                add(folder, "failed build older than \(keepDays) days")
            }
        }
        for digest in list(layout.sources) where !neededSdists.contains(digest) && modified("\(layout.sources)/\(digest)") < cutoff {
            add("\(layout.sources)/\(digest)", "sdist no stored build names, older than \(keepDays) days")
        }
        return removals
    }

    /// Removes what `plan()` chose: each is renamed aside first, so a removal cut short never
    /// leaves half a folder under a live name, then deleted (unmounted first, never across file
    /// systems). Returns what could not be removed.
    @discardableResult
    public func apply(_ removals: [Removal]) -> [(Removal, String)] {
        var problems: [(Removal, String)] = []
        for removal in removals {
            let directory = (removal.path as NSString).deletingLastPathComponent
            let doomed = "\(directory)/\(OwnedFolders.name(".removing-\((removal.path as NSString).lastPathComponent)"))"
            let target = rename(removal.path, doomed) == 0 ? doomed : removal.path
            do { try SafeRemoval.remove(target) } catch { problems.append((removal, "\(error)")) }
        }
        return problems
    }

    /// Bytes under a path (regular files; hard links counted each time).
    static func usage(_ path: String) -> Int64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        if (info.st_mode & S_IFMT) != S_IFDIR { return Int64(info.st_size) }
        var total: Int64 = 0
        if let walker = FileManager.default.enumerator(atPath: path) {
            while let item = walker.nextObject() as? String {
                if lstat("\(path)/\(item)", &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { total += Int64(info.st_size) }
            }
        }
        return total
    }
}

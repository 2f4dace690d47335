import BuildSandbox
import Foundation
import WheelfarmBasics

/// What dead processes left in a farm's home: build work folders, half-made images and derived
/// roots, sandbox scratch and its cgroups, uploads and checks in the repository's incoming
/// folder, and partial files a killed writer left in the build store. Every folder is named by its owner (``OwnedFolders``), so a living process's work is
/// never taken; each is unmounted beneath before it is deleted, never across file systems.
public enum Leftovers {
    /// The places owner-stamped folders live in, with the name prefix of each kind.
    static func places(_ layout: FarmLayout) -> [(directory: String, prefix: String)] {
        [
            (layout.jobs, "*"), (layout.images, ".staging-*"), (layout.images, ".removing-*"), (layout.derived, ".staging-*"),
            (layout.derived, ".building-*"), (layout.scratch, "run"), ("\(layout.repository)/incoming", "*")
        ]
    }

    /// The leftovers present now, without removing them.
    public static func find(_ layout: FarmLayout) -> [String] {
        places(layout).flatMap { place in OwnedFolders.stale(in: place.directory, prefix: place.prefix).map { "\(place.directory)/\($0)" } }
            + partialFiles(layout)
    }

    /// Hidden partial files a killed writer left beside the build store's files
    /// (`.<name>.tmp-<pid>-<n>`, see `Files.writeAtomically`), when that process is gone.
    static func partialFiles(_ layout: FarmLayout) -> [String] {
        func list(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
        var found: [String] = []
        for project in list(layout.builds) where !project.hasPrefix(".") {
            for version in list("\(layout.builds)/\(project)") where !version.hasPrefix(".") {
                for target in list("\(layout.builds)/\(project)/\(version)") where !target.hasPrefix(".") {
                    let folder = "\(layout.builds)/\(project)/\(version)/\(target)"
                    for name in list(folder) where name.hasPrefix(".") {
                        guard let pid = Files.partialWriter(of: name), pid != getpid(), !ProcessIdentity.pidExists(pid) else { continue }
                        found.append("\(folder)/\(name)")
                    }
                }
            }
        }
        return found
    }

    /// Removes them all; says what it removed and what it could not.
    @discardableResult
    public static func sweep(_ layout: FarmLayout) -> SweepReport {
        var report = SweepReport()
        for place in places(layout) {
            let part =
                place.directory == layout.scratch
                ? NamespaceSandbox.sweepStale(layout.scratch)
                : OwnedFolders.sweep(place.directory, prefix: place.prefix)
            report.removed += part.removed
            report.failed += part.failed
        }
        for file in partialFiles(layout) {
            if unlink(file) == 0 || errno == ENOENT {
                report.removed.append(file)
            } else {
                report.failed.append("\(file): \(String(cString: strerror(errno)))")
            }
        }
        return report
    }

    /// Mounts under the home that no living process holds (the sandbox's and the image builds'
    /// mounts live in private namespaces, so any seen from here are a leak).
    public static func mounts(_ layout: FarmLayout) -> [String] {
        SafeRemoval.mounts(beneath: layout.path)
    }
}

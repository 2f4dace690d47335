import BuildSandbox
import Foundation
import WheelfarmBasics

/// What dead processes left in a farm's home: build work folders, half-made images and derived
/// roots, sandbox scratch and its cgroups, uploads and checks in the repository's incoming
/// folder. Every folder is named by its owner (``OwnedFolders``), so a living process's work is
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
        return report
    }

    /// Mounts under the home that no living process holds (the sandbox's and the image builds'
    /// mounts live in private namespaces, so any seen from here are a leak).
    public static func mounts(_ layout: FarmLayout) -> [String] {
        SafeRemoval.mounts(beneath: layout.path)
    }
}

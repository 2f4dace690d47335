import Foundation
import WheelfarmBasics

/// Debian's `Contents-<arch>` index of a suite's `main` component (every file of every package,
/// about 12 MB compressed), fetched from the host's mirror once, kept under the home's cache, and
/// searched for the files a failed build missed. Fetched only when a build fails and only
/// refreshed after a week: a diagnosis is worth a download, a build is not.
public struct ContentsIndex: Sendable {
    /// Where the indexes are kept.
    public let cache: String
    /// The mirror they come from.
    public let mirror: DebianMirror
    /// The largest index accepted (bookworm's is 12 MB).
    public static let sizeLimit = 64 << 20
    /// How old a kept index may be before it is fetched again.
    public static let maxAge: TimeInterval = 7 * 86_400

    /// An index over `cache` (for example `<home>/cache/contents`) and `mirror`.
    public init(cache: String, mirror: DebianMirror) {
        self.cache = cache
        self.mirror = mirror
    }

    /// The kept index of `suite` and `architecture` (Debian's names), fetched when missing or stale.
    public func file(suite: String, architecture: String) throws -> String {
        try fetch("main/Contents-\(architecture).gz", suite: suite, as: "Contents-\(suite)-\(architecture).gz", names: [architecture])
    }

    /// The kept source package index (`Sources.xz`) of `suite`, fetched when missing or stale:
    /// which source package builds a binary one, and what it needs to build.
    public func sourcesFile(suite: String) throws -> String {
        try fetch("main/source/Sources.xz", suite: suite, as: "Sources-\(suite).xz", names: [])
    }

    /// The paragraph of the source package that builds the binary package `package` (or is
    /// named so), from `suite`'s Sources index; nil when there is none.
    public func sourceParagraph(building package: String, suite: String) throws -> String? {
        let index = try sourcesFile(suite: suite)
        // awk over the paragraphs (RS=""): the package is matched as a whole word of Binary, or as Package itself.
        let script = #"""
            xz -dc -- "$1" | awk -v want="$2" 'BEGIN { RS = ""; FS = "\n" }
              { hit = 0
                for (i = 1; i <= NF; i++) {
                  if ($i == "Package: " want) hit = 1
                  if ($i ~ /^Binary: /) { n = split(substr($i, 9), names, /, */); for (j = 1; j <= n; j++) if (names[j] == want) hit = 1 }
                }
                if (hit) { print; exit } }'; exit 0
            """#
        let result = try ProcessRunner.run(.sh, ["-c", script, "sh", index, package])
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : String(text.prefix(64 << 10))
    }

    /// Fetches `dists/<suite>/<remote>` into the cache as `local` unless a kept copy is younger than ``maxAge``.
    func fetch(_ remote: String, suite: String, as local: String, names: [String]) throws -> String {
        let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !suite.isEmpty, ([suite] + names).allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(safe.contains) }) else {
            throw BasicsError.io(path: cache, reason: "unexpected suite or architecture name")
        }
        let path = "\(cache)/\(local)"
        if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
            Date().timeIntervalSince(modified) < Self.maxAge
        {
            return path
        }
        try Files.makeDirectories(cache)
        let partial = "\(cache)/.\(local).\(getpid())"
        defer { unlink(partial) }
        let url = "\(mirror.archive)/dists/\(suite)/\(remote)"
        let result = try ProcessRunner.run(
            .curl,
            [
                "-sS", "-f", "-L", "--retry", "3", "--retry-delay", "2", "--connect-timeout", "30", "--max-time", "300",
                "--max-filesize", String(Self.sizeLimit), "-o", partial, url
            ])
        guard result.status == 0 else {
            throw BasicsError.io(path: url, reason: "cannot fetch the index: \(result.stderr.prefix(300))")
        }
        guard rename(partial, path) == 0 else { throw BasicsError.io(path: path, reason: String(cString: strerror(errno))) }
        return path
    }

    /// The index lines holding any of `patterns` (fixed strings, never patterns of the shell or
    /// of grep: they come from a build's log), at most `limit` of them.
    public func lines(containing patterns: [String], suite: String, architecture: String, limit: Int = 2000) throws -> [String] {
        guard !patterns.isEmpty else { return [] }
        let index = try file(suite: suite, architecture: architecture)
        let work = try TemporaryDirectory(prefix: "wheelfarm-contents")
        defer { work.remove() }
        try Files.writeAtomically(Array((patterns.joined(separator: "\n") + "\n").utf8), to: "\(work.path)/patterns")
        let script = #"gzip -dc -- "$1" | grep -F -f "$2" | head -n "$3"; exit 0"#
        let result = try ProcessRunner.run(.sh, ["-c", script, "sh", index, "\(work.path)/patterns", String(limit)])
        return result.stdout.split(separator: "\n").map(String.init)
    }
}

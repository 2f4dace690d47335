import Foundation
import WheelfarmBasics

/// A toolchain image plus distribution packages a recipe needs (libxml2-dev for lxml, say),
/// stored as an overlay layer over the image and cached by the image digest and package list.
public struct DerivedRoot: Codable, Sendable {
    /// The cache key: the base image digest and the sorted package list.
    public var key: String
    /// The base image's digest.
    public var baseDigest: String
    /// The packages asked for.
    public var requested: [String]
    /// Packages (with versions) the layer added to the base.
    public var added: [InstalledPackage]
    /// When the layer was made.
    public var builtAt: Date
    /// The sandbox layers to use, topmost first (filled in when loaded).
    public var layers: [String] = []

    enum CodingKeys: String, CodingKey {
        case key, requested, added
        case baseDigest = "base_digest"
        case builtAt = "built_at"
    }
}

/// Makes and caches derived roots.
public struct DerivedRoots: Sendable {
    /// The toolchain store the bases come from.
    public let store: ToolchainStore

    /// Creates a cache over `store`'s home.
    public init(store: ToolchainStore) { self.store = store }

    /// The cache key of a base image and a package list.
    public static func key(baseDigest: String, packages: [String]) -> String {
        let text = "wheelfarm-derived-v1\n\(baseDigest)\n" + Set(packages).sorted().joined(separator: "\n")
        return Digest.hex(Digest.sha256(Array(text.utf8)))
    }

    /// The derived root of `base` with `packages`, installing them (with the network, as root,
    /// outside any build) only the first time. Returns it and whether it was made now.
    public func ensure(base: ToolchainImage, packages: [String], progress: (String) -> Void) throws -> (DerivedRoot, built: Bool) {
        let baseRoot = store.rootfs(digest: base.digest)
        if packages.isEmpty {
            let root = DerivedRoot(key: base.digest, baseDigest: base.digest, requested: [], added: [], builtAt: base.builtAt, layers: [baseRoot])
            return (root, false)
        }
        let key = Self.key(baseDigest: base.digest, packages: packages)
        let dir = "\(store.home.derived)/\(key)"
        if let data = FileManager.default.contents(atPath: "\(dir)/manifest.json"), var root = try? ToolchainStore.decoder.decode(DerivedRoot.self, from: data) {
            root.layers = ["\(dir)/layer", baseRoot]
            return (root, false)
        }
        guard getuid() == 0 else { throw ToolchainError.needsRoot("preparing a derived root") }
        let requested = Set(packages).sorted()
        progress("installing \(requested.joined(separator: " ")) over \(base.spec.name) (once; cached as \(key.prefix(12)))")
        try FileManager.default.createDirectory(atPath: store.home.derived, withIntermediateDirectories: true)
        let staging = "\(store.home.derived)/.staging-\(key.prefix(16))-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        for sub in ["upper", "work", "merged"] { try FileManager.default.createDirectory(atPath: "\(staging)/\(sub)", withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let script = """
        set -e
        S="$1"; shift
        mount -t overlay wheelfarm-derive -o "lowerdir=$BASE,upperdir=$S/upper,workdir=$S/work" "$S/merged"
        mount -t proc proc "$S/merged/proc"
        cp /etc/resolv.conf "$S/merged/etc/resolv.conf"
        chroot "$S/merged" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \\
          sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" && apt-get clean && rm -rf /var/lib/apt/lists/*' sh "$@"
        chroot "$S/merged" dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\n' > "$S/packages.tsv"
        """
        var log: [UInt8] = []
        let status = try ProcessRunner.stream("unshare", ["--mount", "--pid", "--fork", "--", "/bin/sh", "-c", script, "sh", staging] + requested,
                                              environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "BASE": baseRoot, "LANG": "C.UTF-8"]) { chunk, _ in
            log.append(contentsOf: chunk)
        }
        guard status == 0 else {
            throw ToolchainError.buildFailed(target: base.spec.name, step: "installing \(requested.joined(separator: " "))", detail: String(decoding: log, as: UTF8.self))
        }
        let after = (try? String(contentsOfFile: "\(staging)/packages.tsv", encoding: .utf8)) ?? ""
        let basePackages = Set(base.packages)
        let added = after.split(separator: "\n").compactMap { line -> InstalledPackage? in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return parts.count == 3 ? InstalledPackage(name: parts[0], version: parts[1], architecture: parts[2]) : nil
        }.filter { !basePackages.contains($0) }.sorted { $0.name < $1.name }
        // The host's resolver configuration must not stay in the layer.
        try? FileManager.default.removeItem(atPath: "\(staging)/upper/etc/resolv.conf")
        var root = DerivedRoot(key: key, baseDigest: base.digest, requested: requested, added: added, builtAt: Date())
        let building = "\(store.home.derived)/.building-\(key.prefix(16))-\(getpid())"
        try FileManager.default.createDirectory(atPath: building, withIntermediateDirectories: true)
        guard rename("\(staging)/upper", "\(building)/layer") == 0 else {
            throw ToolchainError.buildFailed(target: base.spec.name, step: "storing the derived root", detail: String(cString: strerror(errno)))
        }
        try Files.writeAtomically(Array(try ToolchainStore.encoder.encode(root)), to: "\(building)/manifest.json")
        if rename(building, dir) != 0 {
            // Another process made the same root meanwhile: keep theirs.
            try? FileManager.default.removeItem(atPath: building)
        }
        root.layers = ["\(dir)/layer", baseRoot]
        return (root, true)
    }
}

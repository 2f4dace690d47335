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

/// A library built from its Debian source package into `/opt/wheelfarm/prefix` of a derived root.
public struct SourceBuild: Sendable, Hashable {
    /// The Debian source package.
    public var source: String
    /// The shell script that builds and installs it, run in the unpacked source as the
    /// unprivileged user with CC, CXX and PREFIX set.
    public var script: String

    /// Creates a source build.
    public init(source: String, script: String) {
        self.source = source
        self.script = script
    }
}

/// Makes and caches derived roots.
public struct DerivedRoots: Sendable {
    /// The toolchain store the bases come from.
    public let store: ToolchainStore

    /// Creates a cache over `store`'s home.
    public init(store: ToolchainStore) { self.store = store }

    /// Where source builds install, inside the root.
    public static let prefix = "/opt/wheelfarm/prefix"

    /// The cache key of a base image, a package list and source builds.
    public static func key(baseDigest: String, packages: [String], sources: [SourceBuild] = [], useGcc: Bool = false) -> String {
        var text = "wheelfarm-derived-v1\n\(baseDigest)\n" + Set(packages).sorted().joined(separator: "\n")
        if !sources.isEmpty && useGcc { text += "\ncompiler gcc" }
        for build in sources { text += "\nsource \(build.source) \(Digest.hex(Digest.sha256(Array(build.script.utf8))))" }
        return Digest.hex(Digest.sha256(Array(text.utf8)))
    }

    /// The derived root of `base` with `packages`, installing them (with the network, as root,
    /// outside any build) only the first time. Returns it and whether it was made now.
    ///
    /// `sources` are then built from Debian source packages (fetched with the network) with the
    /// target's compiler, as the unprivileged user, into ``prefix``, which the root's loader
    /// configuration lists so that audits resolve and repairs graft what builds link.
    /// `useGcc` builds them with the root's gcc even on a zig target.
    public func ensure(base: ToolchainImage, packages: [String], sources: [SourceBuild] = [], useGcc: Bool = false, progress: (String) -> Void) throws -> (DerivedRoot, built: Bool) {
        let baseRoot = store.rootfs(digest: base.digest)
        if packages.isEmpty && sources.isEmpty {
            let root = DerivedRoot(key: base.digest, baseDigest: base.digest, requested: [], added: [], builtAt: base.builtAt, layers: [baseRoot])
            return (root, false)
        }
        let key = Self.key(baseDigest: base.digest, packages: packages, sources: sources, useGcc: useGcc)
        let dir = "\(store.home.derived)/\(key)"
        if let data = FileManager.default.contents(atPath: "\(dir)/manifest.json"), var root = try? ToolchainStore.decoder.decode(DerivedRoot.self, from: data) {
            root.layers = ["\(dir)/layer", baseRoot]
            return (root, false)
        }
        guard getuid() == 0 else { throw ToolchainError.needsRoot("preparing a derived root") }
        let requested = Set(packages).sorted()
        let what = requested + sources.map { "\($0.source) (from source)" }
        progress("installing \(what.joined(separator: " ")) over \(base.spec.name) (once; cached as \(key.prefix(12)))")
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
        if [ $# -gt 0 ]; then
        chroot "$S/merged" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \\
          sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" && apt-get clean && rm -rf /var/lib/apt/lists/*' sh "$@"
        fi
        \(Self.sourceBuildScript(sources, spec: base.spec, useGcc: useGcc))
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
            + Self.builtSources(upper: "\(staging)/upper")
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

    /// The part of the preparation script that fetches, builds and installs source packages,
    /// run in the outer script where `$S/merged` is the root being prepared.
    static func sourceBuildScript(_ sources: [SourceBuild], spec: ToolchainSpec, useGcc: Bool) -> String {
        guard !sources.isEmpty else { return "" }
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var compiler = useGcc ? [:] : spec.compilerEnvironment
        compiler["_PYTHON_SYSCONFIGDATA_NAME"] = nil
        if compiler.isEmpty { compiler = ["CC": "gcc", "CXX": "g++"] }
        compiler["PATH"] = compiler["PATH"].map { $0 + ":/usr/sbin:/sbin" } ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        let environment = (compiler.merging(["PREFIX": prefix, "HOME": "/tmp", "LANG": "C.UTF-8"]) { $1 }).sorted { $0.key < $1.key }
            .map { quote("\($0.key)=\($0.value)") }.joined(separator: " ")
        // deb-src entries mirror the root's deb entries (one-line and deb822 formats).
        var script = """
        R="$S/merged"
        sed -n 's/^deb /deb-src /p' "$R/etc/apt/sources.list" > "$R/etc/apt/sources.list.d/wheelfarm-src.list" 2>/dev/null || true
        for f in "$R"/etc/apt/sources.list.d/*.sources; do if [ -e "$f" ]; then sed 's/^Types: deb$/Types: deb-src/' "$f" > "${f%.sources}-wheelfarm-src.sources"; fi; done
        chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 apt-get update -qq
        mkdir -p "$R\(prefix)/lib" "$R\(prefix)/include" "$R/opt/wheelfarm/src"
        chown -R 65534:65534 "$R\(prefix)"

        """
        for build in sources {
            script += """
            chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 sh -c 'cd /opt/wheelfarm/src && apt-get source -qq --only-source "$1"' sh \(quote(build.source))
            dir=$(cd "$R/opt/wheelfarm/src" && ls -d \(quote(build.source))-*/ | head -n 1)
            [ -n "$dir" ] || { echo "apt-get source \(build.source) unpacked nothing" >&2; exit 1; }
            chown -R 65534:65534 "$R/opt/wheelfarm/src/$dir"
            chroot "$R" /usr/bin/setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/env -i \(environment) \\
              sh -ec 'cd "/opt/wheelfarm/src/$1" && eval "$2"' sh "$dir" \(quote(build.script))
            rm -rf "$R/opt/wheelfarm/src/$dir"

            """
        }
        script += """
        chown -R 0:0 "$R\(prefix)"
        echo \(prefix)/lib > "$R/etc/ld.so.conf.d/wheelfarm-prefix.conf"
        rm -f "$R/etc/apt/sources.list.d/wheelfarm-src.list" "$R"/etc/apt/sources.list.d/*-wheelfarm-src.sources
        rm -rf "$R"/var/lib/apt/lists/*
        """
        return script
    }

    /// The source packages a layer built, from the `.dsc` files `apt-get source` left.
    static func builtSources(upper: String) -> [InstalledPackage] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(upper)/opt/wheelfarm/src")) ?? []
        return files.filter { $0.hasSuffix(".dsc") }.compactMap { file in
            let parts = file.dropLast(4).split(separator: "_", maxSplits: 1).map(String.init)
            return parts.count == 2 ? InstalledPackage(name: parts[0], version: parts[1], architecture: "source") : nil
        }.sorted { $0.name < $1.name }
    }
}

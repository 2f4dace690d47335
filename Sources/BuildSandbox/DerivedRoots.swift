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

    public init(key: String, baseDigest: String, requested: [String], added: [InstalledPackage], builtAt: Date, layers: [String] = []) {
        self.key = key
        self.baseDigest = baseDigest
        self.requested = requested
        self.added = added
        self.builtAt = builtAt
        self.layers = layers
    }

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
    /// The shell script that configures it (optional), run in the unpacked source as the
    /// unprivileged user with CC, CXX and PREFIX set.
    public var configure: String?
    /// The shell script that builds and installs it, run the same way after `configure`.
    public var script: String

    /// Creates a source build.
    public init(source: String, configure: String? = nil, script: String) {
        self.source = source
        self.configure = configure
        self.script = script
    }

    /// What the cache key counts: the scripts (a build without a configure step keeps the key it always had).
    var digest: String {
        let text = configure.map { "\($0)\n--\n\(script)" } ?? script
        return Digest.hex(Digest.sha256(Array(text.utf8)))
    }
}

/// Makes and caches derived roots.
public struct DerivedRoots: Sendable {
    /// The toolchain store the bases come from.
    public let store: ToolchainStore
    /// Where `source_libraries` builds run: offline, unprivileged and limited, like a wheel build.
    let sandbox: any SandboxRunner
    /// The system-call filter of those runs.
    let seccomp: SeccompPolicy?

    /// Creates a cache over `store`'s home; source builds run in `sandbox` (the namespace sandbox by default).
    public init(store: ToolchainStore, sandbox: (any SandboxRunner)? = nil, seccomp: SeccompPolicy? = nil) {
        self.store = store
        self.sandbox = sandbox ?? NamespaceSandbox(layout: store.layout)
        self.seccomp = seccomp
    }

    /// Where source builds install, inside the root.
    public static let prefix = "/opt/wheelfarm/prefix"

    /// The cache key of a base image, a package list and source builds. `epoch` is the base's
    /// latest refresh: a refresh makes every derived root again, so a security update of a
    /// package only a recipe installs reaches the builds too. `aptSources` are the extra entries.
    public static func key(
        baseDigest: String, packages: [String], sources: [SourceBuild] = [], useGcc: Bool = false, epoch: String? = nil,
        aptSources: AptSources? = nil
    ) -> String {
        var text = "wheelfarm-derived-v1\n\(baseDigest)\n" + Set(packages).sorted().joined(separator: "\n")
        if !sources.isEmpty && useGcc { text += "\ncompiler gcc" }
        for build in sources { text += "\nsource \(build.source) \(build.digest)" }
        if let epoch { text += "\nrefreshed \(epoch)" }
        if let aptSources, !aptSources.lines.isEmpty { text += "\napt " + aptSources.lines.joined(separator: "\napt ") }
        return Digest.hex(Digest.sha256(Array(text.utf8)))
    }

    /// The key of the derived root of `base` (with its refresh) in this store.
    public func key(base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool) -> String {
        packages.isEmpty && sources.isEmpty
            ? base.digest
            : Self.key(
                baseDigest: base.digest, packages: packages, sources: sources, useGcc: useGcc, epoch: base.refreshedAt, aptSources: store.aptSources)
    }

    /// The derived root stored under `key`, with its layers, when it is there.
    public func stored(key: String) -> DerivedRoot? {
        let dir = store.layout.derivedRoot(key)
        guard let data = FileManager.default.contents(atPath: "\(dir)/manifest.json"),
            var root = try? ToolchainStore.decoder.decode(DerivedRoot.self, from: data)
        else { return nil }
        root.layers = ["\(dir)/layer", store.rootfs(digest: root.baseDigest)]
        return root
    }

    /// The derived root of `base` with `packages`, installing them (with the network, as root,
    /// outside any build) only the first time. Returns it and whether it was made now.
    ///
    /// `sources` are fetched from Debian source packages with the network, outside any build,
    /// then configured and built with the target's compiler in the sandbox (offline, as the
    /// unprivileged user, under the limits and the seccomp filter of wheel builds) into
    /// ``prefix``, which the root's loader configuration lists so that audits resolve and repairs
    /// graft what builds link. `useGcc` builds them with the root's gcc even on a zig target.
    public func ensure(
        base: ToolchainImage, packages: [String], sources: [SourceBuild] = [], useGcc: Bool = false, progress: (String) -> Void
    ) throws -> (DerivedRoot, built: Bool) {
        let baseRoot = store.rootfs(digest: base.digest)
        if packages.isEmpty && sources.isEmpty {
            let root = DerivedRoot(key: base.digest, baseDigest: base.digest, requested: [], added: [], builtAt: base.builtAt, layers: [baseRoot])
            return (root, false)
        }
        let key = key(base: base, packages: packages, sources: sources, useGcc: useGcc)
        let dir = store.layout.derivedRoot(key)
        if let root = stored(key: key) { return (root, false) }
        guard getuid() == 0 else { throw ToolchainError.needsRoot("preparing a derived root") }
        let requested = Set(packages).sorted()
        let what = requested + sources.map { "\($0.source) (from source)" }
        progress("installing \(what.joined(separator: " ")) over \(base.spec.name) (once; cached as \(key.prefix(12)))")
        try Files.makeDirectories(store.layout.derived)
        Self.sweep(store.layout)
        let staging = "\(store.layout.derived)/\(OwnedFolders.name(".staging-\(key.prefix(16))"))"
        for sub in ["upper", "work", "merged"] { try Files.makeDirectories("\(staging)/\(sub)") }
        defer { try? SafeRemoval.remove(staging) }
        if let extra = store.aptSources, !extra.lines.isEmpty {
            try Files.writeAtomically(Array(extra.file.utf8), to: "\(staging)/extra.list")
        }
        let script = Self.preparationScript(sources: sources, spec: base.spec, useGcc: useGcc)
        var log: [UInt8] = []
        // Its own mount and PID namespaces, dying with wheelfarm: a kill leaves no mount and no process.
        let status = try ProcessRunner.stream(
            .setpriv, PrivateNamespaces.shell(script, [staging] + requested),
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "BASE": baseRoot, "LANG": "C.UTF-8"]
        ) { chunk, _ in
            if log.count < 1 << 20 { log.append(contentsOf: chunk) }
        }
        guard status == 0 else {
            let (step, output) = Self.failedStep(staging, fallback: String(decoding: log, as: UTF8.self))
            throw ToolchainError.buildFailed(target: base.spec.name, step: step, detail: output)
        }
        if !sources.isEmpty {
            try buildSources(sources, staging: staging, base: base, useGcc: useGcc, progress: progress)
        }
        let after = (try? String(contentsOfFile: "\(staging)/packages.tsv", encoding: .utf8)) ?? ""
        let basePackages = Set(base.packages)
        let added =
            after.split(separator: "\n").compactMap { line -> InstalledPackage? in
                let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                return parts.count == 3 ? InstalledPackage(name: parts[0], version: parts[1], architecture: parts[2]) : nil
            }.filter { !basePackages.contains($0) }.sorted { $0.name < $1.name }
            + Self.builtSources(upper: "\(staging)/upper")
        // The host's resolver configuration must not stay in the layer.
        try? FileManager.default.removeItem(atPath: "\(staging)/upper/etc/resolv.conf")
        var root = DerivedRoot(key: key, baseDigest: base.digest, requested: requested, added: added, builtAt: Date())
        let building = "\(store.layout.derived)/\(OwnedFolders.name(".building-\(key.prefix(16))"))"
        try Files.makeDirectories(building)
        guard rename("\(staging)/upper", "\(building)/layer") == 0 else {
            throw ToolchainError.buildFailed(target: base.spec.name, step: "storing the derived root", detail: String(cString: strerror(errno)))
        }
        try Files.writeAtomically(Array(try ToolchainStore.encoder.encode(root)), to: "\(building)/manifest.json")
        if rename(building, dir) != 0 {
            // Another process made the same root meanwhile: keep theirs.
            try? SafeRemoval.remove(building)
        }
        root.layers = ["\(dir)/layer", baseRoot]
        return (root, true)
    }

    /// Configures and builds each source library in the sandbox, over the base image and the
    /// layer made so far, which it keeps writing to; then gives the prefix to root and lists it
    /// on the loader path. The unpacked sources go; their `.dsc` files stay as the record.
    func buildSources(_ sources: [SourceBuild], staging: String, base: ToolchainImage, useGcc: Bool, progress: (String) -> Void) throws {
        let upper = "\(staging)/upper"
        let sourcesFolder = "\(upper)/opt/wheelfarm/src"
        var environment = useGcc ? [:] : base.spec.compilerEnvironment
        environment["_PYTHON_SYSCONFIGDATA_NAME"] = nil
        if environment.isEmpty { environment = ["CC": "gcc", "CXX": "g++"] }
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        environment.merge(["PREFIX": Self.prefix, "HOME": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]) { $1 }
        let unpacked = (try? FileManager.default.contentsOfDirectory(atPath: sourcesFolder)) ?? []
        for build in sources {
            guard let folder = unpacked.filter({ $0.hasPrefix("\(build.source)-") && Files.isDirectory("\(sourcesFolder)/\($0)") }).sorted().first else {
                throw ToolchainError.buildFailed(
                    target: base.spec.name, step: "fetching the Debian source of \(build.source)", detail: "apt-get source unpacked nothing")
            }
            let steps =
                (build.configure.map { [("configuring \(build.source) (source_libraries)", $0)] } ?? [])
                + [("building \(build.source) from source (source_libraries)", build.script)]
            let before = Self.files(under: "\(upper)\(Self.prefix)")
            for (step, script) in steps {
                progress(step)
                var config = SandboxConfiguration(
                    layers: [store.rootfs(digest: base.digest)], command: ["sh", "-ec", "cd \"/opt/wheelfarm/src/$1\" && eval \"$2\"", "sh", folder, script],
                    environment: environment, workingDirectory: "/tmp",
                    limits: SandboxLimits(wallSeconds: 3600, memoryBytes: 4 << 30, maxProcesses: 2048, diskBytes: 8 << 30))
                config.keep = (upper: upper, work: "\(staging)/work")
                config.seccomp = seccomp
                var output: [UInt8] = []
                let result = try sandbox.run(config) { chunk, _ in if output.count < 8 << 20 { output.append(contentsOf: chunk) } }
                guard result.outcome.succeeded else {
                    throw ToolchainError.buildFailed(
                        target: base.spec.name, step: step, detail: String(decoding: output, as: UTF8.self) + "\n(\(result.outcome))")
                }
            }
            try SafeRemoval.remove("\(sourcesFolder)/\(folder)")
            // Which files this source package put in the prefix, as dpkg lists a package's: the
            // audit then names the source package and version of a library it grafts from there.
            let version = (try? FileManager.default.contentsOfDirectory(atPath: sourcesFolder))?
                .first { $0.hasPrefix("\(build.source)_") && $0.hasSuffix(".dsc") }
                .map { String($0.dropFirst(build.source.count + 1).dropLast(4)) }
            if let version, !version.contains("/") {
                let installed = Self.files(under: "\(upper)\(Self.prefix)").subtracting(before).sorted()
                let lists = "\(upper)\(Self.sourceLists)"
                try Files.makeDirectories(lists)
                let text = installed.map { "\(Self.prefix)/\($0)\n" }.joined()
                try Files.writeAtomically(Array(text.utf8), to: "\(lists)/\(build.source)_\(version).list")
            }
        }
        // The build's scratch stays out of the layer; the prefix becomes root's, on the loader path.
        for item in (try? FileManager.default.contentsOfDirectory(atPath: "\(upper)/tmp")) ?? [] { try SafeRemoval.remove("\(upper)/tmp/\(item)") }
        try Self.giveToRoot("\(upper)\(Self.prefix)")
        try Files.makeDirectories("\(upper)/etc/ld.so.conf.d")
        try Files.writeAtomically(Array("\(Self.prefix)/lib\n".utf8), to: "\(upper)/etc/ld.so.conf.d/wheelfarm-prefix.conf")
    }

    /// Where the source lists go inside the root (the audit's `DpkgDatabase.sourceListsFolder`).
    static let sourceLists = "\(prefix)/share/wheelfarm-sources"

    /// The paths under `folder` (relative to it), links included, lists excluded.
    static func files(under folder: String) -> Set<String> {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var result = Set<String>()
        while let item = walker.nextObject() as? String {
            if !item.hasPrefix("share/wheelfarm-sources") && !Files.isDirectory("\(folder)/\(item)") { result.insert(item) }
        }
        return result
    }

    /// chown -R 0:0, without following links.
    static func giveToRoot(_ path: String) throws {
        guard lchown(path, 0, 0) == 0 || errno == ENOENT else { throw BasicsError.io(path: path, reason: String(cString: strerror(errno))) }
        guard Files.isDirectory(path), let walker = FileManager.default.enumerator(atPath: path) else { return }
        while let item = walker.nextObject() as? String { lchown("\(path)/\(item)", 0, 0) }
    }

    /// The script that prepares a derived root: run by `sh -c` with the staging folder and the
    /// packages as arguments and the base image's root in `$BASE`, inside private namespaces.
    /// Each step records its name and keeps its output in its own file, so a failure names the
    /// step that failed (not the first of the script) and shows that step's own output.
    static func preparationScript(sources: [SourceBuild], spec: ToolchainSpec, useGcc: Bool) -> String {
        let chroot = "chroot \"$S/merged\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8"
        return """
            set -e
            S="$1"; shift
            \(stepFunction)
            run_step "mounting the overlay over the image" mount -t overlay wheelfarm-derive -o "lowerdir=$BASE,upperdir=$S/upper,workdir=$S/work" "$S/merged"
            run_step "mounting /proc in the root" mount -t proc proc "$S/merged/proc"
            cp /etc/resolv.conf "$S/merged/etc/resolv.conf"
            if [ $# -gt 0 ]; then
            if [ -f "$S/extra.list" ]; then cp "$S/extra.list" "$S/merged/etc/apt/sources.list.d/wheelfarm-extra.list"; fi
            run_step "apt-get update" \(chroot) apt-get update -qq
            run_step "installing $*" \(chroot) apt-get install -y -qq --no-install-recommends "$@"
            \(chroot) sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/*'
            rm -f "$S/merged/etc/apt/sources.list.d/wheelfarm-extra.list"
            fi
            \(sourceBuildScript(sources, spec: spec, useGcc: useGcc))
            chroot "$S/merged" dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\n' > "$S/packages.tsv"
            """
    }

    /// Removes what dead processes left while making derived roots (unmounting first).
    @discardableResult
    public static func sweep(_ layout: FarmLayout) -> SweepReport {
        var report = OwnedFolders.sweep(layout.derived, prefix: ".staging-*")
        let building = OwnedFolders.sweep(layout.derived, prefix: ".building-*")
        report.removed += building.removed
        report.failed += building.failed
        return report
    }

    /// A shell function `run_step NAME COMMAND...`: appends NAME to `$S/steps` and runs COMMAND with
    /// its output in `$S/step-<n>.log`; a failing step ends the script with its status.
    static let stepFunction = """
        n=0
        run_step() {
          n=$((n + 1)); printf '%s\\n' "$1" >> "$S/steps"; shift
          "$@" > "$S/step-$n.log" 2>&1 || { rc=$?; exit "$rc"; }
        }
        """

    /// The step a failed preparation stopped at and that step's output (`fallback` when no step ran).
    static func failedStep(_ staging: String, fallback: String) -> (String, String) {
        let names = ((try? String(contentsOfFile: "\(staging)/steps", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        guard let last = names.last else { return ("preparing the derived root", fallback) }
        let output = (try? Files.readBytes("\(staging)/step-\(names.count).log", limit: 4 << 20)).map { String(decoding: $0, as: UTF8.self) }
        return (last, output ?? fallback)
    }

    /// The part of the preparation script that fetches source packages (with the network, as
    /// root) and gives their trees and the prefix to the unprivileged user who builds them, run
    /// in the outer script where `$S/merged` is the root being prepared.
    static func sourceBuildScript(_ sources: [SourceBuild], spec: ToolchainSpec, useGcc: Bool) -> String {
        guard !sources.isEmpty else { return "" }
        let quote = Shell.quote
        let plain = "chroot \"$R\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8"
        // deb-src entries mirror the root's deb entries (one-line and deb822 formats).
        var script = """
            R="$S/merged"
            sed -n 's/^deb /deb-src /p' "$R/etc/apt/sources.list" > "$R/etc/apt/sources.list.d/wheelfarm-src.list" 2>/dev/null || true
            for f in "$R"/etc/apt/sources.list.d/*.sources; do if [ -e "$f" ]; then sed 's/^Types: deb$/Types: deb-src/' "$f" > "${f%.sources}-wheelfarm-src.sources"; fi; done
            run_step "apt-get update with source packages" \(plain) apt-get update -qq
            mkdir -p "$R\(prefix)/lib" "$R\(prefix)/include" "$R/opt/wheelfarm/src"
            chown -R 65534:65534 "$R\(prefix)"

            """
        for build in sources {
            let name = quote(build.source)
            script += """
                run_step "fetching the Debian source of \(build.source)" \(plain) sh -c 'cd /opt/wheelfarm/src && apt-get source -qq --only-source "$1"' sh \(name)
                dir=$(cd "$R/opt/wheelfarm/src" && ls -d \(name)-*/ | head -n 1)
                [ -n "$dir" ] || { echo "apt-get source \(build.source) unpacked nothing" >> "$S/step-$n.log"; exit 1; }
                chown -R 65534:65534 "$R/opt/wheelfarm/src/$dir"

                """
        }
        script += """
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

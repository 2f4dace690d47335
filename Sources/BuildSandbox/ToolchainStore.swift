import Foundation
import WheelfarmBasics

/// A package installed in an image.
public struct InstalledPackage: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var architecture: String

    public init(name: String, version: String, architecture: String) {
        self.name = name
        self.version = version
        self.architecture = architecture
    }
}

/// What a built image holds: recorded once, so that builds can cite exact versions.
public struct ToolchainImage: Codable, Sendable {
    /// The target it was built for.
    public var spec: ToolchainSpec
    /// The content digest: the package list with versions, the frontend wheels and the spec.
    public var digest: String
    /// Every installed package with its version.
    public var packages: [InstalledPackage]
    /// The frontend wheels installed in `/opt/wheelfarm/venv`, with their sha256.
    public var frontendWheels: [String: String]
    /// When it was built.
    public var builtAt: Date
    /// Bytes on disk.
    public var sizeBytes: Int64
    /// How long the build took.
    public var buildSeconds: Double
    /// The digest of what defined the image (the target file, and for zig the wrappers and the
    /// scripts run in it): when the definition changes, the image is out of date.
    public var definition: String?
    /// When the target's pointer last named this image (its latest refresh), for an image
    /// loaded by target name; not part of the manifest.
    public var refreshedAt: String?

    public init(
        spec: ToolchainSpec, digest: String, packages: [InstalledPackage], frontendWheels: [String: String], builtAt: Date,
        sizeBytes: Int64, buildSeconds: Double, definition: String? = nil
    ) {
        self.spec = spec
        self.digest = digest
        self.packages = packages
        self.frontendWheels = frontendWheels
        self.builtAt = builtAt
        self.sizeBytes = sizeBytes
        self.buildSeconds = buildSeconds
        self.definition = definition
    }

    enum CodingKeys: String, CodingKey {
        case spec, digest, packages, definition
        case frontendWheels = "frontend_wheels"
        case builtAt = "built_at"
        case sizeBytes = "size_bytes"
        case buildSeconds = "build_seconds"
    }
}

/// Builds, lists and removes toolchain images, stored once under their digest in the farm's home.
public struct ToolchainStore: Sendable {
    /// The farm's home.
    public let layout: FarmLayout
    /// The target descriptions.
    public let catalog: ToolchainCatalog
    /// Extra apt entries (an organisation's own repository) that derived roots install recipe
    /// packages from, besides the image's Debian archive; checked by ``AptSources``.
    public let aptSources: AptSources?

    /// Creates a store.
    public init(layout: FarmLayout, catalog: ToolchainCatalog, aptSources: AptSources? = nil) {
        self.layout = layout
        self.catalog = catalog
        self.aptSources = aptSources
    }

    /// The root file system of an image.
    public func rootfs(digest: String) -> String { layout.rootfs(digest) }

    /// The image a target name points at, when built.
    public func image(named name: String) throws -> ToolchainImage? {
        _ = try catalog.spec(name)
        let pointer = layout.pointer(name)
        guard let data = FileManager.default.contents(atPath: pointer),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let digest = object["digest"] as? String
        else { return nil }
        guard let manifest = FileManager.default.contents(atPath: "\(layout.image(digest))/manifest.json") else { return nil }
        var image = try Self.decoder.decode(ToolchainImage.self, from: manifest)
        // The pointer is rewritten by every refresh, even one that finds the same image: derived
        // roots made before it are made again, so that updates of their packages are picked up.
        image.refreshedAt = object["built_at"] as? String
        return image
    }

    /// A stored image by its digest, whichever target points at it now (nil when it is gone).
    public func image(digest: String) throws -> ToolchainImage? {
        // The digest names a folder: only hex reaches the path.
        guard !digest.isEmpty, digest.allSatisfy(\.isHexDigit) else { return nil }
        guard let manifest = FileManager.default.contents(atPath: "\(layout.image(digest))/manifest.json") else { return nil }
        return try Self.decoder.decode(ToolchainImage.self, from: manifest)
    }

    /// The image of a target, or a clear error when it is not built.
    public func requireImage(named name: String) throws -> ToolchainImage {
        guard let image = try image(named: name) else { throw ToolchainError.notBuilt(name) }
        return image
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Builds the image of a target: mmdebstrap (minbase, the spec's packages), then the pinned
    /// frontend from wheels into `/opt/wheelfarm/venv`. Built aside and renamed into place, so a
    /// half-built image is never used; an identical image already stored is reused.
    public func build(_ name: String, progress: (String) -> Void) throws -> ToolchainImage {
        try make(try catalog.spec(name), progress: progress)
    }

    /// The runtime root of a target (see ``ToolchainSpec/runtime``), when made.
    public func runtimeImage(for spec: ToolchainSpec) throws -> ToolchainImage? {
        guard let data = FileManager.default.contents(atPath: layout.pointer(spec.runtime.name)),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let digest = object["digest"] as? String,
            let manifest = FileManager.default.contents(atPath: "\(layout.image(digest))/manifest.json")
        else { return nil }
        return try Self.decoder.decode(ToolchainImage.self, from: manifest)
    }

    /// Makes the runtime root of a target.
    public func buildRuntime(for spec: ToolchainSpec, progress: (String) -> Void) throws -> ToolchainImage {
        try make(spec.runtime, progress: progress)
    }

    /// The runtime root of a target, made first (once, under its own lock) when missing or out of date.
    public func ensureRuntime(for spec: ToolchainSpec, progress: (String) -> Void) throws -> ToolchainImage {
        if let made = try runtimeImage(for: spec), isCurrent(made) { return made }
        try Files.makeDirectories(layout.locks)
        let lock = try FileLock(path: layout.targetLock(spec.runtime.name))
        defer { lock.unlock() }
        if let made = try runtimeImage(for: spec), isCurrent(made) { return made }
        progress("making the runtime root \(spec.runtime.name) (once; no compiler, no -dev packages)")
        return try buildRuntime(for: spec, progress: progress)
    }

    /// Makes the image of `spec` (a target's, or a runtime root's) and points its name at it.
    func make(_ spec: ToolchainSpec, progress: (String) -> Void) throws -> ToolchainImage {
        guard getuid() == 0 else { throw ToolchainError.needsRoot("building a toolchain") }
        let name = spec.name
        guard HostTool.mmdebstrap.resolve() != nil else {
            throw ToolchainError.missingTool("mmdebstrap", hint: HostTool.mmdebstrap.fix)
        }
        if spec.needsEmulation {
            // mmdebstrap refuses a foreign architecture without arch-test, deep into its run: say so first.
            guard HostTool.archTest.resolve() != nil else {
                throw ToolchainError.missingTool("arch-test", hint: "mmdebstrap needs it for \(spec.debianArchitecture) roots: \(HostTool.archTest.fix)")
            }
            try Emulation.ensureRegistered(architecture: spec.architecture, progress: progress)
        }
        let started = Date()
        try Files.makeDirectories(layout.images)
        try Files.makeDirectories(layout.pointers)
        sweepStaging()
        let staging = "\(layout.images)/\(OwnedFolders.name(".staging-\(name)"))"
        try Files.makeDirectories(staging)
        var keep = false
        defer { if !keep { try? SafeRemoval.remove(staging) } }
        let rootfs = "\(staging)/rootfs"

        // The frontend wheels download (through pip's own index configuration) while mmdebstrap runs.
        let wheels = "\(staging)/frontend"
        let requirements = spec.frontend.sorted { $0.key < $1.key }.map { "\($0.key)==\($0.value)" }
        // pip checks every frontend wheel against the target file's sha256 (--require-hashes).
        let pinned = spec.frontend.sorted { $0.key < $1.key }.map { "\($0.key)==\($0.value) --hash=sha256:\(spec.frontendSha256?[$0.key] ?? "")" }
        try Files.writeAtomically(Array((pinned.joined(separator: "\n") + "\n").utf8), to: "\(staging)/frontend.txt")
        let downloadBox = Locked<[ProcessOutput?]>(slots: 1)
        let downloadGroup = DispatchGroup()
        downloadGroup.enter()
        DispatchQueue.global().async {
            // The index is the network's only road: a passing failure is retried with the farm's backoff.
            struct Failed: Error { var output: ProcessOutput }
            do {
                downloadBox.set(
                    0,
                    try Backoff(attempts: 3, baseSeconds: 3, maxSeconds: 12).retry(clock: SystemClock(), isTransient: { $0 is Failed }) { _ in
                        let output = try ProcessRunner.run(
                            .python3,
                            [
                                "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", "--require-hashes", "--dest", wheels, "-r",
                                "\(staging)/frontend.txt"
                            ])
                        guard output.status == 0 else { throw Failed(output: output) }
                        return output
                    })
            } catch let failed as Failed {
                downloadBox.set(0, failed.output)
            } catch {
                downloadBox.set(0, ProcessOutput(status: 127, stdout: "", stderr: "\(error)"))
            }
            downloadGroup.leave()
        }
        // zig (for baseline targets) downloads alongside: the host's build, which runs in any root.
        let zigBox = Locked<[Result<String, Error>?]>(slots: 1)
        if spec.usesZig {
            downloadGroup.enter()
            let version = spec.compiler?.ziglang ?? ""
            let sha256 = spec.compiler?.ziglangSha256?[ZigToolchain.hostMachine]
            DispatchQueue.global().async {
                zigBox.set(0, Result { try ZigToolchain.download(version: version, sha256: sha256, into: "\(staging)/zig") })
                downloadGroup.leave()
            }
        }
        defer { downloadGroup.wait() }

        progress("mmdebstrap \(spec.suite) \(spec.debianArchitecture) (minbase + \(spec.packages.joined(separator: ", ")))")
        var log: [UInt8] = []
        let include = spec.packages.joined(separator: ",")
        // The host's apt sources name the archive (an organisation's mirror or proxy); without
        // any, mmdebstrap's own default applies.
        let mirrors = DebianMirror.host()?.sourceLines(suite: spec.suite) ?? []
        // In private namespaces: the /proc, /sys and /dev mounts mmdebstrap makes in the root vanish if wheelfarm is killed.
        let mmdebstrap = try ProcessRunner.executable(.mmdebstrap)
        let status = try ProcessRunner.stream(
            .setpriv,
            PrivateNamespaces.arguments(
                [
                    mmdebstrap, "--variant=minbase", "--architectures=\(spec.debianArchitecture)",
                    "--include=\(include)", "--", spec.suite, rootfs
                ] + mirrors)
        ) { chunk, _ in
            log.append(contentsOf: chunk)
            for line in String(decoding: chunk, as: UTF8.self).split(separator: "\n") where line.hasPrefix("I: ") { progress("  " + line.dropFirst(3)) }
        }
        guard status == 0 else {
            throw ToolchainError.buildFailed(
                target: name, step: "making the \(spec.suite) \(spec.debianArchitecture) root with mmdebstrap",
                detail: String(decoding: log, as: UTF8.self))
        }

        progress("installing the build frontend (\(spec.frontend.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
        downloadGroup.wait()
        guard let download = downloadBox.get(0), download.status == 0 else {
            throw ToolchainError.buildFailed(target: name, step: "downloading the frontend wheels", detail: downloadBox.get(0)?.stderr ?? "pip did not run")
        }
        var frontendWheels: [String: String] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: wheels).sorted() where file.hasSuffix(".whl") {
            frontendWheels[file] = Digest.hex(try Digest.sha256(fileAt: "\(wheels)/\(file)"))
        }
        try Files.makeDirectories("\(rootfs)/opt/wheelfarm/wheels")
        for file in frontendWheels.keys { try FileManager.default.copyItem(atPath: "\(wheels)/\(file)", toPath: "\(rootfs)/opt/wheelfarm/wheels/\(file)") }
        // pip runs from its own wheel (no ensurepip) and installs the pinned frontend from the
        // local wheels only. /proc is mounted in a private namespace.
        guard let pipWheel = frontendWheels.keys.first(where: { $0.hasPrefix("pip-") }) else {
            throw ToolchainError.buildFailed(target: name, step: "installing the frontend", detail: "the frontend pins no pip wheel")
        }
        let install = Self.frontendScript(requirements: requirements)
        let installed = try ProcessRunner.run(.setpriv, PrivateNamespaces.shell(install, [rootfs, pipWheel]))
        guard installed.status == 0 else {
            throw ToolchainError.buildFailed(target: name, step: "installing the frontend", detail: installed.stdout + installed.stderr)
        }

        if spec.usesZig {
            guard spec.compiler?.ziglang != nil, let zigWheel = try zigBox.get(0)?.get() else {
                throw ToolchainError.invalidSpec(path: name, reason: "a zig compiler needs a pinned \"ziglang\" version")
            }
            progress("installing zig \(spec.compiler?.ziglang ?? "") for \(ZigToolchain.target(spec))")
            frontendWheels[(zigWheel as NSString).lastPathComponent] = Digest.hex(try Digest.sha256(fileAt: zigWheel))
            try ZigToolchain.install(spec: spec, wheel: zigWheel, rootfs: rootfs, progress: progress)
            try? FileManager.default.removeItem(atPath: "\(staging)/zig")
        }

        let packages = try Self.installedPackages(rootfs: rootfs)
        let digest = Self.digest(spec: spec, packages: packages, frontendWheels: frontendWheels)
        let size = Self.diskUsage(rootfs)
        let image = ToolchainImage(
            spec: spec, digest: digest, packages: packages, frontendWheels: frontendWheels,
            builtAt: Date(), sizeBytes: size, buildSeconds: Date().timeIntervalSince(started),
            definition: Self.definitionDigest(spec))
        try? FileManager.default.removeItem(atPath: wheels)
        let final = layout.image(digest)
        if FileManager.default.fileExists(atPath: "\(final)/manifest.json") {
            progress("an identical image is already stored (\(digest.prefix(12))); reusing it")
        } else {
            try Files.writeAtomically(Array(try Self.encoder.encode(image)), to: "\(staging)/manifest.json")
            try? FileManager.default.removeItem(atPath: final)
            guard rename(staging, final) == 0 else {
                throw ToolchainError.buildFailed(target: name, step: "storing the image", detail: String(cString: strerror(errno)))
            }
            keep = true
        }
        let pointer: [String: Any] = ["digest": digest, "built_at": ISO8601DateFormatter().string(from: Date())]
        try Files.writeAtomically(Array(try JSONSerialization.data(withJSONObject: pointer, options: [.sortedKeys])), to: layout.pointer(name))
        return (try? self.image(named: name)) ?? image
    }

    /// Installs the pinned frontend into `/opt/wheelfarm/venv` of the root `$1`, with pip run
    /// from its own wheel `$2` (no ensurepip) and only the local wheels; /proc is mounted in the
    /// private namespace the script runs in.
    static func frontendScript(requirements: [String]) -> String {
        """
        set -e
        mount -t proc proc "$1/proc"
        chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 python3 -m venv --without-pip /opt/wheelfarm/venv
        chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \\
          /opt/wheelfarm/venv/bin/python "/opt/wheelfarm/wheels/$2/pip" install --quiet --no-index --no-deps \\
          --find-links /opt/wheelfarm/wheels \(requirements.joined(separator: " "))
        """
    }

    /// Removes a target's image (when no other target shares it) and its pointer.
    public func remove(_ name: String) throws -> Bool {
        guard let image = try image(named: name) else { return false }
        try FileManager.default.removeItem(atPath: layout.pointer(name))
        let stillUsed = catalog.specs.keys.contains { other in other != name && (try? self.image(named: other))?.digest == image.digest }
        if !stillUsed {
            // Renamed first, so that a removal cut short never leaves a half image under its digest.
            let doomed = "\(layout.images)/\(OwnedFolders.name(".removing-\(image.digest)"))"
            if rename(layout.image(image.digest), doomed) == 0 { try SafeRemoval.remove(doomed) }
        }
        return true
    }

    /// Deletes staging and half-removed images of processes that are gone (unmounting first).
    @discardableResult
    public func sweepStaging() -> SweepReport {
        var report = OwnedFolders.sweep(layout.images, prefix: ".staging-*")
        let removing = OwnedFolders.sweep(layout.images, prefix: ".removing-*")
        report.removed += removing.removed
        report.failed += removing.failed
        return report
    }

    static func installedPackages(rootfs: String) throws -> [InstalledPackage] {
        let output = try ProcessRunner.check(.dpkgQuery, ["--admindir=\(rootfs)/var/lib/dpkg", "-W", "-f", "${Package}\t${Version}\t${Architecture}\n"])
        return output.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return parts.count == 3 ? InstalledPackage(name: parts[0], version: parts[1], architecture: parts[2]) : nil
        }.sorted { ($0.name, $0.architecture) < ($1.name, $1.architecture) }
    }

    /// The digest of a target's definition: its file's content and the programs that make its
    /// image (zig's wrappers, sysconfig rewrite and warm-up).
    public static func definitionDigest(_ spec: ToolchainSpec) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var bytes = Array((try? encoder.encode(spec)) ?? Data())
        if spec.usesZig {
            bytes += Array(
                (ZigToolchain.wrapper(mode: "cc", spec: spec) + ZigToolchain.wrapper(mode: "c++", spec: spec)
                    + ZigToolchain.sysconfigProgram + ZigToolchain.warmUpScript(spec)).utf8)
        }
        return Digest.hex(Digest.sha256(bytes))
    }

    /// Whether a built image still matches its target's definition (a runtime root: that of a
    /// target it serves).
    public func isCurrent(_ image: ToolchainImage) -> Bool {
        if image.spec.isRuntime {
            return catalog.specs.values.contains { $0.runtime.name == image.spec.name && image.definition == Self.definitionDigest($0.runtime) }
        }
        guard let spec = catalog.specs[image.spec.name] else { return false }
        return image.definition == Self.definitionDigest(spec)
    }

    /// The digest of what an image holds: a changed package version, frontend pin or definition is a new image.
    static func digest(spec: ToolchainSpec, packages: [InstalledPackage], frontendWheels: [String: String]) -> String {
        var text = "wheelfarm-image-v1\n"
        text += "definition \(definitionDigest(spec))\n"
        text += "target \(spec.name) \(spec.distribution) \(spec.suite) \(spec.debianArchitecture) python \(spec.python)\n"
        for package in packages { text += "package \(package.name) \(package.version) \(package.architecture)\n" }
        for (file, sha) in frontendWheels.sorted(by: { $0.key < $1.key }) { text += "frontend \(file) \(sha)\n" }
        return Digest.hex(Digest.sha256(Array(text.utf8)))
    }

    static func diskUsage(_ path: String) -> Int64 {
        let output = (try? ProcessRunner.check(.du, ["-sb", path])) ?? "0"
        return Int64(output.split(separator: "\t").first ?? "0") ?? 0
    }
}

/// qemu-user emulation through binfmt_misc, for foreign-architecture roots.
public enum Emulation {
    /// Makes sure the kernel runs `architecture` binaries through qemu (registers it if needed).
    public static func ensureRegistered(architecture: String, progress: (String) -> Void) throws {
        let entry = "/proc/sys/fs/binfmt_misc/qemu-\(architecture)"
        if let state = try? String(contentsOfFile: entry, encoding: .utf8), state.hasPrefix("enabled") { return }
        guard
            FileManager.default.fileExists(atPath: "/usr/bin/qemu-\(architecture)-static")
                || FileManager.default.fileExists(atPath: "/usr/libexec/qemu-binfmt/\(architecture)-binfmt-P")
        else {
            throw ToolchainError.missingTool(
                "qemu-user-static", hint: "apt-get install qemu-user-static binfmt-support, to run \(architecture) roots under emulation")
        }
        progress("registering qemu-\(architecture) with binfmt_misc (emulated builds are several times slower)")
        if !FileManager.default.fileExists(atPath: "/proc/sys/fs/binfmt_misc/register") {
            _ = try? ProcessRunner.run(.mount, ["-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"])
        }
        _ = try? ProcessRunner.run(.updateBinfmts, ["--enable", "qemu-\(architecture)"])
        guard let state = try? String(contentsOfFile: entry, encoding: .utf8), state.hasPrefix("enabled") else {
            throw ToolchainError.missingTool(
                "binfmt_misc registration of qemu-\(architecture)", hint: "run 'update-binfmts --enable qemu-\(architecture)' as root")
        }
    }
}

/// The images and derived roots builds run in. ``ToolchainStore`` makes real ones with
/// mmdebstrap; tests use fixture images that need neither root nor the network.
public protocol ToolchainProvider: Sendable {
    /// The target descriptions.
    var catalog: ToolchainCatalog { get }
    /// The image a target points at, when built.
    func image(named name: String) throws -> ToolchainImage?
    /// A stored image by digest, whichever target points at it now.
    func image(digest: String) throws -> ToolchainImage?
    /// Whether a built image still matches its target's definition.
    func isCurrent(_ image: ToolchainImage) -> Bool
    /// Makes the image of a target.
    func build(_ name: String, progress: (String) -> Void) throws -> ToolchainImage
    /// The runtime root of a target, when made.
    func runtimeImage(for spec: ToolchainSpec) throws -> ToolchainImage?
    /// Makes the runtime root of a target.
    func buildRuntime(for spec: ToolchainSpec, progress: (String) -> Void) throws -> ToolchainImage
    /// The root file system of an image.
    func rootfs(digest: String) -> String
    /// The derived root of `base` with `packages` and `sources` (made the first time).
    func derivedRoot(
        base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool,
        progress: (String) -> Void
    ) throws -> (DerivedRoot, built: Bool)
    /// The derived root stored under `key`, when it is there (nothing is made).
    func storedDerivedRoot(key: String) -> DerivedRoot?
    /// The key the derived root of `base` with `packages` and `sources` has.
    func derivedKey(base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool) -> String
}

extension ToolchainStore: ToolchainProvider {
    public func derivedRoot(
        base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool,
        progress: (String) -> Void
    ) throws -> (DerivedRoot, built: Bool) {
        // Source libraries build under the same system-call filter as wheels.
        let seccomp = sources.isEmpty ? nil : try SeccompPolicy.prepare(in: layout.seccomp)
        return try DerivedRoots(store: self, seccomp: seccomp).ensure(base: base, packages: packages, sources: sources, useGcc: useGcc, progress: progress)
    }

    public func storedDerivedRoot(key: String) -> DerivedRoot? { DerivedRoots(store: self).stored(key: key) }

    public func derivedKey(base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool) -> String {
        DerivedRoots(store: self).key(base: base, packages: packages, sources: sources, useGcc: useGcc)
    }
}

extension ToolchainStore {
    /// The digests some target's pointer names (whether or not the target is still in the catalog).
    public func pointedDigests() -> Set<String> {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: layout.pointers)) ?? []
        return Set(
            files.filter { $0.hasSuffix(".json") }.compactMap { file in
                guard let data = FileManager.default.contents(atPath: "\(layout.pointers)/\(file)"),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                else { return nil }
                return object["digest"] as? String
            })
    }

    /// For each image some target points at, the latest time a pointer to it was written (its refresh).
    public func lastRefresh() -> [String: Date] {
        var result: [String: Date] = [:]
        let parser = ISO8601DateFormatter()
        for file in (try? FileManager.default.contentsOfDirectory(atPath: layout.pointers)) ?? [] where file.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: "\(layout.pointers)/\(file)"),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let digest = object["digest"] as? String,
                let stamp = (object["built_at"] as? String).flatMap(parser.date(from:))
            else { continue }
            result[digest] = max(result[digest] ?? stamp, stamp)
        }
        return result
    }

    /// The base image a derived root was made over, from its manifest.
    public func derivedBase(_ key: String) -> String? {
        guard let data = FileManager.default.contents(atPath: "\(layout.derivedRoot(key))/manifest.json") else { return nil }
        return (try? Self.decoder.decode(DerivedRoot.self, from: data))?.baseDigest
    }
}

import BuildSandbox
import Foundation
import WheelfarmBasics

/// Toolchain images that are only records: each "image" is an empty folder with a made-up
/// digest, made at once. Builds that never leave the process (a scripted sandbox) need no more.
public final class FixtureToolchains: ToolchainProvider, @unchecked Sendable {
    public let catalog: ToolchainCatalog
    let root: String
    private let lock = NSLock()
    private var images: [String: ToolchainImage] = [:]
    /// Every image made, by digest: a rebuild finds the one its record names after a refresh.
    private var imagesByDigest: [String: ToolchainImage] = [:]
    private var made: [String] = []
    private var derived: [String: DerivedRoot] = [:]
    private var derivedPackages: [String: [InstalledPackage]] = [:]
    private var imagePackages: [String: [InstalledPackage]] = [:]
    private var generation = 0

    /// Images for the targets of `catalog`, their root folders under `root`.
    public init(catalog: ToolchainCatalog, root: String) {
        self.catalog = catalog
        self.root = root
    }

    /// The targets whose image was made, in order.
    public var builds: [String] { lock.withLock { made } }

    public func image(named name: String) throws -> ToolchainImage? {
        _ = try catalog.spec(name)
        return lock.withLock { images[name] }
    }

    public func image(digest: String) throws -> ToolchainImage? { lock.withLock { imagesByDigest[digest] } }

    public func isCurrent(_ image: ToolchainImage) -> Bool { true }

    public func build(_ name: String, progress: (String) -> Void) throws -> ToolchainImage {
        let spec = try catalog.spec(name)
        let python = InstalledPackage(name: "python\(spec.python)", version: "\(spec.python).2-1", architecture: spec.debianArchitecture)
        let packages = lock.withLock { imagePackages[name] } ?? [python]
        // The digest follows the packages, as a real image's does; the refresh stamp counts builds.
        let listing = packages.map { "\($0.name) \($0.version)" }.joined(separator: "\n")
        let digest = Digest.hex(Digest.sha256(Array("fixture image \(name)\n\(listing)".utf8)))
        try Files.makeDirectories(rootfs(digest: digest))
        var image = ToolchainImage(
            spec: spec, digest: digest, packages: packages, frontendWheels: [:], builtAt: Date(timeIntervalSince1970: 1_700_000_000),
            sizeBytes: 0, buildSeconds: 0, definition: "fixture definition")
        lock.withLock {
            generation += 1
            image.refreshedAt = "refresh \(generation)"
            images[name] = image
            imagesByDigest[image.digest] = image
            made.append(name)
        }
        progress("fixture image \(name)")
        return image
    }

    public func rootfs(digest: String) -> String { "\(root)/\(digest)" }

    /// The runtime root is the build image's record here: nothing runs in it.
    public func runtimeImage(for spec: ToolchainSpec) throws -> ToolchainImage? { try image(named: spec.name) }

    public func buildRuntime(for spec: ToolchainSpec, progress: (String) -> Void) throws -> ToolchainImage {
        try image(named: spec.name) ?? build(spec.name, progress: progress)
    }

    /// What the next `build` of `target` installs (a refresh that updates packages).
    public func setImagePackages(_ packages: [InstalledPackage], for target: String) { lock.withLock { imagePackages[target] = packages } }

    /// What derived roots made from now on add to their base (the recipe packages' versions a mirror has now).
    public func setDerivedPackages(_ packages: [InstalledPackage], for requested: [String]) {
        lock.withLock { derivedPackages[Set(requested).sorted().joined(separator: " ")] = packages }
    }

    public func derivedRoot(
        base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool,
        progress: (String) -> Void
    ) throws -> (DerivedRoot, built: Bool) {
        let key = derivedKey(base: base, packages: packages, sources: sources, useGcc: useGcc)
        if let root = storedDerivedRoot(key: key) { return (root, false) }
        let added = lock.withLock { derivedPackages[Set(packages).sorted().joined(separator: " ")] } ?? []
        let root = DerivedRoot(
            key: key, baseDigest: base.digest, requested: packages, added: added, builtAt: base.builtAt, layers: [rootfs(digest: base.digest)])
        if !packages.isEmpty || !sources.isEmpty { lock.withLock { derived[key] = root } }
        return (root, !packages.isEmpty || !sources.isEmpty)
    }

    public func storedDerivedRoot(key: String) -> DerivedRoot? { lock.withLock { derived[key] } }

    public func derivedKey(base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool) -> String {
        packages.isEmpty && sources.isEmpty
            ? base.digest : DerivedRoots.key(baseDigest: base.digest, packages: packages, sources: sources, useGcc: useGcc, epoch: base.refreshedAt)
    }
}

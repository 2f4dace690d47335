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
    private var made: [String] = []

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

    public func isCurrent(_ image: ToolchainImage) -> Bool { true }

    public func build(_ name: String, progress: (String) -> Void) throws -> ToolchainImage {
        let spec = try catalog.spec(name)
        let digest = Digest.hex(Digest.sha256(Array("fixture image \(name)".utf8)))
        try FileManager.default.createDirectory(atPath: rootfs(digest: digest), withIntermediateDirectories: true)
        let python = InstalledPackage(name: "python\(spec.python)", version: "\(spec.python).2-1", architecture: spec.debianArchitecture)
        let image = ToolchainImage(
            spec: spec, digest: digest, packages: [python], frontendWheels: [:], builtAt: Date(timeIntervalSince1970: 1_700_000_000),
            sizeBytes: 0, buildSeconds: 0, definition: nil)
        lock.withLock {
            images[name] = image
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

    public func derivedRoot(
        base: ToolchainImage, packages: [String], sources: [SourceBuild], useGcc: Bool,
        progress: (String) -> Void
    ) throws -> (DerivedRoot, built: Bool) {
        let key = DerivedRoots.key(baseDigest: base.digest, packages: packages, sources: sources, useGcc: useGcc)
        let root = DerivedRoot(key: key, baseDigest: base.digest, requested: packages, added: [], builtAt: base.builtAt, layers: [rootfs(digest: base.digest)])
        return (root, false)
    }
}

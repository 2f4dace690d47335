import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import WheelArchive
import WheelfarmBasics

extension Stages {
    /// configure: the target's image, made on first use (or when its definition changed).
    /// Builds of one target running at once (the farm's workers, other processes) make it once:
    /// the first takes the target's lock and builds, the others find it made.
    struct Toolchain {
        let environment: BuildEnvironment

        func run(job: BuildJob) throws -> ToolchainImage {
            let toolchains = environment.toolchains
            let target = job.spec.name
            if let digest = environment.rebuild?.imageDigest {
                // A verification runs on the original build's image, wherever the target points now.
                guard let stored = try toolchains.image(digest: digest), stored.spec.name == target else {
                    throw BuildFailure(
                        stage: .configure, kind: .configuration,
                        reason: "the toolchain image \(digest.prefix(12)) the original build of \(target) ran on is no longer stored")
                }
                return stored
            }
            if let built = try toolchains.image(named: target), toolchains.isCurrent(built) { return built }
            let lock = try WheelBuilder.targetLock(layout: environment.layout, target: target)
            defer { lock.unlock() }
            if let built = try toolchains.image(named: target), toolchains.isCurrent(built) { return built }
            let why = try toolchains.image(named: target) == nil ? "is not built yet" : "is out of date (its definition changed)"
            return try job.withStage(.configure, "toolchain \(target) \(why): building it now (once; a minute or three for native targets)") {
                do {
                    return try toolchains.build(target) { [environment] line in environment.progress(target, "  \(line)") }
                } catch let error as ToolchainError {
                    throw BuildFailure(stage: .configure, kind: error.isTransient ? .transient : .configuration, reason: "\(error)")
                }
            }
        }

        /// The target's runtime root (made once, under its own lock, when missing or out of date).
        func runtime(job: BuildJob) throws -> ToolchainImage {
            let toolchains = environment.toolchains
            let name = job.spec.runtime.name
            if let made = try toolchains.runtimeImage(for: job.spec), toolchains.isCurrent(made) { return made }
            let lock = try WheelBuilder.targetLock(layout: environment.layout, target: name)
            defer { lock.unlock() }
            if let made = try toolchains.runtimeImage(for: job.spec), toolchains.isCurrent(made) { return made }
            environment.progress(job.target, "test: making the runtime root \(name) (once; no compiler, no -dev packages)")
            do {
                return try toolchains.buildRuntime(for: job.spec) { [environment, target = job.target] line in environment.progress(target, "  \(line)") }
            } catch let error as ToolchainError {
                throw BuildFailure(stage: .test, kind: error.isTransient ? .transient : .configuration, reason: "\(error)")
            }
        }
    }

    /// resolve: the sdist a requirement names on the index, for the target's interpreter.
    struct Resolve {
        let environment: BuildEnvironment

        func run(_ requirement: Requirement, prereleases: Bool, hashes: [String], job: BuildJob) throws -> ResolvedSource {
            let resolved = try job.withStage(.resolve, "\(requirement) for Python \(job.spec.python) on \(environment.index.configuration.indexURL)") {
                do { return try SourceResolver(client: environment.index).resolve(requirement, pythonVersion: job.spec.python, prereleases: prereleases) } catch
                {
                    throw BuildFailure(stage: .resolve, kind: (error as? IndexError)?.isTransient == true ? .transient : .configuration, reason: "\(error)")
                }
            }
            if !hashes.isEmpty, !hashes.contains((resolved.file.sha256 ?? "").lowercased()) {
                throw BuildFailure(
                    stage: .fetch, kind: .configuration,
                    reason: "\(resolved.file.filename) has sha256 \(resolved.file.sha256 ?? "unknown"), which none of the requirement's --hash values allows")
            }
            return resolved
        }
    }

    /// fetch: the sdist into the content-addressed source store (hash checked), or a local
    /// source (a tree is packed first, so both go through the same extraction).
    struct Fetch {
        let environment: BuildEnvironment

        func run(_ resolved: ResolvedSource, job: BuildJob) throws -> (path: String, facts: SdistFacts) {
            try job.withStage(.fetch, resolved.file.filename) {
                let fetched: (path: String, downloaded: Bool)
                do { fetched = try SourceStore(directory: environment.layout.sources).fetch(resolved.file, client: environment.index) } catch let error
                    as IndexError
                {
                    throw BuildFailure(stage: .fetch, kind: error.isTransient ? .transient : .configuration, reason: "\(error)")
                }
                job.note(fetched.downloaded ? "downloaded \(resolved.file.url)" : "already in the source store: \(fetched.path)")
                return (fetched.path, SdistFacts(filename: resolved.file.filename, sha256: resolved.file.sha256 ?? "", url: resolved.file.url))
            }
        }

        func run(local path: String, job: BuildJob) throws -> (path: String, facts: SdistFacts) {
            try job.withStage(.fetch, "local source \(path)") {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw BuildFailure(stage: .fetch, kind: .configuration, reason: "\(path): no such file or directory")
                }
                var sdist = path
                if isDirectory.boolValue {
                    let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                    sdist = "\(job.work)/\((absolute as NSString).lastPathComponent).tar.gz"
                    let result = try ProcessRunner.run(
                        .tar,
                        [
                            "-czf", sdist, "--exclude=.git", "--exclude=__pycache__", "-C",
                            (absolute as NSString).deletingLastPathComponent, "--", (absolute as NSString).lastPathComponent
                        ])
                    guard result.status == 0 else { throw BuildFailure(stage: .fetch, kind: .configuration, reason: "cannot pack \(path): \(result.stderr)") }
                    // Kept by hash like a downloaded sdist: `verify --rebuild` builds from these bytes.
                    let sha = Digest.hex(try Digest.sha256(fileAt: sdist))
                    let kept = "\(environment.layout.sources)/\(sha)/\((sdist as NSString).lastPathComponent)"
                    if !FileManager.default.fileExists(atPath: kept) {
                        try Files.makeDirectories(Paths.parent(kept))
                        try Files.writeAtomically(try Files.readBytes(sdist), to: kept)
                    }
                }
                return (
                    sdist,
                    SdistFacts(filename: (sdist as NSString).lastPathComponent, sha256: Digest.hex(try Digest.sha256(fileAt: sdist)), url: "file://" + path)
                )
            }
        }
    }

    /// What a build must make: the project and version asked for (an index build), or those a
    /// local source declares in its PKG-INFO; nil parts are known only from the wheel.
    struct ExpectedIdentity {
        var project: String?
        var version: String?
        /// A pure wheel the index lists for this version: the project is pure by design.
        var pureWheelOnIndex: String? = nil
    }

    /// What extraction found.
    struct ExtractedSource {
        var projectRoot: String
        var buildSystem: BuildSystem
        /// Name and version from PKG-INFO (or the file name), for local sources.
        var name: String
        var version: String
        var hasNativeSources: Bool
        /// Whether the name and version come from the source's own PKG-INFO (not its file name).
        var declared: Bool = false
    }

    /// prepare: the recipe's patches applied to the extracted sources, in order; a patch that
    /// does not apply fails the build naming the patch and the hunk, and changes nothing.
    struct Patch {
        func run(_ patches: [String], projectRoot: String, job: BuildJob) throws -> [AppliedPatch] {
            guard !patches.isEmpty else { return [] }
            return try job.withStage(.prepare, "applying \(patches.count) patch\(patches.count == 1 ? "" : "es") from the recipe") {
                var applied: [AppliedPatch] = []
                for path in patches {
                    let name = (path as NSString).lastPathComponent
                    guard let bytes = try? Files.readBytes(path, limit: RecipeBook.patchLimit + 1), bytes.count <= RecipeBook.patchLimit,
                        let text = String(bytes: bytes, encoding: .utf8)
                    else {
                        throw BuildFailure(
                            stage: .prepare, kind: .configuration, reason: "the recipe's patch \(path) cannot be read as UTF-8 text of at most 4 MiB")
                    }
                    do {
                        let changed = try SourcePatch(text: text, name: name).apply(to: projectRoot)
                        job.note("patch \(name) applied: \(changed.joined(separator: ", "))")
                    } catch {
                        throw BuildFailure(stage: .prepare, kind: .configuration, reason: "\(error)", log: job.log.path)
                    }
                    applied.append(AppliedPatch(file: name, sha256: Digest.hex(Digest.sha256(bytes))))
                }
                return applied
            }
        }
    }

    /// extract: the sdist unpacked safely (hostile archives refused), its project root and build system.
    struct Extract {
        func run(_ sdist: String, job: BuildJob) throws -> ExtractedSource {
            try job.withStage(.extract, (sdist as NSString).lastPathComponent) {
                let tree = "\(job.work)/src"
                do { try SourceArchive.extract(sdist, into: tree) } catch {
                    throw BuildFailure(stage: .extract, kind: .build, reason: "\(error)")
                }
                let root = try Self.projectRoot(tree)
                let (name, version, declared) = Self.nameAndVersion(root, fallback: (sdist as NSString).lastPathComponent)
                return ExtractedSource(
                    projectRoot: root, buildSystem: try Self.buildSystem(root), name: name, version: version,
                    hasNativeSources: Self.hasNativeSources(root), declared: declared)
            }
        }

        /// The folder of the extracted tree that holds pyproject.toml or setup.py (an sdist's single top folder).
        static func projectRoot(_ tree: String) throws -> String {
            func isProject(_ dir: String) -> Bool {
                FileManager.default.fileExists(atPath: "\(dir)/pyproject.toml") || FileManager.default.fileExists(atPath: "\(dir)/setup.py")
            }
            if isProject(tree) { return tree }
            let entries = ((try? FileManager.default.contentsOfDirectory(atPath: tree)) ?? []).filter { !$0.hasPrefix(".") }
            if entries.count == 1, isProject("\(tree)/\(entries[0])") { return "\(tree)/\(entries[0])" }
            throw BuildFailure(stage: .extract, kind: .configuration, reason: "no pyproject.toml or setup.py at the top of the source tree")
        }

        static func buildSystem(_ root: String) throws -> BuildSystem {
            guard let text = Files.readText("\(root)/pyproject.toml", limit: 1 << 20) else { return .legacyDefault }
            do { return try BuildSystem(pyproject: text) ?? .legacyDefault } catch {
                throw BuildFailure(stage: .extract, kind: .build, reason: "\(error)")
            }
        }

        /// Name and version of a local source: PKG-INFO when the sdist has one, else the archive name.
        static func nameAndVersion(_ root: String, fallback: String) -> (String, String, Bool) {
            if let text = Files.readText("\(root)/PKG-INFO", limit: 4 << 20) {
                let meta = MetadataFile(parsing: text)
                if let name = meta.value("Name"), let version = meta.value("Version"), (try? DistributionIdentity.version(version)) != nil,
                    DistributionIdentity.isValidName(name)
                {
                    return (name, version, true)
                }
            }
            var stem = fallback
            for suffix in [".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz"] where stem.hasSuffix(suffix) { stem = String(stem.dropLast(suffix.count)) }
            if let dash = stem.lastIndex(of: "-"), PackageVersion(String(stem[stem.index(after: dash)...])) != nil {
                return (String(stem[..<dash]), String(stem[stem.index(after: dash)...]), false)
            }
            return (stem, "0", false)
        }

        /// Whether the sources hold native code (C, C++, Cython, Rust, Fortran).
        static func hasNativeSources(_ root: String) -> Bool {
            let suffixes = [".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f", ".f90"]
            guard let walker = FileManager.default.enumerator(atPath: root) else { return false }
            var seen = 0
            while let path = walker.nextObject() as? String {
                seen += 1
                if seen > 50_000 { break }
                if path.hasPrefix("tests/") || path.hasPrefix("docs/") { continue }
                if suffixes.contains(where: { path.hasSuffix($0) }) { return true }
            }
            return false
        }
    }
}

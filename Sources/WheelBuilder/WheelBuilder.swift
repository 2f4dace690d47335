import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import Signing
import WheelArchive
import WheelAudit
import WheelfarmBasics

/// What to build: a requirement resolved on the index, or a local sdist or source tree.
public enum BuildSource: Sendable, CustomStringConvertible {
    case index(Requirement)
    case local(String)

    public var description: String {
        switch self {
        case let .index(requirement): return requirement.description
        case let .local(path): return path
        }
    }

    /// How messages name it before its project is known: the requirement, or the file's name.
    public var label: String {
        switch self {
        case let .index(requirement): return requirement.description
        case let .local(path):
            let name = (path as NSString).lastPathComponent
            return name.isEmpty ? path : name
        }
    }
}

/// The result of building one source for one target.
public struct TargetBuild: Sendable {
    public var target: String
    public var record: BuildRecord
    /// The stored wheel, when the build succeeded.
    public var wheelPath: String?
    /// The full log.
    public var logPath: String
    /// The failure, if any.
    public var failure: BuildFailure?
    /// Whether the target was skipped (recipe, or the pure wheel already built).
    public var skipped: String?
    /// The source as given (``BuildSource/label``), for messages when no project name could be read.
    public var source: String = ""

    /// "project version" once known, else the source as given (a local sdist refused before its
    /// metadata was read is named by its file).
    public var name: String {
        record.project.isEmpty ? source : "\(record.project) \(record.version)".trimmingCharacters(in: .whitespaces)
    }
}

/// What identifies a build once its source is resolved: two builds with the same key make the same wheel.
public struct BuildIdentity: Sendable, Equatable {
    public var project: String
    public var version: String
    public var target: String
    public var sdistSha256: String
    public var toolchainDigest: String
    public var recipeDigest: String
    public var builderVersion: String

    /// The key: a digest over everything above.
    public var key: String {
        Digest.hex(Digest.sha256(Array([project, version, target, sdistSha256, toolchainDigest, recipeDigest, builderVersion].joined(separator: "\n").utf8)))
    }
}

/// Ways for a scheduler to take part in one build.
public struct BuildHooks: Sendable {
    /// Called once the source is resolved, before anything is fetched or built: nil lets the
    /// build go on; a message makes it stop as `deferred` (the same build is running elsewhere).
    public var gate: (@Sendable (BuildIdentity) -> String?)?
    /// Asked at each stage and while sandboxed commands run: true stops the build as `cancelled`.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Asked about a build requirement that has no wheel for the target (its requirement
    /// text, the target): the scheduler's wheel of it, a wait while it builds one, or nil to
    /// build it inside this build.
    public var buildDependency: (@Sendable (String, String) -> DependencyAnswer)?

    public init(gate: (@Sendable (BuildIdentity) -> String?)? = nil, shouldStop: (@Sendable () -> Bool)? = nil,
                buildDependency: (@Sendable (String, String) -> DependencyAnswer)? = nil) {
        self.gate = gate
        self.shouldStop = shouldStop
        self.buildDependency = buildDependency
    }
}

/// What a scheduler says about a build requirement without a wheel for the target.
public enum DependencyAnswer: Sendable, Equatable {
    /// Use this wheel (the scheduler built it).
    case wheel(String)
    /// Stop now as `deferred`: the scheduler builds it first and runs this build again.
    case wait(String)
    /// Build it inside this build.
    case buildHere
}

/// Builds wheels from sources: resolve, fetch, extract, prepare build requirements, build in an
/// offline sandbox, audit and repair against the target's root, test-install without the build's
/// libraries, and keep the wheel, its log and its record in the farm's home.
public final class WheelBuilder: @unchecked Sendable {
    let home: FarmHome
    let store: ToolchainStore
    let catalog: PolicyCatalog
    let recipes: RecipeBook
    let index: IndexConfiguration
    let explicitIndex: Bool
    let patchelf: Patchelf
    let builderVersion: String
    let signer: MinisignKey?
    let progress: @Sendable (String, String) -> Void

    /// Creates a builder. `progress(target, line)` receives one line per step. With a `signer`,
    /// every stored wheel gets a minisign signature (`.minisig`) and a signed in-toto provenance
    /// statement (`.intoto.json`) beside it.
    public init(home: FarmHome, store: ToolchainStore, catalog: PolicyCatalog, recipes: RecipeBook, index: IndexConfiguration,
                explicitIndex: Bool, patchelf: Patchelf, builderVersion: String, signer: MinisignKey? = nil,
                progress: @escaping @Sendable (String, String) -> Void) {
        self.home = home
        self.store = store
        self.catalog = catalog
        self.recipes = recipes
        self.index = index
        self.explicitIndex = explicitIndex
        self.patchelf = patchelf
        self.builderVersion = builderVersion
        self.signer = signer
        self.progress = progress
    }

    /// Builds `source` for each target in turn. A pure wheel is built once, for the first target.
    /// `sdistHashes`, when not empty, are the sha256 digests the resolved sdist must have (a
    /// requirements file's `--hash`).
    /// With `reuse`, a build whose inputs are unchanged since it was stored is not done again
    /// (see ``existingBuild(project:version:target:)``).
    public func build(_ source: BuildSource, targets: [String], prereleases: Bool = false, sdistHashes: [String] = [], reuse: Bool = false,
                      hooks: BuildHooks = BuildHooks()) -> [TargetBuild] {
        var results: [TargetBuild] = []
        var pureDoneBy: String? = nil
        for target in targets {
            if let first = pureDoneBy {
                let record = BuildRecord(project: results.first?.record.project ?? "?", version: results.first?.record.version ?? "?", target: target,
                                         toolchainDigest: "", derivedRoot: nil, recipeDigest: "", sdist: [:], buildRequirements: [], wheel: results.first?.record.wheel,
                                         wheelSha256: results.first?.record.wheelSha256, platformTag: "any", pure: true, grafted: [], timings: [:],
                                         outcome: "skipped", failure: nil, startedAt: Date(), builderVersion: builderVersion)
                results.append(TargetBuild(target: target, record: record, wheelPath: results.first?.wheelPath, logPath: results.first?.logPath ?? "",
                                           failure: nil, skipped: "pure wheel, already built for \(first)", source: source.label))
                continue
            }
            let result = buildOne(source, target: target, prereleases: prereleases, sdistHashes: sdistHashes, reuse: reuse, hooks: hooks)
            if result.record.pure && result.failure == nil && result.skipped == nil { pureDoneBy = target }
            results.append(result)
        }
        return results
    }

    /// The lock that serialises making a target's image and derived roots, across threads and processes.
    public func targetLock(_ target: String) throws -> FileLock {
        try FileManager.default.createDirectory(atPath: "\(home.path)/locks", withIntermediateDirectories: true)
        return try FileLock(path: "\(home.path)/locks/\(target).lock")
    }

    /// The recipes this builder uses.
    public var recipeBook: RecipeBook { recipes }

    /// The declared needs of a build of `project` on `target` (2 GiB and 1 core without a recipe).
    public func resources(project: String, target: String) -> (memoryGb: Double, cores: Int) {
        let recipe = (try? recipes.recipe(for: IndexClient.normalise(project)).0)?.resolved(for: nil, target: target)
        return (recipe?.resources?.memoryGb ?? 2, recipe?.resources?.cores ?? 1)
    }

    // MARK: - One target

    final class Job {
        var record: BuildRecord
        var log: [UInt8] = []
        let logPath: String
        let work: String
        var stageStart = Date()
        var compilerPinnedToGcc = false
        /// The memory the recipe declares, once the recipe is known.
        var memoryGb: Double?
        let hooks: BuildHooks
        init(record: BuildRecord, logPath: String, work: String, hooks: BuildHooks) { self.record = record; self.logPath = logPath; self.work = work; self.hooks = hooks }
        func note(_ text: String) { log.append(contentsOf: Array((text + "\n").utf8)) }
    }

    func buildOne(_ source: BuildSource, target: String, prereleases: Bool, sdistHashes: [String] = [], reuse: Bool = false, hooks: BuildHooks = BuildHooks()) -> TargetBuild {
        var result = attemptOne(source, target: target, prereleases: prereleases, sdistHashes: sdistHashes, reuse: reuse, hooks: hooks)
        result.source = source.label
        return result
    }

    func attemptOne(_ source: BuildSource, target: String, prereleases: Bool, sdistHashes: [String], reuse: Bool, hooks: BuildHooks) -> TargetBuild {
        let started = Date()
        let workRoot = "\(home.path)/jobs"
        let work = "\(workRoot)/\(target)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var record = BuildRecord(project: "", version: "", target: target, toolchainDigest: "", derivedRoot: nil, recipeDigest: "none", sdist: [:],
                                 buildRequirements: [], wheel: nil, wheelSha256: nil, platformTag: nil, pure: false, grafted: [], timings: [:],
                                 outcome: "running", failure: nil, startedAt: started, builderVersion: builderVersion)
        let job = Job(record: record, logPath: "\(work)/build.log", work: work, hooks: hooks)
        defer { try? FileManager.default.removeItem(atPath: work) }
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let outcome = try run(source, target: target, prereleases: prereleases, sdistHashes: sdistHashes, reuse: reuse, job: job)
            record = job.record
            return outcome
        } catch let failure as BuildFailure where failure.kind == .deferred || failure.kind == .cancelled {
            // Nothing was built: nothing to keep.
            return TargetBuild(target: target, record: job.record, wheelPath: nil, logPath: job.logPath, failure: failure, skipped: nil)
        } catch let failure as BuildFailure {
            record = job.record
            record.outcome = "failed"
            record.failure = failure.description
            let logPath = persistFailure(job: job, record: record)
            return TargetBuild(target: target, record: record, wheelPath: nil, logPath: logPath, failure: failure, skipped: nil)
        } catch {
            record = job.record
            record.outcome = "failed"
            record.failure = "\(error)"
            let logPath = persistFailure(job: job, record: record)
            return TargetBuild(target: target, record: record, wheelPath: nil, logPath: logPath,
                               failure: BuildFailure(stage: .configure, kind: .configuration, reason: "\(error)", log: nil), skipped: nil)
        }
    }

    func stage(_ job: Job, _ stage: BuildStage, _ line: String) throws {
        if job.hooks.shouldStop?() == true {
            throw BuildFailure(stage: stage, kind: .cancelled, reason: "cancelled before \(stage.rawValue)", log: nil)
        }
        let now = Date()
        job.stageStart = now
        job.note("== \(stage.rawValue): \(line)")
        progress(job.record.target, "\(stage.rawValue): \(line)")
    }

    func finish(_ job: Job, _ stage: BuildStage) {
        job.record.timings[stage.rawValue, default: 0] += Date().timeIntervalSince(job.stageStart)
    }

    func run(_ source: BuildSource, target: String, prereleases: Bool, sdistHashes: [String] = [], reuse: Bool = false, job: Job) throws -> TargetBuild {
        // Toolchain (made on first use, saying so).
        guard let spec = store.catalog.specs[target] else {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "unknown target '\(target)'; known: \(store.catalog.specs.keys.sorted().joined(separator: ", "))", log: nil)
        }
        var image: ToolchainImage
        if let built = try store.image(named: target), store.isCurrent(built) {
            image = built
        } else {
            // Builds of one target running at once (the farm's workers, other processes) make
            // its image once: the first takes the lock and builds, the others find it made.
            let lock = try targetLock(target)
            defer { lock.unlock() }
            if let built = try store.image(named: target), store.isCurrent(built) {
                image = built
            } else {
                let why = try store.image(named: target) == nil ? "is not built yet" : "is out of date (its definition changed)"
                try stage(job, .configure, "toolchain \(target) \(why): building it now (once; a minute or three for native targets)")
                image = try store.build(target) { [progress] line in progress(target, "  \(line)") }
                finish(job, .configure)
            }
        }
        job.record.toolchainDigest = image.digest

        // Resolve and fetch, or take the local source.
        let sdistPath: String
        switch source {
        case let .index(requirement):
            try stage(job, .resolve, "\(requirement) for Python \(spec.python) on \(index.indexURL)")
            let client = IndexClient(configuration: index)
            let resolved: ResolvedSource
            do { resolved = try SourceResolver(client: client).resolve(requirement, pythonVersion: spec.python, prereleases: prereleases) } catch {
                throw BuildFailure(stage: .resolve, kind: (error as? IndexError)?.isTransient == true ? .transient : .configuration, reason: "\(error)", log: nil)
            }
            finish(job, .resolve)
            job.record.project = resolved.project
            job.record.version = resolved.version.description
            if !sdistHashes.isEmpty, !sdistHashes.contains((resolved.file.sha256 ?? "").lowercased()) {
                throw BuildFailure(stage: .fetch, kind: .configuration,
                                   reason: "\(resolved.file.filename) has sha256 \(resolved.file.sha256 ?? "unknown"), which none of the requirement's --hash values allows", log: nil)
            }
            if reuse, let existing = existingBuild(project: resolved.project, version: resolved.version.description, target: target) {
                return existing
            }
            if let gate = job.hooks.gate {
                let identity = BuildIdentity(project: resolved.project, version: resolved.version.description, target: target,
                                             sdistSha256: resolved.file.sha256 ?? resolved.file.url, toolchainDigest: image.digest,
                                             recipeDigest: (try? recipes.recipe(for: resolved.project).digest) ?? "none", builderVersion: builderVersion)
                if let message = gate(identity) { throw BuildFailure(stage: .resolve, kind: .deferred, reason: message, log: nil) }
            }
            try stage(job, .fetch, "\(resolved.file.filename)")
            let fetched: (path: String, downloaded: Bool)
            do { fetched = try SourceStore(directory: "\(home.path)/sources").fetch(resolved.file, client: client) } catch let error as IndexError {
                throw BuildFailure(stage: .fetch, kind: error.isTransient ? .transient : .configuration, reason: "\(error)", log: nil)
            }
            job.note(fetched.downloaded ? "downloaded \(resolved.file.url)" : "already in the source store: \(fetched.path)")
            sdistPath = fetched.path
            job.record.sdist = ["filename": resolved.file.filename, "sha256": resolved.file.sha256 ?? "", "url": resolved.file.url]
            finish(job, .fetch)
        case let .local(path):
            try stage(job, .fetch, "local source \(path)")
            sdistPath = try localSdist(path, job: job)
            job.record.sdist = ["filename": (sdistPath as NSString).lastPathComponent, "sha256": Digest.hex(try Digest.sha256(fileAt: sdistPath)), "url": "file://" + path]
            finish(job, .fetch)
        }

        // Extract safely, and find the project's root.
        try stage(job, .extract, (sdistPath as NSString).lastPathComponent)
        let tree = "\(job.work)/src"
        do { try SourceArchive.extract(sdistPath, into: tree) } catch {
            throw BuildFailure(stage: .extract, kind: .build, reason: "\(error)", log: nil)
        }
        let projectRoot = try Self.projectRoot(tree)
        let buildSystem = try Self.buildSystem(projectRoot)
        if job.record.project.isEmpty {
            let (name, version) = try Self.nameAndVersion(projectRoot, fallback: (sdistPath as NSString).lastPathComponent)
            job.record.project = IndexClient.normalise(name)
            job.record.version = version
        }
        let hasNativeSources = Self.hasNativeSources(projectRoot)
        finish(job, .extract)

        // Recipe and roots.
        let (baseRecipe, recipeDigest) = try recipes.recipe(for: job.record.project)
        let recipe = baseRecipe.resolved(for: PackageVersion(job.record.version), target: target)
        job.record.recipeDigest = recipeDigest
        job.compilerPinnedToGcc = recipe.compiler == "gcc"
        job.memoryGb = recipe.resources?.memoryGb
        if let compiler = recipe.compiler, compiler != "gcc" && compiler != "zig" {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "the recipe's compiler must be \"gcc\" or \"zig\", not \"\(compiler)\"", log: nil)
        }
        if recipe.skips(target) {
            job.record.outcome = "skipped"
            return TargetBuild(target: target, record: job.record, wheelPath: nil, logPath: job.logPath, failure: nil, skipped: "the recipe skips \(target)")
        }
        var layers = [store.rootfs(digest: image.digest)]
        let packages = recipe.packages ?? []
        let sources = (recipe.sourceLibraries ?? []).map { SourceBuild(source: $0.source, configure: $0.configure, script: $0.build) }
        if !packages.isEmpty || !sources.isEmpty {
            try stage(job, .prepare, "distribution packages \((packages + sources.map { "\($0.source) (from source)" }).joined(separator: " "))")
            let lock = try targetLock(target)
            defer { lock.unlock() }
            let derived: DerivedRoot, built: Bool
            do {
                (derived, built) = try DerivedRoots(store: store).ensure(base: image, packages: packages, sources: sources,
                                                                     useGcc: recipe.compiler == "gcc") { [progress] line in progress(target, "  \(line)") }
            } catch let error as ToolchainError {
                // The recipe's packages or source libraries did not install or build: the message names the step.
                job.note("\(error)")
                throw BuildFailure(stage: .prepare, kind: error.isTransient ? .transient : .build, reason: "\(error)", log: job.logPath)
            }
            job.note(built ? "made derived root \(derived.key)" : "derived root \(derived.key) cached: nothing installed")
            job.record.derivedRoot = derived.key
            layers = derived.layers
        }

        let built = try prepareAndBuild(base: job.work, projectRoot: projectRoot, buildSystem: buildSystem, recipe: recipe,
                                        layers: layers, spec: spec, job: job, depth: 0)
        let builtName = (built as NSString).lastPathComponent
        if case .local = source, let name = WheelFilename(builtName) {
            // A source tree without PKG-INFO was named after its folder: the backend knows better.
            job.record.project = IndexClient.normalise(name.distribution)
            job.record.version = name.version
        }
        job.record.buildRequirements = try Self.usedRequirements("\(job.work)/wheelhouse")

        // Audit and repair against the target's root.
        try stage(job, .audit, builtName)
        let wheel = try Wheel(path: built, selection: .everything)
        let analysis = try WheelAnalyzer(catalog: catalog, layers: layers).analyze(wheel: wheel)
        for finding in analysis.findings { job.note("finding: \(finding)") }
        if analysis.binaries.isEmpty {
            if !wheel.filename.isPure || (hasNativeSources && recipe.allowPure != true) {
                throw BuildFailure(stage: .audit, kind: .build,
                                   reason: "the build produced no binary although the sources have native code (a silent fallback to pure Python?); a recipe with \"allow_pure\": true accepts that", log: job.logPath)
            }
            job.record.pure = true
        }
        if let ceiling = spec.tagCeiling, !job.record.pure { try checkCeiling(ceiling, analysis: analysis, spec: spec, job: job) }
        finish(job, .audit)
        var final = built
        if !job.record.pure {
            try stage(job, .repair, "to \(analysis.repairPolicy.name)")
            let system = SystemLibraries(layers: layers, libc: analysis.libc, architecture: analysis.architecture)
            let plan: RepairPlan
            do { plan = try RepairPlanner.plan(analysis, requested: nil, system: system, bundle: recipe.bundleLibraries ?? []) } catch {
                throw BuildFailure(stage: .repair, kind: .audit, reason: "\(error)", log: job.logPath)
            }
            let repaired = try Repairer(patchelf: patchelf, system: system, toolVersion: builderVersion).apply(plan, to: wheel, outputDirectory: "\(job.work)/repaired")
            final = repaired.path
            job.record.grafted = plan.grafts.map { graft in
                var entry = ["soname": graft.soname, "file": graft.destination]
                if let origin = repaired.origins[graft.soname] { entry["package"] = origin.name; entry["version"] = origin.version }
                return entry
            }
            finish(job, .repair)
            // The grafted libraries an import must load: those the extension modules need, and theirs.
            let extensions = Set(analysis.binaries.filter(\.isExtension).map(\.path))
            var required = Set(plan.edits.filter { extensions.contains($0.path) }.flatMap { $0.replaceNeeded.keys })
            var queue = Array(required)
            let bySoname = Dictionary(plan.grafts.map { ($0.soname, $0) }, uniquingKeysWith: { first, _ in first })
            while let soname = queue.popLast() {
                for dep in bySoname[soname]?.needsGrafted ?? [] where required.insert(dep).inserted { queue.append(dep) }
            }
            try testInstall(final, image: image, spec: spec, recipe: recipe, grafted: plan.grafts.filter { required.contains($0.soname) }, job: job)
        } else {
            try testInstall(final, image: image, spec: spec, recipe: recipe, grafted: [], job: job)
        }

        // Keep the wheel, the log and the record.
        try stage(job, .store, (final as NSString).lastPathComponent)
        let destination = "\(home.path)/builds/\(job.record.project)/\(job.record.version)/\(target)"
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        var finalName = (final as NSString).lastPathComponent
        let bytes = try Files.readBytes(final)
        // A rebuild of the same version with other inputs (toolchain, recipe, builder) that gives
        // other bytes gets the next PEP 427 build number: the earlier file keeps its name, stays
        // downloadable, and lock files with its hash still install.
        if let previous = Self.previousRecord(in: destination), let name = WheelFilename(finalName),
           let number = Self.nextBuildNumber(previous: previous, directory: destination, name: name, sha256: Digest.hex(Digest.sha256(bytes))) {
            finalName = WheelFilename(distribution: name.distribution, version: name.version, build: String(number), pythonTags: name.pythonTags,
                                      abiTags: name.abiTags, platformTags: name.platformTags).description
            job.note("an earlier build of this version had other inputs and other bytes: this one is build number \(number)")
        }
        let wheelPath = "\(destination)/\(finalName)"
        try Files.writeAtomically(bytes, to: wheelPath)
        job.record.wheel = finalName
        job.record.wheelSha256 = Digest.hex(try Digest.sha256(fileAt: wheelPath))
        job.record.platformTag = WheelFilename(finalName)?.platformTags.joined(separator: ".")
        if let signer {
            // Signature and provenance are written before the record, which marks the build done.
            let bytes = try Files.readBytes(wheelPath)
            try Files.writeAtomically(Array(try signer.sign(bytes, fileName: finalName).utf8), to: wheelPath + ".minisig")
            let facts = ProvenanceFacts(
                wheelName: finalName, wheelSha256: job.record.wheelSha256 ?? "", sdistName: job.record.sdist["filename"] ?? "",
                sdistSha256: job.record.sdist["sha256"] ?? "", sdistURL: job.record.sdist["url"] ?? "", target: target,
                toolchainDigest: job.record.toolchainDigest, derivedRoot: job.record.derivedRoot, recipeDigest: job.record.recipeDigest,
                buildRequirements: job.record.buildRequirements.map { ($0.file, $0.sha256) }, builderVersion: builderVersion,
                startedAt: job.record.startedAt, finishedAt: Date())
            try Files.writeAtomically(Array(try Provenance.envelope(statement: Provenance.statement(facts), key: signer).utf8), to: wheelPath + ".intoto.json")
            job.note("signed with key \(signer.keyIDText): \(finalName).minisig, \(finalName).intoto.json")
        }
        job.record.outcome = "succeeded"
        finish(job, .store)
        try Files.writeAtomically(job.log, to: "\(destination)/build.log")
        try Files.writeAtomically(Array(try Self.encoder.encode(job.record)), to: "\(destination)/record.json")
        return TargetBuild(target: target, record: job.record, wheelPath: wheelPath, logPath: "\(destination)/build.log", failure: nil, skipped: nil)
    }

    /// Prepares the build requirements and builds one wheel in the offline sandbox. `base` holds
    /// `src` (the extracted tree), and receives `wheelhouse`, `constraints.txt` and `out`.
    /// Returns the path of the built wheel.
    func prepareAndBuild(base: String, projectRoot: String, buildSystem: BuildSystem, recipe: Recipe, layers: [String],
                         spec: ToolchainSpec, job: Job, depth: Int) throws -> String {
        // Build requirements: static ones, then what the backend asks for, all as wheels.
        try stage(job, .prepare, "build requirements\(depth > 0 ? " (of a build requirement)" : ""): \(buildSystem.requires.joined(separator: ", "))")
        let wheelhouse = "\(base)/wheelhouse"
        try FileManager.default.createDirectory(atPath: wheelhouse, withIntermediateDirectories: true)
        let constraints = "\(base)/constraints.txt"
        try Files.writeAtomically(Array(((recipe.constraints ?? []).joined(separator: "\n") + "\n").utf8), to: constraints)
        let context = DownloadContext(wheelhouse: wheelhouse, constraints: constraints, spec: spec, layers: layers, depth: depth)
        var requested = buildSystem.requires
        try download(requested, context: context, job: job)
        finish(job, .prepare)

        // The backend's hook runs offline; when it asks for nothing new, the same sandbox builds.
        try stage(job, .build, "get_requires_for_build_wheel, then pip wheel, in an offline sandbox of \(spec.name)")
        let out = "\(base)/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chmod(out, 0o777)
        var environment: [String: String] = ["PIP_CONSTRAINT": "/job/constraints.txt", "SOURCE_DATE_EPOCH": "315532800"]
        if recipe.compiler != "gcc" { environment.merge(spec.compilerEnvironment) { $1 } }
        for (key, value) in recipe.environment ?? [:] { environment[key] = value }
        var command = ["python3", "-m", "pip", "wheel", "--no-index", "--find-links", "/wheelhouse", "--no-deps", "--no-cache-dir"]
        for (key, value) in (recipe.configSettings ?? [:]).sorted(by: { $0.key < $1.key }) { command += ["--config-settings", "\(key)=\(value)"] }
        command += ["/tmp/src", "-w", "/out"]
        var built = false
        for round in 1...5 {
            let (asked, didBuild) = try getRequires(base: base, projectRoot: projectRoot, buildSystem: buildSystem, static: buildSystem.requires,
                                                    recipe: recipe, layers: layers, wheelhouse: wheelhouse, job: job, known: requested,
                                                    thenBuild: command, environment: environment)
            job.note("round \(round): the backend asks for \(asked.isEmpty ? "nothing" : asked.joined(separator: ", "))")
            if didBuild { built = true; break }
            let new = asked.filter { !requested.contains($0) }
            requested += new
            try download(new, context: context, job: job)
        }
        guard built else {
            throw BuildFailure(stage: .prepare, kind: .build, reason: "the backend kept asking for new build requirements", log: job.logPath)
        }
        let wheels = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { $0.hasSuffix(".whl") }
        guard wheels.count == 1, let builtName = wheels.first else {
            throw BuildFailure(stage: .build, kind: .build, reason: "expected one wheel, found \(wheels.count)", log: job.logPath)
        }
        finish(job, .build)
        return "\(out)/\(builtName)"
    }

    /// A build requirement with no wheel for the target: built from its sdist for the target
    /// first (it only ever runs inside the build's own sandbox, so it is not repaired), then used.
    func buildRequirementFromSource(_ text: String, context: DownloadContext, job: Job) throws -> String {
        guard let requirement = Requirement(text) else {
            throw BuildFailure(stage: .prepare, kind: .build, reason: "cannot parse build requirement '\(text)'", log: job.logPath)
        }
        progress(context.spec.name, "prepare: \(text) has no wheel for \(context.spec.name): building it from its sdist first")
        let client = IndexClient(configuration: index)
        let source = try SourceResolver(client: client).resolve(requirement, pythonVersion: context.spec.python)
        let fetched = try SourceStore(directory: "\(home.path)/sources").fetch(source.file, client: client)
        let base = "\(job.work)/requirement-\(source.project)-\(context.depth + 1)"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try SourceArchive.extract(fetched.path, into: "\(base)/src")
        let root = try Self.projectRoot("\(base)/src")
        let (recipe, _) = try recipes.recipe(for: source.project)
        let wheel = try prepareAndBuild(base: base, projectRoot: root, buildSystem: try Self.buildSystem(root), recipe: recipe.resolved(for: source.version, target: context.spec.name),
                                        layers: context.layers, spec: context.spec, job: job, depth: context.depth + 1)
        job.note("built build requirement \(source.project) \(source.version) from source: \((wheel as NSString).lastPathComponent)")
        return wheel
    }

    /// The build number a new wheel `name` with `sha256` needs beside the previous build's wheel:
    /// nil when there is none to avoid (no earlier wheel of that name, or the same bytes).
    static func nextBuildNumber(previous: BuildRecord, directory: String, name: WheelFilename, sha256: String) -> Int? {
        guard previous.outcome == "succeeded", let previousWheel = previous.wheel, previous.wheelSha256 != sha256,
              FileManager.default.fileExists(atPath: "\(directory)/\(previousWheel)"), var earlier = WheelFilename(previousWheel) else { return nil }
        let previousNumber = earlier.build.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        earlier.build = nil
        guard earlier == name else { return nil }
        return previousNumber + 1
    }

    static func previousRecord(in directory: String) -> BuildRecord? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/record.json") else { return nil }
        return try? decoder.decode(BuildRecord.self, from: data)
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// The stored build of `project` `version` for `target` when its inputs are still current:
    /// it succeeded, its wheel is there, and the toolchain image, the recipe and the builder are
    /// the ones a build would use now. A pure wheel built for another target counts. Nothing
    /// is resolved or downloaded, so checking a whole requirements file is quick.
    public func existingBuild(project: String, version: String, target: String) -> TargetBuild? {
        let base = "\(home.path)/builds/\(IndexClient.normalise(project))/\(version)"
        let recipeDigest = (try? recipes.recipe(for: IndexClient.normalise(project)).digest) ?? "none"
        var candidates = [target]
        candidates += ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0 != target }.sorted()
        for candidate in candidates {
            let directory = "\(base)/\(candidate)"
            guard let record = Self.previousRecord(in: directory), record.outcome == "succeeded", let wheel = record.wheel,
                  FileManager.default.fileExists(atPath: "\(directory)/\(wheel)") else { continue }
            guard candidate == target || record.pure else { continue }
            guard let image = try? store.image(named: candidate), store.isCurrent(image), image.digest == record.toolchainDigest,
                  record.recipeDigest == recipeDigest, record.builderVersion == builderVersion else { continue }
            return TargetBuild(target: target, record: record, wheelPath: "\(directory)/\(wheel)", logPath: "\(directory)/build.log", failure: nil,
                               skipped: candidate == target ? "already built with the same inputs" : "pure wheel, already built for \(candidate)")
        }
        return nil
    }

    /// Fails the build when the audit's best reachable tag is less compatible than the target's
    /// ceiling, naming the symbols and binaries that stand in the way.
    func checkCeiling(_ ceiling: String, analysis: WheelAnalysis, spec: ToolchainSpec, job: Job) throws {
        let names = [ceiling, "\(ceiling)_\(analysis.architecture)"]
        guard let limit = analysis.policies.first(where: { policy in names.contains(policy.name) || policy.aliases.contains { names.contains($0) } }) else {
            throw BuildFailure(stage: .audit, kind: .configuration, reason: "the tag ceiling \(ceiling) of \(spec.name) names no policy for \(analysis.architecture)", log: nil)
        }
        guard analysis.repairPolicy.priority < limit.priority else { return }
        var reasons = analysis.symbolVersionsBeyond(limit)
        if reasons.isEmpty { reasons = analysis.findings }
        let flavour = spec.usesZig && job.compilerPinnedToGcc ? " (the recipe pins this project to gcc)" : ""
        throw BuildFailure(stage: .audit, kind: .audit,
                           reason: "the wheel can be tagged \(analysis.repairPolicy.name) at best, above the ceiling \(ceiling) of \(spec.name)\(flavour): " + reasons.joined(separator: "; "),
                           log: job.logPath)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    func persistFailure(job: Job, record: BuildRecord) -> String {
        let project = record.project.isEmpty ? "unknown" : record.project
        let version = record.version.isEmpty ? "unknown" : record.version
        let destination = "\(home.path)/builds/\(project)/\(version)/\(record.target)"
        try? FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        // A failed rebuild never replaces the record of a stored wheel: that record is what
        // skips unchanged builds and gives the next build number.
        let kept = Self.previousRecord(in: destination).map { $0.outcome == "succeeded" } ?? false
        let log = kept ? "failed-build.log" : "build.log"
        try? Files.writeAtomically(job.log, to: "\(destination)/\(log)")
        if let data = try? Self.encoder.encode(record) { try? Files.writeAtomically(Array(data), to: "\(destination)/\(kept ? "failed-record.json" : "record.json")") }
        return "\(destination)/\(log)"
    }

    static func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

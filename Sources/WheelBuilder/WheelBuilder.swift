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
    /// Told as each top-level stage starts, with the path of the log being written (the
    /// scheduler records both, so the dashboard shows a running build's stage and live log).
    public var stageStarted: (@Sendable (BuildStage, String) -> Void)?

    public init(
        gate: (@Sendable (BuildIdentity) -> String?)? = nil, shouldStop: (@Sendable () -> Bool)? = nil,
        buildDependency: (@Sendable (String, String) -> DependencyAnswer)? = nil, stageStarted: (@Sendable (BuildStage, String) -> Void)? = nil
    ) {
        self.gate = gate
        self.shouldStop = shouldStop
        self.buildDependency = buildDependency
        self.stageStarted = stageStarted
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
/// offline sandbox, audit and repair against the target's root, test-install without the
/// build's libraries, store, sign. ``run(_:job:prereleases:hashes:reuse:)`` is that list of
/// stages; each stage is a type in `Stages/`.
public final class WheelBuilder: Sendable {
    /// Everything outside the build's own logic.
    public let environment: BuildEnvironment

    /// Creates a builder over `environment`.
    public init(environment: BuildEnvironment) {
        self.environment = environment
    }

    /// The recipes this builder uses.
    public var recipeBook: RecipeBook { environment.recipes }

    /// The lock that serialises making a target's image and derived roots, across threads and processes.
    public static func targetLock(layout: FarmLayout, target: String) throws -> FileLock {
        try Files.makeDirectories(layout.locks)
        return try FileLock(path: layout.targetLock(target))
    }

    /// The declared needs of a build of `project` on `target` (2 GiB and 1 core without a recipe).
    public func resources(project: String, target: String) -> (memoryGb: Double, cores: Int) {
        let recipe = (try? environment.recipes.recipe(for: ProjectName.normalise(project)).0)?.resolved(for: nil, target: target)
        return (recipe?.resources?.memoryGb ?? 2, recipe?.resources?.cores ?? 1)
    }

    /// Builds `sdist` once more for `target` with the build requirements `record` names, into
    /// `directory` (see ``Rebuild``): for `wheelfarm verify --rebuild`. The caller checks that
    /// the toolchain image and the recipe are the record's.
    public func rebuild(sdist: String, record: BuildRecord, into directory: String, hooks: BuildHooks = BuildHooks()) -> TargetBuild {
        var environment = self.environment
        environment.rebuild = Rebuild(
            into: directory, pins: record.buildRequirements.map { "\($0.name)==\($0.version)" }, derivedRoot: record.derivedRoot,
            imageDigest: record.toolchainDigest)
        return WheelBuilder(environment: environment).buildOne(
            .local(sdist), target: record.target, prereleases: true, hashes: record.sdist.map { [$0.sha256] } ?? [], reuse: false, hooks: hooks)
    }

    /// Builds `source` for each target in turn. A pure wheel is built once, for the first target.
    /// `sdistHashes`, when not empty, are the sha256 digests the resolved sdist must have (a
    /// requirements file's `--hash`). With `reuse`, a build whose inputs are unchanged since it
    /// was stored is not done again (see ``existingBuild(project:version:target:)``).
    public func build(
        _ source: BuildSource, targets: [String], prereleases: Bool = false, sdistHashes: [String] = [], reuse: Bool = false,
        hooks: BuildHooks = BuildHooks()
    ) -> [TargetBuild] {
        var results: [TargetBuild] = []
        var pureDoneBy: TargetBuild? = nil
        for target in targets {
            if let first = pureDoneBy {
                var record = first.record
                record.target = target
                record.outcome = .skipped
                results.append(
                    TargetBuild(
                        target: target, record: record, wheelPath: first.wheelPath, logPath: first.logPath, failure: nil,
                        skipped: "pure wheel, already built for \(first.target)", source: source.label))
                continue
            }
            var result = buildOne(source, target: target, prereleases: prereleases, hashes: sdistHashes, reuse: reuse, hooks: hooks)
            result.source = source.label
            if result.record.pure && result.failure == nil && result.skipped == nil { pureDoneBy = result }
            results.append(result)
        }
        return results
    }

    /// The stored build of `project` `version` for `target` when its inputs are still current:
    /// it succeeded, its wheel is there, and the recipe, the builder and what it used of the
    /// toolchain are the ones a build would use now (see ``currency(of:builtFor:)``). A pure
    /// wheel built for another target counts. Nothing is resolved or downloaded, so checking a
    /// whole requirements file is quick.
    public func existingBuild(project: String, version: String, target: String, sdistSha256: String? = nil) -> TargetBuild? {
        var note: String? = nil
        let found = try? BuildStore(layout: environment.layout).current(project: project, version: version, target: target, sdistSha256: sdistSha256) {
            record, builtFor in
            // A requirement by name is the index's sdist: a build from a local source never stands in for it.
            guard record.sdist?.url.hasPrefix("file://") != true else { return false }
            guard case let .current(why) = currency(of: record, builtFor: builtFor) else { return false }
            note = why
            return true
        }
        guard let found = found ?? nil else { return nil }
        let directory = (found.wheelPath as NSString).deletingLastPathComponent
        let skipped = found.builtFor == target ? "already built with the same inputs" : "pure wheel, already built for \(found.builtFor)"
        return TargetBuild(
            target: target, record: found.record, wheelPath: found.wheelPath, logPath: "\(directory)/build.log", failure: nil,
            skipped: note.map { "\(skipped): \($0)" } ?? skipped)
    }

    /// Why the stored build of `project` `version` for `target` is not current, when there is
    /// one that succeeded (the nightly's report names it beside the rebuild).
    public func staleness(project: String, version: String, target: String) -> String? {
        let store = BuildStore(layout: environment.layout)
        guard let directory = try? store.directory(project: project, version: version, target: target), let record = try? store.record(in: directory),
            record.outcome == .succeeded, case let .stale(why) = currency(of: record, builtFor: target)
        else { return nil }
        return why
    }

    // MARK: - One target

    func buildOne(_ source: BuildSource, target: String, prereleases: Bool, hashes: [String], reuse: Bool, hooks: BuildHooks) -> TargetBuild {
        let started = environment.clock.now
        var record = BuildRecord(target: target, builderVersion: environment.builderVersion, startedAt: started)
        guard let spec = environment.toolchains.catalog.specs[target] else {
            record.outcome = .failed
            return TargetBuild(
                target: target, record: record, wheelPath: nil, logPath: "",
                failure: BuildFailure(
                    stage: .configure, kind: .configuration,
                    reason: "unknown target '\(target)'; known: \(environment.toolchains.catalog.specs.keys.sorted().joined(separator: ", "))"), skipped: nil)
        }
        let work = "\(environment.layout.jobs)/\(OwnedFolders.name(target))"
        let job: BuildJob
        do {
            try Files.makeDirectories(work)
            job = BuildJob(
                record: record, log: try BuildLog(path: "\(work)/build.log", cap: environment.logLimit), work: work, hooks: hooks,
                environment: environment, spec: spec)
        } catch {
            record.outcome = .failed
            return TargetBuild(
                target: target, record: record, wheelPath: nil, logPath: "",
                failure: BuildFailure(stage: .configure, kind: .configuration, reason: "cannot make the work folder \(work): \(error)"), skipped: nil)
        }
        defer { try? SafeRemoval.remove(work) }
        do {
            do {
                return try run(source, job: job, prereleases: prereleases, hashes: hashes, reuse: reuse)
            } catch let failure as BuildFailure where failure.kind == .build && job.memoryExceededGb != nil && job.memoryRetryGb == nil {
                // Killed at the memory limit: once more with double, when the machine has it.
                guard let limit = job.memoryExceededGb, Double(environment.machineMemoryBytes) / Double(1 << 30) >= limit * 2 else { throw failure }
                job.note("the build exceeded its memory limit of \(Self.gib(limit)) GiB: trying once more with \(Self.gib(limit * 2)) GiB")
                job.memoryRetryGb = limit * 2
                job.memoryExceededGb = nil
                job.record.stages = []
                job.record.timings = [:]
                // A clean work folder, but the log (which lives there) goes on.
                for entry in try FileManager.default.contentsOfDirectory(atPath: work) where "\(work)/\(entry)" != job.log.path {
                    try SafeRemoval.remove("\(work)/\(entry)")
                }
                var result = try run(source, job: job, prereleases: prereleases, hashes: hashes, reuse: reuse)
                let hint =
                    "needed more than \(Self.gib(limit)) GiB: built on a second attempt with \(Self.gib(limit * 2)) GiB; "
                    + "\"resources\": {\"memory_gb\": \(Self.gib(limit * 2))} in the recipe reserves it from the start"
                result.record.warnings.append(hint)
                if let wheelPath = result.wheelPath {
                    // A verification rebuild keeps its own record beside its wheel, never the stored build's.
                    try? BuildStore(layout: environment.layout).write(
                        result.record, in: Paths.parent(wheelPath), file: environment.rebuild == nil ? "record.json" : "rebuild-record.json")
                }
                return result
            }
        } catch let failure as BuildFailure where failure.kind == .deferred || failure.kind == .cancelled {
            // Nothing was built: nothing to keep.
            job.log.finish()
            return TargetBuild(target: target, record: job.record, wheelPath: nil, logPath: job.log.path, failure: failure, skipped: nil)
        } catch {
            var failure = error as? BuildFailure ?? BuildFailure(stage: .configure, kind: .configuration, reason: "\(error)")
            if let limit = job.memoryExceededGb {
                failure.suggestion =
                    "the build needs more than \(Self.gib(limit)) GiB\(job.memoryRetryGb != nil ? " (a second attempt had that much)" : ""): "
                    + "declare \"resources\": {\"memory_gb\": N} in the recipe (the scheduler then reserves it), or lower the build's parallelism in its environment"
                job.record.suggestion = failure.suggestion
            } else if let suggestion = diagnose(failure, job: job) {
                failure.suggestion = suggestion
                job.record.suggestion = suggestion
                job.note("missing: \(suggestion)")
            }
            job.record.outcome = .failed
            job.record.failure = failure.description
            job.note("FAILED at \(failure.stage.rawValue): \(failure.reason)")
            job.log.finish()
            var logPath = "\(environment.rebuild?.into ?? "")/build.log"
            if let rebuild = environment.rebuild {
                // A failed verification rebuild leaves the store alone.
                try? Files.makeDirectories(rebuild.into)
                if rename(job.log.path, logPath) != 0 { logPath = job.log.path }
            } else {
                logPath = BuildStore(layout: environment.layout).keepFailure(job.record, log: job.log.path)
            }
            var kept = failure
            if kept.log != nil { kept.log = logPath }
            return TargetBuild(target: target, record: job.record, wheelPath: nil, logPath: logPath, failure: kept, skipped: nil)
        }
    }

    /// The build, stage by stage.
    func run(_ source: BuildSource, job: BuildJob, prereleases: Bool, hashes: [String], reuse: Bool) throws -> TargetBuild {
        let image = try Stages.Toolchain(environment: environment).run(job: job)
        job.record.toolchainDigest = image.digest
        let requirements = requirementsStage(image: image, job: job)

        // resolve + fetch, or the local source; a current build is taken as it is.
        let sdist: String
        var expected = Stages.ExpectedIdentity()
        switch source {
        case let .index(requirement):
            let resolved = try Stages.Resolve(environment: environment).run(requirement, prereleases: prereleases, hashes: hashes, job: job)
            job.record.project = resolved.project
            job.record.version = resolved.version.description
            expected = Stages.ExpectedIdentity(project: resolved.project, version: resolved.version.description, pureWheelOnIndex: resolved.pureWheel)
            if reuse,
                let existing = existingBuild(
                    project: resolved.project, version: resolved.version.description, target: job.target, sdistSha256: resolved.file.sha256)
            {
                return existing
            }
            try askGate(resolved: resolved, image: image, job: job)
            let fetched = try Stages.Fetch(environment: environment).run(resolved, job: job)
            (sdist, job.record.sdist) = (fetched.path, fetched.facts)
        case let .local(path):
            let fetched = try Stages.Fetch(environment: environment).run(local: path, job: job)
            (sdist, job.record.sdist) = (fetched.path, fetched.facts)
        }
        let extracted = try Stages.Extract().run(sdist, job: job)
        if job.record.project.isEmpty {
            job.record.project = ProjectName.normalise(extracted.name)
            job.record.version = extracted.version
            if extracted.declared { expected = Stages.ExpectedIdentity(project: extracted.name, version: extracted.version) }
        }

        // The recipe, and the roots it asks for.
        let (recipe, recipeDigest) = try recipe(for: job.record.project, version: job.record.version, job: job)
        job.record.recipeDigest = recipeDigest
        if recipe.skips(job.target) {
            job.record.outcome = .skipped
            job.log.finish()
            return TargetBuild(
                target: job.target, record: job.record, wheelPath: nil, logPath: job.log.path, failure: nil, skipped: "the recipe skips \(job.target)")
        }
        let applied = try Stages.Patch().run(recipe.patches ?? [], projectRoot: extracted.projectRoot, job: job)
        job.record.patches = applied.isEmpty ? nil : applied
        let (layers, derived) = try Stages.Roots(environment: environment).run(recipe: recipe, image: image, job: job)
        job.record.derivedRoot = derived?.key

        // prepare + build, audit, repair, test, store, sign.
        let built = try Stages.Compile(environment: environment, requirements: requirements)
            .run(base: job.work, projectRoot: extracted.projectRoot, buildSystem: extracted.buildSystem, recipe: recipe, layers: layers, job: job, depth: 0)
        job.record.buildRequirements = try Stages.Requirements.used("\(job.work)/wheelhouse")
        let audited = try Stages.Audit(environment: environment).run(
            built, expected: expected, layers: layers, recipe: recipe, hasNativeSources: extracted.hasNativeSources, job: job)
        if expected.project == nil {
            // A source tree without PKG-INFO was named after its folder: the backend knows better
            // (its name and version were validated by the audit's identity check).
            job.record.project = ProjectName.normalise(audited.wheel.filename.distribution)
            job.record.version = audited.wheel.filename.version
        }
        job.record.pure = audited.pure
        var final = built
        var mustLoad: [Graft] = []
        if !audited.pure && recipe.repair != false {
            let repaired = try Stages.Repair(environment: environment).run(audited, layers: layers, recipe: recipe, job: job)
            (final, job.record.grafted, mustLoad) = (repaired.path, repaired.grafted, repaired.loadedOnImport)
        }
        job.record.debianPackages = BuildPackages.uses(image: image, derived: derived, grafted: job.record.grafted)
        job.record.toolchainDefinition = image.definition
        job.record.warnings += try Stages.TestInstall(environment: environment, requirements: requirements)
            .run(final, recipe: recipe, grafted: mustLoad, job: job)
        let stored = try Stages.Store(environment: environment).run(final, job: job)
        job.record.wheel = stored.name
        job.record.wheelSha256 = stored.sha256
        job.record.platformTag = WheelFilename(stored.name)?.platformTags.joined(separator: ".")
        try Stages.Sign(environment: environment).run(stored.path, job: job)

        // The record is written last: it marks the build done.
        job.record.outcome = .succeeded
        job.log.finish()
        let destination = (stored.path as NSString).deletingLastPathComponent
        let logPath = "\(destination)/build.log"
        if rename(job.log.path, logPath) != 0 { try Files.writeAtomically(try Files.readBytes(job.log.path), to: logPath) }
        try BuildStore(layout: environment.layout).write(job.record, in: destination, file: environment.rebuild == nil ? "record.json" : "rebuild-record.json")
        return TargetBuild(target: job.target, record: job.record, wheelPath: stored.path, logPath: logPath, failure: nil, skipped: nil)
    }

    /// For a build or preparation that failed: what its log says was missing, looked up in the
    /// target suite's Debian contents index, as a fix to run. Nil when nothing is recognised,
    /// nothing is found, or the index cannot be had (a diagnosis never fails a build twice).
    func diagnose(_ failure: BuildFailure, job: BuildJob) -> String? {
        guard failure.kind == .build, failure.stage == .build || failure.stage == .prepare,
            let bytes = try? Files.readBytes(job.log.path, limit: 256 << 20)
        else { return nil }
        let log = String(decoding: bytes, as: UTF8.self)
        if let need = MissingDependencies.offlineNeed(log, project: job.record.project.isEmpty ? "PROJECT" : job.record.project) { return need }
        guard let contents = environment.contents else { return nil }
        let missing = MissingDependencies.scan(log)
        guard !missing.isEmpty else { return nil }
        guard
            let lines = try? contents.lines(
                containing: missing.flatMap(\.contentsPatterns), suite: job.spec.suite, architecture: job.spec.debianArchitecture, limit: 2000)
        else {
            job.note("the Debian contents index could not be searched for \(missing.map(\.description).joined(separator: ", "))")
            return nil
        }
        let found = missing.map { ($0, MissingDependencies.packages(for: $0, in: lines)) }
        let project = job.record.project.isEmpty ? "PROJECT" : job.record.project
        return MissingDependencies.suggestion(project: project, found: found, baseline: job.spec.tagCeiling)
    }

    /// The recipe of a project for this version and target, checked.
    func recipe(for project: String, version: String, job: BuildJob) throws -> (Recipe, String) {
        let (base, digest) = try environment.recipes.recipe(for: project)
        let recipe = base.resolved(for: PackageVersion(version), target: job.target)
        if let compiler = recipe.compiler, compiler != "gcc" && compiler != "zig" {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "the recipe's compiler must be \"gcc\" or \"zig\", not \"\(compiler)\"")
        }
        if recipe.repair == false, let ceiling = job.spec.tagCeiling {
            // An unrepaired wheel keeps its linux_* tag: it cannot honour a manylinux promise.
            throw BuildFailure(
                stage: .configure, kind: .configuration, reason: "the recipe says \"repair\": false, but \(job.spec.name) promises \(ceiling) wheels")
        }
        job.compilerPinnedToGcc = recipe.compiler == "gcc"
        job.allowedSyscalls = Set(recipe.allowSyscalls ?? [])
        let known = Set(SeccompRules.denied.map(\.name))
        if let unknown = job.allowedSyscalls.first(where: { !known.contains($0) }) {
            throw BuildFailure(
                stage: .configure, kind: .configuration,
                reason: "the recipe allows \(unknown), which the sandbox does not deny; denied are: \(known.sorted().joined(separator: ", "))")
        }
        job.memoryGb = recipe.resources?.memoryGb
        return (recipe, digest)
    }

    /// A GiB figure as a person writes it: 4, 8, 2.5.
    static func gib(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// Asks the scheduler whether this build may go on (the same key may be building elsewhere).
    func askGate(resolved: ResolvedSource, image: ToolchainImage, job: BuildJob) throws {
        guard let gate = job.hooks.gate else { return }
        let identity = BuildIdentity(
            project: resolved.project, version: resolved.version.description, target: job.target,
            sdistSha256: resolved.file.sha256 ?? resolved.file.url, toolchainDigest: image.digest,
            recipeDigest: (try? environment.recipes.recipe(for: resolved.project).digest) ?? "none",
            builderVersion: environment.builderVersion)
        if let message = gate(identity) { throw BuildFailure(stage: .resolve, kind: .deferred, reason: message) }
    }

    /// The build requirements stage of this job, which builds a requirement without a wheel
    /// for the target from its sdist first (recorded as a nested build).
    func requirementsStage(image: ToolchainImage, job: BuildJob) -> Stages.Requirements {
        let markers = job.spec.markerEnvironment(image: image)
        let tags = environment.policies.platformTags(job.spec)
        return Stages.Requirements(environment: environment, markers: markers, platformTags: tags) { [self] requirement, context in
            try buildRequirementFromSource(requirement, context: context, image: image, job: job)
        }
    }

    /// A build requirement with no wheel for the target, built from its sdist for the target
    /// (it only ever runs inside the build's own sandbox, so it is not repaired).
    func buildRequirementFromSource(_ requirement: Requirement, context: Stages.WheelhouseContext, image: ToolchainImage, job: BuildJob) throws -> String {
        environment.progress(job.target, "prepare: \(requirement) has no wheel for \(job.target): building it from its sdist first")
        let outer = job.nested
        defer { job.nested = outer }
        job.nested = "build requirement \(requirement.name)"
        let resolved = try Stages.Resolve(environment: environment).run(requirement.withoutMarker, prereleases: false, hashes: [], job: job)
        let fetched = try Stages.Fetch(environment: environment).run(resolved, job: job)
        let base = "\(job.work)/requirement-\(resolved.project)-\(context.depth + 1)"
        try? SafeRemoval.remove(base)
        try Files.makeDirectories(base)
        var nestedRecord = job.record
        nestedRecord.stages = []
        let nestedWork = BuildJob(record: nestedRecord, log: job.log, work: base, hooks: job.hooks, environment: environment, spec: job.spec)
        nestedWork.nested = job.nested
        nestedWork.memoryGb = job.memoryGb
        let extracted = try Stages.Extract().run(fetched.path, job: nestedWork)
        let (recipe, _) = try self.recipe(for: resolved.project, version: resolved.version.description, job: nestedWork)
        _ = try Stages.Patch().run(recipe.patches ?? [], projectRoot: extracted.projectRoot, job: nestedWork)
        let wheel = try Stages.Compile(environment: environment, requirements: requirementsStage(image: image, job: nestedWork))
            .run(
                base: base, projectRoot: extracted.projectRoot, buildSystem: extracted.buildSystem, recipe: recipe, layers: context.layers,
                job: nestedWork, depth: context.depth + 1)
        job.record.stages += nestedWork.record.stages.filter { $0.build != nil }
        job.note("built build requirement \(resolved.project) \(resolved.version) from source: \((wheel as NSString).lastPathComponent)")
        return wheel
    }
}

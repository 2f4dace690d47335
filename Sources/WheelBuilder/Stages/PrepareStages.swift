import BuildSandbox
import Foundation
import PackagingModel
import WheelAudit
import WheelfarmBasics

extension Stages {
    /// prepare (roots): the recipe's distribution packages and source libraries, in a derived
    /// root over the image (made once under the target's lock, then cached).
    struct Roots {
        let environment: BuildEnvironment

        func run(recipe: Recipe, image: ToolchainImage, job: BuildJob) throws -> (layers: [String], derived: DerivedRoot?) {
            let base = [environment.toolchains.rootfs(digest: image.digest)]
            let packages = recipe.packages ?? []
            let sources = (recipe.sourceLibraries ?? []).map { SourceBuild(source: $0.source, configure: $0.configure, script: $0.build) }
            guard !packages.isEmpty || !sources.isEmpty else { return (base, nil) }
            // A verification rebuild uses the very root the build used while it is kept (a
            // refresh since would install today's versions).
            if let key = environment.rebuild?.derivedRoot, let kept = environment.toolchains.storedDerivedRoot(key: key) {
                job.note("derived root \(key) of the original build")
                return (kept.layers, kept)
            }
            return try job.withStage(.prepare, "distribution packages \((packages + sources.map { "\($0.source) (from source)" }).joined(separator: " "))") {
                let lock = try WheelBuilder.targetLock(layout: environment.layout, target: job.target)
                defer { lock.unlock() }
                do {
                    let (derived, built) = try environment.toolchains.derivedRoot(
                        base: image, packages: packages, sources: sources, useGcc: recipe.compiler == "gcc"
                    ) {
                        [environment, target = job.target] line in environment.progress(target, "  \(line)")
                    }
                    job.note(built ? "made derived root \(derived.key)" : "derived root \(derived.key) cached: nothing installed")
                    return (derived.layers, derived)
                } catch let error as ToolchainError {
                    // The recipe's packages or source libraries did not install or build: the message names the step.
                    job.note("\(error)")
                    throw BuildFailure(stage: .prepare, kind: error.isTransient ? .transient : .build, reason: "\(error)", log: job.log.path)
                }
            }
        }
    }

    /// Where build requirements go, and for which build (the build itself is depth 0; a build
    /// requirement built from source first is depth 1, its own depth 2).
    struct WheelhouseContext {
        var wheelhouse: String
        var constraints: String
        var layers: [String]
        var depth: Int
    }

    /// prepare (requirements): build requirements as wheels for the target, downloaded outside
    /// the sandbox. Every entry is a validated PEP 508 requirement first: an option, a URL or
    /// a path that an sdist or its backend wrote fails the build, naming the entry.
    struct Requirements {
        let environment: BuildEnvironment
        let markers: Marker.Environment
        let platformTags: [String]
        /// Builds a requirement with no wheel for the target from its sdist; returns the wheel.
        let buildFromSource: (Requirement, WheelhouseContext) throws -> String

        /// The requirements among `texts` that apply to the target, or the failure naming the first that is not one.
        static func validate(_ texts: [String], origin: String, markers: Marker.Environment) throws -> [Requirement] {
            try texts.compactMap { text in
                switch Requirement.validated(text) {
                case let .success(requirement): return requirement.applies(in: markers) ? requirement : nil
                case let .failure(refusal):
                    throw BuildFailure(
                        stage: .prepare, kind: .build,
                        reason: "the build requirement \(refusal) (from \(origin)); only requirements by name cross into the farm")
                }
            }
        }

        /// What the host fetches on one build's behalf, at most: requirements asked for at once,
        /// wheels in all, and their bytes. A build chooses what the host downloads (its
        /// requirements, its hook's answer, its wheel's `Requires-Dist`): a bound, not a guess.
        static let limits = (requirements: 256, files: 600, bytes: Int64(6) << 30)

        func run(_ requirements: [Requirement], context: WheelhouseContext, job: BuildJob) throws {
            guard !requirements.isEmpty else { return }
            guard requirements.count <= Self.limits.requirements else {
                throw BuildFailure(
                    stage: .prepare, kind: .build,
                    reason: "\(requirements.count) requirements asked for at once; the farm fetches at most \(Self.limits.requirements) for one build",
                    log: job.log.path)
            }
            defer { job.note("fetched for this build so far: \(job.fetched.count) wheels, \(job.fetched.values.reduce(0, +) >> 20) MiB") }
            let request = WheelRequest(
                requirements: requirements, spec: job.spec, platformTags: platformTags, wheelhouse: context.wheelhouse,
                constraints: context.constraints, indexURL: environment.explicitIndex ? environment.index.configuration.indexURL : nil)
            let backoff = Backoff(attempts: 3, baseSeconds: 2, maxSeconds: 20)
            var attempt = 1
            var fromElsewhere = Set<String>()
            while true {
                let (result, log) = environment.wheels.fetch(request)
                job.note(log)
                try tally(context.wheelhouse, job: job)
                switch result {
                case .fetched:
                    return
                case let .noWheel(missing):
                    // No wheel for the target: a scheduler may have one (or build one first) ...
                    if context.depth == 0, let ask = job.hooks.buildDependency, !fromElsewhere.contains(missing) {
                        switch ask(missing, job.target) {
                        case let .wheel(path):
                            fromElsewhere.insert(missing)
                            try copy(path, into: context.wheelhouse)
                            job.note("build requirement \(missing): the farm's wheel \((path as NSString).lastPathComponent)")
                            continue
                        case let .wait(message):
                            throw BuildFailure(stage: .prepare, kind: .deferred, reason: message)
                        case .buildHere:
                            break
                        }
                    }
                    // ... else it is built from source here (twice nested at most), then tried again.
                    guard context.depth < 2, fromElsewhere.insert(missing).inserted, case let .success(requirement) = Requirement.validated(missing) else {
                        throw BuildFailure(
                            stage: .prepare, kind: .build,
                            reason: "no wheel of the build requirement \(missing) for \(job.target), and it cannot be built here", log: job.log.path)
                    }
                    try copy(try buildFromSource(requirement, context), into: context.wheelhouse)
                case let .failed(message, transient):
                    if transient && attempt < backoff.attempts {
                        environment.clock.sleep(seconds: backoff.delay(afterAttempt: attempt))
                        attempt += 1
                        continue
                    }
                    throw BuildFailure(
                        stage: .prepare, kind: transient ? .transient : .build,
                        reason:
                            "cannot get build requirements \(requirements.map(\.description).joined(separator: ", ")) as wheels for \(job.target): \(message)",
                        log: job.log.path)
                }
            }
        }

        /// Counts what the folder holds into the build's tally; past the limits the build fails.
        func tally(_ folder: String, job: BuildJob) throws {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let path = "\(folder)/\(name)"
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                job.fetched[path] = Int(info.st_size)
            }
            let bytes = Int64(job.fetched.values.reduce(0, +))
            guard job.fetched.count <= Self.limits.files, bytes <= Self.limits.bytes else {
                throw BuildFailure(
                    stage: .prepare, kind: .build,
                    reason:
                        "the build's requirements came to \(job.fetched.count) files and \(bytes >> 20) MiB; the farm fetches at most "
                        + "\(Self.limits.files) files and \(Self.limits.bytes >> 30) GiB for one build",
                    log: job.log.path)
            }
        }

        func copy(_ wheel: String, into wheelhouse: String) throws {
            try Files.writeAtomically(try Files.readBytes(wheel), to: "\(wheelhouse)/\((wheel as NSString).lastPathComponent)")
        }

        /// The wheels a wheelhouse holds, with their sha256: what the build used.
        static func used(_ wheelhouse: String) throws -> [UsedRequirement] {
            try ((try? FileManager.default.contentsOfDirectory(atPath: wheelhouse)) ?? []).filter { $0.hasSuffix(".whl") }.sorted().map { file in
                let name = WheelFilename(file)
                return UsedRequirement(
                    name: name?.distribution ?? file, version: name?.version ?? "", file: file,
                    sha256: Digest.hex(try Digest.sha256(fileAt: "\(wheelhouse)/\(file)")))
            }
        }
    }
}

extension ToolchainSpec {
    /// PEP 508 marker values of the target: its interpreter's full version from the image when
    /// known (Debian's package version), else `<python>.0`.
    public func markerEnvironment(image: ToolchainImage?) -> Marker.Environment {
        let package = image?.packages.first { $0.name == "python\(python)" || $0.name == "python\(python)-minimal" }
        let full = package.map { String($0.version.prefix { $0 != "-" && $0 != "+" && $0 != "~" }) } ?? "\(python).0"
        return Marker.Environment(pythonFullVersion: full.split(separator: ".").count == 3 ? full : "\(python).0", machine: architecture)
    }
}

extension PolicyCatalog {
    /// The platform tags pip may choose for a target: every manylinux policy up to its glibc.
    func platformTags(_ spec: ToolchainSpec) -> [String] {
        let glibc = spec.glibc.split(separator: ".").compactMap { Int($0) }
        var tags: [String] = []
        for policy in policies(libc: .glibc, architecture: spec.architecture) {
            guard let tag = PlatformTag(policy.name) else { continue }
            if tag.family == .linux || [tag.major, tag.minor].lexicographicallyPrecedes(glibc) || [tag.major, tag.minor] == glibc {
                tags.append(policy.name)
                tags += policy.aliases
            }
        }
        return tags
    }
}

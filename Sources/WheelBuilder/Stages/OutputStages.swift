import BuildSandbox
import Foundation
import PackagingModel
import Signing
import WheelArchive
import WheelAudit
import WheelfarmBasics

extension Stages {
    /// What the audit concluded.
    struct Audited {
        var wheel: Wheel
        var analysis: WheelAnalysis
        var pure: Bool
    }

    /// audit: the built wheel's binaries against the target's root: the best tag, what it
    /// needs, and the target's ceiling. A wheel without binaries from native sources is a
    /// silent fallback to pure Python, a failure unless the recipe allows it.
    struct Audit {
        let environment: BuildEnvironment

        func run(_ built: String, expected: ExpectedIdentity, layers: [String], recipe: Recipe, hasNativeSources: Bool, job: BuildJob) throws -> Audited {
            try job.withStage(.audit, (built as NSString).lastPathComponent) {
                let wheel: Wheel
                let analysis: WheelAnalysis
                do {
                    // Binaries are parsed as they stream by and their bytes dropped: memory stays
                    // small whatever the build put in the wheel (the repair reads what it edits).
                    wheel = try Wheel(path: built, selection: .binariesAndMetadata)
                } catch {
                    throw BuildFailure(stage: .audit, kind: .audit, reason: "the built wheel is refused: \(error)", log: job.log.path)
                }
                try Self.checkIdentity(wheel, expected: expected, job: job)
                do {
                    analysis = try WheelAnalyzer(catalog: environment.policies, layers: layers).analyze(wheel: wheel)
                } catch {
                    throw BuildFailure(stage: .audit, kind: .audit, reason: "the built wheel is refused: \(error)", log: job.log.path)
                }
                for finding in analysis.findings { job.note("finding: \(finding)") }
                var pure = false
                if analysis.binaries.isEmpty {
                    if wheel.filename.isPure, hasNativeSources, recipe.allowPure != true, let evidence = expected.pureWheelOnIndex {
                        // Pure by design, not a fallback: the project's own release is a pure wheel
                        // (its compiled form is opt-in, as charset-normalizer's is).
                        job.record.warnings.append("pure by design: the index lists \(evidence) for this version, so a build without binaries is no fallback")
                        job.note("no binaries, and the index lists \(evidence) for this version: pure by design")
                    } else if !wheel.filename.isPure || (hasNativeSources && recipe.allowPure != true) {
                        throw BuildFailure(
                            stage: .audit, kind: .build,
                            reason:
                                "the build produced no binary although the sources have native code (a silent fallback to pure Python?); a recipe with \"allow_pure\": true accepts that",
                            log: job.log.path)
                    }
                    pure = true
                }
                if let ceiling = job.spec.tagCeiling, !pure { try checkCeiling(ceiling, analysis: analysis, job: job) }
                return Audited(wheel: wheel, analysis: analysis, pure: pure)
            }
        }

        /// The wheel is the distribution and version the job asked for (its file name and its
        /// METADATA), before anything else is done with it: a build names its output, and that
        /// name is a claim. A local source that declares no name is known by the wheel's.
        static func checkIdentity(_ wheel: Wheel, expected: ExpectedIdentity, job: BuildJob) throws {
            let metadata = MetadataFile(parsing: String(decoding: wheel.content(of: "\(wheel.distInfo)/METADATA") ?? [], as: UTF8.self))
            do {
                try DistributionIdentity.check(
                    wheel: wheel.filename, metadataName: metadata.value("Name"), metadataVersion: metadata.value("Version"),
                    project: expected.project ?? wheel.filename.distribution, version: expected.version)
            } catch {
                throw BuildFailure(stage: .audit, kind: .audit, reason: "the built wheel is not what was asked for: \(error)", log: job.log.path)
            }
            if expected.project == nil {
                job.note("the source declares no name: it is \(wheel.filename.distribution) \(wheel.filename.version), as its wheel says")
            }
        }

        /// Fails the build when the best reachable tag is less compatible than the target's
        /// ceiling, naming the symbols and binaries that stand in the way.
        func checkCeiling(_ ceiling: String, analysis: WheelAnalysis, job: BuildJob) throws {
            let names = [ceiling, "\(ceiling)_\(analysis.architecture)"]
            guard let limit = analysis.policies.first(where: { policy in names.contains(policy.name) || policy.aliases.contains { names.contains($0) } }) else {
                throw BuildFailure(
                    stage: .audit, kind: .configuration, reason: "the tag ceiling \(ceiling) of \(job.spec.name) names no policy for \(analysis.architecture)")
            }
            guard analysis.repairPolicy.priority < limit.priority else { return }
            var reasons = analysis.symbolVersionsBeyond(limit)
            if reasons.isEmpty { reasons = analysis.findings }
            let flavour = job.spec.usesZig && job.compilerPinnedToGcc ? " (the recipe pins this project to gcc)" : ""
            throw BuildFailure(
                stage: .audit, kind: .audit,
                reason: "the wheel can be tagged \(analysis.repairPolicy.name) at best, above the ceiling \(ceiling) of \(job.spec.name)\(flavour): "
                    + reasons.joined(separator: "; "),
                log: job.log.path)
        }
    }

    /// What the repair made.
    struct Repaired {
        var path: String
        var grafted: [GraftedLibrary]
        /// Grafted libraries an import of the extension modules must load from `.libs`.
        var loadedOnImport: [Graft]
    }

    /// repair: external libraries grafted into the wheel's `.libs` folder, retagged.
    struct Repair {
        let environment: BuildEnvironment

        func run(_ audited: Audited, layers: [String], recipe: Recipe, job: BuildJob) throws -> Repaired {
            try job.withStage(.repair, "to \(audited.analysis.repairPolicy.name)") {
                let analysis = audited.analysis
                let system = SystemLibraries(layers: layers, libc: analysis.libc, architecture: analysis.architecture)
                let plan: RepairPlan
                do { plan = try RepairPlanner.plan(analysis, requested: nil, system: system, bundle: recipe.bundleLibraries ?? []) } catch {
                    throw BuildFailure(stage: .repair, kind: .audit, reason: "\(error)", log: job.log.path)
                }
                if !plan.grafts.isEmpty && environment.patchelf == nil {
                    throw BuildFailure(stage: .repair, kind: .configuration, reason: "grafting needs patchelf 0.14.5 or later (wheelfarm doctor)")
                }
                var patchelf = environment.patchelf ?? Patchelf(path: "patchelf", version: "")
                patchelf.confine = Self.confined(layers: layers, job: job)
                let repaired = try Repairer(patchelf: patchelf, system: system, toolVersion: environment.builderVersion)
                    .apply(plan, to: try Self.contents(of: audited.wheel, plan: plan, job: job), outputDirectory: "\(job.work)/repaired")
                let grafted = plan.grafts.map { graft in
                    GraftedLibrary(
                        soname: graft.soname, file: graft.destination, package: repaired.origins[graft.soname]?.name,
                        version: repaired.origins[graft.soname]?.version)
                }
                // The grafted libraries an import must load: those the extension modules need, and theirs.
                let extensions = Set(analysis.binaries.filter(\.isExtension).map(\.path))
                var required = Set(plan.edits.filter { extensions.contains($0.path) }.flatMap { $0.replaceNeeded.keys })
                var queue = Array(required)
                let bySoname = Dictionary(plan.grafts.map { ($0.soname, $0) }, uniquingKeysWith: { first, _ in first })
                while let soname = queue.popLast() {
                    for dependency in bySoname[soname]?.needsGrafted ?? [] where required.insert(dependency).inserted { queue.append(dependency) }
                }
                return Repaired(path: repaired.path, grafted: grafted, loadedOnImport: plan.grafts.filter { required.contains($0.soname) })
            }
        }

        /// patchelf parses the build's binaries: it runs in the sandbox over the build's root (it
        /// is a static program), with no network, the build's limits, and nothing of the host
        /// writable but the folder that holds the files it patches.
        static func confined(layers: [String], job: BuildJob) -> @Sendable (String, String, [PatchelfStep]) throws -> Void {
            { patchelf, folder, steps in
                let program = URL(fileURLWithPath: patchelf).resolvingSymlinksInPath().path
                // The sandbox's user rewrites the files in place.
                guard chown(folder, 65534, 65534) == 0, steps.allSatisfy({ chown("\(folder)/\($0.file)", 65534, 65534) == 0 }) else {
                    throw RepairError.patchelfFailed(file: folder, reason: "cannot hand the files to the sandbox's user: \(String(cString: strerror(errno)))")
                }
                let inside = "/.wheelfarm-patchelf/\((program as NSString).lastPathComponent)"
                let script = steps.flatMap { step in
                    step.arguments.map { arguments in
                        ([inside] + arguments + ["/patch/\(step.file)"]).map(Shell.quote).joined(separator: " ")
                    }
                }.joined(separator: " && ")
                let result = try job.sandbox(
                    layers: layers, command: ["sh", "-c", script], environment: SandboxConfiguration.defaultEnvironment,
                    mounts: [
                        BindMount(source: Paths.parent(program), destination: "/.wheelfarm-patchelf", readOnly: true),
                        BindMount(source: folder, destination: "/patch", readOnly: false)
                    ], wall: 600)
                job.note("patchelf ran in the sandbox on \(steps.count) file\(steps.count == 1 ? "" : "s")")
                guard result.outcome.succeeded else {
                    throw RepairError.patchelfFailed(
                        file: steps.map(\.file).joined(separator: ", "), reason: "\(result.outcome) in the sandbox (the build log has its words)")
                }
            }
        }

        /// A repair rewrites the wheel in memory: at most this much expanded content.
        static let inMemoryLimit: Int64 = 384 << 20

        /// The audited wheel with every member's bytes, read again only when the plan changes
        /// something (a wheel that needs nothing is copied as it is), and only when it fits the
        /// in-memory limit: a build's output never sizes the farm's own memory.
        static func contents(of audited: Wheel, plan: RepairPlan, job: BuildJob) throws -> Wheel {
            guard !(plan.grafts.isEmpty && plan.edits.isEmpty && plan.filename == audited.filename) else { return audited }
            let expanded = audited.members.reduce(Int64(0)) { $0 + Int64($1.size) }
            guard expanded <= inMemoryLimit else {
                throw BuildFailure(
                    stage: .repair, kind: .audit,
                    reason: "the wheel expands to \(expanded >> 20) MiB; the farm repairs wheels of at most \(inMemoryLimit >> 20) MiB expanded",
                    log: job.log.path)
            }
            do { return try Wheel(path: audited.path, selection: .everything) } catch {
                throw BuildFailure(stage: .repair, kind: .audit, reason: "the built wheel is refused: \(error)", log: job.log.path)
            }
        }
    }

    /// test: the wheel installed offline into a fresh venv in the target's runtime root (what
    /// production has: no compiler, no `-dev` packages, no headers, no recipe packages, so no
    /// build-only library can hide a missing graft); every extension loaded with RTLD_NOW, then
    /// imported; grafted libraries must load from `.libs`; the recipe's test.
    struct TestInstall {
        let environment: BuildEnvironment
        let requirements: Requirements

        /// The supervisor of the test import. It runs in the sandbox with `-I -S` (no `.pth`
        /// file, no `sitecustomize`, no user site: none of the wheel's code runs in it) and never
        /// imports the wheel itself. Each extension module is loaded (`RTLD_NOW`) and imported by
        /// a child of its own, also started with `-I -S` and site-packages put on its path by
        /// hand. A child's verdict is its exit status, counted from a secret the supervisor draws
        /// for each child and hands it on standard input: printing fake results, exiting early
        /// or with status 0 reads as a crash. The supervisor alone writes the verdict, on the
        /// control channel (descriptor 3), which no child inherits. What a child prints is only
        /// the detail of a failure it reports.
        static let probe = """
            import json, os, secrets, subprocess, sys
            os.set_inheritable(3, False)
            control = os.fdopen(3, 'w')
            child = r'''
            import sys
            def main():
                import ctypes, importlib, json, os
                secret = int(sys.stdin.readline())
                sys.stdin.close()
                name, path, site = sys.argv[1], sys.argv[2], sys.argv[3]
                sys.path.insert(0, site)
                def report(offset, text):
                    sys.stdout.write('\\n' + text + '\\n'); sys.stdout.flush(); os._exit((secret + offset) % 256)
                try:
                    parent = name.rpartition('.')[0]
                    if parent:
                        importlib.import_module(parent)
                    ctypes.CDLL(path, ctypes.RTLD_LOCAL | getattr(os, 'RTLD_NOW', 2))
                except OSError as e:
                    report(1, str(e))
                except ModuleNotFoundError as e:
                    report(2, json.dumps([e.name or '', str(e)]))
                except BaseException as e:
                    report(3, type(e).__name__ + ': ' + str(e))
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as e:
                    report(2, json.dumps([e.name or '', str(e)]))
                except BaseException as e:
                    report(3, type(e).__name__ + ': ' + str(e))
                libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if '.libs/' in l})
                report(0, json.dumps(libs))
            main()
            '''
            modules, python, site = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
            env = dict(os.environ, LD_BIND_NOW='1')
            results, libs = [], set()
            for name, path in modules:
                secret = 8 + secrets.randbelow(240)
                run = subprocess.run([python, '-I', '-S', '-c', child, name, path, site], input=(str(secret) + '\\n').encode(),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd='/tmp', timeout=600)
                lines = run.stdout.decode('utf-8', 'replace').splitlines()
                last = lines[-1][:2000] if lines else ''
                offset = (run.returncode - secret) % 256 if run.returncode >= 0 else -1
                entry = {'module': name}
                try:
                    if offset == 0:
                        entry['kind'] = 'ok'; libs.update(json.loads(last))
                    elif offset == 1:
                        entry.update(kind='load', error=last)
                    elif offset == 2:
                        missing, error = json.loads(last); entry.update(kind='missing', missing=str(missing), error=str(error))
                    elif offset == 3:
                        entry.update(kind='import', error=last)
                    else:
                        entry.update(kind='crash', error='the import process ended with status %d without a verdict' % run.returncode)
                except Exception:
                    entry.update(kind='crash', error='the import process gave an unreadable report')
                results.append(entry)
            control.write(json.dumps({'results': results, 'libs': sorted(libs)}) + '\\n')
            control.close()
            """

        func run(_ wheelPath: String, recipe: Recipe, grafted: [Graft], job: BuildJob) throws -> [String] {
            try job.withStage(.test, "install and import in the runtime root of \(job.spec.name)") {
                let image = try Toolchain(environment: environment).runtime(job: job)
                job.record.runtimeDigest = image.digest
                let runtime = "\(job.work)/runtime"
                try Files.makeDirectories(runtime)
                let wheel = try Wheel(path: wheelPath, selection: .binariesAndMetadata)
                let metadata = MetadataFile(parsing: String(decoding: wheel.content(of: "\(wheel.distInfo)/METADATA") ?? [], as: UTF8.self))
                // The wheel's runtime dependencies for the target, as wheels: validated requirements only.
                let dependencies = metadata.values("Requires-Dist").compactMap { text -> Requirement? in
                    guard case let .success(requirement) = Requirement.validated(text) else {
                        job.note("ignored Requires-Dist entry \(text.prefix(200)): not a plain requirement")
                        return nil
                    }
                    return requirement.applies(in: requirements.markers) ? requirement : nil
                }
                // The recipe's test requirements: by name only, like every requirement that crosses in.
                let testRequirements = try (recipe.testRequires ?? []).compactMap { text -> Requirement? in
                    switch Requirement.validated(text) {
                    case let .success(requirement): return requirement.applies(in: requirements.markers) ? requirement : nil
                    case let .failure(refusal): throw BuildFailure(stage: .test, kind: .configuration, reason: "the recipe's test_requires: \(refusal)")
                    }
                }
                let wheelhouse = WheelhouseContext(wheelhouse: runtime, constraints: "\(job.work)/constraints.txt", layers: [], depth: 2)
                try requirements.run(dependencies + testRequirements, context: wheelhouse, job: job)
                let modules = Self.extensionModules(wheel)
                let site = "/tmp/t/lib/python\(job.spec.python)/site-packages"
                let script =
                    "python3 -m venv --without-pip /tmp/t && /opt/wheelfarm/venv/bin/python -m pip --python /tmp/t/bin/python install --quiet --no-index --find-links /runtime -- "
                    + Shell.quote("/wheel/\((wheelPath as NSString).lastPathComponent)")
                    + testRequirements.map { " " + Shell.quote($0.withoutMarker.description) }.joined()
                    + " && /tmp/t/bin/python -I -S -c " + Shell.quote(Self.probe) + " "
                    + Shell.quote(Self.json(modules.map { [$0.module, "\(site)/\($0.path)"] }))
                    + " /tmp/t/bin/python " + Shell.quote(site)
                    + (recipe.testCommand.map { " && cd /tmp && PATH=/tmp/t/bin:$PATH sh -c " + Shell.quote($0) } ?? "")
                let result = try job.sandbox(
                    layers: [environment.toolchains.rootfs(digest: image.digest)], command: ["sh", "-c", script],
                    environment: SandboxConfiguration.defaultEnvironment,
                    mounts: [
                        BindMount(source: (wheelPath as NSString).deletingLastPathComponent, destination: "/wheel", readOnly: true),
                        BindMount(source: runtime, destination: "/runtime", readOnly: true)
                    ],
                    wall: 900, controlChannel: true)
                guard let line = String(decoding: result.control, as: UTF8.self).split(separator: "\n").last,
                    let report = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                else {
                    throw BuildFailure(stage: .test, kind: .build, reason: "the test install failed (\(result.outcome))", log: job.log.path)
                }
                let verdict = Self.judge(
                    report["results"] as? [[String: Any]] ?? [], wheel: wheel, dependencies: metadata.values("Requires-Dist"), markers: requirements.markers)
                for warning in verdict.warnings { job.note("warning: \(warning)") }
                if !verdict.failures.isEmpty {
                    throw BuildFailure(
                        stage: .test, kind: .build,
                        reason: "extension modules do not load without the build's libraries: " + verdict.failures.joined(separator: "; "),
                        log: job.log.path)
                }
                let loaded = report["libs"] as? [String] ?? []
                for graft in grafted where !loaded.contains(where: { $0.hasSuffix("/" + graft.destination) }) {
                    throw BuildFailure(
                        stage: .test, kind: .build, reason: "the grafted \(graft.destination) was not loaded from the wheel's .libs folder", log: job.log.path)
                }
                guard result.outcome.succeeded else {
                    throw BuildFailure(stage: .test, kind: .build, reason: "the recipe's test command failed (\(result.outcome))", log: job.log.path)
                }
                job.note("imported \(modules.map(\.module).joined(separator: ", ")); grafted libraries loaded: \(loaded.count)")
                return verdict.warnings
            }
        }

        static func json(_ value: Any) -> String {
            (try? JSONSerialization.data(withJSONObject: value)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        }

        /// Every Python extension module of a wheel: its dotted name and its path in site-packages.
        static func extensionModules(_ wheel: Wheel) -> [(module: String, path: String)] {
            wheel.binaries.compactMap { path, result -> (String, String)? in
                guard case let .success(elf) = result, elf.isPythonExtension(fileName: (path as NSString).lastPathComponent) else { return nil }
                var parts = path.split(separator: "/").map(String.init)
                if parts.count > 2, parts[0].hasSuffix(".data"), parts[1] == "platlib" || parts[1] == "purelib" { parts.removeFirst(2) }
                let installed = parts.joined(separator: "/")
                guard let last = parts.popLast() else { return nil }
                return ((parts + [String(last.split(separator: ".").first ?? "")]).joined(separator: "."), installed)
            }.sorted { $0.0 < $1.0 }
        }

        /// Failures and warnings from the probe's per-module results. A module that cannot be
        /// imported only because a Python module outside the wheel and outside its Requires-Dist
        /// is missing (a GUI binding, a test helper, another backend) is a warning: the binary
        /// loaded. A library that does not load, an undefined symbol or a crash is a failure.
        /// A module missing at import is the wheel's fault when it is the wheel's own or a
        /// dependency that applies on the target; one behind an extra (`psutil; extra == "test"`,
        /// which the install leaves out) or not declared at all is optional: a warning.
        static func judge(
            _ results: [[String: Any]], wheel: Wheel, dependencies: [String], markers: Marker.Environment
        ) -> (failures: [String], warnings: [String]) {
            let ownTopLevels = Set(wheel.members.compactMap { $0.path.split(separator: "/").first.map { String($0.split(separator: ".").first ?? "") } })
            let declared = Set(
                dependencies.compactMap { text in Requirement(text).flatMap { $0.applies(in: markers) ? ProjectName.normalise($0.name) : nil } })
            var failures: [String] = [], warnings: [String] = []
            for entry in results.sorted(by: { ($0["module"] as? String ?? "") < ($1["module"] as? String ?? "") }) {
                let module = entry["module"] as? String ?? "?"
                let error = entry["error"] as? String ?? ""
                switch entry["kind"] as? String {
                case "ok": continue
                case "missing":
                    let missing = (entry["missing"] as? String ?? "").split(separator: ".").first.map(String.init) ?? ""
                    if !missing.isEmpty && !ownTopLevels.contains(missing) && !declared.contains(ProjectName.normalise(missing)) {
                        warnings.append("\(module) loads, but importing it needs the optional module \(missing), which the wheel does not require")
                    } else {
                        failures.append("\(module): \(error)")
                    }
                default:
                    failures.append("\(module): \(error)")
                }
            }
            return (failures, warnings)
        }
    }

    /// store: the wheel into the build store, with the next PEP 427 build number when an
    /// earlier build of this version had other inputs and other bytes (the earlier file keeps
    /// its name, so lock files with its hash still install).
    struct Store {
        let environment: BuildEnvironment

        func run(_ final: String, job: BuildJob) throws -> (path: String, name: String, sha256: String) {
            try job.withStage(.store, (final as NSString).lastPathComponent) {
                if let rebuild = environment.rebuild {
                    // A verification rebuild: beside nothing, under the name the build gave it.
                    try Files.makeDirectories(rebuild.into)
                    let name = (final as NSString).lastPathComponent
                    let bytes = try Files.readBytes(final)
                    try Files.writeAtomically(bytes, to: "\(rebuild.into)/\(name)")
                    return ("\(rebuild.into)/\(name)", name, Digest.hex(Digest.sha256(bytes)))
                }
                let store = BuildStore(layout: environment.layout)
                let destination: String
                do { destination = try store.directory(project: job.record.project, version: job.record.version, target: job.target) } catch {
                    throw BuildFailure(stage: .store, kind: .audit, reason: "\(error)")
                }
                try Files.makeDirectories(destination)
                var finalName = (final as NSString).lastPathComponent
                // The one identity check again, on the wheel as it will be stored and signed.
                guard let storedName = WheelFilename(finalName) else {
                    throw BuildFailure(stage: .store, kind: .audit, reason: "'\(finalName)' is not a wheel file name")
                }
                do {
                    try DistributionIdentity.check(
                        wheel: storedName, metadataName: nil, metadataVersion: nil, project: job.record.project, version: job.record.version)
                } catch {
                    throw BuildFailure(stage: .store, kind: .audit, reason: "\(error)")
                }
                let bytes = try Files.readBytes(final)
                let sha256 = Digest.hex(Digest.sha256(bytes))
                let previousRecord = try store.record(in: destination)
                if let previous = previousRecord, previous.outcome == .succeeded, let kept = previous.sdist?.sha256, kept != job.record.sdist?.sha256,
                    let wheel = previous.wheel, FileManager.default.fileExists(atPath: "\(destination)/\(wheel)")
                {
                    // A build is of its sdist: one from other bytes never replaces another's record.
                    throw BuildFailure(
                        stage: .store, kind: .configuration,
                        reason:
                            "\(destination) holds \(wheel), built from another sdist (\(previous.sdist?.filename ?? "?"), sha256 \(kept.prefix(16))…): "
                            + "a build from other sources needs its own version (a local version label such as +local1), or gc of the stored build first")
                }
                if let previous = previousRecord, let name = WheelFilename(finalName),
                    let number = BuildStore.nextBuildNumber(previous: previous, directory: destination, name: name, sha256: sha256)
                {
                    finalName =
                        WheelFilename(
                            distribution: name.distribution, version: name.version, build: String(number), pythonTags: name.pythonTags,
                            abiTags: name.abiTags, platformTags: name.platformTags
                        ).description
                    job.note("an earlier build of this version had other inputs and other bytes: this one is build number \(number)")
                }
                if let name = WheelFilename(finalName) {
                    let unique = uniqueName(name, sha256: sha256, job: job)
                    if unique != name {
                        job.note("another target's build or a published file is named \(finalName) with other bytes: this one is \(unique)")
                        finalName = unique.description
                    }
                }
                let path = "\(destination)/\(finalName)"
                try Files.writeAtomically(bytes, to: path)
                return (path, finalName, sha256)
            }
        }

        /// The name with a build number that keeps it unique across the farm: one index serves
        /// every target, and two targets may well produce the same tags (a gcc build that needs
        /// only old symbols is manylinux_2_17 too). A file of the same name with other bytes,
        /// built for another target or already in the repository, moves this one to the next
        /// free build number; the same bytes under the same name are no clash.
        func uniqueName(_ name: WheelFilename, sha256: String, job: BuildJob) -> WheelFilename {
            let layout = environment.layout
            let versionFolder =
                ((try? BuildStore(layout: layout).directory(project: job.record.project, version: job.record.version, target: job.target))
                    .map { $0 as NSString }?.deletingLastPathComponent) ?? ""
            let siblings = ((try? FileManager.default.contentsOfDirectory(atPath: versionFolder)) ?? []).filter { $0 != job.target }
                .map { "\(versionFolder)/\($0)" }
            let published = "\(layout.repository)/files/\(ProjectName.normalise(job.record.project))"
            func clashes(_ candidate: WheelFilename) -> Bool {
                (siblings + [published]).contains { folder in
                    let path = "\(folder)/\(candidate.description)"
                    guard FileManager.default.fileExists(atPath: path) else { return false }
                    return (try? Digest.hex(Digest.sha256(fileAt: path))) != sha256
                }
            }
            var candidate = name
            while clashes(candidate) {
                let number = candidate.build.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
                candidate = WheelFilename(
                    distribution: name.distribution, version: name.version, build: String(number + 1), pythonTags: name.pythonTags, abiTags: name.abiTags,
                    platformTags: name.platformTags)
            }
            return candidate
        }
    }

    /// sign: a minisign signature and a signed in-toto provenance statement beside the wheel,
    /// written before the record, which marks the build done.
    struct Sign {
        let environment: BuildEnvironment

        func run(_ wheelPath: String, job: BuildJob) throws {
            guard let signer = environment.signer, environment.rebuild == nil else { return }
            try job.withStage(.sign, "with key \(signer.keyIDText)") {
                let name = (wheelPath as NSString).lastPathComponent
                let bytes = try Files.readBytes(wheelPath)
                try Files.writeAtomically(Array(try signer.sign(bytes, fileName: name).utf8), to: wheelPath + ".minisig")
                let record = job.record
                let facts = ProvenanceFacts(
                    wheelName: name, wheelSha256: record.wheelSha256 ?? "", sdistName: record.sdist?.filename ?? "",
                    sdistSha256: record.sdist?.sha256 ?? "", sdistURL: record.sdist?.url ?? "", target: job.target,
                    toolchainDigest: record.toolchainDigest, derivedRoot: record.derivedRoot, recipeDigest: record.recipeDigest,
                    buildRequirements: record.buildRequirements.map { ($0.file, $0.sha256) }, builderVersion: environment.builderVersion,
                    startedAt: record.startedAt, finishedAt: environment.clock.now)
                try Files.writeAtomically(
                    Array(try Provenance.envelope(statement: Provenance.statement(facts), key: signer).utf8), to: wheelPath + ".intoto.json")
                job.note("signed with key \(signer.keyIDText): \(name).minisig, \(name).intoto.json")
            }
        }
    }
}

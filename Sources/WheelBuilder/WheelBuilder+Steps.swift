import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import WheelArchive
import WheelAudit
import WheelfarmBasics

extension WheelBuilder {
    /// A local sdist as is; a source tree packed into a tarball first, so both go through the same extraction.
    func localSdist(_ path: String, job: Job) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw BuildFailure(stage: .fetch, kind: .configuration, reason: "\(path): no such file or directory", log: nil)
        }
        guard isDir.boolValue else { return path }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let tarball = "\(job.work)/\((absolute as NSString).lastPathComponent).tar.gz"
        let parent = (absolute as NSString).deletingLastPathComponent
        let result = try ProcessRunner.run(.tar, ["-czf", tarball, "--exclude=.git", "--exclude=__pycache__", "-C", parent, (absolute as NSString).lastPathComponent])
        guard result.status == 0 else { throw BuildFailure(stage: .fetch, kind: .configuration, reason: "cannot pack \(path): \(result.stderr)", log: nil) }
        return tarball
    }

    /// The folder of the extracted tree that holds pyproject.toml or setup.py (an sdist's single top folder).
    static func projectRoot(_ tree: String) throws -> String {
        func isProject(_ dir: String) -> Bool {
            FileManager.default.fileExists(atPath: "\(dir)/pyproject.toml") || FileManager.default.fileExists(atPath: "\(dir)/setup.py")
        }
        if isProject(tree) { return tree }
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: tree)) ?? []).filter { !$0.hasPrefix(".") }
        if entries.count == 1, isProject("\(tree)/\(entries[0])") { return "\(tree)/\(entries[0])" }
        throw BuildFailure(stage: .extract, kind: .configuration, reason: "no pyproject.toml or setup.py at the top of the source tree", log: nil)
    }

    static func buildSystem(_ root: String) throws -> BuildSystem {
        guard let text = try? String(contentsOfFile: "\(root)/pyproject.toml", encoding: .utf8) else { return .legacyDefault }
        do { return try BuildSystem(pyproject: text) ?? .legacyDefault } catch {
            throw BuildFailure(stage: .extract, kind: .build, reason: "\(error)", log: nil)
        }
    }

    /// Name and version of a local source: PKG-INFO when the sdist has one, else the archive name.
    static func nameAndVersion(_ root: String, fallback: String) throws -> (String, String) {
        if let text = try? String(contentsOfFile: "\(root)/PKG-INFO", encoding: .utf8) {
            let meta = MetadataFile(parsing: text)
            if let name = meta.value("Name"), let version = meta.value("Version") { return (name, version) }
        }
        var stem = fallback
        for suffix in [".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz"] where stem.hasSuffix(suffix) { stem = String(stem.dropLast(suffix.count)) }
        if let dash = stem.lastIndex(of: "-"), PackageVersion(String(stem[stem.index(after: dash)...])) != nil {
            return (String(stem[..<dash]), String(stem[stem.index(after: dash)...]))
        }
        return (stem, "0")
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

    /// The platform tags pip may choose for the target: every manylinux policy up to its glibc.
    func platformTags(_ spec: ToolchainSpec) -> [String] {
        let glibc = spec.glibc.split(separator: ".").compactMap { Int($0) }
        var tags: [String] = []
        for policy in catalog.policies(libc: .glibc, architecture: spec.architecture) {
            guard let tag = PlatformTag(policy.name) else { continue }
            if tag.family == .linux || [tag.major, tag.minor].lexicographicallyPrecedes(glibc) || [tag.major, tag.minor] == glibc {
                tags.append(policy.name)
                tags += policy.aliases
            }
        }
        return tags
    }

    /// Where and for what build requirements are downloaded.
    struct DownloadContext {
        var wheelhouse: String
        var constraints: String
        var spec: ToolchainSpec
        var layers: [String]
        var depth: Int
    }

    /// Downloads requirements as wheels for the target interpreter (outside any sandbox,
    /// networked). A requirement with no wheel for the target is built from its sdist first.
    func download(_ requirements: [String], context: DownloadContext, job: Job) throws {
        guard !requirements.isEmpty else { return }
        let spec = context.spec
        var arguments = ["-m", "pip", "download", "--quiet", "--only-binary", ":all:", "--dest", context.wheelhouse,
                         "--find-links", context.wheelhouse,
                         "--python-version", spec.python, "--implementation", "cp",
                         "--abi", spec.abiTag, "--abi", "abi3", "--abi", "none", "-c", context.constraints]
        for tag in platformTags(spec) { arguments += ["--platform", tag] }
        if explicitIndex { arguments += ["--index-url", index.indexURL] }
        arguments += requirements
        var lastError = ""
        var builtFromSource = Set<String>()
        var attempt = 0
        while attempt < 6 {
            attempt += 1
            let result = try ProcessRunner.run(.python3, arguments)
            job.note("pip download \(requirements.joined(separator: " ")): exit \(result.status)\n\(result.stdout)\(result.stderr)")
            if result.status == 0 { return }
            lastError = result.stderr
            if let missing = lastError.split(separator: "\n").compactMap({ line -> String? in
                guard let range = line.range(of: "No matching distribution found for ") else { return nil }
                return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
            }).first {
                // No wheel for the target: a scheduler may have one (or build one first) ...
                if context.depth == 0, let ask = job.hooks.buildDependency, !builtFromSource.contains(missing) {
                    switch ask(missing, spec.name) {
                    case let .wheel(path):
                        builtFromSource.insert(missing)
                        try Files.writeAtomically(try Files.readBytes(path), to: "\(context.wheelhouse)/\((path as NSString).lastPathComponent)")
                        job.note("build requirement \(missing): the farm's wheel \((path as NSString).lastPathComponent)")
                        continue
                    case let .wait(message):
                        throw BuildFailure(stage: .prepare, kind: .deferred, reason: message, log: nil)
                    case .buildHere:
                        break
                    }
                }
                // ... else build it from source here (twice nested at most), then try again.
                guard context.depth < 2, builtFromSource.insert(missing).inserted else { break }
                let wheel = try buildRequirementFromSource(missing, context: context, job: job)
                try Files.writeAtomically(try Files.readBytes(wheel), to: "\(context.wheelhouse)/\((wheel as NSString).lastPathComponent)")
                continue
            }
            if attempt >= 3 { break }
            sleep(UInt32(2 * attempt * attempt))
        }
        // pip's messages for network and index trouble: worth another attempt later.
        let networkSigns = ["Could not fetch URL", "NewConnectionError", "Temporary failure in name resolution", "Read timed out",
                            "ConnectionError", "ProxyError", "Max retries exceeded", "HTTP error 5", "503 Service", "502 Bad Gateway"]
        let transient = networkSigns.contains { lastError.contains($0) }
        throw BuildFailure(stage: .prepare, kind: transient ? .transient : .build,
                           reason: "cannot get build requirements \(requirements.joined(separator: ", ")) as wheels for \(spec.name): \(lastError.split(separator: "\n").suffix(3).joined(separator: " "))", log: job.logPath)
    }

    /// Runs the backend's get_requires_for_build_wheel hook in an offline sandbox with the static
    /// requirements installed from the wheelhouse; returns what it asks for.
    func getRequires(base: String, projectRoot: String, buildSystem: BuildSystem, static requires: [String], recipe: Recipe, layers: [String],
                     wheelhouse: String, job: Job, known: [String] = [], thenBuild: [String]? = nil, environment extra: [String: String] = [:]) throws -> (requires: [String], built: Bool) {
        let relativeRoot = String(projectRoot.dropFirst("\(base)/src".count))
        let settings = recipe.configSettings ?? [:]
        // When nothing new is asked for and a build command is given, the same sandbox goes on to
        // build: one sandbox and one interpreter start fewer per build in the usual case.
        let program = """
        import json, os, shutil, subprocess, sys
        from pyproject_hooks import BuildBackendHookCaller
        shutil.copytree('/src\(relativeRoot)', '/tmp/src', symlinks=True)
        subprocess.check_call([sys.executable, '-m', 'venv', '--without-pip', '/tmp/env'])
        requires = json.loads(sys.argv[1])
        if requires:
            subprocess.check_call([sys.executable, '-m', 'pip', '--python', '/tmp/env/bin/python', 'install', '--quiet',
                                   '--no-index', '--find-links', '/wheelhouse', '-c', '/job/constraints.txt'] + requires)
        caller = BuildBackendHookCaller('/tmp/src', sys.argv[2], backend_path=json.loads(sys.argv[3]) or None, python_executable='/tmp/env/bin/python')
        asked = caller.get_requires_for_build_wheel(json.loads(sys.argv[4]) or None)
        print('WHEELFARM-REQUIRES ' + json.dumps(asked), flush=True)
        known, build = json.loads(sys.argv[5]), json.loads(sys.argv[6])
        if build and all(r in known for r in asked):
            print('WHEELFARM-BUILDING', flush=True)
            os.execvp(build[0], build)
        """
        let encode: (Any) -> String = { value in (try? JSONSerialization.data(withJSONObject: value)).map { String(decoding: $0, as: UTF8.self) } ?? "[]" }
        var output: [UInt8] = []
        var environment = SandboxConfiguration.defaultEnvironment
        environment["CIBUILDWHEEL"] = "1"
        for (key, value) in extra { environment[key] = value }
        for (key, value) in recipe.environment ?? [:] { environment[key] = value }
        var mounts = [BindMount(source: "\(base)/src", destination: "/src", readOnly: true),
                      BindMount(source: wheelhouse, destination: "/wheelhouse", readOnly: true),
                      BindMount(source: base, destination: "/job", readOnly: true)]
        if thenBuild != nil { mounts.append(BindMount(source: "\(base)/out", destination: "/out", readOnly: false)) }
        let result = try sandbox(layers: layers, command: ["python3", "-c", program, encode(requires), buildSystem.backend, encode(buildSystem.backendPath),
                                                           encode(settings), encode(known), encode(thenBuild ?? [])],
                                 environment: environment, mounts: mounts, job: job, wall: thenBuild == nil ? 900 : 3600) { chunk in output.append(contentsOf: chunk) }
        let text = String(decoding: output, as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("WHEELFARM-REQUIRES ") }),
              let list = try? JSONSerialization.jsonObject(with: Data(line.dropFirst("WHEELFARM-REQUIRES ".count).utf8)) as? [String] else {
            throw BuildFailure(stage: .prepare, kind: .build, reason: "the backend's get_requires_for_build_wheel hook failed (\(result))", log: job.logPath)
        }
        let building = text.contains("WHEELFARM-BUILDING")
        if building && !result.succeeded {
            throw BuildFailure(stage: .build, kind: .build, reason: "the build \(result)", log: job.logPath)
        }
        guard result.succeeded else {
            throw BuildFailure(stage: .prepare, kind: .build, reason: "the backend's get_requires_for_build_wheel hook failed (\(result))", log: job.logPath)
        }
        return (list, building)
    }

    static func usedRequirements(_ wheelhouse: String) throws -> [UsedRequirement] {
        try ((try? FileManager.default.contentsOfDirectory(atPath: wheelhouse)) ?? []).filter { $0.hasSuffix(".whl") }.sorted().map { file in
            let name = WheelFilename(file)
            return UsedRequirement(name: name?.distribution ?? file, version: name?.version ?? "", file: file,
                                   sha256: Digest.hex(try Digest.sha256(fileAt: "\(wheelhouse)/\(file)")))
        }
    }

    /// Runs a command in a sandbox of `layers`, appending its output to the job's log.
    func sandbox(layers: [String], command: [String], environment: [String: String], mounts: [BindMount], job: Job, wall: Double,
                 also: ((ArraySlice<UInt8>) -> Void)? = nil) throws -> SandboxOutcome {
        // A recipe declaring more memory than the usual 4 GiB gets it (the scheduler reserved it).
        let memory = max(Int64(4) << 30, Int64((job.memoryGb ?? 0) * Double(1 << 30)))
        var config = SandboxConfiguration(layers: layers, command: command, environment: environment, mounts: mounts,
                                          limits: SandboxLimits(wallSeconds: wall, memoryBytes: memory, maxProcesses: 2048, diskBytes: 8 << 30))
        config.stop = job.hooks.shouldStop
        let result = try Sandbox(home: home).run(config) { chunk, _ in
            job.log.append(contentsOf: chunk)
            also?(chunk)
        }
        job.note("-- sandbox: \(result.outcome) in \(String(format: "%.1f", result.seconds)) s")
        return result.outcome
    }

    /// Installs the wheel offline into a fresh sandbox of the bare image (no recipe packages),
    /// imports every extension module with LD_BIND_NOW=1, checks that grafted libraries load
    /// from the wheel's .libs folder, and runs the recipe's test command.
    func testInstall(_ wheelPath: String, image: ToolchainImage, spec: ToolchainSpec, recipe: Recipe, grafted: [Graft], job: Job) throws {
        try stage(job, .test, "install and import in a clean \(spec.name) root")
        let runtime = "\(job.work)/runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        // The wheel's runtime dependencies, as wheels for the target (pip reads them from the wheel).
        try download([wheelPath], context: DownloadContext(wheelhouse: runtime, constraints: "\(job.work)/constraints.txt", spec: spec, layers: [], depth: 2), job: job)
        let wheel = try Wheel(path: wheelPath, selection: .binariesAndMetadata)
        let modules = wheel.binaries.compactMap { path, result -> String? in
            guard case let .success(elf) = result, elf.isPythonExtension(fileName: (path as NSString).lastPathComponent) else { return nil }
            var parts = path.split(separator: "/").map(String.init)
            if parts.count > 2, parts[0].hasSuffix(".data"), parts[1] == "platlib" || parts[1] == "purelib" { parts.removeFirst(2) }
            guard let last = parts.popLast() else { return nil }
            return (parts + [String(last.split(separator: ".").first ?? "")]).joined(separator: ".")
        }.sorted()
        let probe = """
        import importlib, json, sys
        imported, failed = [], {}
        for name in sys.argv[1:]:
            try:
                importlib.import_module(name); imported.append(name)
            except Exception as e:
                failed[name] = f'{type(e).__name__}: {e}'
        maps = sorted({l.split()[-1] for l in open('/proc/self/maps') if '.libs/' in l})
        print('WHEELFARM-PROBE ' + json.dumps({'imported': imported, 'failed': failed, 'libs': maps}))
        """
        var script = "python3 -m venv --without-pip /tmp/t && /opt/wheelfarm/venv/bin/python -m pip --python /tmp/t/bin/python install --quiet --no-index --find-links /runtime " + Self.shellQuote("/wheel/\((wheelPath as NSString).lastPathComponent)")
        script += " && LD_BIND_NOW=1 /tmp/t/bin/python -c " + Self.shellQuote(probe) + " " + modules.map(Self.shellQuote).joined(separator: " ")
        if let test = recipe.testCommand { script += " && cd /tmp && PATH=/tmp/t/bin:$PATH sh -c " + Self.shellQuote(test) }
        var output: [UInt8] = []
        let result = try sandbox(layers: [store.rootfs(digest: image.digest)], command: ["sh", "-c", script], environment: SandboxConfiguration.defaultEnvironment,
                                 mounts: [BindMount(source: (wheelPath as NSString).deletingLastPathComponent, destination: "/wheel", readOnly: true),
                                          BindMount(source: runtime, destination: "/runtime", readOnly: true)],
                                 job: job, wall: 900) { chunk in output.append(contentsOf: chunk) }
        let text = String(decoding: output, as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("WHEELFARM-PROBE ") }),
              let report = try? JSONSerialization.jsonObject(with: Data(line.dropFirst("WHEELFARM-PROBE ".count).utf8)) as? [String: Any] else {
            throw BuildFailure(stage: .test, kind: .build, reason: "the test install failed (\(result))", log: job.logPath)
        }
        if let failed = report["failed"] as? [String: String], !failed.isEmpty {
            throw BuildFailure(stage: .test, kind: .build, reason: "extension modules do not import without the build's libraries: " + failed.map { "\($0.key): \($0.value)" }.joined(separator: "; "), log: job.logPath)
        }
        let loaded = report["libs"] as? [String] ?? []
        for graft in grafted where !loaded.contains(where: { $0.hasSuffix("/" + graft.destination) }) {
            throw BuildFailure(stage: .test, kind: .build, reason: "the grafted \(graft.destination) was not loaded from the wheel's .libs folder", log: job.logPath)
        }
        guard result.succeeded else {
            throw BuildFailure(stage: .test, kind: .build, reason: "the recipe's test command failed (\(result))", log: job.logPath)
        }
        job.note("imported \(modules.joined(separator: ", ")); grafted libraries loaded: \(loaded.count)")
        finish(job, .test)
    }
}

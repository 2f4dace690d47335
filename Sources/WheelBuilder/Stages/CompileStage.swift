import BuildSandbox
import Foundation
import PackagingModel
import WheelArchive
import WheelfarmBasics

extension Stages {
    /// build: the backend's `get_requires_for_build_wheel` hook, then `pip wheel`, offline in
    /// the target's sandbox; rounds repeat while the hook asks for something new (each new
    /// requirement is fetched in a `prepare` stage between rounds). Returns the one wheel built.
    struct Compile {
        let environment: BuildEnvironment
        let requirements: Requirements

        /// The build's copy of the sources and its temporary folder, as `.` in what compilers write.
        static let prefixMaps = "-ffile-prefix-map=/tmp/src=. -fdebug-prefix-map=/tmp/src=."

        /// `base` holds `src` (the extracted tree); the wheelhouse, constraints and `out` go beside it.
        func run(base: String, projectRoot: String, buildSystem: BuildSystem, recipe: Recipe, layers: [String], job: BuildJob, depth: Int) throws -> String {
            let wheelhouse = "\(base)/wheelhouse"
            let constraints = "\(base)/constraints.txt"
            let out = "\(base)/out"
            let context = WheelhouseContext(wheelhouse: wheelhouse, constraints: constraints, layers: layers, depth: depth)
            var known = buildSystem.requires
            try job.withStage(.prepare, "build requirements\(depth > 0 ? " (of a build requirement)" : ""): \(buildSystem.requires.joined(separator: ", "))") {
                try Files.makeDirectories(wheelhouse)
                // A verification rebuild pins what the original build used.
                let lines = (recipe.constraints ?? []) + (environment.rebuild?.pins ?? [])
                try Files.writeAtomically(Array((lines.joined(separator: "\n") + "\n").utf8), to: constraints)
                let wanted = try Requirements.validate(buildSystem.requires, origin: "[build-system] requires", markers: requirements.markers)
                try requirements.run(wanted, context: context, job: job)
            }
            // Reproducible by construction: a fixed time for every timestamp a tool writes, a fixed
            // hash seed, zone and locale, and the sources' path (fixed anyway) mapped away in debug
            // information and __FILE__; a recipe's own CFLAGS keep the maps in front.
            var variables: [String: String] = [
                "PIP_CONSTRAINT": "/job/constraints.txt", "SOURCE_DATE_EPOCH": "315532800", "PYTHONHASHSEED": "0", "TZ": "UTC",
                "CFLAGS": Self.prefixMaps, "CXXFLAGS": Self.prefixMaps
            ]
            if recipe.compiler != "gcc" { variables.merge(job.spec.compilerEnvironment) { $1 } }
            for (key, value) in recipe.environment ?? [:] {
                variables[key] = key == "CFLAGS" || key == "CXXFLAGS" ? "\(Self.prefixMaps) \(value)" : value
            }
            var command = ["python3", "-m", "pip", "wheel", "--no-index", "--find-links", "/wheelhouse", "--no-deps", "--no-cache-dir"]
            for (key, value) in (recipe.configSettings ?? [:]).sorted(by: { $0.key < $1.key }) { command += ["--config-settings", "\(key)=\(value)"] }
            command += ["/tmp/src", "-w", Self.outInside]
            for round in 1...5 {
                let answer = try job.withStage(
                    .build, "round \(round): get_requires_for_build_wheel, then pip wheel, in an offline sandbox of \(job.spec.name)"
                ) {
                    try hookThenBuild(
                        base: base, projectRoot: projectRoot, buildSystem: buildSystem, recipe: recipe, layers: layers, known: known,
                        build: command, variables: variables, job: job)
                }
                job.note("round \(round): the backend asks for \(answer.asked.isEmpty ? "nothing" : answer.asked.joined(separator: ", "))")
                if answer.built { return try Self.builtWheel(in: out, job: job) }
                let new = answer.asked.filter { !known.contains($0) }
                known += new
                try job.withStage(.prepare, "requirements the backend asked for: \(new.joined(separator: ", "))") {
                    try requirements.run(
                        try Requirements.validate(new, origin: "the backend's get_requires_for_build_wheel", markers: requirements.markers),
                        context: context, job: job)
                }
            }
            throw BuildFailure(stage: .prepare, kind: .build, reason: "the backend kept asking for new build requirements", log: job.log.path)
        }

        /// The farm's helper inside the sandbox. It keeps the control channel (fd 3) to itself:
        /// the descriptor is not inherited by what it starts (the backend runs in a child
        /// process), and the helper is not dumpable, so /proc does not open it to the build.
        static let helper = """
            import json, os, shutil, subprocess, sys
            os.set_inheritable(3, False)
            control = os.fdopen(3, 'w')
            try:
                import ctypes
                ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
            except Exception:
                pass
            def say(message):
                control.write(json.dumps(message) + '\\n')
                control.flush()
            from pyproject_hooks import BuildBackendHookCaller
            root, backend, backend_path, settings, known, build, requires = (json.loads(a) for a in sys.argv[1:8])
            shutil.copytree('/src' + root, '/tmp/src', symlinks=True)
            subprocess.check_call([sys.executable, '-m', 'venv', '--without-pip', '/tmp/env'])
            if requires:
                subprocess.check_call([sys.executable, '-m', 'pip', '--python', '/tmp/env/bin/python', 'install', '--quiet',
                                       '--no-index', '--find-links', '/wheelhouse', '-c', '/job/constraints.txt', '--'] + requires)
            caller = BuildBackendHookCaller('/tmp/src', backend, backend_path=backend_path or None, python_executable='/tmp/env/bin/python')
            asked = caller.get_requires_for_build_wheel(settings or None)
            say({'requires': asked})
            if build and all(r in known for r in asked):
                say({'building': True})
                control.close()
                os.execvp(build[0], build)
            """

        /// What the helper said on the control channel.
        struct Answer {
            var asked: [String]
            var built: Bool
        }

        func hookThenBuild(
            base: String, projectRoot: String, buildSystem: BuildSystem, recipe: Recipe, layers: [String], known: [String],
            build: [String], variables: [String: String], job: BuildJob
        ) throws -> Answer {
            let relativeRoot = String(projectRoot.dropFirst("\(base)/src".count))
            // The static requirements are installed into the hook's environment (validated, without markers).
            let install = try Requirements.validate(buildSystem.requires, origin: "[build-system] requires", markers: requirements.markers).map(
                \.withoutMarker.description)
            func json(_ value: Any) -> String {
                (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "null"
            }
            var environment = SandboxConfiguration.defaultEnvironment
            environment["CIBUILDWHEEL"] = "1"
            for (key, value) in variables { environment[key] = value }
            let mounts = [
                BindMount(source: "\(base)/src", destination: "/src", readOnly: true),
                BindMount(source: "\(base)/wheelhouse", destination: "/wheelhouse", readOnly: true),
                BindMount(source: base, destination: "/job", readOnly: true)
            ]
            let arguments = [
                json(relativeRoot), json(buildSystem.backend), json(buildSystem.backendPath), json(recipe.configSettings ?? [:]),
                json(known), json(build), json(install)
            ]
            // The wheel is written to the sandbox's own scratch and handed back by its init, after every
            // process of the run is gone: the build never writes to a host folder.
            let result = try job.sandbox(
                layers: layers, command: ["python3", "-c", Self.helper] + arguments, environment: environment,
                mounts: mounts, wall: 3600, controlChannel: true,
                collect: OutputCollection(inside: Self.outInside, host: "\(base)/out", limitBytes: Self.wheelLimit, limitFiles: 1, pattern: "*.whl"))
            var asked: [String]? = nil
            var building = false
            for line in String(decoding: result.control, as: UTF8.self).split(separator: "\n") {
                guard let message = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                if let list = message["requires"] as? [Any] {
                    guard list.count <= 200, let strings = list as? [String] else {
                        throw BuildFailure(
                            stage: .prepare, kind: .build,
                            reason: "the backend's get_requires_for_build_wheel hook answered something that is not a list of requirements", log: job.log.path)
                    }
                    asked = strings
                }
                if message["building"] as? Bool == true { building = true }
            }
            guard let asked else {
                throw BuildFailure(
                    stage: .prepare, kind: .build, reason: "the backend's get_requires_for_build_wheel hook failed (\(result.outcome))", log: job.log.path)
            }
            if building && !result.outcome.succeeded {
                throw BuildFailure(stage: .build, kind: .build, reason: "the build \(result.outcome)", log: job.log.path)
            }
            guard result.outcome.succeeded else {
                throw BuildFailure(
                    stage: .prepare, kind: .build, reason: "the backend's get_requires_for_build_wheel hook failed (\(result.outcome))", log: job.log.path)
            }
            return Answer(asked: asked, built: building)
        }

        /// Where the build writes its wheel, inside the sandbox.
        static let outInside = "/tmp/wheelfarm-out"
        /// The largest wheel taken back.
        static let wheelLimit: Int64 = 2 << 30

        /// The one wheel the build left: a regular file with a valid wheel name, opened without
        /// following links, smaller than the limit. Anything else (links, fifos, devices, extra
        /// files) is refused, saying what it was.
        static func builtWheel(in out: String, job: BuildJob) throws -> String {
            var entries = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).sorted()
            if let marker = entries.firstIndex(of: OutputCollection.notAFileMarker) {
                entries.remove(at: marker)
                throw BuildFailure(
                    stage: .build, kind: .build,
                    reason:
                        "the build's output holds a link, fifo or device: only one regular wheel file is taken (regular files: \(entries.prefix(5).joined(separator: ", ")))",
                    log: job.log.path)
            }
            if entries.contains(OutputCollection.unexpectedFileMarker) {
                throw BuildFailure(
                    stage: .build, kind: .build,
                    reason: "the build's output holds files besides its one wheel; they were not taken, and the build is refused", log: job.log.path)
            }
            guard entries.count == 1, let name = entries.first else {
                throw BuildFailure(
                    stage: .build, kind: .build,
                    reason:
                        "expected one wheel in the output folder, found \(entries.count) files: \(entries.prefix(5).map { String($0.prefix(100)) }.joined(separator: ", "))",
                    log: job.log.path)
            }
            guard WheelFilename(name) != nil, name.hasSuffix(".whl"), !name.contains("/") else {
                throw BuildFailure(stage: .build, kind: .build, reason: "the build's output '\(name.prefix(200))' is not a wheel file name", log: job.log.path)
            }
            let fd = open("\(out)/\(name)", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            var info = stat()
            guard fd >= 0, fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                throw BuildFailure(
                    stage: .build, kind: .build, reason: "the build's output \(name) is not a regular file (a link, fifo or device is refused)",
                    log: job.log.path)
            }
            guard Int64(info.st_size) < wheelLimit else {
                throw BuildFailure(stage: .build, kind: .build, reason: "the built wheel \(name) is \(wheelLimit >> 20) MiB or larger", log: job.log.path)
            }
            // Out of the root-only collection folder, readable for the test install's sandbox
            // (no process of the build is left to race this: the sandbox killed them all first).
            let built = "\((out as NSString).deletingLastPathComponent)/built"
            try Files.makeDirectories(built)
            guard rename("\(out)/\(name)", "\(built)/\(name)") == 0 else {
                throw BuildFailure(stage: .build, kind: .configuration, reason: "cannot take the built wheel: \(String(cString: strerror(errno)))")
            }
            fchmod(fd, 0o644)
            return "\(built)/\(name)"
        }
    }
}

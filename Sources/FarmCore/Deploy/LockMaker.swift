import BuildSandbox
import Foundation
import PackagingModel
import Repository
import Signing
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm lock` on the real farm. pip resolves, in the target's runtime root (so markers
/// are the real interpreter's), offline, against a static copy of the repository's index that
/// lists only the target's wheels; what it cannot find is built and published through the
/// farm, then pip resolves again. The lock and its requirements file are signed.
public struct LockMaker: Sendable {
    public let context: FarmContext
    public let store: ToolchainStore
    public let repository: Repository
    /// Where clients reach `wheelfarm serve` (`http://host:port`): the lock's URLs start with it.
    public let baseURL: String
    public let say: @Sendable (String) -> Void

    public init(context: FarmContext, store: ToolchainStore, repository: Repository, baseURL: String, say: @escaping @Sendable (String) -> Void) {
        self.context = context
        self.store = store
        self.repository = repository
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.say = say
    }

    /// What a lock came to: the lock, and warnings (yanked files it pins).
    public struct Outcome: Sendable {
        public var lock: LockFile
        public var warnings: [String]
        public var rounds: Int
    }

    /// Locks `file` for `target`. `build` builds and publishes requirements for the target
    /// (nil: `--no-build`); it returns the failures.
    public func lock(_ file: RequirementsFile, target: String, prereleases: Bool, build: (@Sendable ([Requirement]) throws -> [String])?) throws -> Outcome {
        let spec = try store.catalog.spec(target)
        let runtime = try store.ensureRuntime(for: spec) { [say] line in say("  \(line)") }
        // The lock is signed; a new farm makes its key here as a build would.
        let (signing, generated) = try context.keys().loadOrGenerate()
        if generated { say("made the farm's signing key \(signing.keyIDText): \(context.keys().secretPath)") }
        let key = signing.publicKey
        let lines = file.requirements.map(\.requirement.description)
        let constraints = file.constraints.map(\.requirement.description)
        guard !lines.isEmpty else { throw LockError("nothing to lock: no requirements") }
        let markers = spec.markerEnvironment(image: runtime)
        let absent = file.requirements.filter { $0.applies(to: markers) }.map(\.requirement).filter { requirement in
            !((try? repository.manifest(requirement.name))??.files.contains { StaticIndex.serves($0, target: target) } ?? false)
        }.map(\.withoutMarker)
        let rounds = Locked(0)
        let locker = Locker(
            resolve: { lines in
                rounds.withLock { $0 += 1 }
                return try self.resolve(lines, constraints: constraints, prereleases: prereleases || file.prereleases, spec: spec, runtime: runtime)
            },
            build: { requirements in try build?(requirements) ?? [] }, mayBuild: build != nil)
        let files = try locker.lock(lines, absent: absent, say: say)
        var wheels: [LockedWheel] = []
        var warnings: [String] = []
        for file in files {
            guard let entry = try repository.manifest(file.project)?.files.first(where: { $0.filename == file.filename }) else {
                throw LockError("pip chose \(file.filename), which the repository does not list")
            }
            guard entry.sha256 == file.sha256 || file.sha256.isEmpty else {
                throw LockError("\(file.filename): pip read sha256 \(file.sha256), the repository lists \(entry.sha256)")
            }
            // pip's report names project, version and file: they must be one distribution (the
            // farm's identity check), or a lock could pin one project's bytes under another's name.
            guard let name = WheelFilename(file.filename) else { throw LockError("pip chose \(file.filename), which is not a wheel file name") }
            do { try DistributionIdentity.check(wheel: name, metadataName: nil, metadataVersion: nil, project: file.project, version: file.version) } catch {
                throw LockError("pip chose \(file.filename): \(error)")
            }
            if let reason = entry.yanked {
                warnings.append("\(file.filename) is yanked\(reason.isEmpty ? "" : " (\(reason))"); the lock pins it by hash, so it still installs")
            }
            wheels.append(
                LockedWheel(
                    project: file.project, version: file.version, filename: file.filename,
                    url: "\(baseURL)/files/\(IndexPages.pathComponent(file.project))/\(IndexPages.pathComponent(file.filename))", size: entry.size,
                    uploadTime: entry.uploadTime, sha256: entry.sha256))
        }
        let lock = LockFile(
            target: target, python: spec.python, machine: spec.architecture, created: Date(), toolchainDigest: try store.image(named: target)?.digest,
            runtimeDigest: runtime.digest, signingKey: key.keyIDText, index: "\(baseURL)/simple/", requirements: lines + constraints.map { "-c \($0)" },
            wheels: wheels)
        return Outcome(lock: lock, warnings: warnings, rounds: rounds.withLock { $0 })
    }

    /// Writes the lock and its requirements file into `directory` (or the lock to `path` when
    /// it ends in `.toml`, the requirements file beside it), each with a minisign signature.
    /// Each file is written aside and renamed into place.
    public func write(_ lock: LockFile, to given: String) throws -> (pylock: String, requirements: String) {
        let output = Paths.absolute(given)
        let directory = output.hasSuffix(".toml") ? Paths.parent(output) : output
        let pylock = output.hasSuffix(".toml") ? output : "\(output)/\(lock.pylockName)"
        let requirements = "\(directory)/\(lock.requirementsName)"
        try Files.makeDirectories(directory)
        guard let key = try context.keys().load() else { throw LockError("the farm has no signing key (wheelfarm key generate)") }
        for (path, text) in [(pylock, lock.toml()), (requirements, lock.requirementsText())] {
            let bytes = Array(text.utf8)
            let signature = try key.sign(bytes, fileName: (path as NSString).lastPathComponent, timestamp: lock.created)
            try Files.writeAtomically(bytes, to: path)
            try Files.writeAtomically(Array(signature.utf8), to: path + ".minisig")
        }
        return (pylock, requirements)
    }

    /// One pip resolution in the runtime root: `pip install --dry-run --report -`, offline, the
    /// repository's files read-only, the index a static copy listing the target's wheels.
    func resolve(_ lines: [String], constraints: [String], prereleases: Bool, spec: ToolchainSpec, runtime: ToolchainImage) throws -> ResolutionResult {
        let work = try TemporaryDirectory(prefix: "wheelfarm-lock")
        try StaticIndex.write(repository: repository, target: spec.name, into: "\(work.path)/simple")
        try Files.makeDirectories("\(work.path)/in")
        try Files.writeAtomically(Array((lines.joined(separator: "\n") + "\n").utf8), to: "\(work.path)/in/requirements.txt")
        try Files.writeAtomically(Array((constraints.joined(separator: "\n") + "\n").utf8), to: "\(work.path)/in/constraints.txt")
        var command = [
            "/opt/wheelfarm/venv/bin/python", "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-", "--no-cache-dir",
            "--only-binary", ":all:", "--index-url", "file:///repo/simple/", "-r", "/in/requirements.txt", "-c", "/in/constraints.txt"
        ]
        if prereleases { command.append("--pre") }
        var config = SandboxConfiguration(
            layers: [store.rootfs(digest: runtime.digest)], command: command,
            mounts: [
                BindMount(source: "\(repository.root)/files", destination: "/repo/files", readOnly: true),
                BindMount(source: "\(work.path)/simple", destination: "/repo/simple", readOnly: true),
                BindMount(source: "\(work.path)/in", destination: "/in", readOnly: true)
            ],
            limits: SandboxLimits(wallSeconds: 600, memoryBytes: 2 << 30, maxProcesses: 256, diskBytes: 1 << 30))
        config.seccomp = try SeccompPolicy.prepare(in: context.layout.seccomp)
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        let result = try NamespaceSandbox(layout: context.layout).run(config) { chunk, isError in
            // Bounded: a report of thousands of packages is a few MiB.
            if isError {
                if stderr.count < 1 << 20 { stderr.append(contentsOf: chunk.prefix((1 << 20) - stderr.count)) }
            } else if stdout.count < 64 << 20 {
                stdout.append(contentsOf: chunk.prefix((64 << 20) - stdout.count))
            }
        }
        let errors = String(decoding: stderr, as: UTF8.self)
        guard result.outcome.succeeded else {
            if case .exited = result.outcome, let missing = Locker.missingRequirement(in: errors) {
                return .missing(requirement: missing, explanation: errors.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            return .failed("pip \(result.outcome):\n" + errors.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return .resolved(try Locker.parseReport(stdout, filesURL: "file:///repo/files/"))
    }
}

/// A simple index (PEP 503 HTML) of the repository as files, listing one target's wheels:
/// what pip reads through `file://` in the runtime root.
public enum StaticIndex {
    /// Whether a lock for `target` may use the file: built for the target, or pure (a pure
    /// wheel is built once, for whichever target came first, and serves them all).
    public static func serves(_ file: RepositoryFile, target: String) -> Bool {
        file.target == target || (file.target != nil && (WheelFilename(file.filename)?.platformTags ?? []) == ["any"])
    }

    /// Writes `<directory>/index.html` and `<directory>/<project>/index.html`; links point to
    /// `../../files/<project>/<file>`, so the repository's `files` folder goes beside it.
    public static func write(repository: Repository, target: String, into directory: String) throws {
        try Files.makeDirectories(directory)
        var listed: [String] = []
        for project in repository.projects() {
            guard var manifest = try repository.manifest(project) else { continue }
            manifest.files = manifest.files.filter { serves($0, target: target) }
            guard !manifest.files.isEmpty else { continue }
            try Files.makeDirectories("\(directory)/\(manifest.name)")
            try Files.writeAtomically(Array(IndexPages.projectHTML(manifest).utf8), to: "\(directory)/\(manifest.name)/index.html")
            listed.append(manifest.name)
        }
        try Files.writeAtomically(Array(IndexPages.rootHTML(listed).utf8), to: "\(directory)/index.html")
    }
}

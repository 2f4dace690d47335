import ArgumentParser
import FarmCore
import Foundation
import PackagingModel
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm lock`: a signed PEP 751 lock (and a hashed requirements file) per target, of the farm's own wheels.
public struct LockCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Lock requirements for a target: a signed pylock.<target>.toml and requirements.<target>.txt of the farm's wheels.",
        discussion: """
            pip resolves the requirements (extras and markers included, evaluated by the target's own \
            interpreter) in the target's runtime root, offline, against the farm's repository only. What \
            the repository lacks is built and published through the farm first (unless --no-build), then \
            pip resolves again. Every entry is a wheel of the repository, named by its URL under \
            repository.public_url, its size, upload time and sha256; both files are signed with the farm's key.

            Install with uv: uv pip install -r pylock.<target>.toml
            Install with pip: pip install --require-hashes -r requirements.<target>.txt --index-url <repository>/simple/
            Offline: wheelfarm bundle pylock.<target>.toml -o bundle.tar
            """)

    @Argument(help: "Requirements (markupsafe==3.0.2, \"requests[socks]>=2\").") var requirements: [String] = []
    @Option(name: [.customShort("r"), .customLong("requirement")], help: "A pip requirements file (may be repeated).") var requirementFiles: [String] = []
    @Option(name: .customLong("target"), help: "The target (may be repeated: one lock each; default: the configured targets).") var targets: [String] = []
    @Option(name: .shortAndLong, help: "The folder to write into, or the lock's path when one target (default: the current folder).") var output = "."
    @Option(help: "Where clients reach wheelfarm serve; the lock's URLs start with it (default: repository.public_url).") var url: String?
    @Flag(help: "Do not build what the repository lacks: fail instead.") var noBuild = false
    @Flag(help: "Allow pre-releases.") var pre = false
    @Option(help: "The package index missing sdists come from (default: pip's configuration).") var indexURL: String?
    @OptionGroup var options: HomeOptions

    public init() {}

    public func validate() throws {
        if requirements.isEmpty && requirementFiles.isEmpty { throw ValidationError("name what to lock: requirements, or -r requirements.txt") }
        if output.hasSuffix(".toml") && targets.count > 1 { throw ValidationError("-o names one lock file, but several targets were given: give a folder") }
    }

    public func run() throws {
        let status = run(CommandContext(options))
        if status != 0 { throw ExitCode(status) }
    }

    public func run(_ context: CommandContext) -> Int32 {
        let farm: FarmContext
        let file: RequirementsFile
        let maker: LockMaker
        let targetList: [String]
        do {
            for line in requirements {
                if case let .failure(refusal) = Requirement.validated(line) { throw ValidationError("\(refusal)") }
            }
            // Command-line requirements and -r files go through the same parser (includes, constraints, markers).
            let text = (requirements + requirementFiles.map { "-r " + URL(fileURLWithPath: $0).standardizedFileURL.path }).joined(separator: "\n")
            file = try RequirementsFile.parse(text + "\n", path: "\(FileManager.default.currentDirectoryPath)/command line", reader: { Files.readText($0) })
            farm = try context.farm()
            let store = try farm.toolchains()
            targetList = farm.targets(targets)
            for target in targetList { _ = try store.catalog.spec(target) }
            maker = LockMaker(
                context: farm, store: store, repository: try farm.repository(), baseURL: url ?? farm.configuration.repositoryPublicURL,
                say: { context.out($0) })
        } catch {
            context.err("wheelfarm: \(error)")
            return ExitStatus.invalidInput
        }
        var worst: Int32 = 0
        for target in targetList {
            let started = Date()
            context.out("[\(target)] resolving \(file.requirements.count) requirement(s) against the farm's repository in the runtime root")
            do {
                let build: (@Sendable ([Requirement]) throws -> [String])? =
                    noBuild
                    ? nil
                    : { @Sendable [indexURL, pre] requirements in
                        try Self.build(requirements, target: target, indexURL: indexURL, prereleases: pre, farm: farm, context: context)
                    }
                let outcome = try maker.lock(file, target: target, prereleases: pre, build: build)
                let written = try maker.write(outcome.lock, to: targetList.count > 1 && output.hasSuffix(".toml") ? "." : output)
                let rows = outcome.lock.wheels.map { [$0.project, $0.version, $0.filename, "\($0.size >> 10) KiB"] }
                context.out(Table.render(header: ["PROJECT", "VERSION", "WHEEL", "SIZE"], rows: rows))
                for warning in outcome.warnings { context.out("[\(target)] warning: \(warning)") }
                context.out(
                    "[\(target)] locked \(outcome.lock.wheels.count) wheels in \(String(format: "%.1f", Date().timeIntervalSince(started))) s "
                        + "(\(outcome.rounds) resolution\(outcome.rounds == 1 ? "" : "s")): \(written.pylock), \(written.requirements) (each with .minisig)")
            } catch {
                context.err("[\(target)] wheelfarm: cannot lock: \(error)")
                worst = ExitStatus.failure
            }
        }
        return worst
    }

    /// Builds requirements (with their dependencies) for `target` and publishes them to the
    /// farm's repository; returns what failed.
    static func build(
        _ requirements: [Requirement], target: String, indexURL: String?, prereleases: Bool, farm: FarmContext, context: CommandContext
    ) throws -> [String] {
        let builder = try farm.builder(indexURL: indexURL, notice: { context.out($0) }, progress: { target, line in context.step("[\(target)] \(line)") })
        let file = try RequirementsFile.parse(requirements.map(\.description).joined(separator: "\n") + "\n", path: "lock")
        let report = try RequestPlanner(context: farm, builder: builder).run(
            file, targets: [target], description: "lock: " + requirements.map(\.description).joined(separator: " "), withDeps: true,
            publish: try farm.publisher(remoteURL: nil), priority: 0, prereleases: prereleases, say: { context.out($0) })
        return report.rows.filter { $0.outcome == .failed || $0.outcome == .cancelled }.map { "\($0.requirement) (\($0.failure ?? $0.outcome.rawValue))" }
    }
}

/// `wheelfarm bundle`: an offline, signed, deterministic bundle of a lock, and its proof.
public struct BundleCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Bundle a lock for offline installation (wheels, signatures, install.sh), or prove a bundle with --check.",
        discussion: """
            wheelfarm bundle pylock.<target>.toml -o DIR|FILE.tar writes the locked wheels from the farm's \
            repository with their signatures and provenance, the lock and its requirements file with their \
            signatures, the farm's public key and install.sh. The same lock gives the same bytes.

            On the production host: sh install.sh /opt/venv --key wheelfarm.pub (the farm's key, obtained \
            separately). It checks the signatures, that the wheels are exactly the locked ones, then runs \
            pip install --no-index --require-hashes. It needs only sh and Python.

            wheelfarm bundle --check BUNDLE installs it in the target's runtime root without network, runs \
            pip check and imports every top-level module with LD_BIND_NOW=1.
            """)

    @Argument(help: "The lock file (pylock.<target>.toml), or with --check alone the bundle.") var input: String
    @Option(name: .shortAndLong, help: "The bundle to write: a folder, or a file ending in .tar.") var output: String?
    @Flag(help: "Prove the bundle (the one written with -o, else INPUT) in the target's runtime root.") var check = false
    @OptionGroup var options: HomeOptions

    public init() {}

    public func validate() throws {
        if output == nil && !check { throw ValidationError("give -o DIR|FILE.tar to write a bundle, or --check to prove one") }
    }

    public func run() throws {
        let status = run(CommandContext(options))
        if status != 0 { throw ExitCode(status) }
    }

    public func run(_ context: CommandContext) -> Int32 {
        do {
            let farm = try context.farm()
            let key = try farm.keys().publicKey()
            var bundle = input
            if let output {
                let summary = try Bundler(repository: try farm.repository(), publicKey: key).bundle(lockPath: input, output: output)
                context.out("bundled \(summary.wheels) wheels for \(summary.target) (\(summary.bytes >> 10) KiB): \(summary.path)")
                context.out("install offline: sh install.sh VENV --key <the farm's public key, \(key.keyIDText)>")
                bundle = output
            }
            guard check else { return ExitStatus.success }
            let report = try BundleChecker(context: farm, store: try farm.toolchains(), publicKey: key).check(bundle) { context.out($0) }
            guard report.installStatus == 0 else {
                context.out(report.installOutput)
                context.err("wheelfarm: the bundle did not install (install.sh exit \(report.installStatus))")
                return ExitStatus.failure
            }
            let failed = report.imports.filter { $0.error != nil }
            context.out(
                "installed offline in \(String(format: "%.1f", report.installSeconds)) s, \(report.installedBytes >> 20) MiB; pip check: "
                    + (report.pipCheckStatus == 0 ? "ok" : "FAILED\n\(report.pipCheckOutput)"))
            context.out(
                Table.render(header: ["MODULE", "IMPORT (LD_BIND_NOW=1)"], rows: report.imports.map { [$0.module, $0.error.map { "FAILED: \($0)" } ?? "ok"] }))
            if report.passed {
                context.out("bundle check passed for \(report.target): \(report.imports.count) modules import in the runtime root")
                return ExitStatus.success
            }
            context.err("wheelfarm: the bundle check failed: " + (report.imports.isEmpty ? "no module to import" : "\(failed.count) module(s) do not import"))
            return ExitStatus.failure
        } catch {
            context.err("wheelfarm: \(error)")
            return error is LockError ? ExitStatus.failure : ExitStatus.invalidInput
        }
    }
}

import ArgumentParser
import FarmCore
import Foundation
import PackagingModel
import Repository
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm build`: from a requirement (or a local sdist or source tree) to a tested, repaired wheel per target.
public struct BuildCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build, audit, repair and test wheels from sources, one per target.",
        discussion: """
            SOURCE is a requirement (markupsafe==3.0.2, markupsafe, "markupsafe>=2,<3"), resolved on the package \
            index pip is configured with, or the path of a local sdist or source tree. The default target is \
            cp311-bookworm-glibc2.17-<this machine's architecture>: CPython 3.11 compiled by zig for glibc 2.17, so the \
            wheel installs on RHEL 8, Ubuntu 20.04 and newer; its toolchain is built on first use.

            With -r, every requirement of a pip requirements file (pins, --hash, markers evaluated per \
            target, -c constraints, -r includes) is built for every target, what is already built with \
            the same inputs (toolchain image, recipe, builder) is skipped without touching the network \
            when pinned, and a summary table, --report-json and --report-junit tell the result.

            Exit status: 0 every target built (or was skipped by its recipe), 1 a build or its test failed, \
            3 the audit or repair rejected a wheel, 4 nothing to build, 2 a configuration error.
            """)

    @Argument(help: "Requirements or local source paths.") var sources: [String] = []
    @Option(
        name: [.customShort("r"), .customLong("requirement")],
        help: "Build every requirement of this pip requirements file (may be repeated); already built ones are skipped.") var requirementFiles: [String] = []
    @Flag(help: "With -r: also build the requirements' runtime dependencies, transitively.") var withDeps = false
    @Option(help: "With -r: how many builds run at once (default: the configuration's jobs, else from cores and memory).") var jobs: Int?
    @Option(help: "With -r: write a JSON report here.") var reportJson: String?
    @Option(help: "With -r: write a JUnit XML report here.") var reportJunit: String?
    @Option(name: .customLong("target"), help: "Target to build for; may be repeated (default: cp311-bookworm-glibc2.17-<machine>).") var targets: [String] = []
    @Option(help: "The package index (default: pip's configuration).") var indexURL: String?
    @Flag(help: "Allow pre-releases.") var pre = false
    @Flag(help: "Publish each built wheel (with its signature and provenance) to the farm's repository.") var publish = false
    @Option(help: "Also upload each built wheel to this remote repository (legacy upload API; password from WHEELFARM_REPOSITORY_PASSWORD).") var repositoryUrl:
        String?
    @Option(help: "User name for --repository-url (default: the configuration's repository.username, else __token__).") var username: String?
    @Option(help: "With -r: the jobs' priority; higher runs first when requests share the farm (the nightly uses -10).") var priority = 0
    @Flag(help: "With -r: do not publish even when the configuration says repository.publish = true.") var noPublish = false
    @Option(
        name: .customLong("recipes"),
        help: "A folder of your own recipes, searched before the configuration's recipes.paths and the built-in ones (may be repeated).")
    var recipeFolders: [String] = []
    @OptionGroup var options: HomeOptions

    public init() {}

    public mutating func validate() throws {
        if sources.isEmpty && requirementFiles.isEmpty { throw ValidationError("name what to build: requirements, source paths, or -r requirements.txt") }
        if !requirementFiles.isEmpty && !sources.isEmpty { throw ValidationError("give either -r files or requirements on the command line, not both") }
        if requirementFiles.isEmpty && (withDeps || reportJson != nil || reportJunit != nil || jobs != nil) {
            throw ValidationError("--with-deps, --jobs, --report-json and --report-junit go with -r")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    public func run() throws {
        let status = run(CommandContext(options))
        if status != 0 { throw ExitCode(status) }
    }

    static func parse(_ text: String) -> BuildSource? {
        if text.hasPrefix("/") || text.hasPrefix(".") || text.hasSuffix(".tar.gz") || text.hasSuffix(".zip") || FileManager.default.fileExists(atPath: text) {
            return .local(text)
        }
        return Requirement(text).map(BuildSource.index)
    }

    /// Builds what was asked; returns the exit status.
    public func run(_ context: CommandContext) -> Int32 {
        context.override("jobs", jobs.map(String.init))
        context.prependRecipeFolders(recipeFolders)
        let farm: FarmContext
        let builder: WheelBuilder
        var requested: [BuildSource] = []
        var file: RequirementsFile? = nil
        let targetList: [String]
        do {
            for path in requirementFiles {
                let loaded = try RequirementsFile.load(path: path, reader: { Files.readText($0) })
                if var merged = file {
                    merged.requirements += loaded.requirements
                    merged.constraints += loaded.constraints
                    merged.prereleases = merged.prereleases || loaded.prereleases
                    file = merged
                } else {
                    file = loaded
                }
            }
            for text in sources {
                guard let source = Self.parse(text) else { throw ValidationError("'\(text)' is neither a requirement nor an existing path") }
                requested.append(source)
            }
            farm = try context.farm()
            builder = try farm.builder(indexURL: indexURL, notice: { context.out($0) }, progress: { target, line in context.step("[\(target)] \(line)") })
            targetList = farm.targets(targets)
            for target in targetList { _ = try builder.environment.toolchains.catalog.spec(target) }
        } catch {
            context.err("wheelfarm: \(error)")
            return ExitStatus.invalidInput
        }
        if let file { return runRequirements(file, farm: farm, builder: builder, targets: targetList, context: context) }
        var worst: Int32 = 0
        var built = 0
        for source in requested {
            // A requirement's marker is evaluated per target, as in a requirements file.
            var targetsForSource = targetList
            if case let .index(requirement) = source, requirement.marker != nil {
                let toolchains = builder.environment.toolchains
                targetsForSource = targetList.filter { target in
                    guard let spec = try? toolchains.catalog.spec(target) else { return true }
                    let applies = requirement.applies(in: spec.markerEnvironment(image: (try? toolchains.image(named: target)) ?? nil))
                    if !applies { context.out("[\(target)] skipped \(requirement): its marker is false for \(target)") }
                    return applies
                }
            }
            for result in builder.build(source, targets: targetsForSource, prereleases: pre) {
                if let skipped = result.skipped {
                    context.out("[\(result.target)] skipped \(result.name): \(skipped)")
                } else if let failure = result.failure {
                    context.out("[\(result.target)] FAILED \(result.name) at \(failure.stage.rawValue): \(failure.reason)")
                    if let suggestion = failure.suggestion { context.out("[\(result.target)] fix: \(suggestion)") }
                    if let text = Files.readText(result.logPath, limit: 256 << 20) {
                        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(25).joined(separator: "\n")
                        context.out("---- last lines of the build log ----\n\(tail)\n---- full log: \(result.logPath)")
                    }
                    let code: Int32 =
                        failure.kind == .configuration
                        ? ExitStatus.invalidInput
                        : failure.kind == .audit
                            ? ExitStatus.rejected
                            : failure.kind == .nothing ? ExitStatus.nothingToBuild : ExitStatus.failure
                    if worst == 0 || code == ExitStatus.failure { worst = code }
                } else if let wheel = result.wheelPath {
                    built += 1
                    let grafted = result.record.grafted.map(\.soname).joined(separator: ", ")
                    context.out("[\(result.target)] built \(result.name): \(wheel)" + (grafted.isEmpty ? "" : "\n[\(result.target)]   grafted \(grafted)"))
                    for warning in result.record.warnings { context.out("[\(result.target)]   warning: \(warning)") }
                    context.out("[\(result.target)]   signature and provenance: \(wheel).minisig, \(wheel).intoto.json")
                    context.out("[\(result.target)]   log and record: \((wheel as NSString).deletingLastPathComponent)/{build.log,record.json}")
                    if publish || repositoryUrl != nil,
                        !publishWheel(wheel, target: result.target, expected: (result.record.project, result.record.version), farm: farm, context: context),
                        worst == 0
                    {
                        worst = ExitStatus.failure
                    }
                }
            }
        }
        if worst == 0 && built == 0 { return ExitStatus.nothingToBuild }
        return worst
    }

    func publishWheel(_ wheel: String, target: String, expected: (project: String, version: String?), farm: FarmContext, context: CommandContext) -> Bool {
        do {
            let report = try farm.publisher(remoteURL: repositoryUrl ?? farm.configuration.repositoryURL, username: username).publish(
                wheel, target: target, expected: expected)
            context.out(PublishReport.describe(report))
            return report.succeeded
        } catch {
            context.err("wheelfarm: cannot publish: \(error)")
            return false
        }
    }

    /// `-r`: every requirement for every target, a summary table and the reports; 0 only when
    /// each has a wheel for each target (a pure wheel counts once).
    func runRequirements(_ file: RequirementsFile, farm: FarmContext, builder: WheelBuilder, targets: [String], context: CommandContext) -> Int32 {
        let report: RequestReport
        do {
            let publishing = publish || repositoryUrl != nil || (farm.configuration.publish && !noPublish)
            let publisher = publishing ? try farm.publisher(remoteURL: repositoryUrl ?? farm.configuration.repositoryURL, username: username) : nil
            report = try RequestPlanner(context: farm, builder: builder).run(
                file, targets: targets, description: "build -r " + requirementFiles.joined(separator: " "), withDeps: withDeps, publish: publisher,
                priority: priority, prereleases: pre, say: { context.out($0) })
        } catch {
            context.err("wheelfarm: \(error)")
            return ExitStatus.invalidInput
        }
        let rows = report.rows.map { row in
            [
                row.requirement, row.target, row.outcome.rawValue + (row.stage.map { " (\($0))" } ?? ""), row.wheel ?? (row.failure ?? "-"),
                String(format: "%.1f s", row.seconds)
            ]
        }
        context.out(Table.render(header: ["REQUIREMENT", "TARGET", "RESULT", "WHEEL", "TIME"], rows: rows))
        context.out(report.summary)
        do {
            if let path = reportJson { try Files.writeAtomically(try report.json(), to: path) }
            if let path = reportJunit { try Files.writeAtomically(Array(report.junit().utf8), to: path) }
        } catch {
            context.err("wheelfarm: cannot write the report: \(error)")
            return ExitStatus.invalidInput
        }
        if report.rows.isEmpty { return ExitStatus.nothingToBuild }
        return report.succeeded ? ExitStatus.success : ExitStatus.failure
    }
}

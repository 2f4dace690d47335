import ArgumentParser
import BuildSandbox
import FarmCore
import FarmStore
import Foundation
import PackageIndex
import PackagingModel
import Signing
import WheelAudit
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
    @Option(name: [.customShort("r"), .customLong("requirement")], help: "Build every requirement of this pip requirements file (may be repeated); already built ones are skipped.") var requirementFiles: [String] = []
    @Flag(help: "With -r: also build the requirements' runtime dependencies, transitively.") var withDeps = false
    @Option(help: "With -r: how many builds run at once (default: the configuration's jobs, else from cores and memory).") var jobs: Int?
    @Option(help: "With -r: write a JSON report here.") var reportJson: String?
    @Option(help: "With -r: write a JUnit XML report here.") var reportJunit: String?
    @Option(name: .customLong("target"), help: "Target to build for; may be repeated (default: cp311-bookworm-glibc2.17-<machine>).") var targets: [String] = []
    @Option(help: "The package index (default: pip's configuration).") var indexURL: String?
    @Flag(help: "Allow pre-releases.") var pre = false
    @Flag(help: "Publish each built wheel (with its signature and provenance) to the farm's repository.") var publish = false
    @Option(help: "Also upload each built wheel to this remote repository (legacy upload API; password from WHEELFARM_REPOSITORY_PASSWORD).") var repositoryUrl: String?
    @Option(help: "User name for --repository-url (default: the configuration's repository.username, else __token__).") var username: String?
    @Option(help: "With -r: the jobs' priority; higher runs first when requests share the farm (the nightly uses -10).") var priority = 0
    @Flag(help: "With -r: do not publish even when the configuration says repository.publish = true.") var noPublish = false
    @Option(help: "The farm's home (default: the configuration's, else $WHEELFARM_HOME, else /var/lib/wheelfarm for root).") var home: String?
    @Option(help: "The configuration file (default: $WHEELFARM_CONFIG, else <home>/config.toml).") var config: String?

    /// The manylinux2014 target for this machine's architecture.
    static var defaultTarget: String { "cp311-bookworm-glibc2.17-\(ZigToolchain.hostMachine)" }

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
        let status = execute()
        if status != 0 { throw ExitCode(status) }
    }

    func parse(_ text: String) -> BuildSource? {
        if text.hasPrefix("/") || text.hasPrefix(".") || text.hasSuffix(".tar.gz") || text.hasSuffix(".zip") || FileManager.default.fileExists(atPath: text) {
            return .local(text)
        }
        return Requirement(text).map(BuildSource.index)
    }

    func execute() -> Int32 {
        let display = ProgressDisplay()
        let context: FarmContext
        let builder: WheelBuilder
        let store: ToolchainStore
        var requested: [BuildSource] = []
        var requirementsFile: RequirementsFile? = nil
        do {
            for path in requirementFiles {
                let loaded = try RequirementsFile.load(path: path)
                if var merged = requirementsFile {
                    merged.requirements += loaded.requirements
                    merged.constraints += loaded.constraints
                    merged.prereleases = merged.prereleases || loaded.prereleases
                    requirementsFile = merged
                } else {
                    requirementsFile = loaded
                }
            }
            for text in sources {
                guard let source = parse(text) else { throw ValidationError("'\(text)' is neither a requirement nor an existing path") }
                requested.append(source)
            }
            context = try FarmContext.open(config: config, home: home, flags: jobs.map { ["jobs": String($0)] } ?? [:])
            (builder, store) = try context.makeBuilder(indexURL: indexURL, display: display)
            for target in targets { _ = try store.catalog.spec(target) }
        } catch {
            FileHandle.standardError.write(Data("wheelfarm: \(error)\n".utf8))
            return 2
        }
        let targetList = context.targets(targets)
        if let requirementsFile {
            return runRequirements(requirementsFile, context: context, builder: builder, store: store, targets: targetList, display: display)
        }
        var worst: Int32 = 0
        var built = 0
        for source in requested {
            for result in builder.build(source, targets: targetList, prereleases: pre) {
                let name = result.name
                if let skipped = result.skipped {
                    display.message("[\(result.target)] skipped \(name): \(skipped)")
                } else if let failure = result.failure {
                    display.message("[\(result.target)] FAILED \(name) at \(failure.stage.rawValue): \(failure.reason)")
                    if let text = try? String(contentsOfFile: result.logPath, encoding: .utf8) {
                        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(25).joined(separator: "\n")
                        display.message("---- last lines of the build log ----\n\(tail)\n---- full log: \(result.logPath)")
                    }
                    let code: Int32 = failure.kind == .configuration ? 2 : failure.kind == .audit ? 3 : failure.kind == .nothing ? 4 : 1
                    if worst == 0 || code == 1 { worst = code }
                } else if let wheel = result.wheelPath {
                    built += 1
                    let grafted = result.record.grafted.map { $0["soname"] ?? "" }.joined(separator: ", ")
                    display.message("[\(result.target)] built \(name): \(wheel)" + (grafted.isEmpty ? "" : "\n[\(result.target)]   grafted \(grafted)"))
                    display.message("[\(result.target)]   signature and provenance: \(wheel).minisig, \(wheel).intoto.json")
                    display.message("[\(result.target)]   log and record: \((wheel as NSString).deletingLastPathComponent)/{build.log,record.json}")
                    if (publish || repositoryUrl != nil) && !publishWheels([wheel], context: context), worst == 0 { worst = 1 }
                }
            }
        }
        if worst == 0 && built == 0 { return 4 }
        return worst
    }

    /// Publishes built wheels as `--publish`/`--repository-url` ask; false when one was refused
    /// or the configuration is wrong (said on standard error).
    func publishWheels(_ wheels: [String], context: FarmContext) -> Bool {
        do {
            return try PublishCommand.publish(wheels, home: context.home.path, repositoryUrl: repositoryUrl ?? context.configuration.repositoryURL,
                                              username: username ?? context.configuration.repositoryUsername)
        } catch {
            FileHandle.standardError.write(Data("wheelfarm: cannot publish: \(error)\n".utf8))
            return false
        }
    }

    /// `-r`: every requirement for every target, a summary table and the reports; 0 only when
    /// each has a wheel for each target (a pure wheel counts once).
    func runRequirements(_ file: RequirementsFile, context: FarmContext, builder: WheelBuilder, store: ToolchainStore, targets: [String], display: ProgressDisplay) -> Int32 {
        let started = Date()
        let results: [RequirementResult]
        do {
            let run = RequirementsRun(builder: builder, store: store, file: file, targets: targets, withDeps: withDeps, prereleases: pre || file.prereleases,
                                      display: display, description: "build -r " + requirementFiles.joined(separator: " "))
            let publishing = publish || repositoryUrl != nil || (context.configuration.publish && !noPublish)
            results = try run.run(context: context, limits: context.configuration.limits, priority: priority, publish: publishing,
                                  repositoryURL: repositoryUrl ?? context.configuration.repositoryURL,
                                  username: username ?? context.configuration.repositoryUsername).map(RequirementsRun.row)
        } catch {
            FileHandle.standardError.write(Data("wheelfarm: \(error)\n".utf8))
            return 2
        }
        let finished = Date()
        let rows = results.map { [$0.requirement, $0.target, $0.status + ($0.stage.map { " (\($0))" } ?? ""), $0.wheel ?? ($0.failure ?? "-"), String(format: "%.1f s", $0.seconds)] }
        display.message(Table.render(header: ["REQUIREMENT", "TARGET", "RESULT", "WHEEL", "TIME"], rows: rows))
        let counts = Dictionary(grouping: results, by: \.status).mapValues(\.count)
        display.message(["built", "already built", "skipped", "failed"].map { "\(counts[$0] ?? 0) \($0)" }.joined(separator: ", ")
                        + String(format: " in %.1f s", finished.timeIntervalSince(started)))
        do {
            if let path = reportJson { try Files.writeAtomically(try RequirementsRun.json(results, started: started, finished: finished, targets: targets), to: path) }
            if let path = reportJunit { try Files.writeAtomically(Array(RequirementsRun.junit(results, seconds: finished.timeIntervalSince(started)).utf8), to: path) }
        } catch {
            FileHandle.standardError.write(Data("wheelfarm: cannot write the report: \(error)\n".utf8))
            return 2
        }
        if results.isEmpty { return 4 }
        return results.contains { $0.status == "failed" || $0.status == "cancelled" } ? 1 : 0
    }
}

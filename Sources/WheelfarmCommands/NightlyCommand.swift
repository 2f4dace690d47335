import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import PackagingModel
import Repository
import WheelfarmBasics

/// `wheelfarm track`: the projects the nightly follows for new releases.
public struct TrackCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "track", abstract: "Follow projects: the nightly builds their new releases for every target.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Project names.") var names: [String] = []
    @Option(help: "Also read project names from this file (one per line, # comments).") var file: String?
    @Flag(help: "Stop following the names instead.") var remove = false
    @Flag(help: "List the followed projects.") var list = false

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        var given = names
        if let file {
            guard let text = Files.readText(file) else { throw context.inputFailure(ValidationError("cannot read \(file)")) }
            given += Nightly.names(in: text)
        }
        for name in given where Requirement(name).map({ !$0.specifier.specifiers.isEmpty || $0.marker != nil || !$0.extras.isEmpty }) ?? true {
            throw context.inputFailure(ValidationError("'\(name)' is not a project name"))
        }
        let store = try context.jobStore()
        let normalised = given.map(ProjectName.normalise)
        if remove {
            let removed = try store.untrack(normalised)
            context.out("no longer following \(removed) project\(removed == 1 ? "" : "s")")
        } else if !normalised.isEmpty {
            try store.track(normalised)
            context.out("following \(normalised.joined(separator: ", ")); the nightly builds their new releases")
        }
        if list || given.isEmpty {
            let tracked = try store.trackedProjects()
            if tracked.isEmpty { context.out("no followed projects (wheelfarm track NAME)") }
            for project in tracked { context.out("\(project.name)\(project.lastVersion.map { "  (last built \($0))" } ?? "")") }
        }
    }
}

/// `wheelfarm nightly`: refresh the toolchains, rebuild what they changed, build new releases
/// of followed projects, publish, report.
public struct NightlyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nightly",
        abstract: "Refresh toolchain images, rebuild what changed, build new releases of followed projects, publish and report.",
        discussion: """
            Steps: rebuild every target's toolchain image (a security update gives a new digest); queue \
            every build the farm has landed whose inputs changed since (toolchain digest, recipe, \
            wheelfarm version), and the newest release of each followed project (wheelfarm track); run \
            them; publish when repository.publish is set (or --publish); print a table and write a JSON \
            report to <home>/reports/.

            Safe to kill and run again: interrupted jobs are resumed. A second nightly started while \
            one runs exits with status 75 saying so, or waits with --wait.

            Exit status: 0 no new failure, 1 a build failed that did not fail before, 2 configuration \
            error, 75 another nightly is running.
            """)
    @OptionGroup var options: HomeOptions
    @Option(name: .customLong("target"), help: "Targets (default: the configuration's targets, else the default target).") var targets: [String] = []
    @Option(help: "Builds at once (default: the configuration's jobs).") var jobs: Int?
    @Flag(help: "Wait for a running nightly to finish instead of exiting.") var wait = false
    @Flag(help: "Do not rebuild the toolchain images (use the current ones).") var noRefresh = false
    @Flag(help: "Publish what lands, whatever the configuration says.") var publish = false
    @Option(help: "Also write the JSON report here.") var reportJson: String?
    @Option(
        name: .customLong("recipes"),
        help: "A folder of your own recipes, searched before the configuration's recipes.paths and the built-in ones (may be repeated).")
    var recipeFolders: [String] = []
    @Option(help: "The jobs' priority: below a CI run's (0) by default, so CI requests sharing the farm go first.") var priority = -10

    public init() {}

    public func run() throws {
        let status = try run(CommandContext(options))
        if status != 0 { throw ExitCode(status) }
    }

    public func run(_ context: CommandContext) throws -> Int32 {
        // Flags are applied here, where tests drive the command too, before the farm is opened.
        context.override("jobs", jobs.map(String.init))
        context.prependRecipeFolders(recipeFolders)
        let farm = try context.openFarm()
        let nightly: Nightly
        let targetList = farm.targets(targets)
        let publisher: Publisher?
        do {
            let builder = try farm.builder(indexURL: nil, notice: { context.out($0) }, progress: { target, line in context.step("[\(target)] \(line)") })
            let toolchains = try farm.toolchains()
            for target in targetList { _ = try toolchains.catalog.spec(target) }
            nightly = Nightly(context: farm, builder: builder, toolchains: toolchains)
            publisher = publish || farm.configuration.publish ? try farm.publisher(remoteURL: farm.configuration.repositoryURL) : nil
        } catch {
            throw context.inputFailure(error)
        }
        let result: NightlyReport
        do {
            result = try nightly.run(
                Nightly.Options(
                    targets: targetList, refresh: !noRefresh, publish: publisher, priority: priority, wait: wait,
                    minReleaseAgeDays: farm.configuration.minReleaseAgeDays, verifySamples: farm.configuration.verifySamples),
                step: { context.step($0) }, say: { context.out($0) })
        } catch let busy as NightlyBusy {
            context.err("wheelfarm: \(busy)")
            return ExitStatus.busy
        }
        let report = result.report
        context.out(
            Table.render(
                header: ["JOB", "REQUIREMENT", "TARGET", "RESULT", "WHEEL"],
                rows: report.rows.map { row in
                    let job = row.job ?? 0
                    return [
                        String(job), row.requirement, row.target, row.outcome.rawValue + (result.newFailures.contains(job) ? " (NEW)" : ""),
                        row.wheel ?? shorten(row.failure, 60)
                    ]
                }))
        context.out(report.summary + ", \(result.newFailures.count) new failure\(result.newFailures.count == 1 ? "" : "s")")
        if let reportJson { try Files.writeAtomically(try report.json(), to: reportJson) }
        context.out("report: \(result.reportPath)")
        for target in result.imageFailures { context.out("toolchain \(target) could not be refreshed") }
        for entry in report.rebuilt {
            context.out("rebuilt \(entry.wheel ?? "\(entry.project) \(entry.version) (failed)") [\(entry.target)] for: \(entry.cause)")
        }
        if !result.verifications.isEmpty {
            let identical = result.verifications.filter(\.identical).count
            context.out("verified by rebuilding: \(identical) of \(result.verifications.count) identical")
        }
        for entry in result.noLongerReproducible { context.out("NO LONGER REPRODUCIBLE: \(entry.wheel) [\(entry.target)] (a new failure)") }
        let day = ISO8601DateFormatter()
        for release in report.heldBack {
            context.out(
                "held back: \(release.project) \(release.version) (uploaded \(day.string(from: release.uploaded)), built from \(day.string(from: release.eligible)))"
            )
        }
        return result.succeeded ? ExitStatus.success : ExitStatus.failure
    }
}

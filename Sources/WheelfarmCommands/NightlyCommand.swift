import ArgumentParser
import BuildSandbox
import FarmCore
import FarmStore
import Foundation
import PackageIndex
import PackagingModel
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm track`: the projects the nightly follows for new releases.
public struct TrackCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "track", abstract: "Follow projects: the nightly builds their new releases for every target.")
    @OptionGroup var farm: FarmOptions
    @Argument(help: "Project names.") var names: [String] = []
    @Option(help: "Also read project names from this file (one per line, # comments).") var file: String?
    @Flag(help: "Stop following the names instead.") var remove = false
    @Flag(help: "List the followed projects.") var list = false

    public init() {}

    public func run() throws {
        let context = try farm.open()
        var given = names
        do {
            if let file { given += try Self.names(inFile: file) }
            for name in given where Requirement(name).map({ !$0.specifier.specifiers.isEmpty || $0.marker != nil }) ?? true {
                throw ValidationError("'\(name)' is not a project name")
            }
        } catch { throw inputFailure(error) }
        let normalised = given.map(ProjectName.normalise)
        if remove {
            let removed = try context.jobs.untrack(normalised)
            say("no longer following \(removed) project\(removed == 1 ? "" : "s")")
        } else if !normalised.isEmpty {
            try context.jobs.track(normalised)
            say("following \(normalised.joined(separator: ", ")); the nightly builds their new releases")
        }
        if list || given.isEmpty {
            let tracked = try context.jobs.trackedProjects()
            if tracked.isEmpty { say("no followed projects (wheelfarm track NAME)") }
            for project in tracked { say("\(project.name)\(project.lastVersion.map { "  (last built \($0))" } ?? "")") }
        }
    }

    /// Project names in a file: one per line, blank lines and `#` comments ignored.
    static func names(inFile path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return text.isEmpty ? nil : text
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
    @OptionGroup var farm: FarmOptions
    @Option(name: .customLong("target"), help: "Targets (default: the configuration's targets, else the default target).") var targets: [String] = []
    @Option(help: "Builds at once (default: the configuration's jobs).") var jobs: Int?
    @Flag(help: "Wait for a running nightly to finish instead of exiting.") var wait = false
    @Flag(help: "Do not rebuild the toolchain images (use the current ones).") var noRefresh = false
    @Flag(help: "Publish what lands, whatever the configuration says.") var publish = false
    @Option(help: "Also write the JSON report here.") var reportJson: String?
    @Option(help: "The jobs' priority: below a CI run's (0) by default, so CI requests sharing the farm go first.") var priority = -10

    public init() {}

    public func run() throws {
        let status = try execute()
        if status != 0 { throw ExitCode(status) }
    }

    func execute() throws -> Int32 {
        let context = try farm.open(flags: jobs.map { ["jobs": String($0)] } ?? [:])
        let lockPath = "\(context.home.path)/state/nightly.lock"
        var lock = try FileLock.attempt(path: lockPath)
        if lock == nil {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8)) ?? "another process"
            guard wait else {
                FileHandle.standardError.write(Data("wheelfarm: another nightly is running (\(holder.trimmingCharacters(in: .whitespacesAndNewlines))); not starting a second one (--wait waits for it)\n".utf8))
                return 75
            }
            say("another nightly is running (\(holder.trimmingCharacters(in: .whitespacesAndNewlines))): waiting for it")
            lock = try FileLock(path: lockPath)
        }
        defer { lock?.unlock() }
        let started = Date()
        lock?.note("pid \(getpid()), started \(ISO8601DateFormatter().string(from: started))\n")

        let display = ProgressDisplay()
        let (builder, store): (WheelBuilder, ToolchainStore)
        do { (builder, store) = try context.makeBuilder(indexURL: nil, display: display) } catch { throw inputFailure(error) }
        let targetList = context.targets(targets)
        for target in targetList { do { _ = try store.catalog.spec(target) } catch { throw inputFailure(error) } }

        // 1. Toolchains.
        var imageFailures: [String] = []
        if !noRefresh {
            for target in targetList {
                let before = (try? store.image(named: target))?.digest
                do {
                    // Not while a build of this target is making its image or roots.
                    let lock = try builder.targetLock(target)
                    defer { lock.unlock() }
                    let image = try store.build(target) { line in display.step("[\(target)] \(line)") }
                    if before == image.digest {
                        display.message("[\(target)] toolchain unchanged (\(image.digest.prefix(12)))")
                    } else {
                        display.message("[\(target)] toolchain \(before.map { "\($0.prefix(12)) -> " } ?? "new: ")\(image.digest.prefix(12)): builds on it are redone")
                    }
                } catch {
                    display.message("[\(target)] FAILED to rebuild the toolchain: \(error); the current image stays")
                    imageFailures.append(target)
                }
            }
        }

        // 2. What to build: landed builds (rebuilt when their inputs changed) and followed projects.
        let request = try context.jobs.createRequest(RequestRecord(kind: "nightly", description: "nightly"))
        let requestID = request.id ?? 0
        let publishing = publish || context.configuration.publish
        let limits = context.configuration.limits
        let planner = RequirementsRun(builder: builder, store: store, file: try RequirementsFile.parse(""), targets: targetList, withDeps: false,
                                      prereleases: false, display: display, description: "nightly")
        var planned: [JobRecord] = []
        var seen = Set<String>()
        for landed in try context.jobs.landedBuilds() where targetList.contains(landed.target) {
            guard let version = landed.version, let requirement = Requirement("\(landed.project)==\(version)") else { continue }
            let job = planner.job(requirement, hashes: [], origin: "landed build (job \(landed.number))", target: landed.target, request: requestID,
                                  publish: publishing, maxAttempts: limits.retry.maxAttempts, priority: priority)
            if seen.insert(job.identity).inserted { planned.append(job) }
        }
        var followed = try context.jobs.trackedProjects().map(\.name)
        if let file = context.configuration.trackFile {
            do { followed += try TrackCommand.names(inFile: file).map(ProjectName.normalise) } catch { throw inputFailure(error) }
        }
        for name in Array(Set(followed)).sorted() {
            guard let requirement = Requirement(name) else { continue }
            for target in targetList {
                let job = planner.job(requirement, hashes: [], origin: "followed project", target: target, request: requestID,
                                      publish: publishing, maxAttempts: limits.retry.maxAttempts, priority: priority)
                if seen.insert(job.identity).inserted { planned.append(job) }
            }
        }
        _ = try context.jobs.submit(planned)
        display.message("nightly: \(planned.count) jobs (\(planned.filter { $0.state == .skipped }.count) unchanged), targets \(targetList.joined(separator: ", "))")

        // 3. Run, publish.
        let farmRun = context.makeFarm(builder: builder, display: display, limits: limits, repositoryURL: context.configuration.repositoryURL,
                                       username: context.configuration.repositoryUsername)
        try farmRun.run(requests: [requestID])

        // 4. Report.
        let jobs = try context.jobs.jobs(request: requestID).sorted { $0.number < $1.number }
        for job in jobs where job.origin == "followed project" && (job.state == .succeeded || job.state == .skipped) {
            if let version = job.version { try context.jobs.setLastVersion(job.project, version) }
        }
        var newFailures: [JobRecord] = []
        for job in jobs where job.state == .failed {
            if try context.jobs.previousOutcome(project: job.project, target: job.target, before: job.number) != .failed { newFailures.append(job) }
        }
        let rows = jobs.map(RequirementsRun.row)
        let finished = Date()
        display.message(Table.render(header: ["JOB", "REQUIREMENT", "TARGET", "RESULT", "WHEEL"], rows: zip(jobs, rows).map { job, row in
            [String(job.number), row.requirement, row.target, row.status + (newFailures.contains(job) ? " (NEW)" : ""), row.wheel ?? shorten(row.failure, 60)]
        }))
        let counts = Dictionary(grouping: rows, by: \.status).mapValues(\.count)
        display.message(["built", "already built", "skipped", "failed"].map { "\(counts[$0] ?? 0) \($0)" }.joined(separator: ", ")
                        + ", \(newFailures.count) new failure\(newFailures.count == 1 ? "" : "s")" + String(format: " in %.1f s", finished.timeIntervalSince(started)))
        let report = try RequirementsRun.json(rows, started: started, finished: finished, targets: targetList)
        let stamp = ISO8601DateFormatter().string(from: started).replacingOccurrences(of: ":", with: "")
        try FileManager.default.createDirectory(atPath: "\(context.home.path)/reports", withIntermediateDirectories: true)
        let reportPath = "\(context.home.path)/reports/nightly-\(stamp).json"
        try Files.writeAtomically(report, to: reportPath)
        if let reportJson { try Files.writeAtomically(report, to: reportJson) }
        display.message("report: \(reportPath)")
        for target in imageFailures { display.message("toolchain \(target) could not be refreshed") }
        return newFailures.isEmpty && imageFailures.isEmpty ? 0 : 1
    }
}

import BuildSandbox
import FarmStore
import Foundation
import PackageIndex
import PackagingModel
import Repository
import WheelBuilder
import WheelfarmBasics

/// Another nightly holds the lock.
public struct NightlyBusy: Error, CustomStringConvertible {
    /// What the holder wrote into the lock file (its pid and start).
    public var holder: String
    public var description: String { "another nightly is running (\(holder)); not starting a second one (--wait waits for it)" }
}

/// What a nightly did.
public struct NightlyReport: Sendable {
    public var report: RequestReport
    /// Jobs that failed where the same project and target did not fail last time.
    public var newFailures: Set<Int64>
    /// Targets whose toolchain could not be refreshed (the old image stays).
    public var imageFailures: [String]
    /// Where the JSON report was written.
    public var reportPath: String
    /// The stored builds verified tonight by rebuilding them.
    public var verifications: [Verification] = []
    /// Builds that were reproducible at their last verification and are not now: new failures too.
    public var noLongerReproducible: [Verification] = []

    /// Exit status: 0 nothing new failed, 1 otherwise.
    public var succeeded: Bool { newFailures.isEmpty && imageFailures.isEmpty && noLongerReproducible.isEmpty }
}

/// The nightly: one at a time (a lock in the state folder); refresh every target's toolchain
/// (a security update gives a new digest); queue every landed build again (unchanged inputs are
/// skipped without the network, changed ones rebuilt) and the newest release of each followed
/// project; run them; publish; report, naming failures that are new. Safe to kill and re-run.
public struct Nightly: Sendable {
    public struct Options: Sendable {
        public var targets: [String]
        public var refresh: Bool
        public var publish: Publisher?
        public var priority: Int
        public var wait: Bool
        /// The cooling-off period: a followed project's release younger than this is not built yet.
        public var minReleaseAgeDays: Double
        /// The time the period is measured against (a test's clock).
        public var now: Date
        /// Stored builds verified by rebuilding them each night (never verified first).
        public var verifySamples: Int

        public init(
            targets: [String], refresh: Bool, publish: Publisher?, priority: Int = -10, wait: Bool = false, minReleaseAgeDays: Double = 0,
            now: Date = Date(), verifySamples: Int = 0
        ) {
            self.verifySamples = verifySamples
            self.minReleaseAgeDays = minReleaseAgeDays
            self.now = now
            self.targets = targets
            self.refresh = refresh
            self.publish = publish
            self.priority = priority
            self.wait = wait
        }
    }

    public let context: FarmContext
    public let builder: WheelBuilder
    public let toolchains: ToolchainStore

    public init(context: FarmContext, builder: WheelBuilder, toolchains: ToolchainStore) {
        self.context = context
        self.builder = builder
        self.toolchains = toolchains
    }

    /// Runs the nightly. `step` gets progress lines, `say` results. Throws ``NightlyBusy``
    /// when another runs and `wait` is off.
    public func run(_ options: Options, step: @escaping @Sendable (String) -> Void, say: @escaping @Sendable (String) -> Void) throws -> NightlyReport {
        let layout = context.layout
        try Files.makeDirectories(layout.state)
        var lock = try FileLock.attempt(path: layout.nightlyLock)
        if lock == nil {
            let holder = (Files.readText(layout.nightlyLock, limit: 4096) ?? "another process").trimmingCharacters(in: .whitespacesAndNewlines)
            guard options.wait else { throw NightlyBusy(holder: holder) }
            say("another nightly is running (\(holder)): waiting for it")
            lock = try FileLock(path: layout.nightlyLock)
        }
        defer { lock?.unlock() }
        let started = Date()
        lock?.note("pid \(getpid()), started \(ISO8601DateFormatter().string(from: started))\n")

        let imageFailures = options.refresh ? refresh(options.targets, step: step, say: say) : []
        let jobs = try context.jobs()
        let request = try jobs.createRequest(RequestRecord(kind: "nightly", description: "nightly"))
        let requestID = request.id ?? 0
        let (planned, held, causes) = try plan(options, request: requestID, say: say)
        _ = try jobs.submit(planned)
        say("nightly: \(planned.count) jobs (\(planned.filter { $0.state == .skipped }.count) unchanged), targets \(options.targets.joined(separator: ", "))")
        try context.farm(builder: builder, say: say, publisher: options.publish).run(requests: [requestID])

        let finishedJobs = try jobs.jobs(request: requestID).sorted { $0.number < $1.number }
        for job in finishedJobs where job.origin == "followed project" && (job.state == .succeeded || job.state == .skipped) {
            if let version = job.version { try jobs.setLastVersion(job.project, version) }
        }
        var newFailures = Set<Int64>()
        for job in finishedJobs where job.state == .failed {
            if try jobs.previousOutcome(project: job.project, target: job.target, before: job.number) != .failed { newFailures.insert(job.number) }
        }
        let (verifications, regressions) = verify(options.verifySamples, targets: options.targets, say: say)
        var report = RequestReport(
            request: requestID, started: started, finished: Date(), targets: options.targets, rows: finishedJobs.map(RequestRow.init(job:)))
        report.heldBack = held
        report.rebuilt = finishedJobs.compactMap { job in
            guard let cause = causes[job.identity], job.state != .skipped, let version = job.version else { return nil }
            return Rebuilt(project: job.project, version: version, target: job.target, wheel: job.state == .succeeded ? job.wheel : nil, cause: cause)
        }
        report.verifications = verifications
        let stamp = ISO8601DateFormatter().string(from: started).replacingOccurrences(of: ":", with: "")
        try Files.makeDirectories(layout.reports)
        let reportPath = "\(layout.reports)/nightly-\(stamp).json"
        try Files.writeAtomically(try report.json(), to: reportPath)
        var result = NightlyReport(report: report, newFailures: newFailures, imageFailures: imageFailures, reportPath: reportPath)
        result.verifications = verifications
        result.noLongerReproducible = regressions
        return result
    }

    /// Rebuilds `count` stored builds (never verified first, then the longest ago) and keeps
    /// each outcome beside its record. A build whose inputs are gone (its image was refreshed)
    /// is not a verification and is passed over.
    func verify(_ count: Int, targets: [String], say: @escaping @Sendable (String) -> Void) -> (all: [Verification], regressions: [Verification]) {
        guard count > 0 else { return ([], []) }
        let verifications = Verifications(layout: context.layout)
        let reproducer = Reproducer(context: context, builder: builder)
        var all: [Verification] = [], regressions: [Verification] = []
        for build in verifications.samples(count, targets: Set(targets)) {
            guard let wheel = build.record.wheel else { continue }
            do {
                let outcome = try reproducer.verify("\(build.directory)/\(wheel)", target: build.record.target)
                let entry = Verification(
                    wheel: wheel, target: build.record.target, identical: outcome.identical, verifiedAt: Date(), differences: outcome.differences)
                try verifications.record(entry, in: build.directory)
                all.append(entry)
                if !outcome.identical && build.last?.identical == true { regressions.append(entry) }
                say("verify --rebuild \(wheel) [\(build.record.target)]: \(outcome.identical ? "identical" : "DIFFERENT")")
            } catch {
                say("verify --rebuild \(wheel) [\(build.record.target)]: not verified: \(error)")
            }
        }
        return (all, regressions)
    }

    /// Rebuilds each target's image under its lock; returns the targets that failed.
    func refresh(_ targets: [String], step: @escaping @Sendable (String) -> Void, say: (String) -> Void) -> [String] {
        var failures: [String] = []
        for target in targets {
            let before = (try? toolchains.image(named: target))?.digest
            do {
                // Not while a build of this target is making its image or roots.
                let lock = try WheelBuilder.targetLock(layout: context.layout, target: target)
                defer { lock.unlock() }
                let image = try toolchains.build(target) { line in step("[\(target)] \(line)") }
                if before == image.digest {
                    say("[\(target)] toolchain unchanged (\(image.digest.prefix(12)))")
                } else {
                    say(
                        "[\(target)] toolchain \(before.map { "\($0.prefix(12)) -> " } ?? "new: ")\(image.digest.prefix(12)): "
                            + "builds whose packages changed are redone")
                }
                prepareDerivedRoots(target, image: image, step: step, say: say)
            } catch {
                say("[\(target)] FAILED to rebuild the toolchain: \(error); the current image stays")
                failures.append(target)
            }
        }
        return failures
    }

    /// Makes again, over the refreshed image, the derived roots of the target's landed builds:
    /// their recipe packages at today's versions (a security update of a library only a recipe
    /// installs shows here), so that planning compares versions instead of guessing. A root that
    /// cannot be made is said; its builds are then redone and fail or pass on their own.
    func prepareDerivedRoots(_ target: String, image: ToolchainImage, step: @escaping @Sendable (String) -> Void, say: (String) -> Void) {
        guard let landed = try? context.jobs().landedBuilds().filter({ $0.target == target }) else { return }
        var done = Set<String>()
        for build in landed {
            guard let version = build.version, let (base, _) = try? builder.environment.recipes.recipe(for: build.project) else { continue }
            let recipe = base.resolved(for: PackageVersion(version), target: target)
            let packages = recipe.packages ?? []
            let sources = (recipe.sourceLibraries ?? []).map { SourceBuild(source: $0.source, configure: $0.configure, script: $0.build) }
            guard !packages.isEmpty || !sources.isEmpty else { continue }
            let useGcc = recipe.compiler == "gcc"
            guard done.insert(toolchains.derivedKey(base: image, packages: packages, sources: sources, useGcc: useGcc)).inserted else { continue }
            do {
                _ = try toolchains.derivedRoot(base: image, packages: packages, sources: sources, useGcc: useGcc) { step("[\(target)] \($0)") }
            } catch {
                say("[\(target)] the derived root of \(build.project) could not be made again: \(error)")
            }
        }
    }

    /// Landed builds again (rebuilt when their inputs changed) and the newest release of followed
    /// projects old enough for the cooling-off period, with the releases held back.
    /// `causes` says, per job identity, why a landed build is made again.
    func plan(
        _ options: Options, request: Int64, say: (String) -> Void = { _ in }
    ) throws -> (
        jobs: [JobRecord], held: [HeldRelease], causes: [String: String]
    ) {
        let planner = RequestPlanner(context: context, builder: builder)
        let jobs = try context.jobs()
        var planned: [JobRecord] = []
        var held: [HeldRelease] = []
        var seen = Set<String>()
        var causes: [String: String] = [:]
        for landed in try jobs.landedBuilds() where options.targets.contains(landed.target) {
            guard let version = landed.version, let requirement = Requirement("\(landed.project)==\(version)") else { continue }
            var job = planner.job(
                requirement, origin: "landed build (job \(landed.number))", target: landed.target, request: request,
                publish: options.publish != nil, priority: options.priority)
            guard seen.insert(job.identity).inserted else { continue }
            if job.state != .skipped, let cause = builder.staleness(project: landed.project, version: version, target: landed.target) {
                causes[job.identity] = cause
                job.origin += ", rebuilt for: \(cause)"
                say("nightly: rebuilding \(landed.project) \(version) [\(landed.target)]: \(cause)")
            }
            planned.append(job)
        }
        var followed = try jobs.trackedProjects().map(\.name)
        if let file = context.configuration.trackFile {
            guard let text = Files.readText(file, limit: 16 << 20) else { throw FarmConfigurationError("cannot read nightly.track_file \(file)") }
            followed += Self.names(in: text).map(ProjectName.normalise)
        }
        for name in Set(followed).sorted() {
            var requirement = Requirement(name)
            if options.minReleaseAgeDays > 0 {
                // The newest release old enough, pinned; younger ones wait (and the report says until when).
                do {
                    let files = try builder.environment.index.files(of: name)
                    let choice = Self.coolingOff(project: name, files: files, now: options.now, days: options.minReleaseAgeDays)
                    held += choice.held
                    guard let version = choice.version else {
                        say("nightly: \(name) has no release older than \(Self.days(options.minReleaseAgeDays)) days yet")
                        continue
                    }
                    requirement = Requirement("\(name)==\(version)")
                } catch {
                    say("nightly: \(name) skipped: its releases' ages cannot be read (\(error))")
                    continue
                }
            }
            guard let requirement else { continue }
            for target in options.targets {
                let job = planner.job(
                    requirement, origin: "followed project", target: target, request: request, publish: options.publish != nil,
                    priority: options.priority)
                if seen.insert(job.identity).inserted { planned.append(job) }
            }
        }
        return (planned, held, causes)
    }

    /// Of a project's files on the index, the newest final release whose first upload is at
    /// least `days` old at `now`, and the newer releases held back. A release whose upload time
    /// the index does not give counts as old enough (PEP 700 makes the field optional).
    public static func coolingOff(project: String, files: [IndexFile], now: Date, days: Double) -> (version: PackageVersion?, held: [HeldRelease]) {
        var firstUpload: [PackageVersion: Date?] = [:]
        for file in files where !file.yanked {
            guard let version = SourceResolver.sdistVersion(file.filename, project: project), !version.isPrerelease else { continue }
            let known = firstUpload[version] ?? file.uploadTime
            firstUpload[version] = [known, file.uploadTime].compactMap { $0 }.min()
        }
        let period = days * 86_400
        var held: [HeldRelease] = []
        for version in firstUpload.keys.sorted(by: >) {
            guard let uploaded = firstUpload[version] ?? nil, now.timeIntervalSince(uploaded) < period else { return (version, held) }
            held.append(
                HeldRelease(
                    project: ProjectName.normalise(project), version: version.description, uploaded: uploaded, eligible: uploaded.addingTimeInterval(period)))
        }
        return (nil, held)
    }

    static func days(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }

    /// Project names in a file's text: one per line, blank lines and `#` comments ignored.
    public static func names(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let name = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return name.isEmpty ? nil : name
        }
    }
}

import BuildSandbox
import FarmCore
import FarmStore
import Foundation
import PackageIndex
import PackagingModel
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// One line of a `build -r` report.
struct RequirementResult: Codable, Sendable {
    var requirement: String
    var origin: String
    var target: String
    /// `built`, `already built`, `skipped` (by the recipe, or a pure wheel of another target) or `failed`.
    var status: String
    var project: String
    var version: String
    var wheel: String?
    /// Where the wheel is stored.
    var path: String?
    var sha256: String?
    var seconds: Double
    var stage: String?
    var failure: String?
    var log: String?
    /// The farm's job (for `wheelfarm logs`, `retry`).
    var job: Int64?

    var hasWheel: Bool { wheel != nil && status != "failed" }
}

/// `wheelfarm build -r`: every requirement of the files for every target (its transitive
/// runtime dependencies too with `--with-deps`) becomes a job of one request in the farm's
/// store; the farm's workers run them, and what is built with the same inputs is skipped.
struct RequirementsRun: Sendable {
    let builder: WheelBuilder
    let store: ToolchainStore
    let file: RequirementsFile
    let targets: [String]
    let withDeps: Bool
    let prereleases: Bool
    let display: ProgressDisplay
    /// What the request is called in `wheelfarm jobs` (the command line).
    let description: String

    /// The interpreter's full version in a target's image (for markers), else its major.minor.0.
    func environment(_ spec: ToolchainSpec) -> Marker.Environment {
        let package = (try? store.image(named: spec.name))?.packages.first { $0.name == "python\(spec.python)" || $0.name == "python\(spec.python)-minimal" }
        let full = package.map { String($0.version.prefix { $0 != "-" && $0 != "+" && $0 != "~" }) } ?? "\(spec.python).0"
        return Marker.Environment(pythonFullVersion: full.split(separator: ".").count == 3 ? full : "\(spec.python).0", machine: spec.architecture)
    }

    /// The requirement narrowed by the constraints on the same project that apply.
    func constrained(_ requirement: Requirement, environment: Marker.Environment) -> Requirement {
        let name = IndexClient.normalise(requirement.name)
        let extra = file.constraints.filter { IndexClient.normalise($0.requirement.name) == name && $0.applies(to: environment) }
            .map(\.requirement.specifier.description).filter { !$0.isEmpty }
        guard !extra.isEmpty else { return requirement }
        var result = requirement
        result.specifier = SpecifierSet(([requirement.specifier.description] + extra).filter { !$0.isEmpty }.joined(separator: ",")) ?? requirement.specifier
        return result
    }

    /// The exact version a requirement pins (`==1.2.3`), if it does.
    static func pinnedVersion(_ requirement: Requirement) -> String? {
        let exact = requirement.specifier.specifiers.filter { $0.op == "==" || $0.op == "===" }
        guard let pin = exact.first, !pin.description.hasSuffix(".*") else { return nil }
        return String(pin.description.drop { "=".contains($0) })
    }

    /// A job for `requirement` on `target`; a pinned one whose build is current is recorded as
    /// skipped at once, without touching the network.
    func job(_ requirement: Requirement, hashes: [String], origin: String, target: String, request: Int64, publish: Bool, maxAttempts: Int,
             priority: Int = 0) -> JobRecord {
        var plain = requirement
        plain.marker = nil
        let needs = builder.resources(project: requirement.name, target: target)
        let version = Self.pinnedVersion(requirement)
        var job = JobRecord(requestId: request, requirement: plain.description, origin: origin, project: IndexClient.normalise(requirement.name),
                            version: version, target: target, priority: priority, maxAttempts: maxAttempts, memoryGb: needs.memoryGb, cores: needs.cores,
                            hashes: hashes, prereleases: prereleases, publish: publish)
        if let version, let existing = builder.existingBuild(project: requirement.name, version: version, target: target),
           hashes.isEmpty || hashes.contains(existing.record.sdist["sha256"] ?? "") {
            job.state = .skipped
            job.reason = existing.skipped
            job.wheel = existing.wheelPath.map { ($0 as NSString).lastPathComponent }
            job.wheelPath = existing.wheelPath
            job.wheelSha256 = existing.record.wheelSha256
        }
        return job
    }

    /// Submits one request with every requirement for every target and runs it to the end;
    /// returns its jobs in submission order.
    func run(context: FarmContext, limits: FarmLimits, priority: Int = 0, publish: Bool, repositoryURL: String?, username: String) throws -> [JobRecord] {
        let request = try context.jobs.createRequest(RequestRecord(kind: "requirements", description: description, withDeps: withDeps))
        let requestID = request.id ?? 0
        var environments: [String: Marker.Environment] = [:]
        var planned: [JobRecord] = []
        for target in targets {
            guard let spec = store.catalog.specs[target] else { continue }
            let environment = environment(spec)
            environments[target] = environment
            var seen = Set<String>()
            for entry in file.requirements where entry.applies(to: environment) {
                guard seen.insert(IndexClient.normalise(entry.requirement.name)).inserted else { continue }
                let requirement = constrained(entry.requirement, environment: environment)
                planned.append(job(requirement, hashes: entry.hashes, origin: entry.origin, target: target, request: requestID, publish: publish,
                                   maxAttempts: limits.retry.maxAttempts, priority: priority))
            }
        }
        _ = try context.jobs.submit(planned)
        let known = LockedSet(planned.map { "\($0.project)@\($0.target)" })
        var followUps: (@Sendable (JobRecord) -> [JobRecord])? = nil
        if withDeps {
            let planner = self
            let known = LockedSet(planned.map { "\($0.project)@\($0.target)" })
            let targetEnvironments = environments
            followUps = { landed in
                guard let path = landed.wheelPath, let environment = targetEnvironments[landed.target] else { return [] }
                return Self.dependencies(of: path, environment: environment).compactMap { dependency -> JobRecord? in
                    guard known.insert("\(IndexClient.normalise(dependency.name))@\(landed.target)") else { return nil }
                    return planner.job(dependency, hashes: [], origin: "dependency of \(landed.project)", target: landed.target, request: requestID,
                                       publish: publish, maxAttempts: limits.retry.maxAttempts, priority: priority)
                }
            }
        }
        let farm = context.makeFarm(builder: builder, display: display, limits: limits, repositoryURL: repositoryURL, username: username, followUps: followUps)
        try farm.run(requests: [requestID])
        return try context.jobs.jobs(request: requestID).sorted { $0.number < $1.number }
    }

    /// The runtime dependencies a wheel's METADATA declares for `environment`, without markers and extras.
    static func dependencies(of wheelPath: String, environment: Marker.Environment) -> [Requirement] {
        guard let wheel = try? Wheel(path: wheelPath, selection: .binariesAndMetadata),
              let metadata = wheel.content(of: "\(wheel.distInfo)/METADATA") else { return [] }
        return MetadataFile(parsing: String(decoding: metadata, as: UTF8.self)).values("Requires-Dist").compactMap { text in
            guard let dependency = Requirement(text) else { return nil }
            if let markerText = dependency.marker {
                guard let marker = try? Marker(parsing: markerText), marker.evaluate(environment) else { return nil }
            }
            var plain = dependency
            plain.marker = nil
            plain.extras = []
            return plain
        }
    }

    /// A report row for a job.
    static func row(_ job: JobRecord) -> RequirementResult {
        let status: String
        switch job.state {
        case .succeeded: status = "built"
        case .skipped: status = (job.reason ?? "").hasPrefix("already built") || (job.reason ?? "").hasPrefix("pure wheel") ? "already built" : "skipped"
        case .cancelled: status = "cancelled"
        default: status = "failed"
        }
        let failed = status == "failed" || status == "cancelled"
        let seconds = job.startedAt.map { (job.finishedAt ?? $0) - $0 } ?? 0
        return RequirementResult(requirement: job.requirement, origin: job.origin, target: job.target, status: status, project: job.project,
                                 version: job.version ?? "", wheel: failed ? nil : job.wheel, path: failed ? nil : job.wheelPath,
                                 sha256: failed ? nil : job.wheelSha256, seconds: seconds, stage: failed ? job.stage : nil,
                                 failure: failed || status == "skipped" ? (job.reason ?? job.state.rawValue) : nil,
                                 log: failed ? job.logPath : nil, job: job.number)
    }

    /// The default number of targets built at once: one per two cores and 4 GiB of memory
    /// (a build's sandbox may use 4 GiB), at least one.
    static var defaultJobs: Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Int(ProcessInfo.processInfo.physicalMemory >> 32)
        return max(1, min(max(1, cores / 2) + (cores > 1 ? 1 : 0), memory))
    }

    /// The JSON report.
    static func json(_ results: [RequirementResult], started: Date, finished: Date, targets: [String]) throws -> [UInt8] {
        struct Report: Codable {
            var started: Date
            var finished: Date
            var targets: [String]
            var summary: [String: Int]
            var results: [RequirementResult]
        }
        let summary = Dictionary(grouping: results, by: \.status).mapValues(\.count)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(Report(started: started, finished: finished, targets: targets, summary: summary, results: results)))
    }

    /// The JUnit XML report: one test case per requirement and target.
    static func junit(_ results: [RequirementResult], seconds: Double) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").filter { $0 == "\n" || $0 == "\t" || !($0.asciiValue.map { $0 < 32 } ?? false) }
        }
        let failures = results.filter { $0.status == "failed" }.count
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"wheelfarm build\" tests=\"\(results.count)\" failures=\"\(failures)\" time=\"\(String(format: "%.3f", seconds))\">\n"
        for (target, rows) in Dictionary(grouping: results, by: \.target).sorted(by: { $0.key < $1.key }) {
            xml += "  <testsuite name=\"\(escape(target))\" tests=\"\(rows.count)\" failures=\"\(rows.filter { $0.status == "failed" }.count)\" skipped=\"\(rows.filter { $0.status == "skipped" }.count)\">\n"
            for row in rows {
                xml += "    <testcase classname=\"\(escape(target))\" name=\"\(escape(row.requirement))\" time=\"\(String(format: "%.3f", row.seconds))\">"
                if row.status == "failed" {
                    let log = row.log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.map { String($0.suffix(4000)) } ?? ""
                    xml += "\n      <failure message=\"\(escape("\(row.stage ?? ""): \(row.failure ?? "")"))\">\(escape(log))</failure>\n    "
                } else if row.status == "skipped" {
                    xml += "<skipped message=\"\(escape(row.failure ?? "skipped"))\"/>"
                } else {
                    xml += "<system-out>\(escape("\(row.status): \(row.wheel ?? "")"))</system-out>"
                }
                xml += "</testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }
}

/// A set many threads insert into.
final class LockedSet: @unchecked Sendable {
    private var items: Set<String>
    private let lock = NSLock()

    init(_ items: [String]) { self.items = Set(items) }

    /// Inserts `item`; false when it was there.
    func insert(_ item: String) -> Bool { lock.withLock { items.insert(item).inserted } }
}

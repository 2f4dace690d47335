import BuildSandbox
import FarmStore
import Foundation
import PackagingModel
import Repository
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// Turns requirements into jobs of one request and runs them on the farm: `build -r` (the CI
/// job) and the nightly plan through it. A pinned requirement whose build is current is
/// recorded as skipped at once, without touching the network.
public struct RequestPlanner: Sendable {
    public let context: FarmContext
    public let builder: WheelBuilder
    public let toolchains: any ToolchainProvider

    public init(context: FarmContext, builder: WheelBuilder) {
        self.context = context
        self.builder = builder
        toolchains = builder.environment.toolchains
    }

    /// PEP 508 marker values of a target (its interpreter's full version when its image is built).
    public func markers(_ target: String) -> Marker.Environment? {
        guard let spec = toolchains.catalog.specs[target] else { return nil }
        return spec.markerEnvironment(image: try? toolchains.image(named: target))
    }

    /// The exact version a requirement pins (`==1.2.3`), if it does.
    public static func pinnedVersion(_ requirement: Requirement) -> String? {
        let exact = requirement.specifier.specifiers.filter { $0.op == "==" || $0.op == "===" }
        guard let pin = exact.first, !pin.description.hasSuffix(".*") else { return nil }
        return String(pin.description.drop { "=".contains($0) })
    }

    /// A job for `requirement` on `target`; a pinned one whose build is current is skipped at once.
    public func job(
        _ requirement: Requirement, hashes: [String] = [], origin: String, target: String, request: Int64, publish: Bool,
        priority: Int = 0, prereleases: Bool = false
    ) -> JobRecord {
        let needs = builder.resources(project: requirement.name, target: target)
        let version = Self.pinnedVersion(requirement)
        var job = JobRecord(
            requestId: request, requirement: requirement.withoutMarker.description, origin: origin,
            project: ProjectName.normalise(requirement.name), version: version, target: target, priority: priority,
            maxAttempts: context.configuration.limits.retry.maxAttempts, memoryGb: needs.memoryGb, cores: needs.cores,
            hashes: hashes, prereleases: prereleases, publish: publish)
        if let version, let existing = builder.existingBuild(project: requirement.name, version: version, target: target),
            hashes.isEmpty || hashes.contains(existing.record.sdist?.sha256 ?? "")
        {
            job.state = .skipped
            job.reason = existing.skipped
            job.wheel = existing.wheelPath.map { ($0 as NSString).lastPathComponent }
            job.wheelPath = existing.wheelPath
            job.wheelSha256 = existing.record.wheelSha256
        }
        return job
    }

    /// The jobs of a requirements file for `targets`: markers evaluated per target, constraints applied.
    public func plan(_ file: RequirementsFile, targets: [String], request: Int64, publish: Bool, priority: Int, prereleases: Bool) -> [JobRecord] {
        var planned: [JobRecord] = []
        for target in targets {
            guard let markers = markers(target) else { continue }
            var seen = Set<String>()
            for entry in file.requirements where entry.applies(to: markers) {
                guard seen.insert(ProjectName.normalise(entry.requirement.name)).inserted else { continue }
                let requirement = Self.constrained(entry.requirement, by: file, markers: markers)
                planned.append(
                    job(
                        requirement, hashes: entry.hashes, origin: entry.origin, target: target, request: request, publish: publish,
                        priority: priority, prereleases: prereleases || file.prereleases))
            }
        }
        return planned
    }

    /// The requirement narrowed by the file's constraints on the same project that apply.
    static func constrained(_ requirement: Requirement, by file: RequirementsFile, markers: Marker.Environment) -> Requirement {
        let name = ProjectName.normalise(requirement.name)
        let extra = file.constraints.filter { ProjectName.normalise($0.requirement.name) == name && $0.applies(to: markers) }
            .map(\.requirement.specifier.description).filter { !$0.isEmpty }
        guard !extra.isEmpty else { return requirement }
        var result = requirement
        result.specifier = SpecifierSet(([requirement.specifier.description] + extra).filter { !$0.isEmpty }.joined(separator: ",")) ?? requirement.specifier
        return result
    }

    /// Submits one request with every requirement of `file` for every target, runs it to the
    /// end (with `withDeps`, each landed wheel's runtime dependencies become jobs too) and reports.
    public func run(
        _ file: RequirementsFile, targets: [String], description: String, withDeps: Bool, publish: Publisher?, priority: Int,
        prereleases: Bool, limits: FarmLimits? = nil, say: @escaping @Sendable (String) -> Void
    ) throws -> RequestReport {
        let started = Date()
        let jobs = try context.jobs()
        let request = try jobs.createRequest(RequestRecord(kind: "requirements", description: description, withDeps: withDeps))
        let requestID = request.id ?? 0
        let planned = plan(file, targets: targets, request: requestID, publish: publish != nil, priority: priority, prereleases: prereleases)
        _ = try jobs.submit(planned)
        var followUps: (@Sendable (JobRecord) -> [JobRecord])? = nil
        if withDeps {
            let known = Locked(Set(planned.map { "\($0.project)@\($0.target)" }))
            let planner = self
            followUps = { landed in
                guard let path = landed.wheelPath, let markers = planner.markers(landed.target) else { return [] }
                return Self.dependencies(of: path, markers: markers).compactMap { dependency -> JobRecord? in
                    guard known.insert("\(ProjectName.normalise(dependency.name))@\(landed.target)") else { return nil }
                    return planner.job(
                        dependency, origin: "dependency of \(landed.project)", target: landed.target, request: requestID,
                        publish: publish != nil, priority: priority)
                }
            }
        }
        try context.farm(builder: builder, say: say, limits: limits, publisher: publish, followUps: followUps).run(requests: [requestID])
        let rows = try jobs.jobs(request: requestID).sorted { $0.number < $1.number }.map(RequestRow.init(job:))
        return RequestReport(request: requestID, started: started, finished: Date(), targets: targets, rows: rows)
    }

    /// The runtime dependencies a wheel's METADATA declares for `markers`, without markers and
    /// extras; entries that are not plain requirements are left out.
    public static func dependencies(of wheelPath: String, markers: Marker.Environment) -> [Requirement] {
        guard let wheel = try? Wheel(path: wheelPath, selection: .binariesAndMetadata),
            let metadata = wheel.content(of: "\(wheel.distInfo)/METADATA")
        else { return [] }
        return MetadataFile(parsing: String(decoding: metadata, as: UTF8.self)).values("Requires-Dist").compactMap { text in
            guard case let .success(dependency) = Requirement.validated(text), dependency.applies(in: markers) else { return nil }
            var plain = dependency.withoutMarker
            plain.extras = []
            return plain
        }
    }
}

import FarmStore
import Foundation
import PackagingModel
import WheelBuilder

/// Runs jobs with the real builder: resolve, fetch, build in the target's sandbox, audit,
/// repair, test, store; an unchanged build is recognised and skipped.
public struct BuilderExecutor: JobExecutor {
    let builder: WheelBuilder

    public init(builder: WheelBuilder) { self.builder = builder }

    public func execute(_ job: JobRecord, hooks: BuildHooks) -> ExecutionResult {
        guard let requirement = Requirement(job.requirement) else {
            return .finished(.failed(kind: .permanent, stage: "resolve", reason: "cannot parse the requirement '\(job.requirement)'", log: nil), version: nil)
        }
        guard
            let build = builder.build(
                .index(requirement), targets: [job.target], prereleases: job.prereleases, sdistHashes: job.hashList,
                reuse: true, hooks: hooks
            ).first
        else {
            return .finished(.failed(kind: .permanent, stage: "configure", reason: "the builder returned nothing", log: nil), version: nil)
        }
        return Self.result(build)
    }

    /// The store's view of a build's result.
    static func result(_ build: TargetBuild) -> ExecutionResult {
        let version = build.record.version.isEmpty ? nil : build.record.version
        if let failure = build.failure {
            let reason = failure.reason + (failure.suggestion.map { RequestRow.fixSeparator + $0 } ?? "")
            switch failure.kind {
            case .deferred: return .deferred(failure.reason)
            case .transient:
                return .finished(.failed(kind: .transient, stage: failure.stage.rawValue, reason: reason, log: build.logPath), version: version)
            default: return .finished(.failed(kind: .permanent, stage: failure.stage.rawValue, reason: reason, log: build.logPath), version: version)
            }
        }
        let wheel = build.wheelPath.map { ($0 as NSString).lastPathComponent }
        if let skipped = build.skipped {
            return .finished(.skipped(reason: skipped, wheel: wheel, path: build.wheelPath, sha256: build.record.wheelSha256), version: version)
        }
        guard let path = build.wheelPath, let wheel else {
            return .finished(.failed(kind: .permanent, stage: "store", reason: "the build stored no wheel", log: build.logPath), version: version)
        }
        return .finished(.succeeded(wheel: wheel, path: path, sha256: build.record.wheelSha256 ?? "", log: build.logPath), version: version)
    }
}

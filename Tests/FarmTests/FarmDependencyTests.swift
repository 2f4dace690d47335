import FarmCore
import FarmStore
import Foundation
import WheelBuilder
import WheelfarmBasics
import XCTest

/// A build requirement without a wheel: the farm builds it first as its own job, the job that
/// needs it waits, then resumes with the farm's wheel.
final class FarmDependencyTests: XCTestCase {
    struct NeedsDependency: JobExecutor {
        let wheels: String
        func execute(_ job: JobRecord, hooks: BuildHooks) -> ExecutionResult {
            if job.project == "app" {
                switch hooks.buildDependency?("dep>=1", job.target) {
                case let .wheel(path)?:
                    return .finished(.succeeded(wheel: "app-1-py3-none-any.whl", path: path + ".used", sha256: "11", log: nil), version: "1")
                case let .wait(message)?:
                    return .deferred(message)
                default:
                    return .finished(.failed(kind: .permanent, stage: "prepare", reason: "no answer", log: nil), version: "1")
                }
            }
            let path = "\(wheels)/dep-1.2-py3-none-any.whl"
            FileManager.default.createFile(atPath: path, contents: Data("wheel".utf8))
            return .finished(.succeeded(wheel: "dep-1.2-py3-none-any.whl", path: path, sha256: "22", log: nil), version: "1.2")
        }
    }

    func testJobWaitsForItsBuildDependencyAndResumesWhenItLands() throws {
        let directory = try TemporaryDirectory(prefix: "wf-dep")
        let store = try JobStore(path: "\(directory.path)/state/farm.sqlite")
        let id = try XCTUnwrap(store.createRequest(RequestRecord(kind: "test", description: "dep")).id)
        let app = try XCTUnwrap(
            store.submit([JobRecord(requestId: id, requirement: "app==1", origin: "test", project: "app", version: "1", target: "t")]).first)
        let farm = Farm(
            store: store, executor: NeedsDependency(wheels: directory.path), limits: FarmLimits(jobs: 2, memoryGb: 8, cores: 2, retry: RetryPolicy()),
            say: { _ in })
        try farm.run(requests: [id])
        let jobs = try store.jobs(request: id).sorted { $0.number < $1.number }
        XCTAssertEqual(jobs.map(\.project), ["app", "dep"])
        XCTAssertEqual(jobs.map(\.state), [.succeeded, .succeeded])
        XCTAssertEqual(jobs[1].origin, "build requirement of app")
        XCTAssertEqual(jobs[0].wheelPath, "\(directory.path)/dep-1.2-py3-none-any.whl.used", "the app used the farm's wheel of dep")
        XCTAssertEqual(try store.events(app.number).map(\.toState), [.queued, .running, .waiting, .queued, .running, .succeeded])
        // Asked again, the landed wheel answers at once.
        XCTAssertEqual(
            Farm.dependencyAnswer(store: store, job: jobs[0], requirement: "dep>=1", target: "t"), .wheel("\(directory.path)/dep-1.2-py3-none-any.whl"))
    }
}

final class LockedLines: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

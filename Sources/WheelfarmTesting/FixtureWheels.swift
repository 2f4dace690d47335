import Foundation
import PackagingModel
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// Build requirements fetched from nowhere: each requirement gets a small pure wheel in the
/// wheelhouse, unless results are scripted (a missing wheel, a transient failure).
public final class FixtureWheels: WheelFetcher, @unchecked Sendable {
    private let lock = NSLock()
    private var scripted: [WheelFetchResult] = []
    private var asked: [[String]] = []

    public init() {}

    /// The next fetches give these results, in order (then every fetch succeeds).
    public func script(_ results: [WheelFetchResult]) { lock.withLock { scripted += results } }

    /// The requirements of each fetch, in order.
    public var requests: [[String]] { lock.withLock { asked } }

    public func fetch(_ request: WheelRequest) -> (WheelFetchResult, log: String) {
        let result: WheelFetchResult = lock.withLock {
            asked.append(request.requirements.map(\.description))
            return scripted.isEmpty ? .fetched : scripted.removeFirst()
        }
        guard result == .fetched else { return (result, "fixture: \(result)") }
        for requirement in request.requirements {
            let name = ProjectName.normalise(requirement.name).replacingOccurrences(of: "-", with: "_")
            try? FixtureWheels.pureWheel(name: name, version: "1.0", into: request.wheelhouse)
        }
        return (.fetched, "fixture: fetched \(request.requirements.map(\.description).joined(separator: " "))")
    }

    /// Writes a small pure wheel with a correct RECORD; returns its path.
    @discardableResult
    public static func pureWheel(
        name: String, version: String, into directory: String, tag: String = "py3-none-any",
        files extra: [String: [UInt8]] = [:]
    ) throws -> String {
        let distInfo = "\(name)-\(version).dist-info"
        var files = extra
        files["\(name)/__init__.py"] = files["\(name)/__init__.py"] ?? Array("VERSION = '\(version)'\n".utf8)
        files["\(distInfo)/METADATA"] = Array("Metadata-Version: 2.1\nName: \(name)\nVersion: \(version)\n".utf8)
        files["\(distInfo)/WHEEL"] = Array("Wheel-Version: 1.0\nGenerator: wheelfarm-fixture\nRoot-Is-Purelib: true\nTag: \(tag)\n".utf8)
        let paths = files.keys.sorted()
        var record = RecordFile(entries: paths.map { RecordEntry(path: $0, content: files[$0] ?? []) })
        record.entries.append(RecordEntry(path: "\(distInfo)/RECORD", hash: "", size: nil))
        files["\(distInfo)/RECORD"] = Array(record.text.utf8)
        let entries = (paths + ["\(distInfo)/RECORD"]).map { ZipEntry(path: $0, content: files[$0] ?? [], permissions: 0o644, modificationTime: 1_700_000_000) }
        let path = "\(directory)/\(name)-\(version)-\(tag).whl"
        try ZipWriter.write(entries, to: path)
        return path
    }
}

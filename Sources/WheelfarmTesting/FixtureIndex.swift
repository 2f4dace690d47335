import Foundation
import PackageIndex
import PackagingModel
import WheelfarmBasics

/// A package index in memory: PEP 691 project pages and files, with failures to inject.
public final class FixtureIndex: IndexTransport, @unchecked Sendable {
    /// The base URL its configuration uses.
    public static let baseURL = "https://index.invalid/simple"
    private let lock = NSLock()
    private var bodies: [String: Data] = [:]
    private var projects: [String: [[String: Any]]] = [:]
    private var failures: [String: [IndexError]] = [:]
    private var requested: [String] = []

    public init() {}

    /// The configuration that points a client at this index.
    public var configuration: IndexConfiguration { IndexConfiguration(indexURL: Self.baseURL, username: nil, password: nil, source: "fixture") }

    /// Adds a file to a project's page; `sha256` defaults to the bytes' (give another to make a mismatch).
    public func add(project: String, filename: String, bytes: [UInt8], sha256: String? = nil, requiresPython: String? = nil, yanked: Bool = false) {
        let name = ProjectName.normalise(project)
        let url = "https://files.index.invalid/\(name)/\(filename)"
        lock.withLock {
            bodies[url] = Data(bytes)
            var entry: [String: Any] = ["filename": filename, "url": url, "hashes": ["sha256": sha256 ?? Digest.hex(Digest.sha256(bytes))], "yanked": yanked]
            if let requiresPython { entry["requires-python"] = requiresPython }
            projects[name, default: []].append(entry)
        }
    }

    /// The next requests for `url` fail with these errors, in order.
    public func fail(_ url: String, with errors: [IndexError]) { lock.withLock { failures[url, default: []] += errors } }

    /// The page URL of a project.
    public func pageURL(_ project: String) -> String { "\(Self.baseURL)/\(ProjectName.normalise(project))/" }

    /// Every URL asked for, in order.
    public var requests: [String] { lock.withLock { requested } }

    public func get(_ url: String, accept: String, limit: Int) throws -> Data {
        try lock.withLock {
            requested.append(url)
            if var queue = failures[url], !queue.isEmpty {
                let error = queue.removeFirst()
                failures[url] = queue
                throw error
            }
            if let body = bodies[url] {
                guard body.count <= limit else { throw IndexError.malformed(url: url, reason: "larger than \(limit) bytes") }
                return body
            }
            let prefix = Self.baseURL + "/"
            if url.hasPrefix(prefix) {
                let name = String(url.dropFirst(prefix.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                guard let files = projects[name] else { throw IndexError.http(url: url, status: 404) }
                let page: [String: Any] = ["meta": ["api-version": "1.1"], "name": name, "files": files]
                return try JSONSerialization.data(withJSONObject: page)
            }
            throw IndexError.http(url: url, status: 404)
        }
    }
}

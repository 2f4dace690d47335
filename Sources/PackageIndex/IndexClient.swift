import Foundation
import PackagingModel
import WheelfarmBasics

/// A file of a project on the index (PEP 691 JSON).
public struct IndexFile: Sendable, Hashable {
    public var filename: String
    public var url: String
    public var sha256: String?
    public var requiresPython: String?
    public var yanked: Bool
    public var size: Int?
    /// When it was uploaded (PEP 700 `upload-time`), when the index says.
    public var uploadTime: Date? = nil

    /// Creates an entry (the index's page makes them; tests make their own).
    public init(
        filename: String, url: String, sha256: String?, requiresPython: String?, yanked: Bool, size: Int?, uploadTime: Date? = nil
    ) {
        self.filename = filename
        self.url = url
        self.sha256 = sha256
        self.requiresPython = requiresPython
        self.yanked = yanked
        self.size = size
        self.uploadTime = uploadTime
    }

    /// Reads PEP 700's `upload-time`: ISO 8601 in UTC, with or without fractions of a second.
    public static func parseUploadTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// One HTTP GET, without retries: the client's only side effect. ``CurlTransport`` is the real
/// one; tests use fixture pages (WheelfarmTesting's `FixtureIndex`).
public protocol IndexTransport: Sendable {
    /// The body of `url` (at most `limit` bytes), or an ``IndexError``.
    func get(_ url: String, accept: String, limit: Int) throws -> Data
}

/// Talks to a PEP 503/691 simple index, with retries and backoff for transient failures.
public final class IndexClient: Sendable {
    /// The index in use.
    public let configuration: IndexConfiguration
    let transport: any IndexTransport
    let backoff: Backoff
    let clock: any Clock

    /// The largest index page read (a project with thousands of files is a few MiB).
    public static let pageLimit = 64 << 20
    /// The largest sdist downloaded.
    public static let sdistLimit = 2 << 30

    /// Creates a client for `configuration` over `transport` (curl by default).
    public init(
        configuration: IndexConfiguration, transport: (any IndexTransport)? = nil,
        backoff: Backoff = Backoff(attempts: 4, baseSeconds: 0.5, maxSeconds: 8), clock: any Clock = SystemClock()
    ) {
        self.configuration = configuration
        self.transport = transport ?? CurlTransport(configuration: configuration)
        self.backoff = backoff
        self.clock = clock
    }

    /// The files of a project, from its PEP 691 JSON page.
    public func files(of project: String) throws -> [IndexFile] {
        let url = "\(configuration.indexURL)/\(ProjectName.normalise(project))/"
        let data = try get(url, accept: "application/vnd.pypi.simple.v1+json", limit: Self.pageLimit)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let files = object["files"] as? [[String: Any]] else {
            throw IndexError.malformed(url: url, reason: "not a PEP 691 JSON project page")
        }
        return files.compactMap { file in
            guard let filename = file["filename"] as? String, let href = file["url"] as? String else { return nil }
            let absolute = URL(string: href, relativeTo: URL(string: url))?.absoluteString ?? href
            let yanked = (file["yanked"] as? Bool) ?? ((file["yanked"] as? String) != nil)
            return IndexFile(
                filename: filename, url: absolute, sha256: (file["hashes"] as? [String: String])?["sha256"],
                requiresPython: file["requires-python"] as? String, yanked: yanked, size: file["size"] as? Int,
                uploadTime: (file["upload-time"] as? String).flatMap(IndexFile.parseUploadTime))
        }
    }

    /// GET with retries: the farm's ``Backoff`` on transient failures.
    public func get(_ url: String, accept: String = "*/*", limit: Int = IndexClient.sdistLimit) throws -> Data {
        try backoff.retry(clock: clock, isTransient: { ($0 as? IndexError)?.isTransient ?? false }) { _ in
            try transport.get(url, accept: accept, limit: limit)
        }
    }
}

/// GET through the curl program: linking Foundation's networking (libcurl and its dozen
/// dependencies) into wheelfarm would cost every command, `audit` included, about 5 MB of
/// memory at start-up for the few requests a build makes.
public struct CurlTransport: IndexTransport {
    let configuration: IndexConfiguration

    public init(configuration: IndexConfiguration) { self.configuration = configuration }

    public func get(_ url: String, accept: String, limit: Int) throws -> Data {
        guard let target = URL(string: url), let scheme = target.scheme, scheme == "https" || scheme == "http" || scheme == "file" else {
            throw IndexError.malformed(url: url, reason: "not a URL")
        }
        let work = try TemporaryDirectory(prefix: "wheelfarm-http")
        defer { work.remove() }
        let body = "\(work.path)/body"
        // Options go through a config file: credentials never appear in the process list.
        var config = "silent\nshow-error\nlocation\nconnect-timeout = 30\nmax-time = 600\nmax-filesize = \(limit)\n"
        config += "header = \"Accept: \(accept)\"\noutput = \"\(body)\"\nwrite-out = \"%{http_code}\"\n"
        if let user = configuration.username, URL(string: configuration.indexURL)?.host == target.host {
            let escaped = "\(user):\(configuration.password ?? "")".replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            config += "user = \"\(escaped)\"\n"
        }
        config += "url = \"\(url.replacingOccurrences(of: "\"", with: "%22"))\"\n"
        guard FileManager.default.createFile(atPath: "\(work.path)/config", contents: Data(config.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw IndexError.transport(url: url, reason: "cannot write a temporary file")
        }
        guard HostTool.curl.resolve() != nil else {
            throw IndexError.noIndex("curl is needed to reach the package index (\(HostTool.curl.fix))")
        }
        let result = try ProcessRunner.run(.curl, ["--config", "\(work.path)/config"])
        if result.status == 63 { throw IndexError.malformed(url: url, reason: "larger than \(limit >> 20) MiB") }
        guard result.status == 0 else {
            // curl's own failures (DNS, connection, TLS, timeouts) are transport errors, worth a retry.
            throw IndexError.transport(url: url, reason: result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let status = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        guard status == 200 || (scheme == "file" && status == 0) else { throw IndexError.http(url: url, status: status) }
        guard let data = try? Files.readBytes(body, limit: limit + 1), data.count <= limit else {
            throw IndexError.malformed(url: url, reason: "no body, or larger than \(limit >> 20) MiB")
        }
        return Data(data)
    }
}

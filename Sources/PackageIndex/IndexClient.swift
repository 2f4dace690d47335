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
}

/// Talks to a PEP 503/691 simple index over HTTPS, with retries and backoff for transient failures.
///
/// Requests go through the curl program: linking Foundation's networking (libcurl and its
/// dozen dependencies) into wheelfarm would cost every command, `audit` included, about 5 MB
/// of memory at start-up for the few requests a build makes.
public final class IndexClient: @unchecked Sendable {
    /// The index in use.
    public let configuration: IndexConfiguration

    /// Creates a client for `configuration`.
    public init(configuration: IndexConfiguration) {
        self.configuration = configuration
    }

    /// The PEP 503 normalised project name.
    public static func normalise(_ name: String) -> String { ProjectName.normalise(name) }

    /// The files of a project, from its PEP 691 JSON page.
    public func files(of project: String) throws -> [IndexFile] {
        let url = "\(configuration.indexURL)/\(Self.normalise(project))/"
        let data = try get(url, accept: "application/vnd.pypi.simple.v1+json")
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let files = object["files"] as? [[String: Any]] else {
            throw IndexError.malformed(url: url, reason: "not a PEP 691 JSON project page")
        }
        return files.compactMap { file in
            guard let filename = file["filename"] as? String, let href = file["url"] as? String else { return nil }
            let absolute = URL(string: href, relativeTo: URL(string: url))?.absoluteString ?? href
            let yanked = (file["yanked"] as? Bool) ?? ((file["yanked"] as? String) != nil)
            return IndexFile(filename: filename, url: absolute, sha256: (file["hashes"] as? [String: String])?["sha256"],
                             requiresPython: file["requires-python"] as? String, yanked: yanked, size: file["size"] as? Int)
        }
    }

    /// GET with retries: exponential backoff with jitter on transient failures, at most `attempts` tries.
    public func get(_ url: String, accept: String = "*/*", attempts: Int = 4) throws -> Data {
        var lastError: IndexError = .transport(url: url, reason: "not attempted")
        for attempt in 0..<attempts {
            if attempt > 0 { usleep(UInt32(min(8.0, 0.5 * pow(2, Double(attempt - 1))) * Double.random(in: 0.7...1.3) * 1_000_000)) }
            do { return try getOnce(url, accept: accept) } catch let error as IndexError {
                lastError = error
                if !error.isTransient { throw error }
            }
        }
        throw lastError
    }

    private func getOnce(_ url: String, accept: String) throws -> Data {
        guard let target = URL(string: url), let scheme = target.scheme, scheme == "https" || scheme == "http" || scheme == "file" else {
            throw IndexError.malformed(url: url, reason: "not a URL")
        }
        let work = try TemporaryDirectory(prefix: "wheelfarm-http")
        defer { work.remove() }
        let body = "\(work.path)/body"
        // Options go through a config file: credentials never appear in the process list.
        var config = "silent\nshow-error\nlocation\nconnect-timeout = 30\nmax-time = 600\n"
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
        guard result.status == 0 else {
            // curl's own failures (DNS, connection, TLS, timeouts) are transport errors, worth a retry.
            throw IndexError.transport(url: url, reason: result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let status = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        guard status == 200 || (scheme == "file" && status == 0) else { throw IndexError.http(url: url, status: status) }
        guard let data = FileManager.default.contents(atPath: body) else { throw IndexError.transport(url: url, reason: "no body") }
        return data
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
public final class IndexClient: @unchecked Sendable {
    /// The index in use.
    public let configuration: IndexConfiguration
    private let session: URLSession

    /// Creates a client for `configuration`.
    public init(configuration: IndexConfiguration) {
        self.configuration = configuration
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = 60
        session = URLSession(configuration: config)
    }

    /// The PEP 503 normalised project name.
    public static func normalise(_ name: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }

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
        guard let target = URL(string: url) else { throw IndexError.malformed(url: url, reason: "not a URL") }
        var request = URLRequest(url: target)
        request.setValue(accept, forHTTPHeaderField: "Accept")
        if let user = configuration.username, URL(string: configuration.indexURL)?.host == target.host {
            let token = Data("\(user):\(configuration.password ?? "")".utf8).base64EncodedString()
            request.setValue("Basic \(token)", forHTTPHeaderField: "Authorization")
        }
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            box.data = data
            box.status = (response as? HTTPURLResponse)?.statusCode
            box.error = error.map { "\($0.localizedDescription)" }
            done.signal()
        }
        task.resume()
        done.wait()
        if let error = box.error { throw IndexError.transport(url: url, reason: error) }
        guard let status = box.status else { throw IndexError.transport(url: url, reason: "no response") }
        guard status == 200, let data = box.data else { throw IndexError.http(url: url, status: status) }
        return data
    }
}

/// Carries a response out of URLSession's callback.
private final class ResponseBox: @unchecked Sendable {
    // Written in the completion handler before the semaphore is signalled, read after waiting.
    var data: Data?
    var status: Int?
    var error: String?
}

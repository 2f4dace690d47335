import Foundation
import PackagingModel
import WheelfarmBasics

/// Uploads wheels to another repository (pypiserver, devpi, Artifactory, Nexus, or another
/// wheelfarm) through the legacy upload API twine speaks, with curl, retrying what is transient.
public struct RemotePublisher: Sendable {
    /// The upload URL (for example `http://host:8080/` or devpi's `http://host/user/index/`).
    public let url: String
    public let username: String
    public let password: String
    /// Attempts for a transient failure (connection errors, 5xx).
    public let attempts: Int
    let clock: any Clock

    /// Creates a publisher.
    public init(url: String, username: String = "__token__", password: String, attempts: Int = 4, clock: any Clock = SystemClock()) {
        self.url = url
        self.username = username
        self.password = password
        self.attempts = attempts
        self.clock = clock
    }

    /// Uploads one wheel; returns the server's answer (a 2xx, or the final failure).
    public func upload(_ path: String) throws -> UploadResult {
        let filename = (path as NSString).lastPathComponent
        guard let name = WheelFilename(filename) else { throw RepositoryError.invalidName(filename) }
        let work = try TemporaryDirectory(prefix: "wf-publish")
        // The credentials go through a private config file, not the command line (ps shows argv).
        let quote: (String) -> String = { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        try Files.writeAtomically(Array("user = \(quote("\(username):\(password)"))\n".utf8), to: "\(work.path)/curl.conf", mode: 0o600)
        let sha = Digest.hex(try Digest.sha256(fileAt: path))
        let fields = [
            ":action=file_upload", "protocol_version=1", "name=\(name.distribution)", "version=\(name.version)",
            "filetype=bdist_wheel", "pyversion=\(name.pythonTags.joined(separator: "."))", "metadata_version=2.1", "sha256_digest=\(sha)"
        ]
        // No "Expect: 100-continue": servers that do not answer it would cost a second per upload.
        var arguments = [
            "--silent", "--show-error", "--config", "\(work.path)/curl.conf", "--output", "\(work.path)/body", "--header", "Expect:",
            "--write-out", "%{http_code}", "--max-time", "600"
        ]
        for field in fields { arguments += ["--form-string", field] }
        arguments += ["--form", "content=@\(path);filename=\(filename);type=application/octet-stream", url]
        var last = UploadResult(status: 0, message: "not attempted")
        let backoff = Backoff(attempts: max(1, attempts), baseSeconds: 0.5, maxSeconds: 8)
        for attempt in 1...backoff.attempts {
            let result = try ProcessRunner.run(.curl, arguments)
            let code = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            let body = (try? String(contentsOfFile: "\(work.path)/body", encoding: .utf8)) ?? ""
            let message = (body.isEmpty ? result.stderr : body).trimmingCharacters(in: .whitespacesAndNewlines)
            last = UploadResult(status: code, message: String(message.prefix(500)))
            if (200..<300).contains(code) { return last }
            // 4xx are answers (refused, exists, bad token): retrying would not change them.
            if (400..<500).contains(code) { return last }
            if attempt < backoff.attempts { clock.sleep(seconds: backoff.delay(afterAttempt: attempt)) }
        }
        return last
    }
}

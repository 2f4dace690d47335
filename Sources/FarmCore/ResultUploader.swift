import Foundation
import WheelfarmBasics

/// A builder's side of the results API: sends a claim's files to the coordinator with curl,
/// then asks it to land them. The token goes in a private curl config file, never on a
/// command line (`ps` shows those).
public struct ResultUploader: Sendable {
    /// The coordinator's base URL (`wheelfarm serve`), e.g. `http://10.0.0.1:8080`.
    public let coordinator: String
    let token: String
    let clock: any Clock

    /// An uploader for the coordinator at `coordinator`.
    public init(coordinator: String, token: String, clock: any Clock = SystemClock()) {
        self.coordinator = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
        self.token = token
        self.clock = clock
    }

    /// An answer of the coordinator.
    public struct Answer: Sendable, Equatable {
        /// The HTTP status (0: no answer at all).
        public var status: Int
        public var body: String
        /// 2xx.
        public var ok: Bool { (200..<300).contains(status) }
        /// 409: the claim is no longer this builder's.
        public var refusedAsStale: Bool { status == 409 }
    }

    /// Sends `files` (name → path) for job `id` under `epoch`, then asks the coordinator to land
    /// them. Stops at the first answer that is not a success; transient failures (no answer,
    /// 5xx) are retried a few times with backoff.
    public func send(job id: Int64, epoch: Int64, files: [(name: String, path: String)], builderKey: String?) throws -> Answer {
        let work = try TemporaryDirectory(prefix: "wf-result")
        let quoted = "\"Authorization: Bearer \(token)\""
        try Files.writeAtomically(Array("header = \(quoted)\n".utf8), to: "\(work.path)/curl.conf", mode: 0o600)
        for file in files {
            let answer = try request(
                work: work.path, method: "PUT", url: "\(coordinator)/api/v1/builder/jobs/\(id)/files/\(file.name)?epoch=\(epoch)", body: file.path)
            if !answer.ok { return answer }
        }
        let key = builderKey.map { "&key=\($0)" } ?? ""
        return try request(work: work.path, method: "POST", url: "\(coordinator)/api/v1/builder/jobs/\(id)/complete?epoch=\(epoch)\(key)", body: nil)
    }

    func request(work: String, method: String, url: String, body: String?) throws -> Answer {
        var arguments = [
            "--silent", "--show-error", "--config", "\(work)/curl.conf", "--output", "\(work)/answer", "--write-out", "%{http_code}",
            "--max-time", "600", "--connect-timeout", "10", "--header", "Expect:", "--request", method
        ]
        if let body { arguments += ["--data-binary", "@\(body)", "--header", "Content-Type: application/octet-stream"] }
        arguments.append(url)
        let backoff = Backoff(attempts: 4, baseSeconds: 1, maxSeconds: 10)
        var last = Answer(status: 0, body: "not sent")
        for attempt in 1...backoff.attempts {
            let result = try ProcessRunner.run(.curl, arguments)
            let status = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            let text = (try? String(contentsOfFile: "\(work)/answer", encoding: .utf8)) ?? ""
            last = Answer(status: status, body: String((text.isEmpty ? result.stderr : text).prefix(2000)))
            if status != 0 && status < 500 { return last }
            if attempt < backoff.attempts { clock.sleep(seconds: backoff.delay(afterAttempt: attempt)) }
        }
        return last
    }
}

import Foundation
import WheelfarmBasics

/// What happened to one wheel when it was published.
public struct PublishReport: Sendable, Equatable {
    public enum Local: Sendable, Equatable {
        case published, unchanged
        case refused(String)
    }

    public enum Remote: Sendable, Equatable {
        case uploaded
        case refused(status: Int, message: String)
        case failed(String)
    }

    public var wheel: String
    public var local: Local
    /// The remote repository's answer, when one was asked.
    public var remote: Remote?

    /// Whether the wheel is where it was asked to go.
    public var succeeded: Bool {
        if case .refused = local { return false }
        switch remote {
        case .none, .uploaded: return true
        default: return false
        }
    }
}

/// Publishes wheels into the embedded repository (with their signature and provenance from
/// beside them, and the target their build record names) and, when asked, to a remote one
/// through the upload API. The remote one has no place for signatures: the embedded
/// repository keeps serving those. It prints nothing: callers say what happened.
public struct Publisher: Sendable {
    public let repository: Repository
    public let remote: RemotePublisher?

    public init(repository: Repository, remote: RemotePublisher?) {
        self.repository = repository
        self.remote = remote
    }

    /// The remote publisher for `url`, with the password from `WHEELFARM_REPOSITORY_PASSWORD`.
    public static func remote(url: String?, username: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemotePublisher? {
        guard let url else { return nil }
        guard let password = environment["WHEELFARM_REPOSITORY_PASSWORD"], !password.isEmpty else {
            throw RepositoryError.configuration("set WHEELFARM_REPOSITORY_PASSWORD to the remote repository's token or password")
        }
        return RemotePublisher(url: url, username: username, password: password)
    }

    /// Publishes one wheel. `target` is the build's target, shown on the project page.
    /// `expected` is the project (and version, when known) the build was asked for: the
    /// repository refuses a wheel that is another.
    public func publish(_ wheel: String, target: String? = nil, expected: (project: String, version: String?)? = nil) -> PublishReport {
        let name = (wheel as NSString).lastPathComponent
        var report = PublishReport(wheel: name, local: .published, remote: nil)
        do {
            let signature = Files.readText(wheel + ".minisig", limit: 64 << 10)
            let provenance = Files.readText(wheel + ".intoto.json", limit: 4 << 20)
            if case .unchanged = try repository.publish(wheel, filename: name, signature: signature, provenance: provenance, target: target, expected: expected)
            {
                report.local = .unchanged
            }
        } catch {
            report.local = .refused("\(error)")
            return report
        }
        if let remote {
            do {
                let result = try remote.upload(wheel)
                report.remote = (200..<300).contains(result.status) ? .uploaded : .refused(status: result.status, message: result.message)
            } catch {
                report.remote = .failed("\(error)")
            }
        }
        return report
    }
}

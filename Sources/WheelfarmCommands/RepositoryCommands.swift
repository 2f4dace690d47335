import ArgumentParser
import BuildSandbox
import Foundation
import Repository
import RepositoryServer

/// The embedded repository of a farm home.
func openRepository(home: String?, maxUploadMB: Int = 512) throws -> Repository {
    try Repository(root: "\(FarmHome.resolve(home).path)/repository", maxFileSize: maxUploadMB << 20)
}

/// `wheelfarm serve`: the embedded artifact repository over HTTP(S).
public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the farm's repository: the simple index (PEP 503/691), files, signatures, uploads.",
        discussion: """
        pip: pip install --index-url http://HOST:PORT/simple/ NAME. twine: twine upload \
        --repository-url http://HOST:PORT/legacy/ -u __token__ -p TOKEN (see 'wheelfarm token create'). \
        A person's page per project: /project/NAME/. pip refuses a plain-HTTP index that is not on \
        this machine unless told to trust it: give --tls-cert and --tls-key for HTTPS.
        """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed).") var port = 8080
    @Option(help: "PEM certificate chain: serve HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key of the certificate.") var tlsKey: String?
    @Flag(help: "Require a token for reads too.") var requireToken = false
    @Option(help: "The largest upload, in MiB.") var maxUploadMb = 512
    @Option(help: "The farm's home.") var home: String?

    public init() {}

    public mutating func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    public func run() async throws {
        let repository = try openRepository(home: home, maxUploadMB: maxUploadMb)
        let options = ServerOptions(host: host, port: port, tlsCertificate: tlsCert, tlsKey: tlsKey, readToken: requireToken, maxUploadBytes: maxUploadMb << 20)
        let scheme = tlsCert == nil ? "http" : "https"
        let host = self.host
        try await RepositoryServer(repository: repository, options: options).run { port in
            say("serving \(repository.root) on \(scheme)://\(host):\(port)/simple/ (uploads: \(scheme)://\(host):\(port)/legacy/)")
        }
    }
}

/// `wheelfarm token`: upload (and read) tokens.
public struct TokenCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke the repository's tokens.",
        subcommands: [Create.self, List.self, Revoke.self])

    public init() {}

    /// `wheelfarm token create`.
    public struct Create: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Make a token (printed once; only its hash is kept).")
        @Option(help: "Limit uploads to this project.") var project: String?
        @Option(help: "A note to remember it by.") var note: String?
        @Option(help: "The farm's home.") var home: String?
        public init() {}

        public func run() throws {
            let repository = try openRepository(home: home)
            let (token, entry) = try TokenStore(repositoryRoot: repository.root).create(project: project, note: note)
            say(token)
            FileHandle.standardError.write(Data("token \(entry.id) created for \(entry.project ?? "every project"); it is shown only now\n".utf8))
        }
    }

    /// `wheelfarm token list`.
    public struct List: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List the tokens (ids, scopes, state).")
        @Option(help: "The farm's home.") var home: String?
        public init() {}

        public func run() throws {
            let repository = try openRepository(home: home)
            let rows = TokenStore(repositoryRoot: repository.root).entries().map {
                [$0.id, $0.project ?? "*", $0.revoked ? "revoked" : "active", ISO8601DateFormatter().string(from: $0.created), $0.note ?? ""]
            }
            say(Table.render(header: ["ID", "PROJECT", "STATE", "CREATED", "NOTE"], rows: rows))
        }
    }

    /// `wheelfarm token revoke`.
    public struct Revoke: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @Argument(help: "The token's id (wf_<id>_...).") var id: String
        @Option(help: "The farm's home.") var home: String?
        public init() {}

        public func run() throws {
            let repository = try openRepository(home: home)
            let id = self.id.hasPrefix("wf_") ? String(self.id.split(separator: "_")[1]) : self.id
            guard try TokenStore(repositoryRoot: repository.root).revoke(id: id) else {
                FileHandle.standardError.write(Data("wheelfarm: no token \(id)\n".utf8))
                throw ExitCode(2)
            }
            say("revoked \(id)")
        }
    }
}

/// `wheelfarm yank`.
public struct YankCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "yank", abstract: "Yank (PEP 592) a version or one file: pip skips it unless pinned with ==.")
    @Argument(help: "The project.") var project: String
    @Argument(help: "A version, or one file name.") var version: String
    @Option(help: "Why (shown by pip).") var reason = ""
    @Flag(help: "Undo a yank.") var undo = false
    @Option(help: "The farm's home.") var home: String?
    public init() {}

    public func run() throws {
        do {
            let files = try openRepository(home: home).yank(project: project, version: version, reason: reason, undo: undo)
            for file in files { say("\(undo ? "unyanked" : "yanked") \(file)") }
        } catch {
            throw inputFailure(error)
        }
    }
}

/// `wheelfarm publish`: wheels into the embedded repository, or to a remote one.
public struct PublishCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish wheels (with their signature and provenance) to the farm's repository or a remote one.",
        discussion: """
        Without --repository-url the wheels go into the embedded repository of the farm's home, \
        which 'wheelfarm serve' serves, with WHEEL.minisig and WHEEL.intoto.json beside them when \
        present. With --repository-url they are uploaded through the legacy upload API (pypiserver, \
        devpi, Artifactory, Nexus, another wheelfarm), retrying transient failures; they are also \
        kept in the embedded repository, since the upload API has no place for signatures and \
        provenance. The password comes from WHEELFARM_REPOSITORY_PASSWORD. A file that exists with \
        other content is refused. Exit status: 0 all published, 1 one was refused.
        """)
    @Argument(help: "Wheel files.") var wheels: [String] = []
    @Option(help: "Upload URL of a remote repository.") var repositoryUrl: String?
    @Option(help: "User name for the remote repository.") var username = "__token__"
    @Option(help: "The farm's home.") var home: String?
    public init() {}

    public mutating func validate() throws {
        if wheels.isEmpty { throw ValidationError("name the wheels to publish") }
    }

    public func run() throws {
        if !(try Self.publish(wheels, home: home, repositoryUrl: repositoryUrl, username: username)) { throw ExitCode(1) }
    }

    /// Publishes wheels into the farm's repository and, with `repositoryUrl`, to a remote one,
    /// saying what happened to each; false when one was refused. Throws for a configuration
    /// error (no password for the remote repository, an unusable home).
    static func publish(_ wheels: [String], home: String?, repositoryUrl: String?, username: String) throws -> Bool {
        let repository = try openRepository(home: home)
        let remote = try repositoryUrl.map { url -> RemotePublisher in
            guard let password = ProcessInfo.processInfo.environment["WHEELFARM_REPOSITORY_PASSWORD"], !password.isEmpty else {
                throw ValidationError("set WHEELFARM_REPOSITORY_PASSWORD to the remote repository's token or password")
            }
            return RemotePublisher(url: url, username: username, password: password)
        }
        var failed = false
        for wheel in wheels {
            let name = (wheel as NSString).lastPathComponent
            do {
                let signature = try? String(contentsOfFile: wheel + ".minisig", encoding: .utf8)
                let provenance = try? String(contentsOfFile: wheel + ".intoto.json", encoding: .utf8)
                // A wheel from the farm's builds has its record beside it: the project page shows its target.
                let recordPath = (wheel as NSString).deletingLastPathComponent + "/record.json"
                let record = FileManager.default.contents(atPath: recordPath).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                let target = record?["wheel"] as? String == name ? record?["target"] as? String : nil
                let local = try repository.publish(wheel, filename: name, signature: signature, provenance: provenance, target: target)
                if case .unchanged = local { say("\(name): already in \(repository.root), unchanged") } else { say("\(name): published to \(repository.root)") }
                if let remote {
                    let result = try remote.upload(wheel)
                    if (200..<300).contains(result.status) {
                        say("\(name): uploaded to \(remote.url)")
                    } else {
                        failed = true
                        say("\(name): FAILED to upload to \(remote.url): HTTP \(result.status): \(result.message)")
                    }
                }
            } catch {
                failed = true
                say("\(name): FAILED: \(error)")
            }
        }
        return !failed
    }
}

import ArgumentParser
import FarmCore
import FarmWeb
import Foundation
import Repository
import RepositoryServer
import WheelBuilder
import WheelfarmBasics

extension CommandContext {
    /// The farm's embedded repository, or exit status 2 with the reason.
    func repository(maxUploadMB: Int = 512) throws -> Repository {
        do { return try farm().repository(maxUploadMB: maxUploadMB) } catch { throw inputFailure(error) }
    }
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

            The same server shows the farm: the dashboard at /dashboard/ (overview, projects, jobs with \
            live logs, requests, toolchains), the JSON API at /api/v1/ (described at /api/v1/openapi.json; \
            retry, cancel and queue builds with an operator token: wheelfarm token create --operator), \
            Prometheus metrics at /metrics, and /healthz and /readyz for load balancers.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed).") var port = 8080
    @Option(help: "PEM certificate chain: serve HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key of the certificate.") var tlsKey: String?
    @Flag(help: "Require a token for reads too.") var requireToken = false
    @Option(help: "The largest upload, in MiB.") var maxUploadMb = 512
    @OptionGroup var options: HomeOptions

    public init() {}

    public mutating func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        // A port outside 0-65535 would be taken modulo 65536 by the socket layer: refused instead.
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535, not \(port)") }
        guard maxUploadMb > 0 else { throw ValidationError("--max-upload-mb must be at least 1") }
    }

    public func run() async throws {
        let context = CommandContext(options)
        let repository = try context.repository(maxUploadMB: maxUploadMb)
        let options = ServerOptions(host: host, port: port, tlsCertificate: tlsCert, tlsKey: tlsKey, readToken: requireToken, maxUploadBytes: maxUploadMb << 20)
        let scheme = tlsCert == nil ? "http" : "https"
        let host = self.host
        // The dashboard, API and metrics read the farm's store and toolchains from the same home.
        let farm = try context.openFarm()
        let store = try farm.jobs()
        let toolchains = try? farm.toolchains()
        let queries = DashboardQueries(store: store, layout: farm.layout, toolchains: toolchains, repository: repository)
        let metrics = FarmMetrics(queries: queries)
        // Builder hosts' results land here and are signed with the farm's key, which only this
        // host holds; what lands is published like the farm's own builds.
        let keys = farm.keys()
        let (signer, generated) = try keys.loadOrGenerate()
        if generated { context.out("made the farm's signing key \(signer.keyIDText): \(keys.secretPath)") }
        let publisher = try farm.publisher(remoteURL: farm.configuration.repositoryURL)
        let intake = BuilderIntake(
            store: store, layout: farm.layout, signer: signer, retry: farm.configuration.limits.retry, maxWheelBytes: maxUploadMb << 20,
            publish: { job in
                guard let path = job.wheelPath else { return false }
                let report = publisher.publish(path, target: job.target, expected: (job.project, job.version))
                context.out(PublishReport.describe(report))
                return report.succeeded
            })
        // The coordinator's own images are the farm's toolchains for their targets: builder
        // hosts build a target only with the same digest.
        for target in toolchains?.catalog.specs.keys.sorted() ?? [] {
            if let image = try? toolchains?.image(named: target) {
                try store.assignToolchain(target: target, digest: image.digest, by: "coordinator", overriding: true)
            }
        }
        let web = FarmWeb(
            queries: queries, metrics: metrics, repository: repository, readToken: requireToken,
            targets: Set(toolchains?.catalog.specs.keys.map { $0 } ?? []), intake: intake)
        try await RepositoryServer(repository: repository, options: options, observer: metrics, extraRoutes: { router in web.register(on: router) }).run {
            port in
            context.out("serving \(repository.root) on \(scheme)://\(host):\(port)/simple/ (uploads: \(scheme)://\(host):\(port)/legacy/)")
            context.out("dashboard: \(scheme)://\(host):\(port)/dashboard/ · API: /api/v1/ · metrics: /metrics")
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
        @Flag(name: .customLong("operator"), help: "Also allow operator actions through the dashboard and API: retry, cancel, queue builds.") var isOperator =
            false
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let repository = try context.repository()
            let (token, entry) = try TokenStore(repositoryRoot: repository.root).create(project: project, note: note, operator: isOperator)
            context.out(token)
            context.err(
                "token \(entry.id) created for \(entry.project ?? "every project")\(isOperator ? ", with operator actions" : ""); it is shown only now")
        }
    }

    /// `wheelfarm token list`.
    public struct List: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List the tokens (ids, scopes, state).")
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let repository = try context.repository()
            let rows = try TokenStore(repositoryRoot: repository.root).entries().map {
                [$0.id, $0.project ?? "*", $0.revoked ? "revoked" : "active", ISO8601DateFormatter().string(from: $0.created), $0.note ?? ""]
            }
            context.out(Table.render(header: ["ID", "PROJECT", "STATE", "CREATED", "NOTE"], rows: rows))
        }
    }

    /// `wheelfarm token revoke`.
    public struct Revoke: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @Argument(help: "The token's id (wf_<id>_...).") var id: String
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let repository = try context.repository()
            let parts = self.id.split(separator: "_")
            let id = self.id.hasPrefix("wf_") && parts.count > 1 ? String(parts[1]) : self.id
            guard try TokenStore(repositoryRoot: repository.root).revoke(id: id) else {
                context.err("wheelfarm: no token \(id)")
                throw ExitCode(ExitStatus.invalidInput)
            }
            context.out("revoked \(id)")
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
    @OptionGroup var options: HomeOptions
    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        do {
            let files = try context.repository().yank(project: project, version: version, reason: reason, undo: undo)
            for file in files { context.out("\(undo ? "unyanked" : "yanked") \(file)") }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw context.inputFailure(error)
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
    @OptionGroup var options: HomeOptions
    public init() {}

    public mutating func validate() throws {
        if wheels.isEmpty { throw ValidationError("name the wheels to publish") }
    }

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let farm = try context.openFarm()
        let publisher: Publisher
        do { publisher = try farm.publisher(remoteURL: repositoryUrl, username: username) } catch { throw context.inputFailure(error) }
        let store = BuildStore(layout: farm.layout)
        var failed = false
        for wheel in wheels.map({ Paths.absolute($0) }) {
            // A wheel from the farm's builds has its record beside it: the project page shows its target.
            let record = (try? store.record(in: (wheel as NSString).deletingLastPathComponent)) ?? nil
            let report = publisher.publish(wheel, target: record?.wheel == (wheel as NSString).lastPathComponent ? record?.target : nil)
            context.out(PublishReport.describe(report))
            if !report.succeeded { failed = true }
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }
}

import BuildSandbox
import FarmStore
import Foundation
import PackageIndex
import Repository
import Signing
import WheelAudit
import WheelBuilder
import WheelfarmBasics

/// The farm as the commands, the server and the nightly see it: the configuration in effect
/// (file, environment, flags) resolved once, the home's layout, and what is opened on demand
/// from them: the job store, the toolchains, the repository, the signing key, the builder.
public final class FarmContext: @unchecked Sendable {
    /// The settings in effect.
    public let configuration: FarmConfiguration
    /// The home and its paths.
    public let layout: FarmLayout
    private let lock = NSLock()
    private var openedJobs: JobStore?

    /// A context over a configuration.
    public init(configuration: FarmConfiguration) {
        self.configuration = configuration
        layout = configuration.layout
    }

    /// Loads the configuration (the file, the environment, `flags`) and makes the context.
    public static func open(configPath: String?, homeFlag: String?, flags: [String: String] = [:]) throws -> FarmContext {
        FarmContext(configuration: try FarmConfiguration(configPath: configPath, homeFlag: homeFlag, flags: flags))
    }

    /// The data folder (targets, policies, recipes): the operator's or the installation's.
    public func dataDirectory() throws -> String { try DataDirectory.locate(configured: configuration.dataDirectory) }

    /// The job store, opened once.
    public func jobs() throws -> JobStore {
        try lock.withLock {
            if let openedJobs { return openedJobs }
            let store = try JobStore(location: configuration.stateLocation)
            openedJobs = store
            return store
        }
    }

    /// The targets: given ones, else the configured ones, else the default.
    public func targets(_ given: [String]) -> [String] { configuration.targets(given) }

    /// The toolchain images of this home.
    public func toolchains() throws -> ToolchainStore {
        ToolchainStore(layout: layout, catalog: try ToolchainCatalog.load(dataDirectory: try dataDirectory()), aptSources: try aptSources())
    }

    /// Debian's Contents and Sources indexes of the host's mirror, cached under the home (nil
    /// when the host's apt sources name no Debian archive).
    public func debianIndexes() -> ContentsIndex? {
        DebianMirror.host().map { ContentsIndex(cache: "\(layout.path)/cache/contents", mirror: $0) }
    }

    /// The extra apt entries of `toolchains.apt_sources_file`, checked (nil when unset).
    public func aptSources() throws -> AptSources? {
        guard let path = configuration.aptSourcesFile else { return nil }
        do { return try AptSources.load(path: path) } catch { throw FarmConfigurationError("toolchains.apt_sources_file: \(error)") }
    }

    /// The recipes: the user's folders (`recipes.paths`, `--recipes`) before the built-in ones.
    /// A folder that is not there is an error, not a silent fall-back to the built-in recipes.
    public func recipeBook() throws -> RecipeBook {
        for folder in configuration.recipePaths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw FarmConfigurationError("the recipe folder \(folder) (recipes.paths or --recipes) is not there")
            }
        }
        return RecipeBook(directory: "\(try dataDirectory())/recipes", userDirectories: configuration.recipePaths)
    }

    /// The policies (manylinux, musllinux, and `extra` files).
    public func policies(extra: [String] = []) throws -> PolicyCatalog {
        try PolicyCatalog.load(dataDirectory: try dataDirectory(), extraPolicyFiles: extra)
    }

    /// The signing key's files: `signing.key` when configured, else the home's.
    public func keys() -> SigningKeyStore {
        if let path = configuration.signingKey {
            return SigningKeyStore(secretPath: path, publicPath: (path.hasSuffix(".key") ? String(path.dropLast(4)) : path) + ".pub")
        }
        return SigningKeyStore(home: layout.path)
    }

    /// The embedded repository.
    public func repository(maxUploadMB: Int = 512) throws -> Repository {
        try Repository(root: layout.repository, maxFileSize: maxUploadMB << 20)
    }

    /// Publishes into the embedded repository and, with `remoteURL`, a remote one.
    public func publisher(remoteURL: String?, username: String? = nil) throws -> Publisher {
        Publisher(repository: try repository(), remote: try Publisher.remote(url: remoteURL, username: username ?? configuration.repositoryUsername))
    }

    /// The real builder over this home: mmdebstrap images, the namespace sandbox, the index
    /// through curl, pip for wheels, and the signing key (made on first use; `notice` says so).
    public func builder(indexURL: String?, notice: (String) -> Void, progress: @escaping @Sendable (String, String) -> Void) throws -> WheelBuilder {
        let data = try dataDirectory()
        let explicit = indexURL ?? configuration.indexURL
        let index = try IndexConfiguration.resolve(explicit: explicit)
        let keys = keys()
        let (signer, generated) = try keys.loadOrGenerate()
        if generated { notice("made the farm's signing key \(signer.keyIDText): \(keys.secretPath) (public key: \(keys.publicPath))") }
        let environment = BuildEnvironment(
            layout: layout, toolchains: ToolchainStore(layout: layout, catalog: try ToolchainCatalog.load(dataDirectory: data), aptSources: try aptSources()),
            sandbox: NamespaceSandbox(layout: layout), index: IndexClient(configuration: index), wheels: PipWheelFetcher(),
            policies: try PolicyCatalog.load(dataDirectory: data), recipes: try recipeBook(),
            patchelf: try Patchelf.locate(), signer: signer, builderVersion: wheelfarmVersion, logLimit: configuration.logLimitBytes,
            explicitIndex: explicit != nil, seccomp: { [layout] allowed in try SeccompPolicy.prepare(in: layout.seccomp, allowed: allowed) },
            contents: debianIndexes(),
            progress: progress)
        return WheelBuilder(environment: environment)
    }

    /// The farm over `builder`; landed jobs that ask for it are published with `publisher`.
    public func farm(
        builder: WheelBuilder, say: @escaping @Sendable (String) -> Void, limits: FarmLimits? = nil, publisher: Publisher?,
        followUps: (@Sendable (JobRecord) -> [JobRecord])? = nil
    ) throws -> Farm {
        var publish: (@Sendable (JobRecord) -> Bool)? = nil
        if let publisher {
            publish = { job in
                guard let path = job.wheelPath else { return false }
                let report = publisher.publish(path, target: job.target, expected: (job.project, job.version))
                say(PublishReport.describe(report))
                return report.succeeded
            }
        }
        return Farm(
            store: try jobs(), executor: BuilderExecutor(builder: builder), limits: limits ?? configuration.limits, say: say,
            publisher: publish, followUps: followUps, layout: layout)
    }
}

/// The version of wheelfarm: written into records, SBOMs and provenance.
public let wheelfarmVersion = "0.3.0"

extension PublishReport {
    /// One line for people.
    public static func describe(_ report: PublishReport) -> String {
        var line: String
        switch report.local {
        case .published: line = "\(report.wheel): published"
        case .unchanged: line = "\(report.wheel): already published, unchanged"
        case let .refused(reason): line = "\(report.wheel): FAILED: \(reason)"
        }
        switch report.remote {
        case .none: break
        case .uploaded: line += "; uploaded to the remote repository"
        case let .refused(status, message): line += "; FAILED to upload: HTTP \(status): \(message)"
        case let .failed(reason): line += "; FAILED to upload: \(reason)"
        }
        return line
    }
}

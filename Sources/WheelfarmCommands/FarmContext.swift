import BuildSandbox
import FarmCore
import FarmStore
import Foundation
import PackageIndex
import Signing
import WheelAudit
import WheelBuilder
import WheelfarmBasics

/// What the farm's commands share: the configuration in effect, the home, the job store, and
/// (made on demand) the builder and the farm.
struct FarmContext {
    let configuration: FarmConfiguration
    let home: FarmHome
    let jobs: SQLiteJobStore

    /// Loads the configuration (file, environment, `flags`) and opens the job store in the home.
    static func open(config: String?, home: String?, flags: [String: String] = [:]) throws -> FarmContext {
        let configuration = try FarmConfiguration(configPath: config, homeFlag: home, flags: flags)
        let farmHome = FarmHome(path: configuration.home)
        return FarmContext(configuration: configuration, home: farmHome, jobs: try SQLiteJobStore(path: Self.databasePath(farmHome)))
    }

    /// The job store's file in a home.
    static func databasePath(_ home: FarmHome) -> String { "\(home.path)/state/farm.sqlite" }

    /// The targets: given ones, else the configuration's, else the default.
    func targets(_ given: [String]) -> [String] {
        if !given.isEmpty { return given }
        let configured = configuration.targets
        return configured.isEmpty ? [BuildCommand.defaultTarget] : configured
    }

    /// The builder over this home, its toolchain store, and the signing key (made on first use).
    func makeBuilder(indexURL: String?, display: ProgressDisplay) throws -> (WheelBuilder, ToolchainStore) {
        let data = try DataDirectory.locate()
        let store = ToolchainStore(home: home, catalog: try ToolchainCatalog.load(dataDirectory: data))
        let explicitIndex = indexURL ?? configuration.indexURL
        let index = try IndexConfiguration.resolve(explicit: explicitIndex)
        let keys = configuration.signingKey.map { path in
            SigningKeyStore(secretPath: path, publicPath: (path.hasSuffix(".key") ? String(path.dropLast(4)) : path) + ".pub")
        } ?? SigningKeyStore(home: home.path)
        let (signer, generated) = try keys.loadOrGenerate()
        if generated { display.message("made the farm's signing key \(signer.keyIDText): \(keys.secretPath) (public key: \(keys.publicPath))") }
        let builder = WheelBuilder(home: home, store: store, catalog: try PolicyCatalog.load(dataDirectory: data),
                                   recipes: RecipeBook(directory: "\(data)/recipes"), index: index, explicitIndex: explicitIndex != nil,
                                   patchelf: try Patchelf.locate(), builderVersion: wheelfarmVersion, signer: signer) { target, line in
            display.step("[\(target)] \(line)")
        }
        return (builder, store)
    }

    /// The farm over the real builder; landed jobs that ask for it are published to the
    /// embedded repository (and `repositoryURL`, when set).
    func makeFarm(builder: WheelBuilder, display: ProgressDisplay, limits: FarmLimits? = nil, repositoryURL: String?, username: String,
                  followUps: (@Sendable (JobRecord) -> [JobRecord])? = nil) -> Farm {
        let homePath = home.path
        return Farm(store: jobs, executor: BuilderExecutor(builder: builder), limits: limits ?? configuration.limits,
                    say: { display.message($0) },
                    publisher: { job in
                        guard let path = job.wheelPath else { return false }
                        do { return try PublishCommand.publish([path], home: homePath, repositoryUrl: repositoryURL, username: username) } catch {
                            display.message("wheelfarm: cannot publish \(job.wheel ?? path): \(error)")
                            return false
                        }
                    }, followUps: followUps, workDirectory: "\(homePath)/jobs")
    }
}

import ArgumentParser
import FarmCore
import Foundation
import PackageIndex
import PackagingModel

/// `wheelfarm fetch`: resolve requirements to sdists and download them into the source store.
public struct FetchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Resolve requirements to sdists on the index and store them (hash-checked, content-addressed).",
        discussion: "Prints one line per requirement: the version chosen and the stored path. Already stored sdists are not downloaded again.")

    @Argument(help: "Requirements, for example markupsafe==3.0.2 or \"lxml>=5\".") var requirements: [String]
    @Option(help: "Python version the sdist must support (Requires-Python).") var python: String = "3.11"
    @Option(help: "The package index (default: pip's configuration).") var indexURL: String?
    @Flag(help: "Allow pre-releases.") var pre = false
    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let farm = try context.openFarm()
        let client = IndexClient(configuration: try IndexConfiguration.resolve(explicit: indexURL ?? farm.configuration.indexURL))
        let store = SourceStore(directory: farm.layout.sources)
        for text in requirements {
            guard let requirement = Requirement(text) else { throw ValidationError("'\(text)' is not a requirement") }
            let source = try SourceResolver(client: client).resolve(requirement, pythonVersion: python, prereleases: pre)
            let fetched = try store.fetch(source.file, client: client)
            context.out("\(source.project) \(source.version) \(fetched.path)\(fetched.downloaded ? "" : " (already stored)")")
        }
    }
}

import ArgumentParser
import BuildSandbox
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
    @Option(help: "The farm's home.") var home: String?

    public init() {}

    public func run() throws {
        let client = IndexClient(configuration: try IndexConfiguration.resolve(explicit: indexURL))
        let store = SourceStore(directory: "\(FarmHome.resolve(home).path)/sources")
        for text in requirements {
            guard let requirement = Requirement(text) else { throw ValidationError("'\(text)' is not a requirement") }
            let source = try SourceResolver(client: client).resolve(requirement, pythonVersion: python, prereleases: pre)
            let fetched = try store.fetch(source.file, client: client)
            say("\(source.project) \(source.version) \(fetched.path)\(fetched.downloaded ? "" : " (already stored)")")
        }
    }
}

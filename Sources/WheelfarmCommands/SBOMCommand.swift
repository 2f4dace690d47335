import ArgumentParser
import FarmCore
import Foundation
import WheelfarmBasics

/// `wheelfarm sbom`: what the farm's wheels carry.
public struct SBOMCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sbom", abstract: "Ask which wheels carry a Debian package; export the repository as one CycloneDX document.",
        subcommands: [Query.self, Export.self])

    public init() {}

    /// `sbom query --package NAME [--below VERSION]`.
    public struct Query: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "query",
            abstract: "List every stored wheel that carries a Debian package, at which version and how, and whether it is published.",
            discussion: "With --below, only versions lower than it in Debian's order (what a security advisory's fixed version asks).")
        @Option(help: "The Debian package (for example libyaml-0-2).") var package: String
        @Option(help: "Only versions lower than this Debian version.") var below: String?
        @Flag(help: "JSON instead of a table.") var json = false
        @OptionGroup var options: HomeOptions

        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let entries: [SBOMCatalog.Entry]
            do { entries = try SBOMCatalog(context: context.farm()).query(package: package, below: below) } catch { throw context.inputFailure(error) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                context.out(String(decoding: try encoder.encode(entries), as: UTF8.self))
                return
            }
            if entries.isEmpty {
                context.out("no stored wheel carries \(package)\(below.map { " below \($0)" } ?? "")")
                return
            }
            context.out(
                Table.render(
                    header: ["WHEEL", "TARGET", "PACKAGE", "VERSION", "HOW", "PUBLISHED"],
                    rows: entries.map { [$0.wheel, $0.target, $0.package, $0.packageVersion, "\($0.how) (\($0.soname))", $0.published ? "yes" : "no"] }))
        }
    }

    /// `sbom export [-o FILE]`.
    public struct Export: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "export", abstract: "Write the repository's wheels and the Debian packages they carry as one CycloneDX 1.6 JSON document.")
        @Option(name: .shortAndLong, help: "Write here instead of standard output.") var output: String?
        @OptionGroup var options: HomeOptions

        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let document: [UInt8]
            do { document = try SBOMCatalog(context: context.farm()).export() } catch { throw context.inputFailure(error) }
            if let output {
                try Files.writeAtomically(document, to: output)
                context.out("wrote \(output)")
            } else {
                context.write(document, raw: true)
            }
        }
    }
}

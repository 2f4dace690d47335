import ArgumentParser
import BuildSandbox
import Foundation
import WheelAudit

/// `wheelfarm toolchain`: the root file systems builds run in, one per target ABI.
public struct ToolchainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "toolchain",
        abstract: "Build, list, show and remove toolchain images (one root file system per target ABI).",
        discussion: """
            Targets are named <python tag>-<Debian suite>[-glibc<baseline>]-<architecture>, for example \
            cp311-bookworm-x86_64 (CPython 3.11 on Debian 12 with its gcc, x86_64) or \
            cp311-bookworm-glibc2.17-x86_64 (the same root, compiling with zig for glibc 2.17: manylinux2014 \
            wheels that install on RHEL 8 and Ubuntu 20.04). aarch64 targets run under qemu-user emulation: building \
            their images and wheels is several times slower. The Debian mirror is the host's apt \
            configuration (its archive and security URIs).
            """,
        subcommands: [List.self, Build.self, Show.self, Remove.self])

    public init() {}

    static func store(_ context: CommandContext) throws -> ToolchainStore {
        do { return try context.farm().toolchains() } catch { throw context.inputFailure(error) }
    }

    /// `wheelfarm toolchain list`.
    public struct List: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List the targets: built or not, digest, size, age.")
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let store = try ToolchainCommand.store(context)
            let rows = try store.catalog.specs.keys.sorted().map { name -> [String] in
                let spec = try store.catalog.spec(name)
                let compiler = spec.usesZig ? "zig \(spec.compiler?.ziglang ?? "")" : "gcc"
                let facts = [compiler, spec.baselineGlibc, spec.tagCeiling ?? "-"]
                guard let image = try store.image(named: name) else { return [name] + facts + ["not built", "-", "-", "-"] }
                let age = Date().timeIntervalSince(image.builtAt)
                let ageText = age < 3600 ? "\(Int(age / 60)) min" : age < 86400 ? "\(Int(age / 3600)) h" : "\(Int(age / 86400)) d"
                return [name] + facts + [
                    store.isCurrent(image) ? "built" : "out of date", String(image.digest.prefix(12)), "\(image.sizeBytes >> 20) MB", ageText
                ]
            }
            // The runtime roots (shared by targets of one release, architecture and interpreter).
            var runtimes: [String: [String]] = [:]
            for spec in store.catalog.specs.values.sorted(by: { $0.name < $1.name }) where runtimes[spec.runtime.name] == nil {
                guard let image = try store.runtimeImage(for: spec) else {
                    runtimes[spec.runtime.name] = [spec.runtime.name, "-", "-", "-", "not built", "-", "-", "-"]
                    continue
                }
                let age = Date().timeIntervalSince(image.builtAt)
                let ageText = age < 3600 ? "\(Int(age / 60)) min" : age < 86400 ? "\(Int(age / 3600)) h" : "\(Int(age / 86400)) d"
                runtimes[spec.runtime.name] = [
                    spec.runtime.name, "none", "-", "-", store.isCurrent(image) ? "built" : "out of date", String(image.digest.prefix(12)),
                    "\(image.sizeBytes >> 20) MB", ageText
                ]
            }
            context.out(
                Table.render(
                    header: ["TARGET", "COMPILER", "GLIBC", "CEILING", "STATE", "DIGEST", "SIZE", "AGE"],
                    rows: rows + runtimes.keys.sorted().compactMap { runtimes[$0] }))
        }
    }

    /// `wheelfarm toolchain build`.
    public struct Build: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Build the image of a target (mmdebstrap, then the pinned build frontend).")
        @Argument(help: "Target names.") var targets: [String] = []
        @Flag(help: "Build every target.") var all = false
        @Flag(help: "Build the targets' runtime roots (what production has) instead of their build images.") var runtime = false
        @OptionGroup var options: HomeOptions
        public init() {}

        public mutating func validate() throws {
            if targets.isEmpty && !all { throw ValidationError("name a target, or pass --all") }
        }

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let store = try ToolchainCommand.store(context)
            let names = all ? store.catalog.specs.keys.sorted() : targets
            for name in names { _ = try store.catalog.spec(name) }
            for name in names {
                let started = Date()
                let spec = try store.catalog.spec(name)
                context.out("building \(runtime ? spec.runtime.name : name) ...")
                let image =
                    runtime
                    ? try store.buildRuntime(for: spec) { line in context.out("  \(line)") } : try store.build(name) { line in context.out("  \(line)") }
                context.out(
                    "built \(name): digest \(image.digest.prefix(12)), \(image.packages.count) packages, \(image.sizeBytes >> 20) MB, \(Int(Date().timeIntervalSince(started))) s"
                )
            }
        }
    }

    /// `wheelfarm toolchain show`.
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show the packages (with versions) and frontend of a built image.")
        @Argument(help: "Target name.") var target: String
        @OptionGroup var options: HomeOptions
        @Option(help: "Output format: text or json.") var format: OutputFormat = .text
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let store = try ToolchainCommand.store(context)
            let image = try store.requireImage(named: target)
            if format == .json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                context.out(String(decoding: try encoder.encode(image), as: UTF8.self))
                return
            }
            context.out("\(target): \(image.spec.description)")
            context.out("digest:   \(image.digest)")
            context.out("root:     \(store.rootfs(digest: image.digest))")
            context.out("built:    \(ISO8601DateFormatter().string(from: image.builtAt)) in \(Int(image.buildSeconds)) s, \(image.sizeBytes >> 20) MB")
            context.out("frontend: " + image.frontendWheels.keys.sorted().joined(separator: ", "))
            context.out(Table.render(header: ["PACKAGE", "VERSION", "ARCH"], rows: image.packages.map { [$0.name, $0.version, $0.architecture] }))
        }
    }

    /// `wheelfarm toolchain remove`.
    public struct Remove: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Remove the image of a target.")
        @Argument(help: "Target names.") var targets: [String]
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let store = try ToolchainCommand.store(context)
            for name in targets {
                context.out(try store.remove(name) ? "removed \(name)" : "\(name) was not built")
            }
        }
    }
}

import ArgumentParser
import FarmCore
import Foundation
import WheelArchive
import WheelAudit

/// `wheelfarm repair`: graft external libraries into wheels and retag them.
public struct RepairCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Graft the external libraries a wheel needs into it and give it the most compatible tag.",
        discussion: "Exit status: 0 when every wheel was repaired, 1 when one cannot reach the requested tag, 2 when one cannot be read.")

    @Argument(help: "Wheel files to repair.")
    public var wheels: [String]

    @Option(name: [.customShort("w"), .customLong("wheel-dir")], help: "Directory for the repaired wheels.")
    public var wheelDirectory: String = "wheelhouse"

    @Option(help: "Target platform (for example manylinux_2_17 or manylinux2014); default: the most compatible one reachable.")
    public var plat: String?

    @Option(help: "Root file system the grafted libraries come from.")
    public var root: String = "/"

    @Option(name: .customLong("policy"), help: "An organisation's policy file (JSON); may be repeated.")
    public var policyFiles: [String] = []

    @Option(name: .customLong("exclude"), help: "Soname glob never grafted (for libraries the target provides); may be repeated.")
    public var excludes: [String] = []

    @Option(name: .customLong("bundle"), help: "Soname of a library the wheel loads with dlopen, to graft under its own name; may be repeated.")
    public var bundles: [String] = []

    @Option(help: "Deflate level of the repaired wheel, 0 (store) to 9 (smallest).")
    public var compressionLevel: Int = Repairer.defaultCompressionLevel

    public mutating func validate() throws {
        guard (0...9).contains(compressionLevel) else { throw ValidationError("--compression-level must be between 0 and 9") }
    }

    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws {
        let status = execute(CommandContext(options))
        if status != 0 { throw ExitCode(status) }
    }

    /// Repairs the wheels, writing to `context`; returns the exit status.
    public func execute(_ context: CommandContext) -> Int32 {
        let catalog: PolicyCatalog
        let patchelf: Patchelf
        do {
            catalog = try context.farm().policies(extra: policyFiles)
            patchelf = try Patchelf.locate()
        } catch {
            context.err("wheelfarm: \(error)")
            return ExitStatus.invalidInput
        }
        var status = ExitStatus.success
        for path in wheels {
            do {
                let wheel = try Wheel(path: path, selection: .everything)
                let analysis = try WheelAnalyzer(catalog: catalog, root: root, exclude: excludes).analyze(wheel: wheel)
                let system = SystemLibraries(root: root, libc: analysis.libc, architecture: analysis.architecture)
                let plan = try RepairPlanner.plan(analysis, requested: plat, system: system, bundle: bundles)
                let result = try Repairer(patchelf: patchelf, system: system, toolVersion: wheelfarmVersion, compressionLevel: compressionLevel)
                    .apply(plan, to: wheel, outputDirectory: wheelDirectory)
                var line = "repaired \(analysis.filename) -> \(result.path)"
                if !plan.grafts.isEmpty {
                    line +=
                        "\n  grafted: "
                        + plan.grafts.map { graft in
                            let origin = result.origins[graft.soname].map { " from \($0.name) \($0.version)" } ?? ""
                            return "\(graft.soname) as \(graft.destination)\(origin)"
                        }.joined(separator: "\n           ")
                }
                context.out(line)
            } catch let error as RepairError {
                context.err("wheelfarm: \(error)")
                if status == ExitStatus.success { status = ExitStatus.failure }
            } catch {
                context.err("wheelfarm: \(error)")
                status = ExitStatus.invalidInput
            }
        }
        return status
    }
}

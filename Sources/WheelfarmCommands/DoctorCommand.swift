import ArgumentParser
import BuildSandbox
import FarmCore
import Foundation
import PackageIndex
import WheelAudit

/// `wheelfarm doctor`: is this host ready to build, and if not, what to install.
public struct DoctorCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the host for everything the farm uses, and say what to install.",
        discussion: """
            Checks, for the configured targets (or --target, or --all-targets): every program the farm \
            runs, with the Debian package that provides it; the kernel features of the sandbox \
            (overlayfs, namespaces, cgroups, seccomp); qemu-user and its binfmt registration for targets \
            of another architecture; root; free space in the farm's home; and whether the package index \
            and the Debian mirror answer (not with --offline). It changes nothing.

            Exit status: 0 everything the targets need is there (warnings allowed), 1 something is \
            missing, 2 the configuration is invalid.
            """)

    @Option(name: .customLong("target"), help: "Check for this target (may be repeated; default: the configured targets).") var targets: [String] = []
    @Flag(help: "Check for every known target, aarch64 ones included.") var allTargets = false
    @Flag(help: "Do not ask the package index and the Debian mirror.") var offline = false
    @Flag(help: "Print the checks as JSON.") var json = false
    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let checks: [HostCheck]
        do {
            let farm = try context.farm()
            let catalog = try ToolchainCatalog.load(dataDirectory: try farm.dataDirectory())
            let names = allTargets ? catalog.specs.keys.sorted() : farm.targets(targets)
            let specs = try names.map { try catalog.spec($0) }
            let index = try? IndexConfiguration.resolve(explicit: farm.configuration.indexURL)
            checks = Doctor(layout: farm.layout, targets: specs, index: index, checkNetwork: !offline).run()
        } catch {
            throw context.inputFailure(error)
        }
        let missing = checks.filter { $0.status == .missing }
        if json {
            struct Report: Encodable { var ok: Bool; var checks: [HostCheck] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            context.out(String(decoding: try encoder.encode(Report(ok: missing.isEmpty, checks: checks)), as: UTF8.self))
        } else {
            let rows = checks.map { check in
                [
                    check.status == .ok ? "ok" : check.status == .missing ? "MISSING" : "warning", check.category, check.name,
                    check.detail + (check.fix.map { " — fix: \($0)" } ?? "")
                ]
            }
            context.out(Table.render(header: ["STATUS", "KIND", "CHECK", "DETAIL"], rows: rows))
            let warnings = checks.filter { $0.status == .warning }.count
            context.out(
                missing.isEmpty
                    ? "ready: \(checks.count - warnings) checks ok, \(warnings) warnings"
                    : "not ready: \(missing.count) missing (\(missing.map(\.name).joined(separator: ", ")))")
        }
        if !missing.isEmpty { throw ExitCode(ExitStatus.failure) }
    }
}

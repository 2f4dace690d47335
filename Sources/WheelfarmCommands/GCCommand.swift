import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import WheelfarmBasics

/// `wheelfarm gc`: removes what nothing needs any more, keeping what published wheels' records need.
public struct GCCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove old toolchain images, logs, sdists, leftovers and unreferenced build artifacts.",
        discussion: """
            Removed: toolchain images no target points at (and derived roots over them); what dead \
            processes left (work folders, staging images and roots, sandbox scratch, uploads), \
            unmounted first; logs and records of failed builds older than gc.keep_days; wheels, \
            signatures and provenance in the build store that their folder's record no longer names \
            and the repository does not hold; sdists no stored build record names, older than \
            gc.keep_days. Kept: everything a stored build's record names (its wheel, log, sdist), so \
            each published wheel stays verifiable and reproducible. The repository itself is never touched.

            Exit status: 0 done, 1 something could not be removed, 2 configuration error, 75 jobs are running.
            """)
    @OptionGroup var options: HomeOptions
    @Flag(help: "Only say what would be removed.") var dryRun = false
    @Option(help: "Keep logs, failed builds and unreferenced sdists younger than this many days (default: gc.keep_days).") var keepDays: Int?
    @Flag(help: "Run even while jobs are running (they may lose the image they use).") var force = false

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let farm = try context.openFarm()
        let running = try context.jobStore().jobs(states: [.running]).filter { $0.owner.map(ProcessIdentity.isAlive) ?? false }
        if !running.isEmpty && !force {
            context.err(
                "wheelfarm: \(running.count) job(s) are running (\(running.map { String($0.number) }.joined(separator: ", "))); run gc when they end, or --force"
            )
            throw ExitCode(ExitStatus.busy)
        }
        let collector: GarbageCollector
        let removals: [GarbageCollector.Removal]
        do {
            collector = GarbageCollector(toolchains: try farm.toolchains(), keepDays: keepDays ?? farm.configuration.keepDays)
            removals = try collector.plan()
        } catch { throw context.inputFailure(error) }
        for removal in removals {
            context.out("\(dryRun ? "would remove" : "removing") \(removal.path) (\(Self.size(removal.bytes))): \(removal.reason)")
        }
        let total = removals.reduce(Int64(0)) { $0 + $1.bytes }
        let problems = dryRun ? [] : collector.apply(removals)
        for (removal, problem) in problems { context.err("wheelfarm: cannot remove \(removal.path): \(problem)") }
        context.out(
            removals.isEmpty
                ? "nothing to remove" : "\(dryRun ? "would free" : "freed") \(Self.size(total)) in \(removals.count) item\(removals.count == 1 ? "" : "s")")
        if !problems.isEmpty { throw ExitCode(ExitStatus.failure) }
    }

    static func size(_ bytes: Int64) -> String {
        bytes >= 1 << 30
            ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
            : bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(bytes) / Double(1 << 20)) : "\(bytes / 1024) KiB"
    }
}

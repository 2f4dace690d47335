import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import WheelfarmBasics

/// `wheelfarm builders`: the builder hosts of a farm whose state is on PostgreSQL.
public struct BuildersCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "builders",
        abstract: "List, add, remove or drain the builder hosts that claim jobs from this farm's state.",
        subcommands: [BuildersListCommand.self, BuildersAddCommand.self, BuildersRemoveCommand.self, BuildersDrainCommand.self],
        defaultSubcommand: BuildersListCommand.self)

    public init() {}

    /// A builder's name: what an operator types and what records name; kept to a safe alphabet.
    static func checkName(_ name: String) throws -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        guard (1...63).contains(name.count), name.allSatisfy(allowed.contains), name.first.map({ $0.isLetter || $0.isNumber }) == true else {
            throw ValidationError("a builder name is 1 to 63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit: '\(name)'")
        }
        return name
    }
}

/// `wheelfarm builders list`: each builder, its lease and heartbeat, its job, its last day.
public struct BuildersListCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List the builders with their current job and their last day.")
    @OptionGroup var options: HomeOptions
    @Flag(help: "Print JSON.") var json = false

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let store = try context.jobStore()
        let now = Date().timeIntervalSince1970
        let builders = try store.builders()
        let activity = try store.builderActivity(since: now - 86400)
        if json {
            struct Row: Encodable {
                var name: String, architectures: [String], targets: [String], cores: Int, memoryGb: Double, draining: Bool
                var heartbeatAt: Double?, version: String, currentJob: Int64?, leaseEpoch: Int64?, leaseExpiresAt: Double?
                var builtLastDay: Int, failedLastDay: Int
            }
            context.out(
                try farmJSON(
                    builders.map { builder in
                        let seen = activity[builder.name] ?? BuilderActivity()
                        return Row(
                            name: builder.name, architectures: builder.architectures, targets: builder.targets, cores: builder.cores,
                            memoryGb: builder.memoryGb, draining: builder.draining, heartbeatAt: builder.heartbeatAt > 0 ? builder.heartbeatAt : nil,
                            version: builder.version, currentJob: seen.current?.id, leaseEpoch: seen.current?.leaseEpoch,
                            leaseExpiresAt: seen.current?.leaseExpiresAt, builtLastDay: seen.built, failedLastDay: seen.failed)
                    }))
            return
        }
        guard !builders.isEmpty else {
            context.out("no builders (wheelfarm builders add NAME, then run `wheelfarm worker` on that host)")
            return
        }
        context.out(
            Table.render(
                header: ["NAME", "ARCH", "CORES", "HEARTBEAT", "JOB", "LEASE", "BUILT/FAILED 24H", "STATE"],
                rows: builders.map { builder in
                    let seen = activity[builder.name] ?? BuilderActivity()
                    let lease = seen.current.flatMap { job in
                        job.leaseExpiresAt.map { "epoch \(job.leaseEpoch), \(Int(($0 - now).rounded())) s left" }
                    }
                    return [
                        builder.name, builder.architectures.joined(separator: ","), builder.cores > 0 ? String(builder.cores) : "-",
                        builder.heartbeatAt > 0 ? age(builder.heartbeatAt, now: now) : "never",
                        seen.current.map { "\($0.number) \(shorten($0.requirement, 30))@\($0.target)" } ?? "-", lease ?? "-",
                        "\(seen.built)/\(seen.failed)", builder.draining ? "draining" : "active"
                    ]
                }))
    }
}

/// `wheelfarm builders add NAME`: registers a builder and prints its token once.
public struct BuildersAddCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register a builder host and print its token (shown once; an existing builder gets a new one).")
    @OptionGroup var options: HomeOptions
    @Argument(help: "The builder's name (a-z, 0-9, '-', '_', '.').") var name: String

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let name: String
        do { name = try BuildersCommand.checkName(self.name) } catch { throw context.inputFailure(error) }
        var random = [UInt8](repeating: 0, count: 32)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        let token = "wfb_" + Digest.hex(random)
        try context.jobStore().addBuilder(name: name, tokenSha256: Digest.hex(Digest.sha256(Array(token.utf8))))
        context.out(token)
        context.err("builder \(name) registered; give it this token (only its hash is kept): wheelfarm worker --name \(name) --token-file FILE …")
    }
}

/// `wheelfarm builders remove NAME`.
public struct BuildersRemoveCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a builder: its token stops working; a job it holds goes back to the queue when its lease lapses.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "The builder's name.") var name: String

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        guard try context.jobStore().removeBuilder(name: name) else { throw context.inputFailure(ValidationError("there is no builder \(name)")) }
        context.out("builder \(name) removed")
    }
}

/// `wheelfarm builders drain NAME`: finish the current work, take nothing new.
public struct BuildersDrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Let a builder finish its current job and take nothing new (--undo to resume).")
    @OptionGroup var options: HomeOptions
    @Argument(help: "The builder's name.") var name: String
    @Flag(help: "Resume: let the builder claim jobs again.") var undo = false

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        guard try context.jobStore().setDraining(name: name, !undo) else { throw context.inputFailure(ValidationError("there is no builder \(name)")) }
        context.out(undo ? "builder \(name) claims jobs again" : "builder \(name) drains: it finishes its current job and takes no new one")
    }
}

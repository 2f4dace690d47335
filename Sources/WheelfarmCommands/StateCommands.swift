import ArgumentParser
import FarmCore
import FarmStore
import Foundation
import WheelfarmBasics

/// `wheelfarm state`: where the farm's state lives, its migrations, and moving it to PostgreSQL.
public struct StateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Show, migrate or copy the farm's state (SQLite by default, PostgreSQL for builder hosts).",
        discussion: """
            The state is <home>/state/farm.sqlite unless state.url (or --state) names a PostgreSQL \
            server: postgres://USER@HOST:PORT/DB. Keep the password out of the URL: libpq reads \
            PGPASSWORD and ~/.pgpass.
            """,
        subcommands: [StateShowCommand.self, StateMigrateCommand.self, StateCopyCommand.self],
        defaultSubcommand: StateShowCommand.self)

    public init() {}
}

/// `wheelfarm state show`: the engine, the location and the migrations.
public struct StateShowCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "show", abstract: "Show where the state lives and its migrations.")
    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let store = try context.jobStore()
        let applied = try store.appliedMigrations()
        context.out("engine: \(store.database.engine.rawValue)")
        context.out("location: \(store.path)")
        context.out("migrations: \(applied.joined(separator: ", "))")
        context.out("jobs: \(try store.jobCount()), builders: \(try store.builders().count)")
    }
}

/// `wheelfarm state migrate`: applies the migrations a store lacks.
public struct StateMigrateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply the numbered migrations the state lacks (every command also does this when it opens the state).")
    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        let location = try context.openFarm().configuration.stateLocation
        let store: JobStore
        do { store = try JobStore(location: location, migrate: false) } catch { throw context.inputFailure(error) }
        let applied = try store.migrate()
        context.out(
            applied.isEmpty
                ? "\(store.path): up to date (\(try store.appliedMigrations().last ?? "no migration"))"
                : "\(store.path): applied \(applied.joined(separator: ", "))")
    }
}

/// `wheelfarm state copy`: moves a farm from one store to another, history and ids kept.
public struct StateCopyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy every request, job, event, followed project and builder into an empty store.",
        discussion: """
            Stop the farm's processes first. The copy is one transaction on the destination: it \
            lands whole or not at all, and it refuses a destination that already holds jobs. \
            Example: wheelfarm state copy --from sqlite:/var/lib/wheelfarm/state/farm.sqlite --to postgres://farm@db/wheelfarm
            """)
    @Option(help: "The store to read: sqlite:PATH, a path, or postgres://….") var from: String
    @Option(help: "The store to fill (migrated first): postgres://…, sqlite:PATH or a path.") var to: String

    public init() {}

    public func run() throws { try run(CommandContext(capturing: false)) }

    public func run(_ context: CommandContext) throws {
        if !PostgresDatabase.isPostgresURL(from) {
            let path = from.hasPrefix("sqlite:") ? String(from.dropFirst("sqlite:".count)) : from
            guard FileManager.default.fileExists(atPath: path) else { throw context.inputFailure(ValidationError("there is no state file \(path)")) }
        }
        let source: JobStore
        let destination: JobStore
        do {
            source = try JobStore(location: from, migrate: false)
            destination = try JobStore(location: to)
        } catch { throw context.inputFailure(error) }
        context.out("copying \(source.path) → \(destination.path)")
        var last = Date()
        let report: StoreCopyReport
        do {
            report = try destination.copy(from: source) { table, rows in
                if Date().timeIntervalSince(last) > 2 {
                    context.out("  \(table): \(rows) rows…")
                    last = Date()
                }
            }
        } catch { throw context.inputFailure(error) }
        for (table, count) in report.rows { context.out("  \(table): \(count)") }
        context.out("done: set state.url = \"\(destination.path)\" in the configuration (or pass --state) to use it")
    }
}

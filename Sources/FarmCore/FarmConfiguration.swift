import BuildSandbox
import FarmStore
import Foundation
import TOMLKit
import WheelfarmBasics

/// The farm's settings: defaults, then the TOML file, then `WHEELFARM_*` environment variables,
/// then command-line flags; each value remembers where it came from (`wheelfarm config show`).
public struct FarmConfiguration: Sendable {
    /// One setting: its dotted key in the file, its value and where it came from.
    public struct Setting: Sendable, Equatable {
        public var key: String
        public var value: String
        public var source: String
        public var help: String
    }

    /// The keys a file may set, with defaults (nil: unset) and help. The environment variable
    /// of a key is `WHEELFARM_` and the key upper-cased with `.` as `_` (`retry.max_attempts` →
    /// `WHEELFARM_RETRY_MAX_ATTEMPTS`).
    static let keys: [(key: String, kind: Kind, help: String)] = [
        ("home", .string, "the farm's folder: state, images, builds, repository"),
        ("data_dir", .string, "wheelfarm's data folder: toolchains/ and recipes/ (default: beside the installed executable)"),
        ("targets", .list, "targets `build` and the nightly build for"),
        ("jobs", .int, "builds at once (default: from cores and memory)"),
        (
            "recipes.paths", .list,
            "folders of your own recipes, searched before the built-in ones (a file replaces the built-in recipe, or with \"extends\": \"builtin\" extends it)"
        ),
        (
            "toolchains.apt_sources_file", .string,
            "file of extra apt `deb` lines (your own package repository) that recipe packages are installed from, besides Debian's"
        ),
        ("limits.memory_gb", .double, "memory the builds share, GiB (default: 80% of the machine's)"),
        ("limits.cores", .int, "cores the builds share (default: the machine's)"),
        ("retry.max_attempts", .int, "attempts of a job failing transiently"),
        ("retry.base_seconds", .double, "first retry delay; doubles each attempt, with jitter"),
        ("retry.max_seconds", .double, "longest retry delay"),
        ("index.url", .string, "package index (default: pip's configuration)"),
        ("repository.url", .string, "remote repository to upload to besides the embedded one (legacy upload API)"),
        ("repository.username", .string, "user name for repository.url (password: WHEELFARM_REPOSITORY_PASSWORD)"),
        ("repository.publish", .bool, "publish what the nightly and `build -r` build"),
        ("repository.public_url", .string, "where clients reach `wheelfarm serve`; lock files name wheels under it (default http://127.0.0.1:8080)"),
        ("signing.key", .string, "minisign secret key file (default: <home>/keys/signing.key)"),
        ("nightly.track_file", .string, "file of project names the nightly follows, one per line, besides `wheelfarm track`"),
        ("nightly.verify_samples", .int, "stored builds the nightly verifies by rebuilding them, never verified first (0: none)"),
        ("nightly.min_release_age_days", .double, "the nightly builds a followed project's new release only once it is this many days old (0: at once)"),
        ("gc.keep_days", .int, "`wheelfarm gc` keeps logs and failed builds younger than this"),
        ("log.limit_mb", .int, "the most a build's log keeps, MiB; past it the head and the tail are kept"),
        (
            "state.url", .string,
            "where the farm's state lives: a postgres:// URL (a coordinator and builder hosts share it), else <home>/state/farm.sqlite"
        )
    ]

    enum Kind: Sendable { case string, int, double, bool, list }

    /// Every setting, in the order of `keys`.
    public private(set) var settings: [Setting]
    /// The file read, when there was one.
    public let file: String?

    /// Loads the configuration: the file is `configPath`, else `$WHEELFARM_CONFIG`, else
    /// `<home>/config.toml` when it exists. `flags` are the values given on the command line
    /// (by key). Errors name the file, line and key.
    public init(
        configPath: String? = nil, homeFlag: String? = nil, flags: [String: String] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        var values: [String: (String, String)] = [:]
        let machine = FarmLimits.machine
        values["jobs"] = (String(machine.jobs), "default")
        values["limits.memory_gb"] = (String(format: "%.1f", machine.memoryGb), "default")
        values["limits.cores"] = (String(machine.cores), "default")
        values["retry.max_attempts"] = ("4", "default")
        values["retry.base_seconds"] = ("10", "default")
        values["retry.max_seconds"] = ("600", "default")
        values["repository.username"] = ("__token__", "default")
        values["repository.publish"] = ("false", "default")
        values["gc.keep_days"] = ("30", "default")
        values["log.limit_mb"] = ("64", "default")
        values["home"] = (Self.defaultHome, "default")

        // The file's location may depend on the home given by flag or environment.
        let earlyHome = homeFlag ?? environment["WHEELFARM_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultHome
        var path = configPath ?? environment["WHEELFARM_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if path == nil, FileManager.default.fileExists(atPath: "\(earlyHome)/config.toml") { path = "\(earlyHome)/config.toml" }
        file = path
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else { throw FarmConfigurationError("cannot read the configuration file \(path)") }
            let table: TOMLTable
            do { table = try TOMLTable(string: String(decoding: data, as: UTF8.self)) } catch let error as TOMLParseError {
                throw FarmConfigurationError("\(path):\(error.source.begin.line): \(error.description)")
            }
            try Self.read(table, prefix: "", path: path, into: &values)
        }
        for (key, kind, _) in Self.keys {
            let variable = "WHEELFARM_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
            if let value = environment[variable], !value.isEmpty {
                values[key] = (try Self.check(value, kind: kind, key: key, origin: "$\(variable)"), "environment \(variable)")
            }
        }
        if let homeFlag { values["home"] = (homeFlag, "flag --home") }
        for (key, value) in flags {
            guard let kind = Self.keys.first(where: { $0.key == key })?.kind else { continue }
            values[key] = (try Self.check(value, kind: kind, key: key, origin: "the command line"), "flag")
        }
        settings = Self.keys.map { key, _, help in
            Setting(key: key, value: values[key]?.0 ?? "", source: values[key]?.1 ?? "unset", help: help)
        }
    }

    static var defaultHome: String { FarmLayout.defaultPath }

    /// The target `build` uses when none is given or configured: CPython 3.11 compiled by zig
    /// for glibc 2.17 (manylinux2014), for this machine's architecture.
    public static var defaultTarget: String { "cp311-bookworm-glibc2.17-\(ZigToolchain.hostMachine)" }

    static func read(_ table: TOMLTable, prefix: String, path: String, into values: inout [String: (String, String)]) throws {
        for name in table.keys {
            let key = prefix.isEmpty ? name : "\(prefix).\(name)"
            guard let value = table[name] else { continue }
            if let inner = value.table {
                try read(inner, prefix: key, path: path, into: &values)
                continue
            }
            guard let kind = keys.first(where: { $0.key == key })?.kind else {
                throw FarmConfigurationError("\(path): unknown setting '\(key)'; known: \(keys.map(\.key).joined(separator: ", "))")
            }
            let text: String?
            switch kind {
            case .string: text = value.string
            case .int: text = value.int.map(String.init)
            case .double: text = value.double.map { String($0) } ?? value.int.map(String.init)
            case .bool: text = value.bool.map { $0 ? "true" : "false" }
            case .list:
                if let array = value.array {
                    let items = array.compactMap(\.string)
                    text = items.count == array.count ? items.joined(separator: ",") : nil
                } else {
                    text = value.string
                }
            }
            guard let text else { throw FarmConfigurationError("\(path): '\(key)' must be \(describe(kind))") }
            values[key] = (try check(text, kind: kind, key: key, origin: path), "file \(path)")
        }
    }

    static func describe(_ kind: Kind) -> String {
        switch kind {
        case .string: return "a string"
        case .int: return "a whole number"
        case .double: return "a number"
        case .bool: return "true or false"
        case .list: return "a list of strings"
        }
    }

    static func check(_ text: String, kind: Kind, key: String, origin: String) throws -> String {
        let ok: Bool
        switch kind {
        case .string, .list: ok = true
        case .int: ok = Int(text).map { $0 >= 0 } ?? false
        case .double: ok = Double(text).map { $0 >= 0 } ?? false
        case .bool: ok = ["true", "false", "1", "0", "yes", "no"].contains(text.lowercased())
        }
        guard ok else { throw FarmConfigurationError("\(origin): '\(key)' must be \(describe(kind)), not '\(text)'") }
        if kind == .bool { return ["true", "1", "yes"].contains(text.lowercased()) ? "true" : "false" }
        return text
    }

    /// The value of `key`, nil when unset.
    public func value(_ key: String) -> String? {
        settings.first { $0.key == key }.flatMap { $0.value.isEmpty ? nil : $0.value }
    }

    public var home: String { value("home") ?? Self.defaultHome }
    public var targets: [String] { value("targets")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? [] }
    public var publish: Bool { value("repository.publish") == "true" }
    /// The user's recipe folders, in the order they are searched.
    public var recipePaths: [String] {
        value("recipes.paths")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map(Paths.absolute) ?? []
    }
    public var repositoryURL: String? { value("repository.url") }
    /// Where clients reach the embedded repository; lock files point there.
    public var repositoryPublicURL: String { value("repository.public_url") ?? "http://127.0.0.1:8080" }
    public var repositoryUsername: String { value("repository.username") ?? "__token__" }
    public var signingKey: String? { value("signing.key") }
    public var indexURL: String? { value("index.url") }
    public var trackFile: String? { value("nightly.track_file") }
    /// The file of extra apt entries for derived roots.
    public var aptSourcesFile: String? { value("toolchains.apt_sources_file").map(Paths.absolute) }
    /// How many stored builds the nightly verifies by rebuilding them.
    public var verifySamples: Int { max(0, value("nightly.verify_samples").flatMap(Int.init) ?? 0) }
    /// The nightly's cooling-off period for new releases of followed projects, in days.
    public var minReleaseAgeDays: Double { max(0, value("nightly.min_release_age_days").flatMap(Double.init) ?? 0) }
    public var keepDays: Int { value("gc.keep_days").flatMap(Int.init) ?? 30 }
    public var dataDirectory: String? { value("data_dir") }
    /// Where the state lives: `state.url` (`postgres://…`, `sqlite:PATH`), else the home's SQLite file.
    public var stateLocation: String { value("state.url").flatMap { $0.isEmpty ? nil : $0 } ?? layout.database }
    public var logLimitBytes: Int { max(1, value("log.limit_mb").flatMap(Int.init) ?? 64) << 20 }
    /// The farm's home and its layout.
    public var layout: FarmLayout { FarmLayout(path: home) }

    /// The targets: given ones, else the configured ones, else the default.
    public func targets(_ given: [String]) -> [String] {
        if !given.isEmpty { return given }
        return targets.isEmpty ? [Self.defaultTarget] : targets
    }

    /// The scheduler's limits.
    public var limits: FarmLimits {
        let machine = FarmLimits.machine
        return FarmLimits(
            jobs: max(1, value("jobs").flatMap(Int.init) ?? machine.jobs),
            memoryGb: value("limits.memory_gb").flatMap(Double.init) ?? machine.memoryGb,
            cores: max(1, value("limits.cores").flatMap(Int.init) ?? machine.cores),
            retry: RetryPolicy(
                maxAttempts: max(1, value("retry.max_attempts").flatMap(Int.init) ?? 4),
                baseSeconds: value("retry.base_seconds").flatMap(Double.init) ?? 10,
                maxSeconds: value("retry.max_seconds").flatMap(Double.init) ?? 600))
    }

    /// The settings as a TOML document, each with a comment saying where it came from.
    public func rendered() -> String {
        var lines = ["# wheelfarm configuration in effect" + (file.map { " (file: \($0))" } ?? " (no file)")]
        var section = ""
        for setting in settings {
            let parts = setting.key.split(separator: ".")
            let name = String(parts.last ?? "")
            let group = parts.count > 1 ? String(parts[0]) : ""
            if group != section {
                lines.append("")
                lines.append("[\(group)]")
                section = group
            }
            let kind = Self.keys.first { $0.key == setting.key }?.kind ?? .string
            let value: String
            if setting.value.isEmpty && setting.source == "unset" {
                lines.append("# \(name) = (unset): \(setting.help)")
                continue
            }
            switch kind {
            case .string where setting.key == "state.url":
                value = "\"\(PostgresDatabase.redacted(setting.value).replacingOccurrences(of: "\"", with: "\\\""))\""
            case .string: value = "\"\(setting.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\""
            case .list: value = "[" + setting.value.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", ") + "]"
            default: value = setting.value
            }
            lines.append("\(name) = \(value)  # \(setting.source): \(setting.help)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A configuration that cannot be used; the message names the file, line or variable.
public struct FarmConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import Foundation
import PackagingModel
import WheelfarmBasics

/// Where sources come from: the package index as pip itself is configured.
public struct IndexConfiguration: Sendable, Equatable {
    /// The simple-API base URL, without credentials.
    public var indexURL: String
    /// Basic-auth credentials taken from the configured URL, if any.
    public var username: String?
    public var password: String?
    /// Where the URL came from, for messages (`--index-url`, `PIP_INDEX_URL`, a pip.conf path, pip's default).
    public var source: String

    /// A configuration as given.
    public init(indexURL: String, username: String?, password: String?, source: String) {
        self.indexURL = indexURL
        self.username = username
        self.password = password
        self.source = source
    }

    /// The index from `explicit`, else `PIP_INDEX_URL`, else pip's configuration files (site,
    /// user, then global, as pip ranks them), else the default of the pip on this host. No index
    /// host name is written in wheelfarm itself.
    public static func resolve(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> IndexConfiguration {
        if let explicit, !explicit.isEmpty { return make(explicit, source: "--index-url") }
        if let env = environment["PIP_INDEX_URL"], !env.isEmpty { return make(env, source: "PIP_INDEX_URL") }
        for file in configFiles(environment: environment) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            if let url = iniValue(text, sections: ["global", "download", "install"], key: "index-url") { return make(url, source: file) }
        }
        let output = try? ProcessRunner.run(.python3, ["-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"])
        guard let url = output?.stdout.trimmingCharacters(in: .whitespacesAndNewlines), output?.status == 0, url.hasPrefix("http") else {
            throw IndexError.noIndex("no index is configured (--index-url, PIP_INDEX_URL or pip.conf) and pip's default could not be read")
        }
        return make(url, source: "pip's default")
    }

    /// pip's configuration files, most specific first (PIP_CONFIG_FILE wins outright).
    static func configFiles(environment: [String: String]) -> [String] {
        if let file = environment["PIP_CONFIG_FILE"] { return file == "/dev/null" || file == "os.devnull" ? [] : [file] }
        var files: [String] = []
        if let venv = environment["VIRTUAL_ENV"] { files.append("\(venv)/pip.conf") }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let xdg = environment["XDG_CONFIG_HOME"] ?? "\(home)/.config"
        files += ["\(xdg)/pip/pip.conf", "\(home)/.pip/pip.conf"]
        for dir in (environment["XDG_CONFIG_DIRS"] ?? "/etc/xdg").split(separator: ":") { files.append("\(dir)/pip/pip.conf") }
        files.append("/etc/pip.conf")
        return files
    }

    /// The value of `key` in the first of `sections` that has it (INI, `#`/`;` comments).
    static func iniValue(_ text: String, sections: [String], key: String) -> String? {
        var values: [String: String] = [:]
        var section = ""
        for raw in TextLines.split(text) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") { section = String(line.dropFirst().dropLast()).lowercased(); continue }
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "_", with: "-")
            if name == key { values[section] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return sections.lazy.compactMap { values[$0] }.first
    }

    static func make(_ url: String, source: String) -> IndexConfiguration {
        var base = url.trimmingCharacters(in: .whitespaces)
        var user: String? = nil, pass: String? = nil
        if var components = URLComponents(string: base), components.user != nil {
            user = components.user?.removingPercentEncoding
            pass = components.password?.removingPercentEncoding
            components.user = nil
            components.password = nil
            base = components.string ?? base
        }
        while base.hasSuffix("/") { base.removeLast() }
        return IndexConfiguration(indexURL: base, username: user, password: pass, source: source)
    }
}

/// Errors from the package index.
public enum IndexError: Error, CustomStringConvertible {
    case noIndex(String)
    case http(url: String, status: Int)
    case transport(url: String, reason: String)
    case malformed(url: String, reason: String)
    case notFound(project: String, detail: String)
    /// The project exists but the pinned release has no sdist (yet).
    case notYetPublished(project: String, detail: String)
    case hashMismatch(file: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case let .noIndex(reason): return reason
        case let .http(url, status): return "\(url): HTTP \(status)"
        case let .transport(url, reason): return "\(url): \(reason)"
        case let .malformed(url, reason): return "\(url): unexpected answer: \(reason)"
        case let .notFound(project, detail), let .notYetPublished(project, detail): return "\(project): \(detail)"
        case let .hashMismatch(file, expected, actual): return "\(file): sha256 \(actual) does not match the index's \(expected); not used"
        }
    }

    /// Whether retrying may help (network trouble, server errors, rate limits).
    public var isTransient: Bool {
        switch self {
        case .transport, .notYetPublished: return true
        case let .http(_, status): return status >= 500 || status == 429 || status == 408
        default: return false
        }
    }
}

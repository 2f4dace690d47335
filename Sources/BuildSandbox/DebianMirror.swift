import Foundation
import WheelfarmBasics

/// The Debian archive the host's apt is configured with: images are made from it, so an
/// organisation's own mirror (or a proxy) is used without a setting of wheelfarm's, and no
/// host name is written into wheelfarm.
public struct DebianMirror: Sendable, Equatable {
    /// The archive's URI (the entry whose suites are releases and their `-updates`).
    public var archive: String
    /// The security archive's URI, when the host has one.
    public var security: String?

    /// Creates a mirror description.
    public init(archive: String, security: String?) {
        self.archive = archive
        self.security = security
    }

    /// The mirror of the host's apt sources (`/etc/apt/sources.list` and `sources.list.d`, one-line
    /// and deb822 formats), or nil when none names a Debian archive.
    public static func host(root: String = "") -> DebianMirror? {
        var texts: [(String, Bool)] = []
        if let text = try? String(contentsOfFile: "\(root)/etc/apt/sources.list", encoding: .utf8) { texts.append((text, false)) }
        let directory = "\(root)/etc/apt/sources.list.d"
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() {
            guard file.hasSuffix(".list") || file.hasSuffix(".sources"),
                let text = try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
            else { continue }
            texts.append((text, file.hasSuffix(".sources")))
        }
        return parse(texts.map { $0.1 ? entries(deb822: $0.0) : entries(oneLine: $0.0) }.flatMap { $0 })
    }

    /// One `deb` entry: a URI and its suites.
    struct Entry: Equatable {
        var uri: String
        var suites: [String]
    }

    static func parse(_ entries: [Entry]) -> DebianMirror? {
        func isSecurity(_ suite: String) -> Bool { suite.hasSuffix("-security") || suite.hasSuffix("/updates") }
        guard let archive = entries.first(where: { entry in entry.suites.contains { !isSecurity($0) } }) else { return nil }
        let security = entries.first { entry in entry.suites.contains(where: isSecurity) }
        return DebianMirror(archive: trimmed(archive.uri), security: security.map { trimmed($0.uri) })
    }

    static func trimmed(_ uri: String) -> String { uri.hasSuffix("/") ? String(uri.dropLast()) : uri }

    /// `deb [options] URI SUITE COMPONENT...` lines.
    static func entries(oneLine text: String) -> [Entry] {
        text.split(separator: "\n").compactMap { raw in
            var words = raw.split(separator: "#", maxSplits: 1).first.map { $0.split(separator: " ").map(String.init) } ?? []
            guard words.first == "deb" else { return nil }
            words.removeFirst()
            if let first = words.first, first.hasPrefix("[") {
                while let word = words.first, !word.hasSuffix("]") { words.removeFirst() }
                if !words.isEmpty { words.removeFirst() }
            }
            guard words.count >= 2, words[0].contains("://") else { return nil }
            return Entry(uri: words[0], suites: [words[1]])
        }
    }

    /// deb822 stanzas: `Types: deb`, `URIs:`, `Suites:`; `Enabled: no` stanzas are skipped.
    static func entries(deb822 text: String) -> [Entry] {
        text.components(separatedBy: "\n\n").compactMap { stanza in
            var fields: [String: String] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix(" ") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { fields[parts[0].lowercased()] = parts[1] }
            }
            guard (fields["types"] ?? "").split(separator: " ").contains("deb"), fields["enabled"]?.lowercased() != "no",
                let uri = fields["uris"]?.split(separator: " ").first.map(String.init), uri.contains("://")
            else { return nil }
            return Entry(uri: uri, suites: (fields["suites"] ?? "").split(separator: " ").map(String.init))
        }
    }

    /// The apt lines a root of `suite` gets: the release, its updates and, when the host has a
    /// security archive, its security updates (a nightly refresh picks them up).
    public func sourceLines(suite: String) -> [String] {
        var lines = ["deb \(archive) \(suite) main", "deb \(archive) \(suite)-updates main"]
        if let security { lines.append("deb \(security) \(suite)-security main") }
        return lines
    }

    /// The address of a suite's signed release file, which answers when the mirror serves the suite.
    public func releaseURL(suite: String) -> String { "\(archive)/dists/\(suite)/InRelease" }
}

/// Runs work that mounts or spawns inside a root being made (mmdebstrap, package installs,
/// zig's set-up) in its own mount and PID namespaces, tied to wheelfarm's life: when wheelfarm
/// dies, however it dies, the kernel kills everything started there and its mounts vanish with
/// the namespace, so a killed image build leaves no mount on the host.
public enum PrivateNamespaces {
    /// Arguments for ``HostTool/setpriv`` that run `command` that way.
    public static func arguments(_ command: [String]) -> [String] {
        ["--pdeathsig", "KILL", "--", "unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--"] + command
    }

    /// Arguments that run `script` with `sh -c` that way, `arguments` being its `$1`, `$2`, ...
    public static func shell(_ script: String, _ arguments: [String]) -> [String] {
        Self.arguments(["/bin/sh", "-c", script, "sh"] + arguments)
    }
}

import Foundation

/// A distribution package that owns a file of a root file system.
public struct OwningPackage: Sendable, Hashable {
    /// The package name, without architecture qualifier (for example `libyaml-0-2`).
    public var name: String
    /// The package version.
    public var version: String
    /// The package architecture (for example `amd64`).
    public var architecture: String
    /// The distribution id from os-release (for example `debian`).
    public var distribution: String
    /// The distribution version from os-release (for example `12`).
    public var distributionVersion: String

    /// A package URL (purl) for the SBOM.
    public var purl: String {
        "pkg:deb/\(distribution)/\(name)@\(version)?arch=\(architecture)&distro=\(distribution)-\(distributionVersion)"
    }
}

/// Finds which dpkg package owns a file in a root, reading dpkg's database directly.
public final class DpkgDatabase: @unchecked Sendable {
    let root: String
    private var fileOwners: [String: String]? = nil
    private var packages: [String: (version: String, architecture: String)] = [:]
    private let lock = NSLock()
    private var osRelease: (id: String, version: String) = ("debian", "")

    /// Opens the database of `root` (it may be absent: then nothing is found).
    public init(root: String) {
        self.root = root == "/" ? "" : root
        if let text = try? String(contentsOfFile: "\(self.root)/etc/os-release", encoding: .utf8) {
            var id = "debian", version = ""
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if parts[0] == "ID" { id = value }
                if parts[0] == "VERSION_ID" { version = value }
            }
            osRelease = (id, version)
        }
    }

    private func load() {
        guard fileOwners == nil else { return }
        var owners: [String: String] = [:]
        let info = "\(root)/var/lib/dpkg/info"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: info)) ?? [] where name.hasSuffix(".list") {
            let package = String(name.dropLast(5))
            guard let text = try? String(contentsOfFile: "\(info)/\(name)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.contains(".so") { owners[String(line)] = package }
        }
        if let status = try? String(contentsOfFile: "\(root)/var/lib/dpkg/status", encoding: .utf8) {
            for paragraph in status.components(separatedBy: "\n\n") {
                var fields: [String: String] = [:]
                for line in paragraph.split(separator: "\n") where !line.hasPrefix(" ") {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
                }
                guard let name = fields["Package"], let version = fields["Version"], fields["Status"]?.hasSuffix("installed") == true else { continue }
                let arch = fields["Architecture"] ?? "all"
                packages[name] = (version, arch)
                packages["\(name):\(arch)"] = (version, arch)
            }
        }
        fileOwners = owners
    }

    /// The package that owns `path` (a path inside the root), trying both the `/lib` and
    /// `/usr/lib` spellings, since merged-/usr systems register files under either.
    public func owner(of paths: [String]) -> OwningPackage? {
        lock.lock()
        defer { lock.unlock() }
        load()
        var candidates: [String] = []
        for path in paths {
            candidates.append(path)
            if path.hasPrefix("/usr/") { candidates.append(String(path.dropFirst(4))) } else { candidates.append("/usr" + path) }
        }
        for candidate in candidates {
            guard let package = fileOwners?[candidate] else { continue }
            let info = packages[package] ?? packages[String(package.split(separator: ":").first ?? "")]
            let name = String(package.split(separator: ":").first ?? Substring(package))
            return OwningPackage(name: name, version: info?.version ?? "unknown", architecture: info?.architecture ?? "unknown",
                                 distribution: osRelease.id, distributionVersion: osRelease.version)
        }
        return nil
    }

    /// The copyright file of a package, when the root has it.
    public func copyright(of package: OwningPackage) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(root)/usr/share/doc/\(package.name)/copyright").map { [UInt8]($0) }
    }
}

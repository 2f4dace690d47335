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

/// Finds which dpkg package owns a file in a root, reading dpkg's database directly
/// (the root may have no dpkg binary, and this costs a few milliseconds).
public final class DpkgDatabase: @unchecked Sendable {
    let layers: [String]
    private let lock = NSLock()
    private var status: [UInt8]? = nil
    private var osRelease: (id: String, version: String) = ("debian", "")

    /// Opens the database of `root` (it may be absent: then nothing is found).
    public convenience init(root: String) { self.init(layers: [root]) }

    /// Opens the database of a root made of overlay layers, topmost first.
    public init(layers: [String]) {
        self.layers = layers.isEmpty ? ["/"] : layers
        if let file = SystemLibraries.locate("/etc/os-release", in: self.layers) ?? SystemLibraries.locate("/usr/lib/os-release", in: self.layers),
            let text = try? String(contentsOfFile: file, encoding: .utf8)
        {
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

    /// The package that owns one of `paths` (paths inside the root), trying both the `/lib`
    /// and `/usr/lib` spellings, since merged-/usr systems register files under either.
    public func owner(of paths: [String]) -> OwningPackage? {
        lock.lock()
        defer { lock.unlock() }
        var candidates: [[UInt8]] = []
        for path in paths {
            candidates.append(Array((path + "\n").utf8))
            let other = path.hasPrefix("/usr/") ? String(path.dropFirst(4)) : "/usr" + path
            candidates.append(Array((other + "\n").utf8))
        }
        var names = Set<String>()
        for layer in layers {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: SystemLibraries.join(layer, "/var/lib/dpkg/info"))) ?? []
            where name.hasSuffix(".list") { names.insert(name) }
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for name in names.sorted() {
            guard let listPath = SystemLibraries.locate("/var/lib/dpkg/info/\(name)", in: layers) else { continue }
            // Plain POSIX reads into one buffer: hundreds of small files, read as fast as dpkg does.
            let fd = open(listPath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var length = 0
            while true {
                if length == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress.map { $0 + length }, $0.count - length) }
                if n <= 0 { break }
                length += n
            }
            close(fd)
            let found = buffer.withUnsafeBytes { bytes in
                candidates.contains { Self.containsLine(UnsafeRawBufferPointer(rebasing: bytes[..<length]), $0) }
            }
            guard found else { continue }
            let package = String(name.dropLast(5))
            let bare = String(package.split(separator: ":").first ?? Substring(package))
            let (version, arch) = versionAndArchitecture(of: bare)
            return OwningPackage(
                name: bare, version: version ?? "unknown", architecture: arch ?? "unknown",
                distribution: osRelease.id, distributionVersion: osRelease.version)
        }
        return sourceBuildOwner(of: candidates)
    }

    /// Where a derived root lists the files each library built from its Debian source package
    /// installed (`<source>_<version>.list`, one path a line), as dpkg lists a package's files.
    public static let sourceListsFolder = "/opt/wheelfarm/prefix/share/wheelfarm-sources"

    /// The source package that installed one of the candidate lines, from the source lists.
    private func sourceBuildOwner(of candidates: [[UInt8]]) -> OwningPackage? {
        for layer in layers {
            let folder = SystemLibraries.join(layer, Self.sourceListsFolder)
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() where name.hasSuffix(".list") {
                guard let data = FileManager.default.contents(atPath: "\(folder)/\(name)"), data.count < 8 << 20 else { continue }
                let bytes = [UInt8](data)
                let found = bytes.withUnsafeBytes { raw in candidates.contains { Self.containsLine(raw, $0) } }
                guard found else { continue }
                let parts = name.dropLast(5).split(separator: "_", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                return OwningPackage(
                    name: parts[0], version: parts[1], architecture: "source", distribution: osRelease.id, distributionVersion: osRelease.version)
            }
        }
        return nil
    }

    /// Whether `line` (ending in a newline) is one of the lines of `bytes`.
    static func containsLine(_ bytes: UnsafeRawBufferPointer, _ line: [UInt8]) -> Bool {
        lineOffset(bytes, line, from: 0) != nil
    }

    /// The offset of the first line at or after `from` that starts with `prefix`.
    static func lineOffset(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8], from: Int) -> Int? {
        guard let base = bytes.baseAddress, !prefix.isEmpty else { return nil }
        let count = bytes.count, length = prefix.count
        return prefix.withUnsafeBytes { needle -> Int? in
            guard let needleBase = needle.baseAddress else { return nil }
            var offset = from
            while offset + length <= count {
                if memcmp(base.advanced(by: offset), needleBase, length) == 0 { return offset }
                guard let newline = memchr(base.advanced(by: offset), 0x0a, count - offset) else { return nil }
                offset = base.distance(to: UnsafeRawPointer(newline)) + 1
            }
            return nil
        }
    }

    private func versionAndArchitecture(of package: String) -> (String?, String?) {
        if status == nil {
            status = SystemLibraries.locate("/var/lib/dpkg/status", in: layers).flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) } ?? []
        }
        guard let status else { return (nil, nil) }
        let header = Array("Package: \(package)\n".utf8)
        return status.withUnsafeBytes { bytes -> (String?, String?) in
            var searchFrom = 0
            // Several paragraphs may name the package (other architectures, removed ones): take an installed one.
            while let start = Self.lineOffset(bytes, header, from: searchFrom) {
                var end = start
                while end + 1 < bytes.count && !(bytes[end] == 0x0a && bytes[end + 1] == 0x0a) { end += 1 }
                let paragraph = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(end + 1, bytes.count)]), as: UTF8.self)
                var version: String? = nil, arch: String? = nil, installed = false
                for line in paragraph.split(separator: "\n") {
                    if line.hasPrefix("Version: ") { version = String(line.dropFirst(9)) }
                    if line.hasPrefix("Architecture: ") { arch = String(line.dropFirst(14)) }
                    if line.hasPrefix("Status: ") && line.hasSuffix(" installed") { installed = true }
                }
                if installed { return (version, arch) }
                searchFrom = end + 1
            }
            return (nil, nil)
        }
    }

    /// The copyright file of a package, when the root has it.
    public func copyright(of package: OwningPackage) -> [UInt8]? {
        SystemLibraries.locate("/usr/share/doc/\(package.name)/copyright", in: layers).flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) }
    }
}

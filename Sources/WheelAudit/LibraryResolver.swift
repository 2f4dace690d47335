import ELFInspection
import Foundation
import WheelfarmBasics

/// Where a library was found: inside the wheel being audited, or in the root file system.
public enum LibraryLocation: Hashable, Sendable, CustomStringConvertible {
    /// A member of the wheel, by its path inside the wheel.
    case wheel(String)
    /// A file of the root file system, by its path as seen inside the root (for example `/usr/lib/x86_64-linux-gnu/libyaml-0.so.2`).
    case system(String)

    public var description: String {
        switch self {
        case let .wheel(path): return path
        case let .system(path): return path
        }
    }
}

/// Finds shared libraries in a root file system the way the dynamic loader does:
/// the `ld.so.conf` search list (with its includes), the trusted directories and the
/// interpreter's directory.
///
/// The root may be a stack of overlay layers (a derived root over a toolchain image): a path
/// is looked up in each layer from the top, as overlayfs would show it.
public final class SystemLibraries: @unchecked Sendable {
    /// The root directory (`/` for the host), or the topmost layer.
    public let root: String
    /// The layers, topmost first.
    public let layers: [String]
    /// Directories searched after RPATH/RUNPATH, as seen inside the root.
    public let searchDirectories: [String]
    // Parsed ELF files by path inside the root; filled lazily, guarded by `lock`.
    private var cache: [String: ELFFile?] = [:]
    private let lock = NSLock()

    /// Reads the loader configuration of `root`.
    public convenience init(root: String = "/", libc: LibcFamily = .glibc, architecture: String? = nil) {
        self.init(layers: [root], libc: libc, architecture: architecture)
    }

    /// Reads the loader configuration of a root made of `layers` (topmost first).
    public init(layers: [String], libc: LibcFamily = .glibc, architecture: String? = nil) {
        let normalised = layers.map { $0 == "/" ? "/" : ($0.hasSuffix("/") ? String($0.dropLast()) : $0) }
        self.layers = normalised.isEmpty ? ["/"] : normalised
        root = self.layers[0]
        var dirs: [String] = []
        // Extra directories, searched first: WHEELFARM_LD_LIBRARY_PATH (paths inside the root),
        // and LD_LIBRARY_PATH when auditing against the host, as the loader itself would.
        let environment = ProcessInfo.processInfo.environment
        if let extra = environment["WHEELFARM_LD_LIBRARY_PATH"] { dirs += extra.split(separator: ":").map(String.init) }
        if self.layers == ["/"], let extra = environment["LD_LIBRARY_PATH"] { dirs += extra.split(separator: ":").map(String.init) }
        let locate: (String) -> String? = { path in Self.locate(path, in: normalised.isEmpty ? ["/"] : normalised) }
        if libc == .musl {
            // musl reads /etc/ld-musl-<arch>.path instead of ld.so.conf.
            let arch = architecture == "i686" ? "i386" : (architecture ?? "x86_64")
            if let file = locate("/etc/ld-musl-\(arch).path"), let text = try? String(contentsOfFile: file, encoding: .utf8) {
                dirs += text.split(whereSeparator: { $0 == ":" || $0 == "\n" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            dirs += ["/lib", "/usr/local/lib", "/usr/lib"]
        } else {
            dirs += Self.parseLdSoConf("/etc/ld.so.conf", layers: self.layers, depth: 0)
            dirs += ["/lib", "/lib64", "/usr/lib", "/usr/lib64"]
        }
        var seen = Set<String>()
        searchDirectories = dirs.map(Self.normalise).filter { seen.insert($0).inserted }
    }

    static func join(_ root: String, _ path: String) -> String {
        root == "/" ? path : root + path
    }

    /// The host path of `path` in the first layer that has it (not following a final link);
    /// nil when no layer has it or the top one that does hides it (an overlay whiteout).
    static func locate(_ path: String, in layers: [String]) -> String? {
        for layer in layers {
            let candidate = join(layer, path)
            var info = stat()
            guard lstat(candidate, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFCHR && info.st_rdev == 0 { return nil }
            return candidate
        }
        return nil
    }

    /// Collapses `.`, `..` and repeated slashes of an absolute path.
    static func normalise(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func parseLdSoConf(_ file: String, layers: [String], depth: Int) -> [String] {
        guard depth < 8, let located = locate(file, in: layers), let text = try? String(contentsOfFile: located, encoding: .utf8) else { return [] }
        var dirs: [String] = []
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            if line.hasPrefix("include") {
                let pattern = line.dropFirst("include".count).trimmingCharacters(in: .whitespaces)
                let absolute = pattern.hasPrefix("/") ? pattern : ((file as NSString).deletingLastPathComponent + "/" + pattern)
                // The matches of every layer, as the merged directory would list them.
                var matches = Set<String>()
                for layer in layers {
                    for match in glob(join(layer, absolute)) { matches.insert(layer == "/" ? match : String(match.dropFirst(layer.count))) }
                }
                for inside in matches.sorted() { dirs += parseLdSoConf(inside, layers: layers, depth: depth + 1) }
            } else if line.hasPrefix("/") {
                dirs.append(line)
            }
        }
        return dirs
    }

    static func glob(_ pattern: String) -> [String] {
        let dir = (pattern as NSString).deletingLastPathComponent
        let filePattern = (pattern as NSString).lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { fnmatch(filePattern, $0, 0) == 0 }.map { "\(dir)/\($0)" }
    }

    /// Resolves symbolic links of a path inside the root, keeping absolute targets inside the root.
    /// Returns nil when the file does not exist.
    public func realPath(_ path: String) -> String? {
        var components = Self.normalise(path).split(separator: "/").map(String.init)
        var resolved: [String] = []
        var hops = 0
        while !components.isEmpty {
            let part = components.removeFirst()
            if part == ".." { if !resolved.isEmpty { resolved.removeLast() }; continue }
            if part == "." { continue }
            let candidate = "/" + (resolved + [part]).joined(separator: "/")
            if let onHost = Self.locate(candidate, in: layers), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: onHost) {
                hops += 1
                if hops > 40 { return nil }
                if target.hasPrefix("/") { resolved = [] }
                components = target.split(separator: "/").map(String.init) + components
                continue
            }
            resolved.append(part)
        }
        let result = "/" + resolved.joined(separator: "/")
        var isDir: ObjCBool = false
        guard let located = Self.locate(result, in: layers), FileManager.default.fileExists(atPath: located, isDirectory: &isDir), !isDir.boolValue else {
            return nil
        }
        return result
    }

    /// The parsed ELF file at a path inside the root (already resolved), or nil if it is not one.
    public func elf(at path: String) -> ELFFile? {
        lock.lock()
        if let cached = cache[path] { lock.unlock(); return cached }
        lock.unlock()
        let parsed = Self.locate(path, in: layers).flatMap { try? ELFFile(path: $0) }
        lock.lock()
        cache[path] = parsed
        lock.unlock()
        return parsed
    }

    /// The host path of a path inside the root.
    public func hostPath(_ path: String) -> String { Self.locate(path, in: layers) ?? Self.join(root, path) }
}

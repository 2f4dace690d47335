import Foundation
import WheelfarmBasics

/// Something a failed build looked for and did not find, read from its log.
public struct MissingDependency: Hashable, Sendable, CustomStringConvertible {
    /// What kind of thing, which decides where in a Debian package it would be.
    public enum Kind: String, Sendable {
        case header, library, pkgconfig, program, cmake
    }

    public var kind: Kind
    /// As the log names it: `ffi.h`, `ffi` (for -lffi), `libxml-2.0`, `cmake`, `ZLIB`.
    public var name: String

    /// Creates an entry.
    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public var description: String {
        switch kind {
        case .header: return name
        case .library: return "-l\(name)"
        case .pkgconfig: return "pkg-config module \(name)"
        case .program: return "the program \(name)"
        case .cmake: return "CMake package \(name)"
        }
    }

    /// The fixed strings a Debian `Contents-<arch>` line holding it would contain.
    public var contentsPatterns: [String] {
        switch kind {
        case .header: return ["/\(name) "]
        case .library: return ["/lib\(name).so ", "/lib\(name).a "]
        case .pkgconfig: return ["/\(name).pc "]
        case .program: return ["bin/\(name) "]
        case .cmake: return ["/\(name)Config.cmake ", "/\(name.lowercased())-config.cmake ", "/\(name.lowercased()).pc "]
        }
    }

    /// Whether a path of the Contents index is where this would be (the fixed strings also
    /// match files elsewhere: a `config.h` of some package's documentation).
    public func isProvided(by path: String) -> Bool {
        switch kind {
        case .header: return path.hasPrefix("usr/include/") && path.hasSuffix("/\(name)")
        case .library: return path.hasPrefix("usr/lib/") && (path.hasSuffix("/lib\(name).so") || path.hasSuffix("/lib\(name).a"))
        case .pkgconfig: return path.contains("/pkgconfig/") && path.hasSuffix("/\(name).pc")
        case .program: return ["usr/bin/", "bin/", "usr/sbin/", "sbin/"].contains { path == $0 + name }
        case .cmake:
            return path.hasSuffix("/\(name)Config.cmake") || path.hasSuffix("/\(name.lowercased())-config.cmake")
                || (path.contains("/pkgconfig/") && path.hasSuffix("/\(name.lowercased()).pc"))
        }
    }
}

/// Reads a failed build's log for what was missing: headers, libraries, pkg-config modules,
/// programs and CMake packages, in the words gcc, clang/zig, ld, lld, pkg-config, meson, CMake
/// and the shell use. The log is a stranger's output: only the tail is read, names must look
/// like names, and the number found is bounded.
public enum MissingDependencies {
    /// How much of the log's end is read.
    public static let tailLimit = 2 << 20
    /// The most entries reported.
    public static let maximum = 8

    static let rules: [(NSRegularExpression, MissingDependency.Kind)] = {
        let name = #"([A-Za-z0-9_][A-Za-z0-9_.+/-]{0,120})"#
        let token = #"([A-Za-z0-9_][A-Za-z0-9_.+-]{0,80})"#
        let patterns: [(String, MissingDependency.Kind)] = [
            (#"fatal error: \#(name)\.(h|hh|hpp|hxx): No such file or directory"#, .header),
            (#"'\#(name)\.(h|hh|hpp|hxx)' file not found"#, .header),
            (#"cannot find -l\#(token)"#, .library),
            (#"unable to find library -l\#(token)"#, .library),
            (#"No package '\#(token)' found"#, .pkgconfig),
            (#"Package '\#(token)',? (?:required by '[^']*', )?not found"#, .pkgconfig),
            (#"Dependency "?\#(token)"? not found"#, .pkgconfig),
            (#"Run-time dependency \#(token) found: NO"#, .pkgconfig),
            (#"(?:^|[\s:/])\#(token): (?:command )?not found"#, .program),
            (#"Program '\#(token)' not found"#, .program),
            (#"Program \#(token) found: NO"#, .program),
            (#"Found (pkg-config|pkgconf): NO"#, .program),
            (#"No such file or directory: '\#(token)'"#, .program),
            (#"command '\#(token)' failed: No such file or directory"#, .program),
            (#"\b\#(token) executable not found"#, .program),
            (#"Could NOT find \#(token)"#, .cmake),
            (#"package configuration file provided by "\#(token)""#, .cmake)
        ]
        return patterns.compactMap { pattern, kind in
            (try? NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])).map { ($0, kind) }
        }
    }()

    /// A compiler's error line (gcc, clang and zig), or clang's count of them.
    static let compileError = try? NSRegularExpression(pattern: #"^.*(?:: error: |\b\d+ errors? generated\.).*$"#, options: [.anchorsMatchLines])

    /// Words that the program rule would catch but are not programs.
    static let notPrograms: Set<String> = ["error", "warning", "note", "ERROR", "Error", "file", "File", "module", "Module", "package", "line"]

    /// What the log says was missing, in the order first seen.
    public static func scan(_ log: String) -> [MissingDependency] {
        let tail = log.utf8.count > tailLimit ? String(decoding: log.utf8.suffix(tailLimit), as: UTF8.self) : log
        let range = NSRange(tail.startIndex..<tail.endIndex, in: tail)
        var found: [(Int, MissingDependency)] = []
        for (expression, kind) in rules {
            for match in expression.matches(in: tail, range: range) {
                guard let captured = Range(match.range(at: 1), in: tail) else { continue }
                var name = String(tail[captured])
                if kind == .header, let suffix = Range(match.range(at: 2), in: tail) { name += "." + tail[suffix] }
                if kind == .program && (notPrograms.contains(name) || name.contains(".") && !name.hasSuffix(".py")) { continue }
                if name.contains("..") || name.hasPrefix("/") { continue }
                found.append((match.range.location, MissingDependency(kind, name)))
            }
        }
        // Configure scripts and makefiles probe for programs they can do without ("gfortran: not
        // found" in OpenBLAS's build): a missing program followed by a compile error of another
        // kind did not stop the build, so it is not the answer.
        // (An error line that is itself a missing header or library is the answer, not another kind.)
        if let lastCompileError = compileError?.matches(in: tail, range: range).last(where: { match in
            !found.contains { NSLocationInRange($0.0, match.range) }
        }) {
            found.removeAll { position, missing in missing.kind == .program && position < lastCompileError.range.location }
        }
        var seen = Set<MissingDependency>()
        return found.sorted { $0.0 < $1.0 }.map(\.1).filter { seen.insert($0).inserted }.prefix(maximum).map { $0 }
    }

    /// A toolchain the build needed and tried to download, or the network it reached for: what
    /// no Debian header lookup answers. Nil when the log shows neither.
    public static func offlineNeed(_ log: String, project: String) -> String? {
        let tail = log.utf8.count > tailLimit ? String(decoding: log.utf8.suffix(tailLimit), as: UTF8.self) : log
        let rust = [
            "puccinialin", "can't find Rust compiler", "cargo: not found", "cargo: command not found", "rustc: not found",
            "rustc: command not found", "Cargo metadata failed", "rustup"
        ]
        if let sign = rust.first(where: { tail.contains($0) }) {
            return "this project needs a Rust toolchain (cargo, rustc), and the build root has none (the log says \"\(sign)\"; "
                + "a backend that then downloads one fails offline); on a suite that carries Rust, add Debian's: "
                + "wheelfarm recipe add \(project) --package rustc --package cargo (its crates must come from the farm: the sandbox has no network)"
        }
        let network = [
            "Temporary failure in name resolution", "Network is unreachable", "Could not resolve host", "Failed to establish a new connection",
            "getaddrinfo failed", "Name or service not known"
        ]
        if let sign = network.first(where: { tail.contains($0) }) {
            return "the build reached for the network (the log says \"\(sign)\"), and builds are offline: what it downloads "
                + "must be a build requirement, a recipe package (wheelfarm recipe add \(project) --package ...) or a source library of the recipe"
        }
        return nil
    }

    /// The Debian packages that provide `missing`, from Contents lines (`path   section/package,...`),
    /// `-dev` packages first.
    public static func packages(for missing: MissingDependency, in lines: [String]) -> [String] {
        // Per package, how directly it provides the file: a header right in an include folder
        // (`usr/include/ffi.h`, `usr/include/x86_64-linux-gnu/ffi.h`) is what `#include <ffi.h>`
        // finds; one deeper in some other library's folder (`usr/include/botan-2/botan/ffi.h`) is not.
        var rank: [String: Int] = [:]
        for line in lines {
            guard let split = line.lastIndex(where: { $0 == " " || $0 == "\t" }) else { continue }
            let path = line[..<split].trimmingCharacters(in: .whitespaces)
            guard missing.isProvided(by: path) else { continue }
            let depth = path.split(separator: "/").count - missing.name.split(separator: "/").count
            let direct = missing.kind != .header || depth == 2 || (depth == 3 && path.split(separator: "/")[2].contains("-linux-"))
            for location in line[line.index(after: split)...].split(separator: ",") {
                let package = String(location.split(separator: "/").last ?? "")
                guard !package.isEmpty else { continue }
                rank[package] = min(rank[package] ?? 1, direct ? 0 : 1)
            }
        }
        let wantsDev = missing.kind != .program
        return rank.keys.sorted { a, b in
            if rank[a] != rank[b] { return (rank[a] ?? 1) < (rank[b] ?? 1) }
            let (da, db) = (a.hasSuffix("-dev"), b.hasSuffix("-dev"))
            if wantsDev && da != db { return da }
            return a.count != b.count ? a.count < b.count : a < b
        }
    }

    /// The sentence a failure carries: what is where, and the command that adds it to the recipe.
    public static func suggestion(project: String, found: [(MissingDependency, [String])], baseline: String?) -> String? {
        let known = found.filter { !$0.1.isEmpty }
        guard !known.isEmpty else { return nil }
        var parts = known.map { missing, packages in
            "\(missing) is in \(packages[0])" + (packages.count > 1 ? " (also \(packages.dropFirst().prefix(2).joined(separator: ", ")))" : "")
        }
        var chosen: [String] = []
        for (_, packages) in known where !chosen.contains(packages[0]) { chosen.append(packages[0]) }
        let command = "wheelfarm recipe add \(project) " + chosen.map { "--package \($0)" }.joined(separator: " ")
        parts.append(command)
        var text = parts.joined(separator: "; ")
        if let baseline {
            text +=
                " (on a \(baseline) target a Debian library can need a newer glibc than the tag allows; if the audit then refuses the wheel, "
                + "build the library from its Debian source with the target's compiler, as source_libraries: \(command) --from-source)"
        }
        return text
    }
}

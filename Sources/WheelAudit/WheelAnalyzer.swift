import ELFInspection
import Foundation
import PackagingModel
import WheelArchive

/// Errors from auditing a wheel.
public enum AuditError: Error, CustomStringConvertible {
    case binariesInPurelib(wheel: String, files: [String])
    case mixedArchitectures(wheel: String, detail: String)
    case unreadableBinary(wheel: String, path: String, reason: String)

    public var description: String {
        switch self {
        case let .binariesInPurelib(wheel, files):
            return "\(wheel): shared libraries in the purelib folder cannot be repaired: \(files.joined(separator: ", "))"
        case let .mixedArchitectures(wheel, detail): return "\(wheel): \(detail)"
        case let .unreadableBinary(wheel, path, reason): return "\(wheel): \(path): \(reason)"
        }
    }
}

/// What a policy would require of the wheel: libraries to graft and blacklisted symbols used.
struct PolicyRequirements {
    var libraries: [String: (location: LibraryLocation?, neededBy: Set<String>)] = [:]
    var blacklisted: [String: Set<String>] = [:]
}

/// The full analysis of a wheel: the input of both the report and the repair plan.
public struct WheelAnalysis: Sendable {
    /// The wheel's file name.
    public var filename: WheelFilename
    /// The architecture of its binaries.
    public var architecture: String
    /// Its C library.
    public var libc: LibcFamily
    /// The candidate policies, lowest priority first.
    public var policies: [ABIPolicy]
    /// Every binary of the wheel for its architecture.
    public var binaries: [WheelBinary]
    /// Dependency trees of every binary.
    public var trees: [String: DependencyTree]
    /// The binaries whose trees count for the verdict (extensions and binaries nothing else needs).
    public var topBinaries: [String]
    /// Per policy name, the libraries to graft, from the trees of every binary.
    var requirementsByBinary: [String: [String: PolicyRequirements]]
    /// The policy a repair can reach, and the one the wheel has as it is.
    public var repairPolicy: ABIPolicy
    /// The policy the wheel satisfies as it is.
    public var currentPolicy: ABIPolicy
    /// The policy allowed by symbol versions.
    public var symbolPolicy: ABIPolicy
    /// The policy allowed by blacklisted symbols, ISA level and Python ABI checks.
    public var otherLimits: ABIPolicy
    /// Symbol versions counted for the verdict.
    public var symbolVersions: [String: Set<String>]
    /// Who needs each symbol version (binary paths or grafted sonames).
    public var versionUsers: [String: Set<String>]
    /// Findings, human readable.
    public var findings: [String]
    /// The report.
    public var report: AuditReport

    /// The libraries to graft, and who needs them, for a policy.
    public func graftRequirements(for policy: ABIPolicy) -> [String: (location: LibraryLocation?, neededBy: Set<String>)] {
        var merged: [String: (location: LibraryLocation?, neededBy: Set<String>)] = [:]
        for (_, byPolicy) in requirementsByBinary {
            for (soname, req) in byPolicy[policy.name]?.libraries ?? [:] {
                merged[soname, default: (req.location, [])].neededBy.formUnion(req.neededBy)
            }
        }
        return merged
    }

    /// The symbol versions `policy` does not allow, each with the symbols bound to it and the
    /// binaries (or grafted sonames) that need it: "GLIBC_2.34 (pthread_create) needed by a/b.so".
    public func symbolVersionsBeyond(_ policy: ABIPolicy) -> [String] {
        var result: [String] = []
        let elfs = Dictionary(binaries.map { ($0.path, $0.elf) }, uniquingKeysWith: { first, _ in first })
        for (_, versions) in symbolVersions.sorted(by: { $0.key < $1.key }) {
            for version in versions.sorted() {
                let prefix = String(version.split(separator: "_", maxSplits: 1).first ?? "")
                guard let allowed = policy.symbolVersions[prefix], !allowed.contains(version) else { continue }
                let users = (versionUsers[version] ?? []).sorted()
                let symbols = WheelAnalyzer.symbols(using: version, in: users.compactMap { elfs[$0] })
                let symbolText = symbols.isEmpty ? "" : " (\(symbols.prefix(5).joined(separator: ", "))\(symbols.count > 5 ? ", ..." : ""))"
                result.append("\(version)\(symbolText) needed by \(users.joined(separator: ", "))")
            }
        }
        return result
    }

    /// Libraries needed per binary for a policy (all binaries, not only the top ones).
    public func graftRequirementsPerBinary(for policy: ABIPolicy) -> [String: [String: LibraryLocation?]] {
        requirementsByBinary.mapValues { byPolicy in (byPolicy[policy.name]?.libraries ?? [:]).mapValues { $0.location } }
    }
}

/// Decides the most compatible platform tag of a wheel (PEP 600/656) from the ELF files it holds.
public struct WheelAnalyzer: Sendable {
    /// The policy definitions.
    public var catalog: PolicyCatalog
    /// The root file system whose libraries the wheel would use (its layers, topmost first).
    public var layers: [String]
    /// The root, or its topmost layer.
    public var root: String { layers.first ?? "/" }
    /// Soname globs never to treat as external (`--exclude`).
    public var exclude: [String]

    /// Creates an analyzer.
    public init(catalog: PolicyCatalog, root: String = "/", exclude: [String] = []) {
        self.init(catalog: catalog, layers: [root], exclude: exclude)
    }

    /// Creates an analyzer for a root made of overlay layers (a derived root), topmost first.
    public init(catalog: PolicyCatalog, layers: [String], exclude: [String] = []) {
        self.catalog = catalog
        self.layers = layers
        self.exclude = exclude
    }

    /// Reads and analyses the wheel at `path`.
    public func analyze(path: String) throws -> WheelAnalysis {
        try analyze(wheel: Wheel(path: path, selection: .binariesAndMetadata))
    }

    /// Analyses a wheel already read (with at least its binaries kept in memory).
    public func analyze(wheel: Wheel) throws -> WheelAnalysis {
        let name = wheel.filename.description
        // Binaries, their architecture and libc.
        var parsed: [WheelBinary] = []
        var purelib: [String] = []
        for (path, result) in wheel.binaries {
            let elf: ELFFile
            switch result {
            case let .success(parsedELF): elf = parsedELF
            case let .failure(error): throw AuditError.unreadableBinary(wheel: name, path: path, reason: "\(error)")
            }
            if path.split(separator: "/").contains("purelib") { purelib.append(path) }
            let fileName = String(path.split(separator: "/").last ?? "")
            parsed.append(WheelBinary(path: path, elf: elf, isExtension: elf.isPythonExtension(fileName: fileName)))
        }
        if !purelib.isEmpty { throw AuditError.binariesInPurelib(wheel: name, files: purelib) }
        let tagArchitectures = Set(wheel.filename.platformTags.compactMap { PlatformTag($0)?.architecture })
        var findings: [String] = []
        guard let architecture = tagArchitectures.count == 1 ? tagArchitectures.first : parsed.compactMap({ $0.elf.architecture }).first else {
            if !tagArchitectures.isEmpty && tagArchitectures.count > 1 {
                throw AuditError.mixedArchitectures(
                    wheel: name, detail: "platform tags name several architectures: \(tagArchitectures.sorted().joined(separator: ", "))")
            }
            return pureAnalysis(wheel: wheel, binaryCount: parsed.count)
        }
        var binaries: [WheelBinary] = []
        for binary in parsed {
            if binary.elf.architecture == architecture {
                binaries.append(binary)
            } else {
                findings.append("\(binary.path) is built for \(binary.elf.architecture ?? "an unknown architecture"), not \(architecture); ignored")
            }
        }
        if binaries.isEmpty { return pureAnalysis(wheel: wheel, binaryCount: parsed.count, extraFindings: findings) }
        let libc = Self.detectLibc(filename: wheel.filename, binaries: binaries)
        let policies = catalog.policies(libc: libc, architecture: architecture)
        let system = SystemLibraries(layers: layers, libc: libc, architecture: architecture)
        var byPath: [String: WheelBinary] = [:]
        for binary in binaries { byPath[binary.path] = binary }
        let resolver = TreeResolver(binaries: byPath, system: system, exclude: exclude)
        var trees: [String: DependencyTree] = [:]
        for binary in binaries { trees[binary.path] = resolver.tree(for: binary) }
        Self.borrowResolutions(&trees)

        // The binaries that count: extensions, and other binaries no binary of the wheel needs.
        let neededNames = Set(trees.values.flatMap(\.needed))
        let top = binaries.filter { $0.isExtension || !neededNames.contains($0.fileName) }.map(\.path)

        // External references per binary per policy.
        var requirementsByBinary: [String: [String: PolicyRequirements]] = [:]
        for binary in binaries {
            guard let tree = trees[binary.path] else { continue }
            var perPolicy: [String: PolicyRequirements] = [:]
            for policy in policies where !policy.isFallback {
                perPolicy[policy.name] = Self.requirements(of: tree, under: policy)
            }
            requirementsByBinary[binary.path] = perPolicy
        }
        let topRequirements = requirementsByBinary.filter { top.contains($0.key) }
        func merged(_ policy: ABIPolicy) -> PolicyRequirements {
            var result = PolicyRequirements()
            for (_, perPolicy) in topRequirements {
                guard let req = perPolicy[policy.name] else { continue }
                for (soname, value) in req.libraries { result.libraries[soname, default: (value.location, [])].neededBy.formUnion(value.neededBy) }
                for (lib, symbols) in req.blacklisted { result.blacklisted[lib, default: []].formUnion(symbols) }
            }
            return result
        }
        let mergedByPolicy = Dictionary(uniqueKeysWithValues: policies.map { ($0.name, merged($0)) })

        // Symbol versions of every binary of the wheel.
        var wheelVersions: [String: Set<String>] = [:]
        var versionUsers: [String: Set<String>] = [:]
        for binary in binaries {
            for need in binary.elf.versionNeeds where !TreeResolver.isLoader(need.file) {
                wheelVersions[need.file, default: []].formUnion(need.versions)
                for v in need.versions { versionUsers[v, default: []].insert(binary.path) }
            }
        }
        // Symbol versions of the libraries a repair would graft, per policy.
        var graftedVersions: [String: [String: Set<String>]] = [:]
        var graftedELFs: [String: ELFFile] = [:]
        for (_, req) in mergedByPolicy {
            for (soname, value) in req.libraries where graftedVersions[soname] == nil {
                guard case let .system(path)? = value.location, let elf = system.elf(at: path) else { continue }
                graftedELFs[soname] = elf
                var versions: [String: Set<String>] = [:]
                for need in elf.versionNeeds where !TreeResolver.isLoader(need.file) { versions[need.file, default: []].formUnion(need.versions) }
                graftedVersions[soname] = versions
            }
        }
        let fallback = policies[0]
        var symbolPolicy = Self.versionedSymbolsPolicy(wheelVersions, policies: policies)
        var countedVersions = wheelVersions
        var best: (ABIPolicy, [String: Set<String>])? = nil
        for policy in policies where !policy.isFallback {
            var combined = wheelVersions
            for soname in mergedByPolicy[policy.name]?.libraries.keys ?? [:].keys {
                for (lib, versions) in graftedVersions[soname] ?? [:] { combined[lib, default: []].formUnion(versions) }
            }
            let candidate = Self.versionedSymbolsPolicy(combined, policies: policies)
            let found = candidate.priority < policy.priority ? candidate : policy
            if best == nil || found.priority > (best?.0.priority ?? 0) { best = (found, combined) }
        }
        if let best {
            symbolPolicy = best.0
            countedVersions = best.1
        }
        for (soname, versions) in graftedVersions where mergedByPolicy.values.contains(where: { $0.libraries[soname] != nil }) {
            for (_, list) in versions { for v in list { versionUsers[v, default: []].insert(soname) } }
        }

        let refPolicy = policies.filter { ($0.isFallback || mergedByPolicy[$0.name]?.libraries.isEmpty == true) }.max { $0.priority < $1.priority } ?? fallback
        let blacklistPolicy =
            policies.filter { ($0.isFallback || mergedByPolicy[$0.name]?.blacklisted.isEmpty == true) }.max { $0.priority < $1.priority } ?? fallback
        let highest = policies.max { $0.priority < $1.priority } ?? fallback
        let externalSonames = Set(mergedByPolicy.values.flatMap { $0.libraries.keys })
        let machinePolicy = Self.machinePolicy(
            architecture: architecture, top: top, trees: trees, externalSonames: externalSonames, policies: policies, findings: &findings)
        let pyfpe = top.contains { path in
            guard let binary = byPath[path], binary.isExtension else { return false }
            return binary.elf.dynamicSymbols.contains {
                $0.isUndefined && ["PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter"].contains($0.name) && ($0.type == 2 || $0.type == 0)
            }
        }
        if pyfpe { findings.append("an extension uses PyFPE_jbuf, which no manylinux or musllinux interpreter provides") }
        let pyfpePolicy = pyfpe ? fallback : highest

        // With grafting, a policy that needs more grafted libraries than the minimum is not chosen.
        let minimumGrafts = policies.filter { !$0.isFallback }.map { mergedByPolicy[$0.name]?.libraries.count ?? 0 }.min() ?? 0
        let graftPolicy =
            policies.filter { $0.isFallback || (mergedByPolicy[$0.name]?.libraries.count ?? 0) <= minimumGrafts }.max { $0.priority < $1.priority } ?? fallback

        let limits = [symbolPolicy, blacklistPolicy, machinePolicy, pyfpePolicy]
        let otherLimits = [blacklistPolicy, machinePolicy, pyfpePolicy].min { $0.priority < $1.priority } ?? fallback
        let repairPolicy = (limits + [graftPolicy]).min { $0.priority < $1.priority } ?? fallback
        let currentPolicy = (limits + [refPolicy]).min { $0.priority < $1.priority } ?? fallback

        // Findings that explain the verdict.
        if symbolPolicy.priority < highest.priority {
            let next = policies.filter { $0.priority > symbolPolicy.priority }.min { $0.priority < $1.priority } ?? highest
            var offending: [String] = []
            for (_, versions) in countedVersions.sorted(by: { $0.key < $1.key }) {
                for v in versions.sorted() {
                    let prefix = String(v.split(separator: "_", maxSplits: 1).first ?? "")
                    guard let allowed = next.symbolVersions[prefix], !allowed.contains(v) else { continue }
                    let users = (versionUsers[v] ?? []).sorted()
                    let symbols = Self.symbols(using: v, in: users.compactMap { byPath[$0]?.elf ?? graftedELFs[$0] })
                    let symbolText = symbols.isEmpty ? "" : " (\(symbols.prefix(5).joined(separator: ", "))\(symbols.count > 5 ? ", ..." : ""))"
                    offending.append("\(v)\(symbolText) needed by \(users.joined(separator: ", "))")
                }
            }
            findings.append("symbol versions newer than \(next.name) allows limit the tag to \(symbolPolicy.name): " + offending.joined(separator: "; "))
        }
        if let req = mergedByPolicy[repairPolicy.name], !repairPolicy.isFallback {
            for (soname, value) in req.libraries.sorted(by: { $0.key < $1.key }) {
                if TreeResolver.isLibpython(soname) {
                    findings.append(
                        "\(value.neededBy.sorted().joined(separator: ", ")) links \(soname); the interpreter must not be linked (repair removes the dependency)"
                    )
                } else if let location = value.location {
                    findings.append(
                        "\(soname) (from \(location)) is needed by \(value.neededBy.sorted().joined(separator: ", ")) but not allowed by \(repairPolicy.name); repair grafts it"
                    )
                } else {
                    findings.append("\(soname) is needed by \(value.neededBy.sorted().joined(separator: ", ")) but cannot be found in the root '\(root)'")
                }
            }
        }
        for policy in policies.reversed() where !policy.isFallback {
            guard let blacklisted = mergedByPolicy[policy.name]?.blacklisted, !blacklisted.isEmpty else { continue }
            let text = blacklisted.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.sorted().joined(separator: ", "))" }.joined(separator: "; ")
            findings.append("blacklisted symbols rule out \(policy.name): \(text)")
            break
        }

        // Is the wheel consistent with its own platform tags?
        let allPolicies = catalog.policies(libc: libc, architecture: architecture, includeAll: true)
        var consistent = true
        for tag in wheel.filename.platformTags {
            guard let parsedTag = PlatformTag(tag) else { consistent = false; findings.append("platform tag \(tag) is not a Linux tag"); continue }
            let canonical = parsedTag.description
            guard let policy = allPolicies.first(where: { $0.name == canonical }) ?? (parsedTag.family == .linux ? fallback : nil) else {
                consistent = false
                findings.append("platform tag \(tag) names no known policy")
                continue
            }
            // A musl wheel proves only the newest musl policy, but older musllinux tags are accepted as declared.
            let satisfied =
                policy.priority <= currentPolicy.priority || (libc == .musl && currentPolicy.name.hasPrefix("musllinux") && policy.name.hasPrefix("musllinux"))
            if !satisfied {
                consistent = false
                findings.append("the wheel is tagged \(tag) but only satisfies \(currentPolicy.name)")
            }
        }

        let externalForReport = mergedByPolicy[(repairPolicy.isFallback ? policies.last ?? fallback : repairPolicy).name]?.libraries ?? [:]
        let report = AuditReport(
            wheel: name, pure: false, architecture: architecture, libc: libc.rawValue,
            platformTag: currentPolicy.name, repairTag: repairPolicy.name, symbolTag: symbolPolicy.name,
            consistentWithFilename: consistent,
            externalLibraries: externalForReport.map {
                ExternalLibrary(soname: $0.key, path: $0.value.location?.description, neededBy: $0.value.neededBy.sorted())
            }.sorted { $0.soname < $1.soname },
            symbolVersions: countedVersions.mapValues { $0.sorted() },
            findings: findings,
            binaries: binaries.map { binary in
                BinaryReport(
                    path: binary.path,
                    kind: binary.isExtension
                        ? "extension" : (binary.elf.fileType == 2 || (binary.elf.interpreter != nil && binary.elf.soname == nil) ? "executable" : "library"),
                    needed: binary.elf.needed, rpath: binary.elf.runpath ?? binary.elf.rpath, isaLevel: binary.elf.x86ISALevel)
            }.sorted { $0.path < $1.path })
        return WheelAnalysis(
            filename: wheel.filename, architecture: architecture, libc: libc, policies: policies, binaries: binaries,
            trees: trees, topBinaries: top, requirementsByBinary: requirementsByBinary, repairPolicy: repairPolicy,
            currentPolicy: currentPolicy, symbolPolicy: symbolPolicy, otherLimits: otherLimits,
            symbolVersions: countedVersions, versionUsers: versionUsers, findings: findings, report: report)
    }

    func pureAnalysis(wheel: Wheel, binaryCount: Int, extraFindings: [String] = []) -> WheelAnalysis {
        var findings = extraFindings
        let isPure = wheel.filename.isPure
        if !isPure { findings.append("the wheel has platform tags but no binary for them") }
        let fallback = ABIPolicy(name: "any", aliases: [], priority: 0, symbolVersions: [:], allowedLibraries: [], blacklistedSymbols: [:])
        let report = AuditReport(
            wheel: wheel.filename.description, pure: true, architecture: nil, libc: nil,
            platformTag: "any", repairTag: "any", symbolTag: "any", consistentWithFilename: isPure,
            externalLibraries: [], symbolVersions: [:], findings: findings, binaries: [])
        var result = WheelAnalysis(
            filename: wheel.filename, architecture: "any", libc: .glibc, policies: [fallback], binaries: [], trees: [:], topBinaries: [],
            requirementsByBinary: [:], repairPolicy: fallback, currentPolicy: fallback, symbolPolicy: fallback, otherLimits: fallback,
            symbolVersions: [:], versionUsers: [:], findings: findings, report: report)
        if !isPure { result.report.pure = false }
        return result
    }

    /// A library of the wheel that needs siblings without an RPATH to find them still loads,
    /// because the extension that needs it has already loaded those siblings. So an unresolved
    /// dependency of a non-extension binary is taken from a fully resolved tree that reaches it.
    static func borrowResolutions(_ trees: inout [String: DependencyTree]) {
        let resolved = trees.values.filter { tree in tree.libraries.values.allSatisfy { $0.location != nil } }
        for (path, tree) in trees
        where !tree.binary.isExtension && tree.libraries.values.contains(where: { $0.location == nil && !TreeResolver.isLibpython($0.soname) }) {
            guard let reference = resolved.first(where: { ref in ref.libraries.values.contains { $0.location == .wheel(path) } }) else { continue }
            var updated = tree
            var pending = tree.libraries.values.filter { $0.location == nil }.map(\.soname)
            var seen = Set<String>()
            while let soname = pending.popLast() {
                guard seen.insert(soname).inserted, let borrowed = reference.libraries[soname] else { continue }
                if updated.libraries[soname]?.location == nil { updated.libraries[soname] = borrowed }
                pending += borrowed.needed.filter { updated.libraries[$0] == nil }
            }
            trees[path] = updated
        }
    }

    static func detectLibc(filename: WheelFilename, binaries: [WheelBinary]) -> LibcFamily {
        for tag in filename.platformTags {
            if let parsed = PlatformTag(tag) {
                if parsed.family == .musllinux { return .musl }
                if parsed.family == .manylinux { return .glibc }
            }
        }
        for binary in binaries {
            if binary.elf.interpreter?.contains("ld-musl-") == true { return .musl }
            if binary.elf.needed.contains(where: { $0.hasPrefix("libc.musl-") || $0.hasPrefix("ld-musl-") }) { return .musl }
        }
        return .glibc
    }

    /// What one binary's tree requires under a policy: external libraries (transitively) and blacklisted symbols.
    static func requirements(of tree: DependencyTree, under policy: ABIPolicy) -> PolicyRequirements {
        func external(_ libs: [String]) -> [String] {
            libs.filter { !TreeResolver.isLoader($0) && !policy.allowedLibraries.contains($0) }
        }
        var pending = external(tree.needed)
        var closure: [String: Set<String>] = [:]
        for lib in pending { closure[lib, default: []].insert(tree.binary.path) }
        var visited = Set<String>()
        while let lib = pending.popLast() {
            guard visited.insert(lib).inserted else { continue }
            for dep in external(tree.libraries[lib]?.needed ?? []) {
                closure[dep, default: []].insert(lib)
                if !visited.contains(dep) { pending.append(dep) }
            }
        }
        var result = PolicyRequirements()
        for (lib, users) in closure {
            let location = tree.libraries[lib]?.location
            if case .wheel? = location { continue }
            result.libraries[lib] = (location, users)
        }
        for lib in tree.needed {
            guard let forbidden = policy.blacklistedSymbols[lib] else { continue }
            let used = forbidden.filter { symbol in
                symbol == "*" || tree.binary.elf.dynamicSymbols.contains { $0.name == symbol && $0.isUndefined && $0.binding != 2 }
            }
            if !used.isEmpty { result.blacklisted[lib] = used }
        }
        return result
    }

    /// The highest policy whose symbol-version ceilings cover every version required.
    static func versionedSymbolsPolicy(_ versions: [String: Set<String>], policies: [ABIPolicy]) -> ABIPolicy {
        var required: [String: Set<String>] = [:]
        for (_, list) in versions {
            for v in list { required[String(v.split(separator: "_", maxSplits: 1).first ?? Substring(v)), default: []].insert(v) }
        }
        for policy in policies.sorted(by: { $0.priority > $1.priority }) {
            if policy.isFallback { return policy }
            let satisfied = required.allSatisfy { prefix, needed in
                guard let allowed = policy.symbolVersions[prefix] else { return true }
                return needed.isSubset(of: allowed)
            }
            if satisfied { return policy }
        }
        return policies[0]
    }

    /// Undefined symbols bound to a version, across some binaries.
    static func symbols(using version: String, in binaries: [ELFFile]) -> [String] {
        Array(Set(binaries.flatMap { $0.dynamicSymbols.filter { $0.isUndefined && $0.version == version }.map(\.name) })).sorted()
    }

    /// x86-64 ISA levels above the baseline limit the wheel to `linux_x86_64`, since pip has no tag for them.
    static func machinePolicy(
        architecture: String, top: [String], trees: [String: DependencyTree], externalSonames: Set<String>,
        policies: [ABIPolicy], findings: inout [String]
    ) -> ABIPolicy {
        let fallback = policies[0]
        var result = policies.max { $0.priority < $1.priority } ?? fallback
        guard architecture == "x86_64" else { return result }
        var checked = Set<String>()
        for path in top {
            guard let tree = trees[path] else { continue }
            var candidates: [(String, String?, ELFFile)] = [(path, nil, tree.binary.elf)]
            for (soname, lib) in tree.libraries where externalSonames.contains(soname) {
                if let elf = lib.elf, let location = lib.location { candidates.append((location.description, soname, elf)) }
            }
            for (where_, soname, elf) in candidates where checked.insert(where_).inserted {
                guard let level = elf.x86ISALevel, level > 1 else { continue }
                if let soname {
                    let allowing = policies.filter { $0.allowedLibraries.contains(soname) }.max { $0.priority < $1.priority }
                    if let allowing, !allowing.isFallback {
                        if allowing.priority < result.priority { result = allowing }
                        continue
                    }
                }
                findings.append("\(where_) requires x86-64-v\(level) instructions; it would crash with SIGILL on older CPUs, so only linux_x86_64 fits")
                result = fallback
            }
        }
        return result
    }
}

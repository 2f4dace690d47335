/// One PEP 440 version clause, for example `>=1.2`, `~=2.2.0`, `==1.1.*`, `!=3.0`.
public struct VersionSpecifier: Hashable, Sendable, CustomStringConvertible {
    /// The operator: `~=`, `==`, `!=`, `<=`, `>=`, `<`, `>` or `===`.
    public var op: String
    /// The version text as written (with `.*` for prefix matches).
    public var versionText: String
    /// The parsed version (nil only for `===` arbitrary equality).
    public var version: PackageVersion?
    /// Whether it is a prefix match (`==1.1.*`, `!=1.1.*`).
    public var isPrefix: Bool

    /// Parses a clause; nil when malformed.
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let op = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"].first(where: { t.hasPrefix($0) }) else { return nil }
        let rest = t.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
        guard !rest.isEmpty else { return nil }
        self.op = op
        versionText = rest
        if op == "===" { version = nil; isPrefix = false; return }
        isPrefix = rest.hasSuffix(".*")
        if isPrefix && op != "==" && op != "!=" { return nil }
        guard let parsed = PackageVersion(isPrefix ? String(rest.dropLast(2)) : rest) else { return nil }
        if op == "~=" && parsed.release.count < 2 { return nil }
        if !parsed.local.isEmpty && op != "==" && op != "!=" { return nil }
        version = parsed
    }

    public var description: String { "\(op)\(versionText)" }

    /// Whether `candidate` satisfies this clause (pre-release policy aside: see `SpecifierSet`).
    public func contains(_ candidate: PackageVersion) -> Bool {
        if op == "===" { return candidate.description == versionText.lowercased() }
        guard let spec = version else { return false }
        switch op {
        case "==": return equals(candidate, spec)
        case "!=": return !equals(candidate, spec)
        case "<=": return candidate.withoutLocal <= spec
        case ">=": return candidate.withoutLocal >= spec
        case "<":
            let c = candidate.withoutLocal
            guard c < spec else { return false }
            // <V excludes pre-releases of V itself unless V is a pre-release.
            if !spec.isPrerelease && c.isPrerelease && c.epoch == spec.epoch && c.paddedRelease(spec.release.count) == spec.paddedRelease(c.release.count) {
                return false
            }
            return true
        case ">":
            let c = candidate.withoutLocal
            guard c > spec else { return false }
            // >V excludes post-releases of V unless V is one.
            if spec.post == nil, c.post != nil, c.epoch == spec.epoch, c.pre == nil || (c.pre?.kind == spec.pre?.kind && c.pre?.number == spec.pre?.number),
                c.paddedRelease(spec.release.count) == spec.paddedRelease(c.release.count)
            {
                return false
            }
            return true
        case "~=":
            // ~=V.N means >=V.N, ==V.*
            guard candidate.withoutLocal >= spec else { return false }
            let prefix = Array(spec.release.dropLast())
            return candidate.epoch == spec.epoch && Array(candidate.paddedRelease(prefix.count).prefix(prefix.count)) == prefix
        default: return false
        }
    }

    func equals(_ candidate: PackageVersion, _ spec: PackageVersion) -> Bool {
        if isPrefix {
            guard candidate.epoch == spec.epoch else { return false }
            let n = spec.release.count
            guard Array(candidate.paddedRelease(n).prefix(n)) == spec.release else { return false }
            // A prefix with a pre/post/dev part (==1.0rc1.*) must match those too.
            if let pre = spec.pre, candidate.pre?.kind != pre.kind || candidate.pre?.number != pre.number { return false }
            if let post = spec.post, candidate.post != post { return false }
            return true
        }
        // Without a local label in the specifier, the candidate's local label is ignored.
        return spec.local.isEmpty ? candidate.withoutLocal == spec : candidate == spec
    }
}

/// A comma-separated set of specifiers (PEP 440), all of which must hold.
public struct SpecifierSet: Hashable, Sendable, CustomStringConvertible {
    /// The clauses.
    public var specifiers: [VersionSpecifier]

    /// Parses `>=1.0,<2`; an empty string is the set that matches everything.
    public init?(_ text: String) {
        var specs: [VersionSpecifier] = []
        for part in text.split(separator: ",") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let spec = VersionSpecifier(String(part)) else { return nil }
            specs.append(spec)
        }
        specifiers = specs
    }

    public var description: String { specifiers.map(\.description).joined(separator: ",") }

    /// Whether a clause names a pre-release, which lets pre-releases match (PEP 440).
    public var mentionsPrerelease: Bool { specifiers.contains { $0.version?.isPrerelease == true && $0.op != "!=" } }

    /// Whether `candidate` satisfies every clause. Pre-releases match only when asked for
    /// (`prereleases`), or when a clause names one.
    public func contains(_ candidate: PackageVersion, prereleases: Bool = false) -> Bool {
        if candidate.isPrerelease && !prereleases && !mentionsPrerelease { return false }
        return specifiers.allSatisfy { $0.contains(candidate) }
    }

    /// Whether it pins one exact version (`==X` without wildcard), which lets yanked files be chosen (PEP 592).
    public var isExactPin: Bool { specifiers.count == 1 && ["==", "==="].contains(specifiers[0].op) && !specifiers[0].isPrefix }
}

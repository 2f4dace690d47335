/// A PEP 440 version, parsed and normalised, with PEP 440's total order.
///
/// `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, accepting the alternative spellings PEP 440
/// normalises (`1.0-alpha.1`, `1.0.post-2`, `1.0-1`, `v1.0`, upper case, `_` and `-` separators).
public struct PackageVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The epoch (`N!`), 0 when absent.
    public var epoch: Int
    /// The release segment, for example [1, 2, 0].
    public var release: [Int]
    /// The pre-release: kind (`a`, `b`, `rc`) and number.
    public var pre: (kind: String, number: Int)?
    /// The post-release number.
    public var post: Int?
    /// The development release number.
    public var dev: Int?
    /// The local version label, split on dots (strings and numbers).
    public var local: [String]

    /// Parses a version; nil when it is not PEP 440.
    public init?(_ text: String) {
        var s = Substring(text.lowercased().trimmingCharacters(in: .whitespaces))
        if s.hasPrefix("v") { s = s.dropFirst() }
        var localText: Substring = ""
        if let plus = s.firstIndex(of: "+") {
            localText = s[s.index(after: plus)...]
            s = s[..<plus]
            guard !localText.isEmpty, localText.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else { return nil }
        }
        func number() -> Int? {
            let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let value = Int(digits) else { return nil }
            s = s.dropFirst(digits.count)
            return value
        }
        func separator() { if let c = s.first, c == "." || c == "-" || c == "_" { s = s.dropFirst() } }
        // Epoch and release.
        var epoch = 0
        guard let first = number() else { return nil }
        var release = [first]
        if s.first == "!" {
            s = s.dropFirst()
            epoch = first
            guard let n = number() else { return nil }
            release = [n]
        }
        while s.first == ".", s.dropFirst().first?.isNumber == true {
            s = s.dropFirst()
            guard let n = number() else { return nil }
            release.append(n)
        }
        // Pre-release.
        var pre: (String, Int)? = nil
        let preSpellings: [(String, String)] = [
            ("alpha", "a"), ("beta", "b"), ("preview", "rc"), ("pre", "rc"), ("rc", "rc"), ("c", "rc"), ("a", "a"), ("b", "b")
        ]
        var probe = s
        if let c = probe.first, c == "." || c == "-" || c == "_" { probe = probe.dropFirst() }
        for (spelling, kind) in preSpellings where probe.hasPrefix(spelling) {
            s = probe.dropFirst(spelling.count)
            separator()
            pre = (kind, number() ?? 0)
            break
        }
        // Post-release: ".post1", "-1", ".rev1", ".r1".
        var post: Int? = nil
        probe = s
        if let c = probe.first, c == "." || c == "-" || c == "_" { probe = probe.dropFirst() }
        var matchedPost = false
        for spelling in ["post", "rev", "r"] where probe.hasPrefix(spelling) {
            s = probe.dropFirst(spelling.count)
            separator()
            post = number() ?? 0
            matchedPost = true
            break
        }
        if !matchedPost, s.first == "-", s.dropFirst().first?.isNumber == true {
            s = s.dropFirst()
            post = number()
        }
        // Development release.
        var dev: Int? = nil
        probe = s
        if let c = probe.first, c == "." || c == "-" || c == "_" { probe = probe.dropFirst() }
        if probe.hasPrefix("dev") {
            s = probe.dropFirst(3)
            separator()
            dev = number() ?? 0
        }
        guard s.isEmpty else { return nil }
        self.epoch = epoch
        self.release = release
        self.pre = pre
        self.post = post
        self.dev = dev
        self.local = localText.isEmpty ? [] : localText.split(whereSeparator: { $0 == "." || $0 == "-" || $0 == "_" }).map(String.init)
    }

    /// The normalised form, for example `1!2.0rc1.post2.dev3+ubuntu.1`.
    public var description: String {
        var text = epoch != 0 ? "\(epoch)!" : ""
        text += release.map(String.init).joined(separator: ".")
        if let pre { text += "\(pre.kind)\(pre.number)" }
        if let post { text += ".post\(post)" }
        if let dev { text += ".dev\(dev)" }
        if !local.isEmpty { text += "+" + local.joined(separator: ".") }
        return text
    }

    /// The version without its local label.
    public var withoutLocal: PackageVersion { var v = self; v.local = []; return v }

    /// Whether it is a pre-release or development release.
    public var isPrerelease: Bool { pre != nil || dev != nil }

    /// The release padded with zeros to `count` components (1.2 == 1.2.0).
    func paddedRelease(_ count: Int) -> [Int] { release + Array(repeating: 0, count: max(0, count - release.count)) }

    public static func == (a: PackageVersion, b: PackageVersion) -> Bool { compare(a, b) == 0 }

    public func hash(into hasher: inout Hasher) {
        var trimmed = release
        while trimmed.count > 1 && trimmed.last == 0 { trimmed.removeLast() }
        hasher.combine(epoch); hasher.combine(trimmed); hasher.combine(pre?.kind); hasher.combine(pre?.number)
        hasher.combine(post); hasher.combine(dev); hasher.combine(local)
    }

    public static func < (a: PackageVersion, b: PackageVersion) -> Bool { compare(a, b) < 0 }

    /// PEP 440 ordering: epoch, release (zero-padded), then dev < pre < final < post, then local.
    static func compare(_ a: PackageVersion, _ b: PackageVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let n = max(a.release.count, b.release.count)
        let ra = a.paddedRelease(n), rb = b.paddedRelease(n)
        if ra != rb { return ra.lexicographicallyPrecedes(rb) ? -1 : 1 }
        let ka = a.phaseKey, kb = b.phaseKey
        if ka != kb { return ka.lexicographicallyPrecedes(kb) ? -1 : 1 }
        return compareLocal(a.local, b.local)
    }

    /// Sort key after the release: [pre phase, pre number, post, dev], with sentinels so that
    /// 1.0.dev0 < 1.0a1 < 1.0 < 1.0.post1, and 1.0a1.dev0 < 1.0a1.
    var phaseKey: [Int] {
        let preRank: Int, preNumber: Int
        if let pre {
            preRank = ["a": 0, "b": 1, "rc": 2][pre.kind] ?? 0
            preNumber = pre.number
        } else if dev != nil && post == nil {
            preRank = -1; preNumber = 0  // a bare .devN sorts before any pre-release
        } else {
            preRank = 3; preNumber = 0
        }
        let postKey = post.map { $0 + 1 } ?? 0
        let devKey = dev ?? Int.max
        return [preRank, preNumber, postKey, devKey]
    }

    static func compareLocal(_ a: [String], _ b: [String]) -> Int {
        for (x, y) in zip(a, b) where x != y {
            switch (Int(x), Int(y)) {
            case let (xi?, yi?): return xi < yi ? -1 : 1
            case (.some, nil): return 1  // numeric segments sort after alphanumeric ones
            case (nil, .some): return -1
            default: return x < y ? -1 : 1
            }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}

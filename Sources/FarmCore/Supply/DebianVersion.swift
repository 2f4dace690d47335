/// Debian's version order (deb-version(7)): `[epoch:]upstream[-revision]`, where `~` sorts
/// before everything, even the end, letters before other characters, and digit runs compare
/// as numbers. What `dpkg --compare-versions` does, for `sbom query --below`.
public enum DebianVersion {
    /// Negative, zero or positive as `a` sorts before, with or after `b`.
    public static func compare(_ a: String, _ b: String) -> Int {
        let (ea, ua, ra) = split(a)
        let (eb, ub, rb) = split(b)
        if ea != eb { return ea < eb ? -1 : 1 }
        let upstream = part(ua, ub)
        return upstream != 0 ? upstream : part(ra, rb)
    }

    static func split(_ version: String) -> (Int, String, String) {
        var rest = Substring(version)
        var epoch = 0
        if let colon = rest.firstIndex(of: ":"), let value = Int(rest[..<colon]) {
            epoch = value
            rest = rest[rest.index(after: colon)...]
        }
        if let dash = rest.lastIndex(of: "-") { return (epoch, String(rest[..<dash]), String(rest[rest.index(after: dash)...])) }
        return (epoch, String(rest), "")
    }

    /// The weight of a non-digit character: `~` lowest, then the end, then letters, then the rest.
    static func order(_ c: Character?) -> Int {
        guard let c else { return 0 }
        if c == "~" { return -1 }
        if c.isLetter { return Int(c.asciiValue ?? 0) }
        return Int(c.asciiValue ?? 0) + 256
    }

    static func part(_ a: String, _ b: String) -> Int {
        var x = Array(a)[...]
        var y = Array(b)[...]
        while !x.isEmpty || !y.isEmpty {
            // Non-digit prefixes, character by character.
            while (x.first.map { !$0.isNumber } ?? false) || (y.first.map { !$0.isNumber } ?? false) {
                let (cx, cy) = (x.first.flatMap { $0.isNumber ? nil : $0 }, y.first.flatMap { $0.isNumber ? nil : $0 })
                let (ox, oy) = (order(cx), order(cy))
                if ox != oy { return ox < oy ? -1 : 1 }
                if cx != nil { x = x.dropFirst() }
                if cy != nil { y = y.dropFirst() }
            }
            // Digit runs, as numbers (leading zeros do not count).
            let dx = x.prefix { $0.isNumber }
            let dy = y.prefix { $0.isNumber }
            x = x.dropFirst(dx.count)
            y = y.dropFirst(dy.count)
            let nx = String(dx).drop { $0 == "0" }
            let ny = String(dy).drop { $0 == "0" }
            if nx.count != ny.count { return nx.count < ny.count ? -1 : 1 }
            if nx != ny { return nx < ny ? -1 : 1 }
        }
        return 0
    }
}

/// PEP 508 environment markers: parsed once, evaluated against a target's environment.
public indirect enum Marker: Sendable, Equatable {
    case compare(String, String, String)  // left, operator, right (each a variable name or a quoted string)
    case and(Marker, Marker)
    case or(Marker, Marker)

    /// The variables a marker may use, for one target.
    public struct Environment: Sendable {
        public var values: [String: String]

        /// The environment of CPython `pythonFullVersion` (for example 3.11.2) on Linux `machine`.
        public init(pythonFullVersion: String, machine: String) {
            let parts = pythonFullVersion.split(separator: ".")
            values = [
                "python_version": parts.prefix(2).joined(separator: "."),
                "python_full_version": pythonFullVersion,
                "implementation_name": "cpython",
                "implementation_version": pythonFullVersion,
                "platform_python_implementation": "CPython",
                "sys_platform": "linux",
                "platform_system": "Linux",
                "os_name": "posix",
                "platform_machine": machine,
                "platform_release": "",
                "platform_version": "",
                "extra": ""
            ]
        }
    }

    /// A marker that cannot be parsed, with the reason.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    static let versionVariables: Set<String> = ["python_version", "python_full_version", "implementation_version"]

    /// Parses a marker expression.
    public init(parsing text: String) throws {
        var tokens = try Self.tokenize(text)
        self = try Self.parseOr(&tokens)
        guard tokens.isEmpty else { throw ParseError(description: "unexpected '\(tokens[0])' in marker '\(text)'") }
    }

    /// Whether the marker holds in `environment`.
    public func evaluate(_ environment: Environment) -> Bool {
        switch self {
        case let .and(a, b): return a.evaluate(environment) && b.evaluate(environment)
        case let .or(a, b): return a.evaluate(environment) || b.evaluate(environment)
        case let .compare(left, op, right):
            func value(_ token: String) -> (String, isVariable: Bool) {
                if token.hasPrefix("\"") || token.hasPrefix("'") { return (String(token.dropFirst().dropLast()), false) }
                return (environment.values[token] ?? "", true)
            }
            let (l, lVar) = value(left)
            let (r, rVar) = value(right)
            let versionSide = (lVar && Self.versionVariables.contains(left)) || (rVar && Self.versionVariables.contains(right))
            switch op {
            case "in": return r.contains(l)
            case "not in": return !r.contains(l)
            default:
                if versionSide, let version = PackageVersion(l), let set = SpecifierSet("\(op)\(r)") {
                    return set.contains(version, prereleases: true)
                }
                switch op {
                case "==", "===": return l == r
                case "!=": return l != r
                case "<": return l < r
                case "<=": return l <= r
                case ">": return l > r
                case ">=": return l >= r
                default: return false
                }
            }
        }
    }

    static func tokenize(_ text: String) throws -> [String] {
        var tokens: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if c.isWhitespace { index = text.index(after: index); continue }
            if c == "(" || c == ")" { tokens.append(String(c)); index = text.index(after: index); continue }
            if c == "\"" || c == "'" {
                guard let close = text[text.index(after: index)...].firstIndex(of: c) else {
                    throw ParseError(description: "unclosed string in marker '\(text)'")
                }
                tokens.append(String(text[index...close]))
                index = text.index(after: close)
                continue
            }
            if "<>=!~".contains(c) {
                var end = index
                while end < text.endIndex, "<>=!~".contains(text[end]) { end = text.index(after: end) }
                tokens.append(String(text[index..<end]))
                index = end
                continue
            }
            var end = index
            while end < text.endIndex, text[end].isLetter || text[end].isNumber || text[end] == "_" || text[end] == "." { end = text.index(after: end) }
            guard end > index else { throw ParseError(description: "unexpected '\(c)' in marker '\(text)'") }
            tokens.append(String(text[index..<end]))
            index = end
        }
        // "not in" is one operator.
        var merged: [String] = []
        for token in tokens {
            if token == "in", merged.last == "not" { merged[merged.count - 1] = "not in" } else { merged.append(token) }
        }
        return merged
    }

    static func parseOr(_ tokens: inout [String]) throws -> Marker {
        var left = try parseAnd(&tokens)
        while tokens.first == "or" { tokens.removeFirst(); left = .or(left, try parseAnd(&tokens)) }
        return left
    }

    static func parseAnd(_ tokens: inout [String]) throws -> Marker {
        var left = try parseAtom(&tokens)
        while tokens.first == "and" { tokens.removeFirst(); left = .and(left, try parseAtom(&tokens)) }
        return left
    }

    /// The names markers had before PEP 508, which pip still reads (PyNaCl 1.5.0's build
    /// requirements say `python_implementation != 'PyPy'`).
    static let legacyNames = [
        "python_implementation": "platform_python_implementation", "platform.python_implementation": "platform_python_implementation",
        "os.name": "os_name", "sys.platform": "sys_platform", "platform.version": "platform_version", "platform.machine": "platform_machine"
    ]

    static let operators: Set<String> = ["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in"]

    static func parseAtom(_ tokens: inout [String]) throws -> Marker {
        guard let first = tokens.first else { throw ParseError(description: "a marker ends too early") }
        if first == "(" {
            tokens.removeFirst()
            let inner = try parseOr(&tokens)
            guard tokens.first == ")" else { throw ParseError(description: "missing ')' in marker") }
            tokens.removeFirst()
            return inner
        }
        guard tokens.count >= 3, operators.contains(tokens[1]) else {
            throw ParseError(description: "expected 'variable operator value' in marker near '\(first)'")
        }
        let known = Set(Environment(pythonFullVersion: "3.0.0", machine: "").values.keys)
        var sides = [tokens[0], tokens[2]]
        for (index, side) in sides.enumerated() where !(side.hasPrefix("\"") || side.hasPrefix("'")) {
            let name = legacyNames[side] ?? side
            guard known.contains(name) else { throw ParseError(description: "unknown marker variable '\(side)'") }
            sides[index] = name
        }
        let atom = Marker.compare(sides[0], tokens[1], sides[1])
        tokens.removeFirst(3)
        return atom
    }
}

/// A requirement as typed on the command line or in a requirements file: `name[extras] specifiers`.
///
/// Environment markers are kept as text (evaluated by the caller, which knows the target).
public struct Requirement: Hashable, Sendable, CustomStringConvertible {
    /// The project name as written.
    public var name: String
    /// Extras, for example `["socks"]`.
    public var extras: [String]
    /// The version constraint.
    public var specifier: SpecifierSet
    /// The marker after `;`, if any.
    public var marker: String?

    /// Parses `name`, `name==1.0`, `name>=1,<2`, `name[extra] ~= 1.4 ; python_version >= "3.8"`.
    public init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if let semicolon = rest.firstIndex(of: ";") {
            marker = rest[rest.index(after: semicolon)...].trimmingCharacters(in: .whitespaces)
            rest = rest[..<semicolon]
        } else {
            marker = nil
        }
        let nameText = rest.prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
        guard let first = nameText.first, first.isLetter || first.isNumber, let last = nameText.last, last.isLetter || last.isNumber else { return nil }
        name = String(nameText)
        rest = rest.dropFirst(nameText.count).drop(while: { $0 == " " })
        extras = []
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            extras = rest[rest.index(after: rest.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            rest = rest[rest.index(after: close)...]
        }
        var specText = rest.trimmingCharacters(in: .whitespaces)
        if specText.hasPrefix("(") && specText.hasSuffix(")") { specText = String(specText.dropFirst().dropLast()) }
        guard let spec = SpecifierSet(specText) else { return nil }
        specifier = spec
    }

    public var description: String {
        var text = name
        if !extras.isEmpty { text += "[\(extras.joined(separator: ","))]" }
        text += specifier.description
        if let marker { text += "; \(marker)" }
        return text
    }
}

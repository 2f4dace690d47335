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

extension Requirement {
    /// Why text from a stranger (an sdist's `[build-system] requires`, a backend hook's answer,
    /// a wheel's `Requires-Dist`) is not a plain PEP 508 requirement.
    public struct Refusal: Error, CustomStringConvertible, Sendable, Equatable {
        public var entry: String
        public var reason: String
        public var description: String { "'\(entry.prefix(200))' \(reason)" }
    }

    /// Parses text that will reach a command line, accepting only a PEP 508 requirement by name:
    /// a project name, extras, a version specifier and a marker. Options (`--index-url ...`),
    /// direct references (`name @ https://...`), paths, control characters and anything
    /// unparsable are refused, so such text can never become something other than a requirement.
    public static func validated(_ text: String) -> Result<Requirement, Refusal> {
        func refuse(_ reason: String) -> Result<Requirement, Refusal> { .failure(Refusal(entry: text, reason: reason)) }
        guard text.count <= 1000 else { return refuse("is longer than 1000 characters") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return refuse("holds control characters") }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.hasPrefix("-") else { return refuse("is an option, not a requirement") }
        let beforeMarker = trimmed.split(separator: ";", maxSplits: 1).first.map(String.init) ?? trimmed
        guard !beforeMarker.contains("@"), !beforeMarker.contains("://") else { return refuse("is a direct reference (URL), not a requirement by name") }
        guard !trimmed.hasPrefix("."), !trimmed.hasPrefix("/"), !trimmed.hasPrefix("~"), !beforeMarker.contains("/") else {
            return refuse("is a path, not a requirement by name")
        }
        guard let requirement = Requirement(trimmed) else { return refuse("is not a PEP 508 requirement") }
        let name = #"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"#
        guard requirement.name.range(of: name, options: .regularExpression) != nil else { return refuse("has an invalid project name") }
        for extra in requirement.extras where extra.range(of: name, options: .regularExpression) == nil {
            return refuse("has an invalid extra '\(extra)'")
        }
        if let marker = requirement.marker {
            do { _ = try Marker(parsing: marker) } catch { return refuse("has an invalid marker: \(error)") }
        }
        return .success(requirement)
    }

    /// The requirement without its marker, as pip reads it on a command line (after `--`).
    public var withoutMarker: Requirement {
        var plain = self
        plain.marker = nil
        return plain
    }

    /// Whether the requirement applies in `environment` (no marker: always).
    public func applies(in environment: Marker.Environment) -> Bool {
        guard let marker else { return true }
        return (try? Marker(parsing: marker).evaluate(environment)) ?? false
    }
}

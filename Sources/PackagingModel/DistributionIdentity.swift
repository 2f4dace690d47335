/// What a build hands back is a claim: the one check that a wheel is the distribution and
/// version a job asked for, and the validation of names and versions before they become paths,
/// URLs or page text. The build stages, the store, the repository's publish, `lock` and the
/// builder hosts' intake all call this, so they cannot disagree.
public enum DistributionIdentity {
    /// A wheel that is not what was asked for, or a name or version that is not one.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        /// What is wrong, naming both sides.
        public let description: String
        /// Creates a refusal.
        public init(_ description: String) { self.description = description }
    }

    /// The PEP 508 form of a distribution name (ASCII letters, digits, `.`, `_`, `-`, starting and
    /// ending with a letter or digit), at most 200 characters.
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 200 else { return false }
        let bytes = Array(name.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// The normalised name (PEP 503) of a valid name; a refusal otherwise.
    public static func project(_ name: String) throws -> String {
        guard isValidName(name) else { throw Refusal("'\(name.prefix(100))' is not a valid distribution name (PEP 508)") }
        return ProjectName.normalise(name)
    }

    /// The parsed version of a valid PEP 440 version of at most 100 characters; a refusal otherwise.
    public static func version(_ text: String) throws -> PackageVersion {
        guard text.utf8.count <= 100, let version = PackageVersion(text) else {
            throw Refusal("'\(text.prefix(100))' is not a valid version (PEP 440)")
        }
        return version
    }

    /// Checks that a wheel is `project` `version`: its file name's distribution and version, and
    /// (when given) its METADATA's `Name` and `Version`, equal them, names compared normalised
    /// (PEP 503) and versions by PEP 440. `version` nil checks the name only (a local source
    /// tree whose version only the backend knows); the versions must still be valid and agree.
    public static func check(wheel: WheelFilename, metadataName: String?, metadataVersion: String?, project: String, version: String?) throws {
        let expected = try Self.project(project)
        let file = wheel.description
        guard try Self.project(wheel.distribution) == expected else {
            throw Refusal("the build was for \(expected), but it made a wheel of \(wheel.distribution) (\(file))")
        }
        let fileVersion = try Self.version(wheel.version)
        if let version {
            guard try Self.version(version) == fileVersion else {
                throw Refusal("the build was for \(expected) \(version), but it made version \(wheel.version) (\(file))")
            }
        }
        if let metadataName {
            guard try Self.project(metadataName) == expected else {
                throw Refusal("\(file) says in its METADATA that it is \(metadataName), not \(expected)")
            }
        }
        if let metadataVersion {
            guard try Self.version(metadataVersion) == fileVersion else {
                throw Refusal("\(file) says in its METADATA that it is version \(metadataVersion), not \(wheel.version)")
            }
        }
    }

    /// The store's folder names of a build: the normalised project and the normalised version,
    /// both validated (a version `..` never becomes a path).
    public static func storeComponents(project: String, version: String) throws -> (project: String, version: String) {
        (try Self.project(project), try Self.version(version).description)
    }
}

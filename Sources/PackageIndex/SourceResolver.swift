import Foundation
import PackagingModel
import WheelfarmBasics

/// The source distribution chosen for a requirement.
public struct ResolvedSource: Sendable, Hashable {
    /// The normalised project name.
    public var project: String
    /// The version.
    public var version: PackageVersion
    /// The sdist on the index.
    public var file: IndexFile
    /// A pure wheel (`*-none-any`) the index lists for the same version, if any: evidence that
    /// the project is pure by design, so that a build without binaries is no fallback.
    public var pureWheel: String? = nil

    /// Creates a value.
    public init(project: String, version: PackageVersion, file: IndexFile, pureWheel: String? = nil) {
        self.project = project
        self.version = version
        self.file = file
        self.pureWheel = pureWheel
    }
}

/// Picks sdists from the index: the best version a requirement allows, for an interpreter.
public struct SourceResolver: Sendable {
    /// The index client.
    public let client: IndexClient

    /// Creates a resolver.
    public init(client: IndexClient) { self.client = client }

    static let sdistSuffixes = [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz"]

    /// The version in an sdist file name of `project`, or nil when the file is not one of its sdists.
    public static func sdistVersion(_ filename: String, project: String) -> PackageVersion? {
        guard let suffix = sdistSuffixes.first(where: { filename.lowercased().hasSuffix($0) }) else { return nil }
        let stem = String(filename.dropLast(suffix.count))
        let wanted = ProjectName.normalise(project)
        // Old sdists spell the name with dashes ("python-dateutil-2.8.2"): try every split.
        for (index, character) in zip(stem.indices, stem) where character == "-" {
            let name = String(stem[..<index]), version = String(stem[stem.index(after: index)...])
            if ProjectName.normalise(name) == wanted, let parsed = PackageVersion(version) { return parsed }
        }
        return nil
    }

    /// Chooses the sdist for `requirement`: the highest version it allows whose `Requires-Python`
    /// admits `pythonVersion`, skipping pre-releases unless asked for (or named), and yanked
    /// releases unless pinned with `==`.
    public func resolve(_ requirement: Requirement, pythonVersion: String, prereleases: Bool = false) throws -> ResolvedSource {
        let files = try client.files(of: requirement.name)
        let python = PackageVersion(pythonVersion)
        var candidates: [(PackageVersion, IndexFile)] = []
        var rejected: [String] = []
        for file in files {
            guard let version = Self.sdistVersion(file.filename, project: requirement.name) else { continue }
            guard requirement.specifier.contains(version, prereleases: prereleases) else { continue }
            if file.yanked && !requirement.specifier.isExactPin { rejected.append("\(version) is yanked"); continue }
            if let requires = file.requiresPython, let python, let set = SpecifierSet(requires), !set.contains(python, prereleases: true) {
                rejected.append("\(version) requires Python \(requires)")
                continue
            }
            candidates.append((version, file))
        }
        let preferred = candidates.sorted { a, b in
            if a.0 != b.0 { return a.0 > b.0 }
            return a.1.filename.hasSuffix(".tar.gz") && !b.1.filename.hasSuffix(".tar.gz")
        }
        guard let best = preferred.first else {
            let why =
                rejected.isEmpty
                ? "no source distribution matches \(requirement.specifier.description.isEmpty ? "any version" : requirement.specifier.description)"
                : "no usable source distribution: " + rejected.prefix(5).joined(separator: "; ")
            if requirement.specifier.isExactPin && rejected.isEmpty && !files.isEmpty {
                // The project is there but not this release's sdist: often it is uploaded after the wheels.
                throw IndexError.notYetPublished(project: requirement.name, detail: why + " on \(client.configuration.indexURL)")
            }
            throw IndexError.notFound(project: requirement.name, detail: why + " on \(client.configuration.indexURL)")
        }
        let pure = files.first { file in
            guard let wheel = WheelFilename(file.filename), !file.yanked, wheel.abiTags == ["none"], wheel.platformTags == ["any"],
                ProjectName.normalise(wheel.distribution) == ProjectName.normalise(requirement.name), let version = PackageVersion(wheel.version)
            else { return false }
            return version == best.0
        }
        return ResolvedSource(project: ProjectName.normalise(requirement.name), version: best.0, file: best.1, pureWheel: pure?.filename)
    }
}

/// Content-addressed storage of downloaded sources: `<home>/sources/<sha256>/<file name>`.
public struct SourceStore: Sendable {
    /// The folder.
    public let directory: String

    /// Creates a store in `directory`.
    public init(directory: String) { self.directory = directory }

    /// The local path of `file`, downloading it only when it is not stored yet; its sha256 is
    /// checked against the index's before it is kept. Returns whether it was downloaded.
    public func fetch(_ file: IndexFile, client: IndexClient) throws -> (path: String, downloaded: Bool) {
        guard let expected = file.sha256?.lowercased(), expected.count == 64 else {
            throw IndexError.malformed(url: file.url, reason: "the index gives no sha256 for \(file.filename)")
        }
        let folder = "\(directory)/\(expected)"
        let path = "\(folder)/\(file.filename)"
        if FileManager.default.fileExists(atPath: path) { return (path, false) }
        let data = try client.get(file.url)
        let actual = data.withUnsafeBytes { Digest.hex(Digest.sha256($0)) }
        guard actual == expected else { throw IndexError.hashMismatch(file: file.filename, expected: expected, actual: actual) }
        try Files.makeDirectories(folder)
        try Files.writeAtomically([UInt8](data), to: path)
        return (path, true)
    }
}

import Foundation
import PackagingModel
import Repository
import WheelBuilder
import WheelfarmBasics

/// Questions over what the farm's wheels carry, from the build records: which stored and
/// published wheels hold a Debian package (grafted into `.libs`), at which version; and the
/// whole repository as one CycloneDX document.
public struct SBOMCatalog: Sendable {
    /// One Debian package in one stored wheel.
    public struct Entry: Sendable, Equatable, Codable {
        public var wheel: String
        public var project: String
        public var version: String
        public var target: String
        public var package: String
        public var packageVersion: String
        /// How it got there (`grafted`, or `built from source` for a `source_libraries` package).
        public var how: String
        public var soname: String
        public var published: Bool

        enum CodingKeys: String, CodingKey {
            case wheel, project, version, target, package, how, soname, published
            case packageVersion = "package_version"
        }
    }

    public let context: FarmContext

    /// Creates a catalog over the farm.
    public init(context: FarmContext) { self.context = context }

    /// Every succeeded build's record with its wheel, and whether the repository lists the wheel.
    func builds() throws -> [(record: BuildRecord, wheel: String, sha256: String, published: Bool)] {
        let repository = try context.repository()
        var published: [String: Set<String>] = [:]
        for project in repository.projects() {
            published[project] = Set(((try? repository.manifest(project)) ?? nil)?.files.map(\.sha256) ?? [])
        }
        return BuildStore(layout: context.layout).all().compactMap { entry in
            let record = entry.record
            guard record.outcome == .succeeded, let wheel = record.wheel, let sha = record.wheelSha256 else { return nil }
            return (record, wheel, sha, published[record.project]?.contains(sha) ?? false)
        }.sorted { $0.wheel < $1.wheel }
    }

    /// The wheels that carry `package`; with `below`, only at a Debian version lower than it.
    public func query(package: String, below: String? = nil) throws -> [Entry] {
        var entries: [Entry] = []
        for build in try builds() {
            let sources = Set((build.record.debianPackages ?? []).filter { $0.how == .source }.map(\.name))
            for graft in build.record.grafted where graft.package == package {
                let version = graft.version ?? ""
                if let below, version.isEmpty || DebianVersion.compare(version, below) >= 0 { continue }
                entries.append(
                    Entry(
                        wheel: build.wheel, project: build.record.project, version: build.record.version, target: build.record.target, package: package,
                        packageVersion: version, how: sources.contains(package) ? "grafted, built from source" : "grafted", soname: graft.soname,
                        published: build.published))
            }
            // Libraries built from their Debian source (`source_libraries`): linked statically or grafted from the prefix.
            let grafted = entries.contains { $0.wheel == build.wheel && $0.target == build.record.target }
            for use in build.record.debianPackages ?? [] where use.how == .source && use.name == package && !grafted {
                if let below, DebianVersion.compare(use.version, below) >= 0 { continue }
                entries.append(
                    Entry(
                        wheel: build.wheel, project: build.record.project, version: build.record.version, target: build.record.target, package: package,
                        packageVersion: use.version, how: "built from source", soname: "", published: build.published))
            }
        }
        return entries
    }

    /// The repository (every stored build, published or not) as one CycloneDX 1.6 document: a
    /// component per wheel (`pkg:pypi` with its file name and sha256) and per Debian package it
    /// carries (`pkg:deb`), the wheels depending on their packages.
    public func export(serial: String = "urn:uuid:\(UUID().uuidString.lowercased())") throws -> [UInt8] {
        let catalog = try context.toolchains().catalog
        var components: [[String: Any]] = []
        var dependencies: [[String: Any]] = []
        var debs: [String: [String: Any]] = [:]
        // One component per file: a pure wheel (or an abi3 one) stored for several targets is one
        // file (the store keeps names unique to bytes), its targets listed together.
        var targets: [String: [String]] = [:]
        for build in try builds() { targets[build.wheel, default: []].append(build.record.target) }
        var seen = Set<String>()
        for build in try builds() where seen.insert(build.wheel).inserted {
            let name = ProjectName.normalise(build.record.project)
            let ref = "pkg:pypi/\(name)@\(build.record.version)?file_name=\(build.wheel)"
            components.append([
                "type": "library", "bom-ref": ref, "name": name, "version": build.record.version, "purl": ref,
                "hashes": [["alg": "SHA-256", "content": build.sha256]],
                "properties": [
                    ["name": "wheelfarm:targets", "value": (targets[build.wheel] ?? []).sorted().joined(separator: ",")],
                    ["name": "wheelfarm:published", "value": build.published ? "yes" : "no"]
                ]
            ])
            var needs: [String] = []
            let spec = catalog.specs[build.record.target]
            let sources = Set((build.record.debianPackages ?? []).filter { $0.how == .source }.map(\.name))
            for graft in build.record.grafted {
                // Grafted from the prefix: exported below as the source package that built it.
                guard let package = graft.package, let version = graft.version, !sources.contains(package) else { continue }
                var purl = "pkg:deb/debian/\(package)@\(version)"
                if let spec { purl += "?arch=\(spec.debianArchitecture)&distro=debian-\(spec.suite)" }
                debs[purl] = ["type": "library", "bom-ref": purl, "name": package, "version": version, "purl": purl]
                if !needs.contains(purl) { needs.append(purl) }
            }
            for use in build.record.debianPackages ?? [] where use.how == .source {
                let purl = "pkg:deb/debian/\(use.name)@\(use.version)?arch=source"
                debs[purl] = ["type": "library", "bom-ref": purl, "name": use.name, "version": use.version, "purl": purl]
                if !needs.contains(purl) { needs.append(purl) }
            }
            dependencies.append(["ref": ref, "dependsOn": needs])
        }
        for (purl, component) in debs.sorted(by: { $0.key < $1.key }) {
            components.append(component)
            dependencies.append(["ref": purl, "dependsOn": [String]()])
        }
        let document: [String: Any] = [
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "serialNumber": serial,
            "metadata": [
                "timestamp": ISO8601DateFormatter().string(from: Date()),
                "component": ["type": "application", "bom-ref": "wheelfarm-repository", "name": "wheelfarm repository \(context.layout.path)"],
                "tools": ["components": [["type": "application", "name": "wheelfarm", "version": wheelfarmVersion]]]
            ],
            "components": components, "dependencies": dependencies
        ]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return Array(data) + [10]
    }
}

import Foundation
import WheelfarmBasics

/// Writes the CycloneDX SBOM (PEP 770) that names each grafted library and where it came from.
enum SBOMWriter {
    static func cycloneDX(
        plan: RepairPlan, origins: [String: OwningPackage], grafted: [String: [UInt8]],
        toolVersion: String, licenseFiles: [String: String], epoch: Int?
    ) -> [UInt8] {
        let name = plan.filename.distribution.lowercased().replacingOccurrences(of: "_", with: "-")
        let wheelRef = "pkg:pypi/\(name)@\(plan.filename.version)"
        var components: [[String: Any]] = []
        var refs: [String] = []
        for graft in plan.grafts {
            var component: [String: Any] = ["type": "library"]
            var properties: [[String: String]] = [
                ["name": "wheelfarm:grafted-file", "value": graft.destination],
                ["name": "wheelfarm:original-soname", "value": graft.soname],
                ["name": "wheelfarm:source-path", "value": graft.sourcePath]
            ]
            if let owner = origins[graft.soname] {
                component["bom-ref"] = owner.purl
                component["name"] = owner.name
                component["version"] = owner.version
                component["purl"] = owner.purl
                if let license = licenseFiles[owner.name] { properties.append(["name": "wheelfarm:copyright-file", "value": license]) }
            } else {
                component["bom-ref"] = "file:\(graft.destination)"
                component["name"] = graft.soname
            }
            if let bytes = grafted[graft.destination] {
                component["hashes"] = [["alg": "SHA-256", "content": Digest.hex(Digest.sha256(bytes))]]
            }
            component["properties"] = properties
            if let ref = component["bom-ref"] as? String, !refs.contains(ref) {
                refs.append(ref)
                components.append(component)
            }
        }
        var metadata: [String: Any] = [
            "component": ["type": "library", "bom-ref": wheelRef, "name": name, "version": plan.filename.version, "purl": wheelRef],
            "tools": ["components": [["type": "application", "name": "wheelfarm", "version": toolVersion]]]
        ]
        if let epoch {
            let formatter = ISO8601DateFormatter()
            metadata["timestamp"] = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
        }
        let document: [String: Any] = [
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "metadata": metadata,
            "components": components,
            "dependencies": [["ref": wheelRef, "dependsOn": refs]] + refs.map { ["ref": $0, "dependsOn": [String]()] }
        ]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return [UInt8](data) + [0x0a]
    }
}

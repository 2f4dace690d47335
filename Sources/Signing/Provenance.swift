import Foundation

/// What a provenance statement says about one wheel's build.
public struct ProvenanceFacts: Sendable {
    public var wheelName: String
    public var wheelSha256: String
    public var sdistName: String
    public var sdistSha256: String
    public var sdistURL: String
    public var target: String
    public var toolchainDigest: String
    public var derivedRoot: String?
    public var recipeDigest: String
    /// Build requirements: file name and sha256.
    public var buildRequirements: [(file: String, sha256: String)]
    public var builderVersion: String
    public var startedAt: Date
    public var finishedAt: Date
    /// The builder host that ran the build and the id of its own key (nil: the coordinator).
    public var builderHost: String? = nil
    public var builderKey: String? = nil

    /// Collects the facts.
    public init(
        wheelName: String, wheelSha256: String, sdistName: String, sdistSha256: String, sdistURL: String, target: String,
        toolchainDigest: String, derivedRoot: String?, recipeDigest: String, buildRequirements: [(file: String, sha256: String)],
        builderVersion: String, startedAt: Date, finishedAt: Date
    ) {
        self.wheelName = wheelName
        self.wheelSha256 = wheelSha256
        self.sdistName = sdistName
        self.sdistSha256 = sdistSha256
        self.sdistURL = sdistURL
        self.target = target
        self.toolchainDigest = toolchainDigest
        self.derivedRoot = derivedRoot
        self.recipeDigest = recipeDigest
        self.buildRequirements = buildRequirements
        self.builderVersion = builderVersion
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// In-toto statements with an SLSA provenance (v1) predicate, in DSSE envelopes signed with
/// Ed25519: the format in-toto and SLSA tooling read.
public enum Provenance {
    /// The DSSE payload type of in-toto statements.
    public static let payloadType = "application/vnd.in-toto+json"
    /// The build type URI of wheelfarm builds.
    public static let buildType = "urn:wheelfarm:build:v1"

    /// The statement as JSON bytes (sorted keys, so the same facts give the same bytes).
    public static func statement(_ facts: ProvenanceFacts) throws -> [UInt8] {
        let time = ISO8601DateFormatter()
        var internalParameters: [String: Any] = [
            "toolchain": ["name": facts.target, "digest": ["sha256": facts.toolchainDigest]],
            "recipe": ["digest": ["sha256": facts.recipeDigest]]
        ]
        if let derived = facts.derivedRoot { internalParameters["derived_root"] = ["digest": ["sha256": derived]] }
        var builder: [String: Any] = ["id": "urn:wheelfarm:builder", "version": ["wheelfarm": facts.builderVersion]]
        if let host = facts.builderHost {
            // Built on a builder host: it is named with its key; the farm's key signs the statement.
            builder["id"] = "urn:wheelfarm:builder:\(host)"
            builder["builderDependencies"] = [["name": "builder-key", "annotations": ["host": host, "keyid": facts.builderKey ?? ""]]]
        }
        let dependencies: [[String: Any]] =
            [["name": facts.sdistName, "uri": facts.sdistURL, "digest": ["sha256": facts.sdistSha256]]]
            + facts.buildRequirements.map { ["name": $0.file, "digest": ["sha256": $0.sha256]] }
        let statement: [String: Any] = [
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [["name": facts.wheelName, "digest": ["sha256": facts.wheelSha256]]],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": [
                "buildDefinition": [
                    "buildType": buildType,
                    "externalParameters": ["source": ["uri": facts.sdistURL, "digest": ["sha256": facts.sdistSha256]], "target": facts.target],
                    "internalParameters": internalParameters,
                    "resolvedDependencies": dependencies
                ],
                "runDetails": [
                    "builder": builder,
                    "metadata": ["startedOn": time.string(from: facts.startedAt), "finishedOn": time.string(from: facts.finishedAt)]
                ]
            ]
        ]
        return Array(try JSONSerialization.data(withJSONObject: statement, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// DSSE's pre-authentication encoding: what the signature covers.
    public static func pae(type: String, payload: [UInt8]) -> [UInt8] {
        Array("DSSEv1 \(type.utf8.count) \(type) \(payload.count) ".utf8) + payload
    }

    /// The signed envelope of a statement, as JSON text.
    public static func envelope(statement: [UInt8], key: MinisignKey) throws -> String {
        let signature = try key.key.sign(pae(type: payloadType, payload: statement))
        let envelope: [String: Any] = [
            "payloadType": payloadType,
            "payload": Data(statement).base64EncodedString(),
            "signatures": [["keyid": key.keyIDText, "sig": Data(signature).base64EncodedString()]]
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self) + "\n"
    }

    /// Checks an envelope's signature by `key` and that its statement names `wheelName` with
    /// `sha256`; returns the statement.
    public static func verify(envelope text: String, key: MinisignPublicKey, wheelName: String, sha256: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let type = object["payloadType"] as? String, let payloadText = object["payload"] as? String,
            let payload = Data(base64Encoded: payloadText), let signatures = object["signatures"] as? [[String: Any]]
        else {
            throw SigningError.malformed(what: "the provenance", reason: "not a DSSE envelope")
        }
        guard type == payloadType else { throw SigningError.malformed(what: "the provenance", reason: "payload type \(type), not \(payloadType)") }
        let message = pae(type: type, payload: Array(payload))
        let valid = signatures.contains { entry in
            guard let sig = (entry["sig"] as? String).flatMap({ Data(base64Encoded: $0) }) else { return false }
            return Ed25519.verify(signature: Array(sig), message: message, publicKey: key.key)
        }
        guard valid else { throw SigningError.badSignature("no signature of the provenance envelope verifies with key \(MinisignPublicKey.idText(key.keyID))") }
        guard let statement = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
            let subjects = statement["subject"] as? [[String: Any]]
        else {
            throw SigningError.malformed(what: "the provenance statement", reason: "no subject")
        }
        let matches = subjects.contains { subject in
            subject["name"] as? String == wheelName && (subject["digest"] as? [String: String])?["sha256"] == sha256
        }
        guard matches else { throw SigningError.badSignature("the provenance is about another file (its subject is not \(wheelName) with sha256 \(sha256))") }
        return statement
    }
}

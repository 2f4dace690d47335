import Foundation
import WheelfarmBasics

/// The farm's signing key: a minisign secret key (mode 0600) and its public key, in
/// `<home>/keys/` unless `WHEELFARM_SIGNING_KEY` names another secret key file.
public struct SigningKeyStore: Sendable {
    /// The secret key file.
    public let secretPath: String
    /// The public key file.
    public let publicPath: String

    /// The key files of a farm home (or of `WHEELFARM_SIGNING_KEY` and the `.pub` beside it).
    public init(home: String) {
        if let explicit = ProcessInfo.processInfo.environment["WHEELFARM_SIGNING_KEY"], !explicit.isEmpty {
            secretPath = explicit
            publicPath = (explicit.hasSuffix(".key") ? String(explicit.dropLast(4)) : explicit) + ".pub"
        } else {
            secretPath = "\(home)/keys/signing.key"
            publicPath = "\(home)/keys/signing.pub"
        }
    }

    /// Key files at explicit paths.
    public init(secretPath: String, publicPath: String) {
        self.secretPath = secretPath
        self.publicPath = publicPath
    }

    /// The secret key, or nil when there is none.
    public func load() throws -> MinisignKey? {
        guard FileManager.default.fileExists(atPath: secretPath) else { return nil }
        guard let text = try? String(contentsOfFile: secretPath, encoding: .utf8) else { throw SigningError.io(path: secretPath, reason: "cannot read") }
        return try MinisignKey(secretKeyFile: text)
    }

    /// The public key.
    public func publicKey() throws -> MinisignPublicKey {
        guard let text = try? String(contentsOfFile: publicPath, encoding: .utf8) else {
            throw SigningError.io(path: publicPath, reason: "no public key here; 'wheelfarm key generate' makes one, or pass --key")
        }
        return try MinisignPublicKey(text: text)
    }

    /// Makes a new key pair. An existing key is kept unless `force`: replacing it would orphan
    /// every signature made with it.
    public func generate(force: Bool = false) throws -> MinisignKey {
        if !force, FileManager.default.fileExists(atPath: secretPath) {
            throw SigningError.io(
                path: secretPath, reason: "a signing key exists already (wheels signed with it verify only with its public key); pass --force to replace it")
        }
        let key = try MinisignKey.generate()
        try Files.makeDirectories((secretPath as NSString).deletingLastPathComponent)
        try Files.writeAtomically(Array(key.secretKeyFile.utf8), to: secretPath, mode: 0o600)
        try Files.writeAtomically(Array(key.publicKey.file.utf8), to: publicPath, mode: 0o644)
        return key
    }

    /// The key, made on first use so that every wheel the farm builds is signed.
    public func loadOrGenerate() throws -> (key: MinisignKey, generated: Bool) {
        if let key = try load() { return (key, false) }
        return (try generate(), true)
    }
}

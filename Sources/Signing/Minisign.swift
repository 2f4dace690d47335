import Foundation

/// Keys and detached signatures in minisign's formats, so that Debian's `minisign -V` (and
/// anyone with the public key) checks what the farm signed.
///
/// - Public key: a comment line, then base64 of `"Ed"`, the 8-byte key id and the 32-byte key.
/// - Secret key: base64 of `"Ed"`, the KDF (`00 00`: not encrypted; the file is mode 0600 in the
///   farm's home), `"B2"`, salt, limits, then key id, the 64-byte secret key (seed and public key)
///   and a BLAKE2b-256 checksum.
/// - Signature: `"ED"` (the file's BLAKE2b-512 is signed, minisign's default) or `"Ed"` (the file
///   itself, legacy), the key id and the signature; then a trusted comment and a global signature
///   over the signature and that comment, so the comment cannot be changed either.
public struct MinisignKey: Sendable {
    /// The Ed25519 key.
    public let key: Ed25519PrivateKey
    /// The 8-byte key id.
    public let keyID: [UInt8]

    /// A new key with a random id.
    public static func generate() throws -> MinisignKey {
        let key = try Ed25519PrivateKey.generate()
        var id = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { id[i] = UInt8.random(in: 0...255) }
        return MinisignKey(key: key, keyID: id)
    }

    /// A key from its parts.
    public init(key: Ed25519PrivateKey, keyID: [UInt8]) {
        self.key = key
        self.keyID = keyID
    }

    /// The key id as minisign prints it: the little-endian number in upper-case hex.
    public var keyIDText: String { MinisignPublicKey.idText(keyID) }

    /// The public half.
    public var publicKey: MinisignPublicKey { MinisignPublicKey(keyID: keyID, key: key.publicKey) }

    /// The secret key file's text (unencrypted).
    public var secretKeyFile: String {
        let secret = key.seed + key.publicKey
        let checksum = Blake2b.hash(Array("Ed".utf8) + keyID + secret, length: 32)
        var bytes = Array("Ed".utf8) + [0, 0] + Array("B2".utf8)
        bytes += [UInt8](repeating: 0, count: 32 + 8 + 8)  // salt, opslimit, memlimit: unused without a KDF
        bytes += keyID + secret + checksum
        return "untrusted comment: wheelfarm secret key \(keyIDText) (not encrypted; keep this file private)\n\(Data(bytes).base64EncodedString())\n"
    }

    /// Reads a secret key file written by ``secretKeyFile`` (or by `minisign -G -W`).
    public init(secretKeyFile text: String) throws {
        let bytes = try Self.payload(text, what: "the secret key")
        guard bytes.count == 158, bytes[0..<2] == [0x45, 0x64] else {
            throw SigningError.malformed(what: "the secret key", reason: "not an Ed25519 minisign secret key")
        }
        guard bytes[2..<4] == [0, 0] else {
            throw SigningError.malformed(
                what: "the secret key", reason: "it is encrypted with a password; wheelfarm signs unattended and needs an unencrypted key (minisign -G -W)")
        }
        let id = Array(bytes[54..<62])
        let secret = Array(bytes[62..<126])
        guard Blake2b.hash(Array("Ed".utf8) + id + secret, length: 32) == Array(bytes[126..<158]) else {
            throw SigningError.malformed(what: "the secret key", reason: "its checksum does not match")
        }
        let key = try Ed25519PrivateKey(seed: Array(secret[0..<32]))
        guard key.publicKey == Array(secret[32..<64]) else {
            throw SigningError.malformed(what: "the secret key", reason: "its public half does not match its seed")
        }
        self.init(key: key, keyID: id)
    }

    /// The detached signature of `contents` (a file named `fileName`), prehashed (`ED`).
    public func sign(_ contents: [UInt8], fileName: String, timestamp: Date = Date()) throws -> String {
        let signature = try key.sign(Blake2b.hash(contents))
        let trusted = "timestamp:\(Int(timestamp.timeIntervalSince1970))\tfile:\(fileName)\thashed"
        let global = try key.sign(signature + Array(trusted.utf8))
        return "untrusted comment: signature from wheelfarm secret key \(keyIDText)\n"
            + Data(Array("ED".utf8) + keyID + signature).base64EncodedString() + "\n"
            + "trusted comment: \(trusted)\n"
            + Data(global).base64EncodedString() + "\n"
    }

    static func payload(_ text: String, what: String) throws -> [UInt8] {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.count >= 2, lines[0].hasPrefix("untrusted comment:"), let data = Data(base64Encoded: lines[1]) else {
            throw SigningError.malformed(what: what, reason: "expected an 'untrusted comment:' line and a base64 line")
        }
        return Array(data)
    }
}

/// A minisign public key.
public struct MinisignPublicKey: Sendable, Equatable {
    /// The 8-byte key id.
    public let keyID: [UInt8]
    /// The 32-byte Ed25519 key.
    public let key: [UInt8]

    /// A key from its parts.
    public init(keyID: [UInt8], key: [UInt8]) {
        self.keyID = keyID
        self.key = key
    }

    /// Reads a public key file (or its base64 line alone).
    public init(text: String) throws {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let line = lines.first(where: { !$0.hasPrefix("untrusted comment:") }), let data = Data(base64Encoded: line), data.count == 42,
            Array(data.prefix(2)) == Array("Ed".utf8)
        else {
            throw SigningError.malformed(what: "the public key", reason: "expected minisign's base64 of 'Ed', an 8-byte id and a 32-byte key")
        }
        self.init(keyID: Array(data[2..<10]), key: Array(data[10..<42]))
    }

    /// The public key file's text.
    public var file: String {
        "untrusted comment: wheelfarm public key \(Self.idText(keyID))\n\(Data(Array("Ed".utf8) + keyID + key).base64EncodedString())\n"
    }

    /// The key id as minisign prints it.
    public var keyIDText: String { Self.idText(keyID) }

    /// A key id as minisign prints it.
    public static func idText(_ id: [UInt8]) -> String { id.reversed().map { String(format: "%02X", $0) }.joined() }

    /// Checks a detached signature of `contents`; returns its trusted comment.
    public func verify(_ contents: [UInt8], signatureFile text: String) throws -> String {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard lines.count >= 4, lines[0].hasPrefix("untrusted comment:"), lines[2].hasPrefix("trusted comment: "),
            let first = Data(base64Encoded: lines[1].trimmingCharacters(in: .whitespaces)), first.count == 74,
            let global = Data(base64Encoded: lines[3].trimmingCharacters(in: .whitespaces)), global.count == 64
        else {
            throw SigningError.malformed(what: "the signature", reason: "not a minisign signature file")
        }
        let algorithm = String(decoding: first.prefix(2), as: UTF8.self)
        guard Array(first[2..<10]) == keyID else {
            throw SigningError.badSignature("it was made by key \(Self.idText(Array(first[2..<10]))), not \(Self.idText(keyID))")
        }
        let signature = Array(first[10..<74])
        let message: [UInt8]
        switch algorithm {
        case "ED": message = Blake2b.hash(contents)
        case "Ed": message = contents
        default: throw SigningError.malformed(what: "the signature", reason: "unknown algorithm '\(algorithm)'")
        }
        guard Ed25519.verify(signature: signature, message: message, publicKey: key) else { throw SigningError.badSignature("the file's contents changed") }
        let trusted = String(lines[2].dropFirst("trusted comment: ".count))
        guard Ed25519.verify(signature: Array(global), message: signature + Array(trusted.utf8), publicKey: key) else {
            throw SigningError.badSignature("the trusted comment changed")
        }
        return trusted
    }
}

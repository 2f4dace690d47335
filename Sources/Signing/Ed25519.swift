import CCrypto

/// Errors of signing and verification.
public enum SigningError: Error, CustomStringConvertible, Equatable {
    case crypto(String)
    case malformed(what: String, reason: String)
    case badSignature(String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .crypto(step): return "the system's libcrypto failed at \(step)"
        case let .malformed(what, reason): return "\(what) is malformed: \(reason)"
        case let .badSignature(what): return "the signature does not verify: \(what)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Ed25519 (RFC 8032) through the system's libcrypto: a 32-byte seed makes the key pair.
public struct Ed25519PrivateKey: Sendable {
    /// The 32-byte seed.
    public let seed: [UInt8]
    /// The 32-byte public key.
    public let publicKey: [UInt8]

    /// A new key from the system's CSPRNG.
    public static func generate() throws -> Ed25519PrivateKey {
        var seed = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&seed, 32) == 1 else { throw SigningError.crypto("RAND_bytes") }
        return try Ed25519PrivateKey(seed: seed)
    }

    /// The key of a 32-byte seed.
    public init(seed: [UInt8]) throws {
        guard seed.count == 32 else { throw SigningError.malformed(what: "an Ed25519 seed", reason: "\(seed.count) bytes, not 32") }
        self.seed = seed
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, 32) else { throw SigningError.crypto("EVP_PKEY_new_raw_private_key") }
        defer { EVP_PKEY_free(key) }
        var public_ = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &public_, &length) == 1, length == 32 else { throw SigningError.crypto("EVP_PKEY_get_raw_public_key") }
        publicKey = public_
    }

    /// The 64-byte signature of `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, 32) else { throw SigningError.crypto("EVP_PKEY_new_raw_private_key") }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { throw SigningError.crypto("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1 else { throw SigningError.crypto("EVP_DigestSignInit") }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else { throw SigningError.crypto("EVP_DigestSign") }
        return signature
    }
}

/// Ed25519 verification.
public enum Ed25519 {
    /// Whether `signature` is a valid signature of `message` by `publicKey`.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32,
            let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, 32)
        else { return false }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return false }
        return EVP_DigestVerify(context, signature, 64, message, message.count) == 1
    }
}

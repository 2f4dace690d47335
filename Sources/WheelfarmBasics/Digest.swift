import CCrypto
import Foundation

/// A streaming SHA-256 computation backed by the system's libcrypto.
///
/// libcrypto's assembly implementation stays fast even in debug builds, where a
/// pure-Swift hash is dozens of times slower.
public struct SHA256Hasher: ~Copyable {
    private var context = SHA256_CTX()

    /// Creates a hasher ready to take bytes.
    public init() {
        SHA256_Init(&context)
    }

    /// Feeds bytes into the digest.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        SHA256_Update(&context, base, buffer.count)
    }

    /// Feeds bytes into the digest.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the digest and returns its 32 bytes.
    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        _ = out.withUnsafeMutableBufferPointer { SHA256_Final($0.baseAddress, &context) }
        return out
    }
}

/// Convenience digests and their textual encodings.
public enum Digest {
    /// The SHA-256 of a byte buffer.
    public static func sha256(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(buffer)
        return hasher.finalize()
    }

    /// The SHA-256 of a byte array.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    /// The SHA-256 of a file, read in chunks so that large files need no large buffer.
    public static func sha256(fileAt path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw BasicsError.io(path: path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        var hasher = SHA256Hasher()
        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }

    /// Lower-case hexadecimal encoding.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// URL-safe base64 without padding, as wheel RECORD files use (PEP 376/427).
    public static func urlsafeBase64NoPadding(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes URL-safe base64 with or without padding; nil when malformed.
    public static func decodeUrlsafeBase64(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        guard let data = Data(base64Encoded: standard) else { return nil }
        return [UInt8](data)
    }
}

/// RECORD's hash algorithms (PEP 376/427): the names of Python's `hashlib.algorithms_guaranteed`
/// that are SHA-256 or stronger, with libcrypto's name for each. Anything weaker (md5, sha1,
/// sha224) or unknown is refused, so a RECORD cannot skip its check by naming an odd algorithm.
public enum RecordHash {
    /// hashlib name → libcrypto name.
    public static let accepted: [String: String] = [
        "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512", "sha3_256": "SHA3-256", "sha3_384": "SHA3-384",
        "sha3_512": "SHA3-512", "blake2b": "BLAKE2b512", "blake2s": "BLAKE2s256"
    ]

    /// The digest of `bytes` with a RECORD algorithm (nil when it is not one of ``accepted``).
    public static func digest(_ algorithm: String, _ bytes: [UInt8]) -> [UInt8]? {
        if algorithm == "sha256" { return Digest.sha256(bytes) }
        guard let name = accepted[algorithm], let md = EVP_get_digestbyname(name), let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { buffer in
            EVP_DigestInit_ex(context, md, nil) == 1 && EVP_DigestUpdate(context, buffer.baseAddress, buffer.count) == 1
                && EVP_DigestFinal_ex(context, &out, &length) == 1
        }
        return ok ? Array(out.prefix(Int(length))) : nil
    }
}

import Foundation
import Signing
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

final class SigningTests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// RFC 7693 appendix A and the reference implementation's test vectors.
    func testBlake2bVectors() {
        XCTAssertEqual(
            hex(Blake2b.hash(Array("abc".utf8))),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        XCTAssertEqual(
            hex(Blake2b.hash([])),
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce")
        XCTAssertEqual(hex(Blake2b.hash(Array("abc".utf8), length: 32)), "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        // Block boundaries: 127, 128, 129 and 256 bytes, in one call and byte by byte.
        for count in [127, 128, 129, 256, 1000] {
            let data = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 7) }
            var hasher = Blake2b()
            for byte in data { hasher.update([byte]) }
            XCTAssertEqual(hasher.finalize(), Blake2b.hash(data), "\(count)")
        }
    }

    /// RFC 8032 section 7.1, test 2.
    func testEd25519Vector() throws {
        func bytes(_ text: String) -> [UInt8] {
            var out: [UInt8] = []
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                out.append(UInt8(text[index..<next], radix: 16) ?? 0)
                index = next
            }
            return out
        }
        let key = try Ed25519PrivateKey(seed: bytes("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
        XCTAssertEqual(hex(key.publicKey), "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        let signature = try key.sign([0x72])
        XCTAssertEqual(
            hex(signature), "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        XCTAssertTrue(Ed25519.verify(signature: signature, message: [0x72], publicKey: key.publicKey))
        XCTAssertFalse(Ed25519.verify(signature: signature, message: [0x73], publicKey: key.publicKey))
    }

    func testMinisignRoundTripAndTampering() throws {
        let key = try MinisignKey.generate()
        let reread = try MinisignKey(secretKeyFile: key.secretKeyFile)
        XCTAssertEqual(reread.keyID, key.keyID)
        XCTAssertEqual(reread.key.publicKey, key.key.publicKey)
        let contents = Array("wheel bytes".utf8)
        let signature = try key.sign(contents, fileName: "x-1.0-py3-none-any.whl")
        let publicKey = try MinisignPublicKey(text: key.publicKey.file)
        XCTAssertTrue(try publicKey.verify(contents, signatureFile: signature).contains("file:x-1.0-py3-none-any.whl"))
        XCTAssertThrowsError(try publicKey.verify(Array("wheel bytez".utf8), signatureFile: signature))
        let forged = signature.replacingOccurrences(of: "file:x-1.0", with: "file:y-1.0")
        XCTAssertThrowsError(try publicKey.verify(contents, signatureFile: forged)) { XCTAssertTrue("\($0)".contains("trusted comment")) }
        let other = try MinisignKey.generate().publicKey
        XCTAssertThrowsError(try other.verify(contents, signatureFile: signature)) { XCTAssertTrue("\($0)".contains("made by key")) }
        // A corrupted secret key is caught by its checksum.
        var lines = key.secretKeyFile.split(separator: "\n").map(String.init)
        var raw = Array(try XCTUnwrap(Data(base64Encoded: lines[1])))
        raw[100] ^= 1
        lines[1] = Data(raw).base64EncodedString()
        XCTAssertThrowsError(try MinisignKey(secretKeyFile: lines.joined(separator: "\n"))) { XCTAssertTrue("\($0)".contains("checksum")) }
    }

    /// Debian's minisign checks our signatures, and signs with our secret key file.
    func testMinisignToolAgrees() throws {
        let minisign = try TestSupport.requireTool("minisign", hint: "apt-get install minisign (ci/setup.sh does)")
        let dir = try TemporaryDirectory(prefix: "wf-minisign")
        let key = try MinisignKey.generate()
        try Files.writeAtomically(Array(key.publicKey.file.utf8), to: "\(dir.path)/key.pub")
        try Files.writeAtomically(Array(key.secretKeyFile.utf8), to: "\(dir.path)/key.sec", mode: 0o600)
        let contents = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Files.writeAtomically(contents, to: "\(dir.path)/demo-1.0-py3-none-any.whl")
        try Files.writeAtomically(
            Array(try key.sign(contents, fileName: "demo-1.0-py3-none-any.whl").utf8), to: "\(dir.path)/demo-1.0-py3-none-any.whl.minisig")
        let verified = try ProcessRunner.run(minisign, ["-V", "-p", "\(dir.path)/key.pub", "-m", "\(dir.path)/demo-1.0-py3-none-any.whl"])
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
        XCTAssertTrue(verified.stdout.contains("file:demo-1.0-py3-none-any.whl"), verified.stdout)
        // A changed byte: minisign refuses.
        var changed = contents
        changed[1000] ^= 0xff
        try Files.writeAtomically(changed, to: "\(dir.path)/demo-1.0-py3-none-any.whl")
        XCTAssertNotEqual(try ProcessRunner.run(minisign, ["-V", "-p", "\(dir.path)/key.pub", "-m", "\(dir.path)/demo-1.0-py3-none-any.whl"]).status, 0)
        // minisign signs with our (unencrypted) secret key; we verify its signature.
        try Files.writeAtomically(contents, to: "\(dir.path)/other.bin")
        let signed = try ProcessRunner.run(minisign, ["-S", "-s", "\(dir.path)/key.sec", "-m", "\(dir.path)/other.bin", "-t", "made by minisign"])
        XCTAssertEqual(signed.status, 0, signed.stdout + signed.stderr)
        let theirs = try String(contentsOfFile: "\(dir.path)/other.bin.minisig", encoding: .utf8)
        XCTAssertEqual(try key.publicKey.verify(contents, signatureFile: theirs), "made by minisign")
    }

    func testProvenanceEnvelope() throws {
        let key = try MinisignKey.generate()
        let facts = ProvenanceFacts(
            wheelName: "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", wheelSha256: String(repeating: "a", count: 64),
            sdistName: "demo-1.0.tar.gz", sdistSha256: String(repeating: "b", count: 64), sdistURL: "file:///src/demo-1.0.tar.gz",
            target: "cp311-bookworm-glibc2.17-x86_64", toolchainDigest: String(repeating: "c", count: 64), derivedRoot: nil,
            recipeDigest: "none", buildRequirements: [("setuptools-75.6.0-py3-none-any.whl", String(repeating: "d", count: 64))],
            builderVersion: "test", startedAt: Date(timeIntervalSince1970: 1_700_000_000), finishedAt: Date(timeIntervalSince1970: 1_700_000_060))
        let statement = try Provenance.statement(facts)
        XCTAssertEqual(statement, try Provenance.statement(facts), "the same facts give the same bytes")
        let envelope = try Provenance.envelope(statement: statement, key: key)
        let decoded = try Provenance.verify(envelope: envelope, key: key.publicKey, wheelName: facts.wheelName, sha256: facts.wheelSha256)
        XCTAssertEqual(decoded["predicateType"] as? String, "https://slsa.dev/provenance/v1")
        let predicate = try XCTUnwrap(decoded["predicate"] as? [String: Any])
        let definition = try XCTUnwrap(predicate["buildDefinition"] as? [String: Any])
        let dependencies = try XCTUnwrap(definition["resolvedDependencies"] as? [[String: Any]])
        XCTAssertEqual(dependencies.compactMap { $0["name"] as? String }, ["demo-1.0.tar.gz", "setuptools-75.6.0-py3-none-any.whl"])
        // Another wheel, another key, or a changed payload: refused.
        XCTAssertThrowsError(
            try Provenance.verify(envelope: envelope, key: key.publicKey, wheelName: facts.wheelName, sha256: String(repeating: "e", count: 64)))
        XCTAssertThrowsError(
            try Provenance.verify(envelope: envelope, key: try MinisignKey.generate().publicKey, wheelName: facts.wheelName, sha256: facts.wheelSha256))
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(envelope.utf8)) as? [String: Any])
        object["payload"] = Data(Array(String(decoding: statement, as: UTF8.self).replacingOccurrences(of: "demo-1.0.tar.gz", with: "evil-1.0.tar.gz").utf8))
            .base64EncodedString()
        let tampered = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        XCTAssertThrowsError(try Provenance.verify(envelope: tampered, key: key.publicKey, wheelName: facts.wheelName, sha256: facts.wheelSha256))
        // The PAE of DSSE's specification.
        XCTAssertEqual(
            String(decoding: Provenance.pae(type: "http://example.com/HelloWorld", payload: Array("hello world".utf8)), as: UTF8.self),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    func testKeyStoreKeepsAnExistingKey() throws {
        let dir = try TemporaryDirectory(prefix: "wf-keys")
        let store = SigningKeyStore(secretPath: "\(dir.path)/k/signing.key", publicPath: "\(dir.path)/k/signing.pub")
        let (first, generated) = try store.loadOrGenerate()
        XCTAssertTrue(generated)
        let attributes = try FileManager.default.attributesOfItem(atPath: store.secretPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try store.loadOrGenerate().key.keyID, first.keyID)
        XCTAssertThrowsError(try store.generate()) { XCTAssertTrue("\($0)".contains("--force")) }
        XCTAssertNotEqual(try store.generate(force: true).keyID, first.keyID)
        XCTAssertEqual(try store.publicKey(), try XCTUnwrap(try store.load()).publicKey)
    }
}

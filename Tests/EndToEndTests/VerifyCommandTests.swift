import ArgumentParser
import ELFInspection
import FarmCore
import Foundation
import PackagingModel
import Signing
import TestSupport
import WheelArchive
import WheelAudit
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelfarmCommands

/// `wheelfarm key generate` and `wheelfarm verify` on a signed wheel, then on tampered copies.
final class VerifyCommandTests: XCTestCase {
    func testVerifyChecksSignatureProvenanceAndRecord() throws {
        let work = try TemporaryDirectory(prefix: "wf-verify")
        var generate = try KeyCommand.Generate.parse(["--home", work.path])
        try generate.run()
        XCTAssertThrowsError(try KeyCommand.Generate.parse(["--home", work.path]).run(), "an existing key is kept")
        let keys = SigningKeyStore(home: work.path)
        let key = try XCTUnwrap(try keys.load())
        let wheel = try TestSupport.makeWheel(
            in: work.path, name: "signed", version: "1.0", tag: "py3-none-any",
            files: ["signed/__init__.py": Array("x = 1\n".utf8)])
        func sign(_ path: String) throws {
            let bytes = try Files.readBytes(path)
            let name = (path as NSString).lastPathComponent
            try Files.writeAtomically(Array(try key.sign(bytes, fileName: name).utf8), to: path + ".minisig")
            let facts = ProvenanceFacts(
                wheelName: name, wheelSha256: Digest.hex(Digest.sha256(bytes)), sdistName: "signed-1.0.tar.gz",
                sdistSha256: String(repeating: "0", count: 64), sdistURL: "file:///signed-1.0.tar.gz", target: "cp311-bookworm-x86_64",
                toolchainDigest: String(repeating: "1", count: 64), derivedRoot: nil, recipeDigest: "none", buildRequirements: [],
                builderVersion: "test", startedAt: Date(), finishedAt: Date())
            try Files.writeAtomically(Array(try Provenance.envelope(statement: Provenance.statement(facts), key: key).utf8), to: path + ".intoto.json")
        }
        try sign(wheel)
        XCTAssertNoThrow(try VerifyCommand.parse([wheel, "--home", work.path]).run())

        // A changed wheel: the signature fails.
        let bytes = try Files.readBytes(wheel)
        var changed = bytes
        changed[changed.count / 2] ^= 0x01
        try Files.writeAtomically(changed, to: wheel)
        XCTAssertThrowsError(try VerifyCommand.parse([wheel, "--home", work.path]).run()) { XCTAssertEqual(($0 as? ExitCode)?.rawValue, 1) }
        // A wheel whose RECORD lies, signed anew: signature and provenance pass, the RECORD check does not.
        let liar = try TestSupport.makeWheel(
            in: work.path, name: "liar", version: "1.0", tag: "py3-none-any",
            files: ["liar/__init__.py": Array("x = 1\n".utf8)],
            extraMetadata: ["liar-1.0.dist-info/RECORD": Array("liar/__init__.py,sha256=AAAA,6\nliar-1.0.dist-info/RECORD,,\n".utf8)])
        try sign(liar)
        XCTAssertThrowsError(try VerifyCommand.verify(liar, key: keys.publicKey())) {
            XCTAssertTrue("\($0)".contains("RECORD") || "\($0)".contains("hash"), "\($0)")
        }
        // No provenance: refused.
        try Files.writeAtomically(bytes, to: wheel)
        try FileManager.default.removeItem(atPath: wheel + ".intoto.json")
        XCTAssertThrowsError(try VerifyCommand.verify(wheel, key: keys.publicKey())) { XCTAssertTrue("\($0)".contains("provenance"), "\($0)") }
    }
}

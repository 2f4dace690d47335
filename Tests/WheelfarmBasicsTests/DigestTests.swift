@_spi(AnyProgram) import WheelfarmBasics
import XCTest

final class DigestTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(Digest.hex(Digest.sha256(Array("".utf8))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Digest.hex(Digest.sha256(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testStreamingEqualsOneShot() {
        let data = (0..<100_000).map { UInt8($0 % 251) }
        var hasher = SHA256Hasher()
        hasher.update(Array(data[..<33_333]))
        hasher.update(Array(data[33_333...]))
        let streamed = hasher.finalize()
        XCTAssertEqual(streamed, Digest.sha256(data))
    }

    func testFileDigest() throws {
        let dir = try TemporaryDirectory()
        let path = "\(dir.path)/f"
        try Files.writeAtomically(Array("abc".utf8), to: path)
        XCTAssertEqual(Digest.hex(try Digest.sha256(fileAt: path)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertThrowsError(try Digest.sha256(fileAt: "\(dir.path)/missing"))
    }

    func testUrlsafeBase64RoundTrip() {
        let bytes: [UInt8] = [0xfb, 0xff, 0xfe, 0x00, 0x10]
        let text = Digest.urlsafeBase64NoPadding(bytes)
        XCTAssertFalse(text.contains("=") || text.contains("+") || text.contains("/"))
        XCTAssertEqual(Digest.decodeUrlsafeBase64(text), bytes)
        XCTAssertNil(Digest.decodeUrlsafeBase64("!!!"))
    }

    func testProcessRunnerCapturesOutputAndStatus() throws {
        let result = try ProcessRunner.run("sh", ["-c", "echo out; echo err >&2; exit 3"])
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual(result.stdout, "out\n")
        XCTAssertEqual(result.stderr, "err\n")
        XCTAssertThrowsError(try ProcessRunner.check("sh", ["-c", "exit 1"]))
        XCTAssertThrowsError(try ProcessRunner.run("no-such-program-wheelfarm", []))
    }

    func testTemporaryDirectoryIsRemoved() throws {
        var path = ""
        do {
            let dir = try TemporaryDirectory()
            path = dir.path
            XCTAssertTrue(Files.isDirectory(path))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}

import Foundation
import Repository
import TestSupport
import WheelfarmBasics
import XCTest

/// The repository without HTTP: publishing, immutability, checks, pages, uploads and tokens.
final class RepositoryTests: XCTestCase {
    var work: TemporaryDirectory!
    var repository: Repository!

    override func setUpWithError() throws {
        work = try TemporaryDirectory(prefix: "wf-repo")
        repository = try Repository(root: "\(work.path)/repo", maxFileSize: 1 << 20)
    }

    func wheel(
        _ name: String = "demo", version: String = "1.0", tag: String = "py3-none-any", body: String = "x = 1\n",
        metadata: [String: [UInt8]] = [:]
    ) throws -> String {
        let dir = "\(work.path)/w-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try TestSupport.makeWheel(
            in: dir, name: name, version: version, tag: tag, files: ["\(name)/__init__.py": Array(body.utf8)], extraMetadata: metadata)
    }

    func testPublishIsImmutableAndListed() throws {
        let path = try wheel(metadata: ["demo-1.0.dist-info/METADATA": Array("Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\nRequires-Python: >=3.8\n".utf8)])
        guard case let .added(entry) = try repository.publish(path, filename: "demo-1.0-py3-none-any.whl", signature: "sig", provenance: "{}") else {
            return XCTFail("expected a new file")
        }
        XCTAssertEqual(entry.requiresPython, ">=3.8")
        XCTAssertTrue(entry.signed)
        XCTAssertEqual(Digest.hex(try Digest.sha256(fileAt: "\(repository.directory(of: "demo"))/demo-1.0-py3-none-any.whl.metadata")), entry.metadataSha256)
        // The same bytes again: accepted, nothing changes.
        guard case .unchanged = try repository.publish(path, filename: "demo-1.0-py3-none-any.whl") else { return XCTFail("expected unchanged") }
        // Other bytes under the same name: refused, the stored file stays.
        let other = try wheel(body: "x = 2\n", metadata: ["demo-1.0.dist-info/METADATA": Array("Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\n".utf8)])
        XCTAssertThrowsError(try repository.publish(other, filename: "demo-1.0-py3-none-any.whl")) { XCTAssertEqual(($0 as? RepositoryError)?.status, 409) }
        XCTAssertEqual(Digest.hex(try Digest.sha256(fileAt: "\(repository.directory(of: "demo"))/demo-1.0-py3-none-any.whl")), entry.sha256)
        // A rebuild with a build number is a new file beside the old one.
        let rebuilt = try wheel(body: "x = 2\n", metadata: ["demo-1.0.dist-info/METADATA": Array("Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\n".utf8)])
        try repository.publish(rebuilt, filename: "demo-1.0-1-py3-none-any.whl")
        XCTAssertEqual(try repository.manifest("Demo")?.files.map(\.filename), ["demo-1.0-1-py3-none-any.whl", "demo-1.0-py3-none-any.whl"])
        XCTAssertEqual(repository.projects(), ["demo"])
    }

    func testBadInputIsRefusedAndNothingIsWritten() throws {
        let good = try wheel()
        let cases: [(String, String, Int)] = [
            (good, "../demo-1.0-py3-none-any.whl", 400),  // path traversal
            (good, "demo-1.0.tar.gz", 400),  // not a wheel name
            (good, "other-1.0-py3-none-any.whl", 400),  // name differs from METADATA
            (good, "demo-2.0-py3-none-any.whl", 400)  // version differs from METADATA
        ]
        for (path, name, status) in cases {
            XCTAssertThrowsError(try repository.publish(path, filename: name), name) {
                XCTAssertEqual(($0 as? RepositoryError)?.status, status, "\(name): \($0)")
            }
        }
        let notZip = "\(work.path)/junk.whl"
        try Files.writeAtomically(Array("not a zip".utf8), to: notZip)
        XCTAssertThrowsError(try repository.publish(notZip, filename: "demo-1.0-py3-none-any.whl")) { XCTAssertEqual(($0 as? RepositoryError)?.status, 400) }
        XCTAssertThrowsError(try repository.publish(good, filename: "demo-1.0-py3-none-any.whl", expectedSha256: String(repeating: "0", count: 64))) {
            XCTAssertTrue("\($0)".contains("sha256 mismatch"))
        }
        let noise = Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()  // does not compress below the limit
        let big = try wheel(body: noise)
        XCTAssertThrowsError(try repository.publish(big, filename: "demo-1.0-py3-none-any.whl")) { XCTAssertEqual(($0 as? RepositoryError)?.status, 413) }
        XCTAssertEqual(repository.projects(), [])
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: "\(repository.root)/files")) ?? [], [])
    }

    func testLeftoversOfDeadProcessesAreSwept() throws {
        // A process killed mid-upload leaves its part file; a live one's stays.
        let dead = "\(repository.root)/incoming/upload@999999.1.part"
        let live = "\(repository.root)/incoming/\(OwnedFolders.name("upload")).part"
        let check = "\(repository.root)/incoming/check@999999.3"
        try Files.writeAtomically([1], to: dead)
        try Files.writeAtomically([1], to: live)
        try FileManager.default.createDirectory(atPath: check, withIntermediateDirectories: true)
        _ = try Repository(root: repository.root)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertFalse(FileManager.default.fileExists(atPath: check))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
    }

    func testPagesFollowThePEPs() throws {
        try repository.publish(
            try wheel(metadata: ["demo-1.0.dist-info/METADATA": Array("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.8\n".utf8)]),
            filename: "demo-1.0-py3-none-any.whl")
        _ = try repository.yank(project: "demo", version: "1.0", reason: "broken <build>")
        let manifest = try XCTUnwrap(try repository.manifest("demo"))
        let html = IndexPages.projectHTML(manifest)
        XCTAssertTrue(html.contains("href=\"../../files/demo/demo-1.0-py3-none-any.whl#sha256=\(manifest.files[0].sha256)\""), html)
        XCTAssertTrue(html.contains("data-requires-python=\"&gt;=3.8\""), html)
        XCTAssertTrue(html.contains("data-core-metadata=\"sha256=\(manifest.files[0].metadataSha256)\""), html)
        XCTAssertTrue(html.contains("data-dist-info-metadata=\"sha256="), html)
        XCTAssertTrue(html.contains("data-yanked=\"broken &lt;build&gt;\""), html)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(IndexPages.projectJSON(manifest).utf8)) as? [String: Any])
        XCTAssertEqual((json["meta"] as? [String: String])?["api-version"], "1.1")
        XCTAssertEqual(json["versions"] as? [String], ["1.0"])
        let file = try XCTUnwrap((json["files"] as? [[String: Any]])?.first)
        XCTAssertEqual(file["yanked"] as? String, "broken <build>")
        XCTAssertEqual(file["size"] as? Int, manifest.files[0].size)
        XCTAssertNotNil((file["core-metadata"] as? [String: String])?["sha256"])
        XCTAssertNil(file["dist-info-metadata"], "pip 22.3 to 23.1 crash on the old key in JSON (PEP 714)")
        XCTAssertTrue((file["upload-time"] as? String)?.hasSuffix("Z") == true)
        XCTAssertEqual(
            IndexPages.negotiate(accept: "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"),
            IndexPages.jsonType)
        XCTAssertEqual(IndexPages.negotiate(accept: "text/html"), "text/html")
        XCTAssertEqual(IndexPages.negotiate(accept: nil), IndexPages.htmlType)
        XCTAssertNil(IndexPages.negotiate(accept: "application/xml"))
    }

    func multipart(_ fields: [(String, String)], file: (name: String, bytes: [UInt8])?, boundary: String = "XyZ") -> [UInt8] {
        var body: [UInt8] = []
        for (key, value) in fields { body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(key)\"\r\n\r\n\(value)\r\n".utf8) }
        if let file {
            body += Array(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"content\"; filename=\"\(file.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    .utf8)
            body += file.bytes + Array("\r\n".utf8)
        }
        return body + Array("--\(boundary)--\r\n".utf8)
    }

    func testUploadsNeedAScopedTokenAndAValidForm() throws {
        let tokens = TokenStore(repositoryRoot: repository.root)
        let (token, _) = try tokens.create(project: "demo")
        let (other, otherEntry) = try tokens.create(project: "else")
        let handler = UploadHandler(repository: repository, tokens: tokens)
        let path = try wheel()
        let bytes = try Files.readBytes(path)
        let fields = [(":action", "file_upload"), ("name", "demo"), ("version", "1.0"), ("sha256_digest", Digest.hex(Digest.sha256(bytes)))]
        let body = multipart(fields, file: ("demo-1.0-py3-none-any.whl", bytes))
        let type = "multipart/form-data; boundary=XyZ"
        func basic(_ token: String) -> String { "Basic " + Data("__token__:\(token)".utf8).base64EncodedString() }
        XCTAssertEqual(handler.handle(body: body, contentType: type, authorization: nil).status, 401)
        XCTAssertEqual(handler.handle(body: body, contentType: type, authorization: basic("wf_nope_nope")).status, 403)
        XCTAssertEqual(handler.handle(body: body, contentType: type, authorization: basic(other)).status, 403, "a token for another project")
        XCTAssertEqual(
            handler.handle(body: Array(body.prefix(body.count / 2)), contentType: type, authorization: basic(token)).status, 400, "truncated multipart")
        XCTAssertEqual(handler.handle(body: body, contentType: "application/json", authorization: basic(token)).status, 400)
        XCTAssertEqual(
            handler.handle(body: multipart(fields, file: ("../demo-1.0-py3-none-any.whl", bytes)), contentType: type, authorization: basic(token)).status, 400)
        XCTAssertEqual(
            handler.handle(body: multipart(fields, file: ("demo-1.0-py3-none-any.whl", Array("PK junk".utf8))), contentType: type, authorization: basic(token))
                .status, 400)
        XCTAssertEqual(repository.projects(), [], "nothing written by refused uploads")
        XCTAssertEqual(
            handler.handle(body: body, contentType: type, authorization: basic(token)), UploadResult(status: 200, message: "stored demo-1.0-py3-none-any.whl"))
        XCTAssertEqual(handler.handle(body: body, contentType: type, authorization: "Bearer \(token)").status, 200, "the same content again")
        XCTAssertTrue(try tokens.revoke(id: otherEntry.id))
        XCTAssertFalse(tokens.allows(other, .read))
        XCTAssertTrue(tokens.allows(token, .upload(project: "Demo")))
        XCTAssertFalse(try tokens.entries().contains { $0.sha256 == token }, "only hashes are stored")
        XCTAssertEqual((try? String(contentsOfFile: tokens.path, encoding: .utf8))?.contains(token), false)
    }
}

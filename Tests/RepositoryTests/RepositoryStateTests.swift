import Foundation
import Repository
import TestSupport
import WheelfarmBasics
import XCTest

/// The repository's state files are refused when corrupt, never overwritten; its pages escape
/// what came from users; an upload is checked for its token before its body.
final class RepositoryStateTests: XCTestCase {
    var work: TemporaryDirectory!
    var repository: Repository!

    override func setUpWithError() throws {
        work = try TemporaryDirectory(prefix: "wf-repo-state")
        repository = try Repository(root: "\(work.path)/repo", maxFileSize: 1 << 20)
    }

    func wheel(_ name: String = "demo", version: String = "1.0") throws -> String {
        try TestSupport.makeWheel(in: work.path, name: name, version: version, tag: "py3-none-any", files: ["\(name)/__init__.py": Array("x = 1\n".utf8)])
    }

    func testACorruptManifestStopsPublishingAndIsLeftAsItIs() throws {
        try repository.publish(try wheel(), filename: "demo-1.0-py3-none-any.whl")
        let manifest = "\(repository.root)/projects/demo.json"
        try Files.writeAtomically(Array("{ this is not json".utf8), to: manifest)
        XCTAssertThrowsError(try repository.publish(try wheel(version: "2.0"), filename: "demo-2.0-py3-none-any.whl")) { error in
            XCTAssertTrue("\(error)".contains(manifest), "\(error)")
        }
        XCTAssertEqual(try Files.readBytes(manifest), Array("{ this is not json".utf8))
        XCTAssertThrowsError(try repository.yank(project: "demo", version: "1.0", reason: "")) { XCTAssertTrue("\($0)".contains(manifest)) }
    }

    func testACorruptTokenFileIsRefusedAndAllowsNothing() throws {
        let tokens = TokenStore(repositoryRoot: repository.root)
        let (token, _) = try tokens.create(project: nil)
        XCTAssertTrue(tokens.allows(token, .read))
        try Files.writeAtomically(Array("[{\"broken\"".utf8), to: tokens.path)
        XCTAssertFalse(tokens.allows(token, .read))
        XCTAssertThrowsError(try tokens.create(project: nil)) { XCTAssertTrue("\($0)".contains(tokens.path), "\($0)") }
        XCTAssertEqual(try Files.readBytes(tokens.path), Array("[{\"broken\"".utf8), "the token file was overwritten")
    }

    func testUploadsAreCheckedForATokenAndASizeBeforeTheirBody() throws {
        let handler = UploadHandler(repository: repository, tokens: TokenStore(repositoryRoot: repository.root))
        XCTAssertEqual(handler.preflight(authorization: nil, contentLength: 10, limit: 100)?.status, 401)
        XCTAssertEqual(handler.preflight(authorization: "Bearer wf_nothing_here", contentLength: 10, limit: 100)?.status, 403)
        let (token, _) = try TokenStore(repositoryRoot: repository.root).create(project: "demo")
        XCTAssertNil(handler.preflight(authorization: "Bearer \(token)", contentLength: 10, limit: 100))
        XCTAssertEqual(handler.preflight(authorization: "Bearer \(token)", contentLength: 1000, limit: 100)?.status, 413)
    }

    func testAStreamedUploadIsParsedFromItsFile() throws {
        let (token, _) = try TokenStore(repositoryRoot: repository.root).create(project: "demo")
        let path = try wheel()
        let wheelBytes = try Files.readBytes(path)
        let boundary = "wheelfarm-test-boundary"
        var body: [UInt8] = []
        func field(_ name: String, _ value: String) {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        field(":action", "file_upload")
        field("name", "demo")
        field("version", "1.0")
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"content\"; filename=\"demo-1.0-py3-none-any.whl\"\r\n\r\n".utf8)
        body += wheelBytes + Array("\r\n--\(boundary)--\r\n".utf8)
        let file = "\(work.path)/body"
        try Files.writeAtomically(body, to: file)
        let handler = UploadHandler(repository: repository, tokens: TokenStore(repositoryRoot: repository.root))
        let result = handler.handle(bodyFile: file, contentType: "multipart/form-data; boundary=\(boundary)", authorization: "Bearer \(token)")
        XCTAssertEqual(result.status, 200, result.message)
        XCTAssertEqual(
            Digest.hex(try Digest.sha256(fileAt: "\(repository.directory(of: "demo"))/demo-1.0-py3-none-any.whl")), Digest.hex(Digest.sha256(wheelBytes)))
    }

    func testPagesEscapeWhatCameFromUsers() {
        let html = IndexPages.homePage(projects: ["<script>alert('x')</script>", "a\"b"])
        XCTAssertFalse(html.contains("<script>"), html)
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), html)
        XCTAssertFalse(html.contains("a\"b"), html)
    }
}

import Foundation
import Repository
import RepositoryServer
import Signing
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// The repository with real clients: pip installs from `wheelfarm serve` (using the metadata
/// files), twine uploads with a token, HTTPS works with pip trusting the certificate, and the
/// farm publishes to a real pypiserver and a real devpi-server on loopback.
final class RepositoryInteropIntegrationTests: XCTestCase {
    var tools: String { ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] ?? "/opt/wheelfarm-tools" }

    func tool(_ name: String) throws -> String {
        try TestSupport.requireTool(name, hint: "bash ci/setup.sh installs it in /opt/wheelfarm-tools")
    }

    /// A small real wheel with a dependency-free METADATA, made for the test.
    func demoWheel(in dir: String, name: String = "wfdemo", version: String = "1.0") throws -> String {
        let metadata = "Metadata-Version: 2.1\nName: \(name)\nVersion: \(version)\nRequires-Python: >=3.8\n"
        return try TestSupport.makeWheel(
            in: dir, name: name, version: version, tag: "py3-none-any",
            files: ["\(name)/__init__.py": Array("ANSWER = 42\n".utf8)],
            extraMetadata: ["\(name)-\(version).dist-info/METADATA": Array(metadata.utf8)])
    }

    /// Starts the server on a free port; returns the task and the port.
    func startServer(_ repository: Repository, options: ServerOptions) async throws -> (Task<Void, Error>, Int) {
        let box = Locked<[Int?]>(slots: 1)
        let task = Task { try await RepositoryServer(repository: repository, options: options).run { port in box.set(0, port) } }
        for _ in 0..<200 {
            if let port = box.get(0) { return (task, port) }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        task.cancel()
        throw XCTSkip("the server did not start")
    }

    /// Waits until `url` answers (a server started as a process).
    func waitFor(_ url: String, seconds: Int = 60) throws {
        for _ in 0..<(seconds * 4) {
            if let result = try? ProcessRunner.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", url]), result.stdout.hasPrefix("2") { return }
            usleep(250_000)
        }
        XCTFail("\(url) did not answer within \(seconds) s")
    }

    /// Resident memory of this process (the server runs in it), in KiB.
    func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// An upload without a token is refused before its body is read; one with a token is streamed
    /// to disk: the server's memory stays flat either way.
    func testLargeUploadsLeaveTheServersMemoryFlat() async throws {
        let work = try TemporaryDirectory(prefix: "wf-upload-memory")
        let repository = try Repository(root: "\(work.path)/repo", maxFileSize: 512 << 20)
        let (token, _) = try TokenStore(repositoryRoot: repository.root).create(project: "big")
        let (server, port) = try await startServer(repository, options: ServerOptions(port: 0, maxUploadBytes: 512 << 20))
        defer { server.cancel() }
        let big = "\(work.path)/big-1.0-py3-none-any.whl"
        FileManager.default.createFile(atPath: big, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        for _ in 0..<300 { handle.write(Data(count: 1 << 20)) }
        try handle.close()
        let url = "http://127.0.0.1:\(port)/legacy/"
        let before = residentKiB()
        let anonymous = try ProcessRunner.run(
            "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-F", ":action=file_upload", "-F", "name=big", "-F", "content=@\(big)", url])
        XCTAssertEqual(anonymous.stdout, "401")
        let streamed = try ProcessRunner.run(
            "curl", ["-s", "-w", " %{http_code}", "-u", "__token__:\(token)", "-F", ":action=file_upload", "-F", "name=big", "-F", "content=@\(big)", url])
        XCTAssertTrue(streamed.stdout.hasSuffix(" 400"), "a zero-filled file is not a wheel: \(streamed.stdout)")
        XCTAssertLessThan(residentKiB() - before, 100 << 10, "300 MiB uploads grew the server by \(residentKiB() - before) KiB")
        XCTAssertEqual(
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(repository.root)/incoming")) ?? []).filter { !$0.hasPrefix(".") }, [],
            "nothing of the refused uploads is left")
    }

    func testPipInstallsAndTwineUploads() async throws {
        let pip = try tool("pip")
        let twine = try tool("twine")
        let work = try TemporaryDirectory(prefix: "wf-interop")
        let repository = try Repository(root: "\(work.path)/repo")
        try repository.publish(try demoWheel(in: work.path), filename: "wfdemo-1.0-py3-none-any.whl")
        let (server, port) = try await startServer(repository, options: ServerOptions(port: 0))
        defer { server.cancel() }
        let index = "http://127.0.0.1:\(port)/simple/"

        // pip (recent enough for PEP 714) installs into a clean venv and uses the metadata file.
        XCTAssertEqual(try ProcessRunner.run("/usr/bin/python3", ["-m", "venv", "--without-pip", "\(work.path)/venv"]).status, 0)
        let install = try ProcessRunner.run(
            pip, ["--python", "\(work.path)/venv/bin/python", "install", "-v", "--no-cache-dir", "--index-url", index, "wfdemo"],
            environment: ["PATH": "/usr/bin:/bin", "PIP_FIND_LINKS": "", "HOME": work.path])
        XCTAssertEqual(install.status, 0, install.stdout + install.stderr)
        XCTAssertTrue(install.stdout.contains("wfdemo-1.0-py3-none-any.whl.metadata"), "pip did not use the metadata file:\n\(install.stdout)")
        let imported = try ProcessRunner.run("\(work.path)/venv/bin/python", ["-c", "import wfdemo; print(wfdemo.ANSWER)"])
        XCTAssertEqual(imported.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "42", imported.stderr)

        // twine: refused without a valid token, stored with one, listed as soon as it returns.
        let (token, _) = try TokenStore(repositoryRoot: repository.root).create(project: "wfupload")
        let upload = try demoWheel(in: work.path, name: "wfupload", version: "2.0")
        let environment = ["PATH": "/usr/bin:/bin", "HOME": work.path, "TWINE_NON_INTERACTIVE": "1"]
        let refused = try ProcessRunner.run(
            twine,
            [
                "upload", "--disable-progress-bar", "--repository-url", "http://127.0.0.1:\(port)/legacy/",
                "-u", "__token__", "-p", "wf_00000000_wrong", upload
            ], environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertNil(try repository.manifest("wfupload"))
        let accepted = try ProcessRunner.run(
            twine,
            [
                "upload", "--disable-progress-bar", "--repository-url", "http://127.0.0.1:\(port)/legacy/",
                "-u", "__token__", "-p", token, upload
            ], environment: environment)
        XCTAssertEqual(accepted.status, 0, accepted.stdout + accepted.stderr)
        let listing = try ProcessRunner.run("curl", ["-s", "-H", "Accept: application/vnd.pypi.simple.v1+json", "\(index)wfupload/"])
        XCTAssertTrue(listing.stdout.contains("wfupload-2.0-py3-none-any.whl"), listing.stdout)
        // A second upload of other bytes under the same name is refused.
        let changed = try TemporaryDirectory(prefix: "wf-interop-changed")
        let metadata = "Metadata-Version: 2.1\nName: wfupload\nVersion: 2.0\n"
        let other = try TestSupport.makeWheel(
            in: changed.path, name: "wfupload", version: "2.0", tag: "py3-none-any",
            files: ["wfupload/__init__.py": Array("ANSWER = 43\n".utf8)],
            extraMetadata: ["wfupload-2.0.dist-info/METADATA": Array(metadata.utf8)])
        let conflict = try ProcessRunner.run(
            twine,
            [
                "upload", "--disable-progress-bar", "--repository-url", "http://127.0.0.1:\(port)/legacy/",
                "-u", "__token__", "-p", token, other
            ], environment: environment)
        XCTAssertNotEqual(conflict.status, 0)
        XCTAssertTrue((conflict.stdout + conflict.stderr).contains("409"), conflict.stdout + conflict.stderr)
    }

    func testHTTPSWithReadTokens() async throws {
        let pip = try tool("pip")
        let work = try TemporaryDirectory(prefix: "wf-tls")
        let openssl = try ProcessRunner.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "\(work.path)/key.pem", "-out", "\(work.path)/cert.pem"
            ])
        XCTAssertEqual(openssl.status, 0, openssl.stderr)
        let repository = try Repository(root: "\(work.path)/repo")
        try repository.publish(try demoWheel(in: work.path), filename: "wfdemo-1.0-py3-none-any.whl")
        let (token, _) = try TokenStore(repositoryRoot: repository.root).create(project: nil)
        let (server, port) = try await startServer(
            repository,
            options: ServerOptions(
                port: 0, tlsCertificate: "\(work.path)/cert.pem",
                tlsKey: "\(work.path)/key.pem", readToken: true))
        defer { server.cancel() }
        let plain = try ProcessRunner.run(
            "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "\(work.path)/cert.pem", "https://127.0.0.1:\(port)/simple/"])
        XCTAssertEqual(plain.stdout, "401", "reads need the token")
        let download = try ProcessRunner.run(
            pip,
            [
                "download", "--no-deps", "--no-cache-dir", "--dest", "\(work.path)/dl", "--cert", "\(work.path)/cert.pem",
                "--index-url", "https://__token__:\(token)@127.0.0.1:\(port)/simple/", "wfdemo"
            ],
            environment: ["PATH": "/usr/bin:/bin", "PIP_FIND_LINKS": "", "HOME": work.path])
        XCTAssertEqual(download.status, 0, download.stdout + download.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(work.path)/dl/wfdemo-1.0-py3-none-any.whl"))
    }

    /// `wheelfarm publish --repository-url` against pypiserver and devpi-server, started here.
    func testPublishingToPypiserverAndDevpi() throws {
        let pypiServer = try tool("pypi-server")
        let devpiServer = try tool("devpi-server")
        let devpiInit = try tool("devpi-init")
        let pip = try tool("pip")
        let work = try TemporaryDirectory(prefix: "wf-remote")
        let wheel = try demoWheel(in: work.path, name: "wfremote", version: "3.0")
        let python = "\(tools)/bin/python"
        let executable = "\(TestSupport.repositoryRoot)/.build/debug/wheelfarm"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: executable), "swift build makes .build/debug/wheelfarm")
        func publish(_ url: String, user: String, password: String) throws -> ProcessOutput {
            try ProcessRunner.run(
                executable, ["publish", "--home", "\(work.path)/home", "--repository-url", url, "--username", user, wheel],
                environment: ["PATH": "/usr/bin:/bin", "WHEELFARM_REPOSITORY_PASSWORD": password, "HOME": work.path])
        }
        func freePort() -> Int { Int.random(in: 20000...40000) }

        // pypiserver with an htpasswd file.
        let htpasswd = "\(work.path)/htpasswd"
        XCTAssertEqual(
            try ProcessRunner.run(
                python,
                [
                    "-c", "import sys; from passlib.apache import HtpasswdFile as H; h = H(sys.argv[1], new=True); h.set_password('farm', 'secret'); h.save()",
                    htpasswd
                ]
            ).status, 0)
        let pypiPort = freePort()
        try FileManager.default.createDirectory(atPath: "\(work.path)/pypi", withIntermediateDirectories: true)
        let pypi = Process()
        pypi.executableURL = URL(fileURLWithPath: pypiServer)
        pypi.arguments = ["run", "-i", "127.0.0.1", "-p", "\(pypiPort)", "-P", htpasswd, "-a", "update", "\(work.path)/pypi"]
        pypi.standardOutput = FileHandle.nullDevice
        pypi.standardError = FileHandle.nullDevice
        try pypi.run()
        defer { pypi.terminate(); pypi.waitUntilExit() }
        try waitFor("http://127.0.0.1:\(pypiPort)/simple/")
        XCTAssertNotEqual(try publish("http://127.0.0.1:\(pypiPort)/", user: "farm", password: "wrong").status, 0, "a wrong password is refused")
        let toPypi = try publish("http://127.0.0.1:\(pypiPort)/", user: "farm", password: "secret")
        XCTAssertEqual(toPypi.status, 0, toPypi.stdout + toPypi.stderr)
        let fromPypi = try ProcessRunner.run(
            pip, ["download", "--no-deps", "--no-cache-dir", "--dest", "\(work.path)/dl1", "--index-url", "http://127.0.0.1:\(pypiPort)/simple/", "wfremote"],
            environment: ["PATH": "/usr/bin:/bin", "PIP_FIND_LINKS": "", "HOME": work.path])
        XCTAssertEqual(fromPypi.status, 0, fromPypi.stdout + fromPypi.stderr)

        // devpi-server with a user index.
        let devpiPort = freePort()
        let serverDir = "\(work.path)/devpi"
        let initialised = try ProcessRunner.run(devpiInit, ["--serverdir", serverDir, "--root-passwd", "adminpw", "--no-root-pypi"])
        XCTAssertEqual(initialised.status, 0, initialised.stdout + initialised.stderr)
        let devpi = Process()
        devpi.executableURL = URL(fileURLWithPath: devpiServer)
        devpi.arguments = ["--serverdir", serverDir, "--host", "127.0.0.1", "--port", "\(devpiPort)"]
        devpi.standardOutput = FileHandle.nullDevice
        devpi.standardError = FileHandle.nullDevice
        try devpi.run()
        defer { devpi.terminate(); devpi.waitUntilExit() }
        try waitFor("http://127.0.0.1:\(devpiPort)/+api")
        // A user and its index are made through devpi's JSON API (what devpi-client does).
        let devpiURL = "http://127.0.0.1:\(devpiPort)"
        func devpiRequest(_ method: String, _ path: String, _ body: String, auth: String? = nil) throws -> ProcessOutput {
            var arguments = ["-s", "-w", "\n%{http_code}", "-X", method, "-H", "Content-Type: application/json", "-H", "Accept: application/json", "-d", body]
            if let auth { arguments += ["-H", "X-Devpi-Auth: \(auth)"] }
            return try ProcessRunner.run("curl", arguments + [devpiURL + path])
        }
        let user = try devpiRequest("PUT", "/builder", #"{"password": "farmpw"}"#)
        XCTAssertTrue(user.stdout.hasSuffix("\n201"), "creating the devpi user: \(user.stdout)")
        let login = try devpiRequest("POST", "/+login", #"{"user": "builder", "password": "farmpw"}"#)
        let loginBody = login.stdout.split(separator: "\n").dropLast().joined(separator: "\n")
        let result = (try? JSONSerialization.jsonObject(with: Data(loginBody.utf8)) as? [String: Any])?["result"] as? [String: Any]
        let password = try XCTUnwrap(result?["password"] as? String, login.stdout)
        let created = try devpiRequest(
            "PUT", "/builder/wheels", #"{"type": "stage", "bases": [], "volatile": false}"#,
            auth: Data("builder:\(password)".utf8).base64EncodedString())
        XCTAssertTrue(created.stdout.hasSuffix("\n200") || created.stdout.hasSuffix("\n201"), "creating the devpi index: \(created.stdout)")
        let toDevpi = try publish("\(devpiURL)/builder/wheels/", user: "builder", password: "farmpw")
        XCTAssertEqual(toDevpi.status, 0, toDevpi.stdout + toDevpi.stderr)
        let fromDevpi = try ProcessRunner.run(
            pip,
            [
                "download", "--no-deps", "--no-cache-dir", "--dest", "\(work.path)/dl2", "--index-url",
                "\(devpiURL)/builder/wheels/+simple/", "wfremote"
            ],
            environment: ["PATH": "/usr/bin:/bin", "PIP_FIND_LINKS": "", "HOME": work.path])
        XCTAssertEqual(fromDevpi.status, 0, fromDevpi.stdout + fromDevpi.stderr)
        // The farm keeps the file too (and would keep its signature and provenance).
        XCTAssertNotNil(try Repository(root: "\(work.path)/home/repository").manifest("wfremote"))
    }
}

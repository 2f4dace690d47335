import FarmCore
import Foundation
import Repository
import RepositoryServer
import Signing
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Production's side, for real: runtime roots without compilers; every suite's own pip, the
/// newest pip and uv installing from `wheelfarm serve`; a small service locked for two targets,
/// bundled, proven in the runtime root, installed with pip and with uv; every tampered bundle
/// refused by install.sh; locks pinning yanked and rebuilt files; an unrepaired wheel caught
/// by the runtime root's test install.
final class DeploymentIntegrationTests: XCTestCase {
    static let targets = ["cp311-bookworm-x86_64", "cp311-bookworm-glibc2.17-x86_64"]
    /// A service's dependencies: binary (pyyaml with a grafted libyaml, msgpack, markupsafe
    /// through jinja2) and pure (six through python-dateutil, attrs, idna), with markers.
    static let service = """
        pyyaml==6.0.2
        msgpack==1.1.0
        jinja2==3.1.4
        python-dateutil==2.9.0.post0
        attrs==24.2.0
        idna==3.10
        typing-extensions==4.12.2; python_version >= "3.8"
        importlib-metadata==8.5.0; python_version < "3.10"
        """
    /// A runtime root per Debian suite, with the pip version its `python3-pip` has.
    static let suites = [("cp39-bullseye-x86_64", "pip 20.3"), ("cp311-bookworm-x86_64", "pip 23.0"), ("cp313-trixie-x86_64", "pip 25.")]

    var work: TemporaryDirectory!
    override func tearDown() { work = nil }

    var shared: String { ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home" }
    var tools: String { ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] ?? "/opt/wheelfarm-tools" }

    /// A fresh home sharing the test home's images, derived roots and sdists.
    func home() throws -> (home: String, binary: String) {
        guard getuid() == 0 else { throw XCTSkip("runtime roots and builds need root") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        let binary = try TestSupport.wheelfarmBinary()
        work = try TemporaryDirectory(prefix: "wf-deploy")
        let home = "\(work.path)/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for shareable in ["images", "toolchains", "derived", "sources", "locks"] {
            try FileManager.default.createDirectory(atPath: "\(shared)/\(shareable)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
        }
        return (home, binary)
    }

    /// Runs the binary to its end with its output in a file (no pipe to fill); returns status and output.
    @discardableResult
    func wheelfarm(_ binary: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let log = "\(work.path)/run-\(UUID().uuidString.prefix(8)).log"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    func startServer(_ root: String) async throws -> (Task<Void, Error>, Int) {
        let repository = try Repository(root: root)
        let box = Locked<[Int?]>(slots: 1)
        let task = Task { try await RepositoryServer(repository: repository, options: ServerOptions(port: 0)).run { port in box.set(0, port) } }
        for _ in 0..<200 {
            if let port = box.get(0) { return (task, port) }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        task.cancel()
        throw XCTSkip("the server did not start")
    }

    func demoWheel(in dir: String) throws -> String {
        let metadata = "Metadata-Version: 2.1\nName: wfdeploy\nVersion: 1.0\nRequires-Python: >=3.7\n"
        return try TestSupport.makeWheel(
            in: dir, name: "wfdeploy", version: "1.0", tag: "py3-none-any", files: ["wfdeploy/__init__.py": Array("ANSWER = 42\n".utf8)],
            extraMetadata: ["wfdeploy-1.0.dist-info/METADATA": Array(metadata.utf8)])
    }

    /// The runtime roots lack every compiler and header; each suite's own pip (20.3, 23.0 and
    /// 25), the newest pip and uv install from `wheelfarm serve`.
    func testEverySuitesPipTheNewestPipAndUvInstallFromServe() async throws {
        let (home, binary) = try home()
        let uv = try TestSupport.requireTool("uv", hint: "bash ci/setup.sh installs it in /opt/wheelfarm-tools")
        let repository = try Repository(root: "\(home)/repository")
        // A pure wheel serves every target's lock (the farm builds pure wheels once).
        try repository.publish(try demoWheel(in: work.path), filename: "wfdeploy-1.0-py3-none-any.whl", target: "cp311-bookworm-x86_64")
        let (server, port) = try await startServer("\(home)/repository")
        defer { server.cancel() }
        let index = "http://127.0.0.1:\(port)/simple/"

        for (target, pipVersion) in Self.suites {
            let made = try wheelfarm(binary, ["toolchain", "build", target, "--runtime", "--home", home])
            XCTAssertEqual(made.status, 0, made.output)
            let lacks = try wheelfarm(
                binary,
                [
                    "sandbox", "run", target, "--runtime", "--home", home, "--", "sh", "-c",
                    "for t in cc gcc c++ g++ ld; do command -v $t && exit 1; done; [ -z \"$(ls -A /usr/include 2>/dev/null)\" ] || exit 2; "
                        + "find / -xdev -name Python.h 2>/dev/null | grep -q . && exit 3; exit 0"
                ])
            XCTAssertEqual(lacks.status, 0, "the runtime root of \(target) has a compiler, headers in /usr/include or Python.h: \(lacks.output)")
            let installed = try wheelfarm(
                binary,
                [
                    "sandbox", "run", target, "--runtime", "--network", "--home", home, "--", "sh", "-c",
                    "python3 -m venv /tmp/v && /tmp/v/bin/python -m pip --version && /tmp/v/bin/python -m pip install --no-cache-dir --index-url \(index) wfdeploy "
                        + "&& /tmp/v/bin/python -c 'import wfdeploy; print(\"answer\", wfdeploy.ANSWER)'"
                ])
            XCTAssertEqual(installed.status, 0, "\(target)'s own pip cannot install from wheelfarm serve: \(installed.output)")
            XCTAssertTrue(installed.output.contains(pipVersion), "\(target) should have \(pipVersion): \(installed.output)")
            XCTAssertTrue(installed.output.contains("answer 42"), installed.output)

            // A bundle of the same wheel installs with that suite's own pip and Python, offline.
            let locked = try wheelfarm(binary, ["lock", "wfdeploy==1.0", "--target", target, "--no-build", "-o", "\(work.path)/locks", "--home", home])
            XCTAssertEqual(locked.status, 0, locked.output)
            let bundle = "\(work.path)/\(target).tar"
            let checked = try wheelfarm(
                binary, ["bundle", "\(work.path)/locks/pylock.\(LockFile.fileIdentifier(target)).toml", "-o", bundle, "--check", "--home", home])
            XCTAssertEqual(checked.status, 0, "\(target): \(checked.output)")
            XCTAssertTrue(checked.output.contains("pip check: ok") && checked.output.contains("wfdeploy"), checked.output)
        }

        // The newest pip from the package index, and uv, on the host.
        let newest = "\(work.path)/newest"
        XCTAssertEqual(try ProcessRunner.run("/usr/bin/python3", ["-m", "venv", newest]).status, 0)
        var upgraded: ProcessOutput = ProcessOutput(status: 1, stdout: "", stderr: "")
        for attempt in 0..<3 {
            upgraded = try ProcessRunner.run(
                "\(newest)/bin/python", ["-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                environment: ["PATH": "/usr/bin:/bin", "HOME": work.path, "PIP_FIND_LINKS": ""])
            if upgraded.status == 0 { break }
            sleep(UInt32(5 << attempt))
        }
        XCTAssertEqual(upgraded.status, 0, upgraded.stderr)
        let newestInstall = try ProcessRunner.run(
            "\(newest)/bin/python", ["-m", "pip", "install", "--no-cache-dir", "--index-url", index, "wfdeploy"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": work.path, "PIP_FIND_LINKS": ""])
        XCTAssertEqual(newestInstall.status, 0, newestInstall.stdout + newestInstall.stderr)
        XCTAssertEqual(try ProcessRunner.run("/usr/bin/python3", ["-m", "venv", "--without-pip", "\(work.path)/uvenv"]).status, 0)
        let uvInstall = try ProcessRunner.run(
            uv, ["pip", "install", "--python", "\(work.path)/uvenv/bin/python", "--index-url", index, "--no-cache", "wfdeploy"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": work.path])
        XCTAssertEqual(uvInstall.status, 0, uvInstall.stdout + uvInstall.stderr)
        XCTAssertEqual(
            try ProcessRunner.run("\(work.path)/uvenv/bin/python", ["-c", "import wfdeploy; print(wfdeploy.ANSWER)"]).stdout.trimmingCharacters(
                in: .whitespacesAndNewlines), "42")
    }

    /// The service, locked for two targets (building what is missing), bundled twice to the same
    /// bytes, proven in the runtime root, installed with pip and with uv; tampering refused;
    /// yanked and rebuilt files leave existing locks installing what they said.
    func testAServiceIsLockedBundledCheckedAndInstalledForTwoTargets() async throws {
        let (home, binary) = try home()
        let uv = try TestSupport.requireTool("uv", hint: "bash ci/setup.sh installs it in /opt/wheelfarm-tools")
        try FileManager.default.createDirectory(atPath: "\(home)/repository", withIntermediateDirectories: true)
        let (server, port) = try await startServer("\(home)/repository")
        defer { server.cancel() }
        let base = "http://127.0.0.1:\(port)"
        try (Self.service + "\n").write(toFile: "\(work.path)/service.txt", atomically: true, encoding: .utf8)
        for target in Self.targets where !FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(target).json") {
            XCTAssertEqual(try wheelfarm(binary, ["toolchain", "build", target, "--home", home]).status, 0)
        }
        let locks = "\(work.path)/locks"
        var arguments = ["lock", "-r", "\(work.path)/service.txt", "-o", locks, "--url", base, "--home", home]
        for target in Self.targets { arguments += ["--target", target] }
        let locked = try wheelfarm(binary, arguments)
        XCTAssertEqual(locked.status, 0, locked.output)
        let key = try MinisignPublicKey(text: try XCTUnwrap(Files.readText("\(home)/keys/signing.pub")))

        for target in Self.targets {
            let name = LockFile.fileIdentifier(target)
            let pylock = "\(locks)/pylock.\(name).toml"
            let text = try XCTUnwrap(Files.readText(pylock), "no lock for \(target): \(locked.output)")
            _ = try key.verify(Array(text.utf8), signatureFile: try XCTUnwrap(Files.readText(pylock + ".minisig")))
            let lock = try LockFile.parse(toml: text)
            let projects = Set(lock.wheels.map(\.project))
            XCTAssertEqual(
                projects, ["pyyaml", "msgpack", "jinja2", "markupsafe", "python-dateutil", "six", "attrs", "idna", "typing-extensions"],
                "the closure for \(target), markers evaluated (no importlib-metadata on 3.11)")
            let repository = try Repository(root: "\(home)/repository")
            for wheel in lock.wheels {
                let entry = try XCTUnwrap(try repository.manifest(wheel.project)?.files.first { $0.filename == wheel.filename })
                XCTAssertEqual(entry.sha256, wheel.sha256)
                if !wheel.filename.hasSuffix("-none-any.whl") { XCTAssertEqual(entry.target, target, "\(wheel.filename) was built for \(target)") }
                XCTAssertTrue(wheel.url.hasPrefix("\(base)/files/"), wheel.url)
            }
            let pyyaml = try XCTUnwrap(lock.wheels.first { $0.project == "pyyaml" })
            XCTAssertTrue(pyyaml.filename.contains("manylinux"), "repaired: \(pyyaml.filename)")

            // The bundle: deterministic, proven in the runtime root.
            let first = "\(work.path)/\(name)-1.tar"
            let made = try wheelfarm(binary, ["bundle", pylock, "-o", first, "--check", "--home", home])
            XCTAssertEqual(made.status, 0, made.output)
            XCTAssertTrue(made.output.contains("pip check: ok"), made.output)
            XCTAssertTrue(made.output.contains("yaml ") && made.output.contains("_yaml") || made.output.contains("yaml"), made.output)
            XCTAssertEqual(try wheelfarm(binary, ["bundle", pylock, "-o", "\(work.path)/\(name)-2.tar", "--home", home]).status, 0)
            XCTAssertEqual(try Digest.sha256(fileAt: first), try Digest.sha256(fileAt: "\(work.path)/\(name)-2.tar"), "the same lock gives the same bytes")
            XCTAssertNotEqual(try wheelfarm(binary, ["bundle", pylock, "-o", first, "--home", home]).status, 0, "an existing bundle is never overwritten")

            // pip (the suite's own) with the requirements file against serve, and uv with the PEP 751 file, in the runtime root.
            let requirements = "/locks/requirements.\(name).txt"
            let installs = try wheelfarm(
                binary,
                [
                    "sandbox", "run", target, "--runtime", "--network", "--home", home, "--mount", "\(locks):/locks:ro", "--mount",
                    "\((uv as NSString).deletingLastPathComponent):/uv:ro", "--", "sh", "-c",
                    "python3 -m venv /tmp/p && /tmp/p/bin/python -m pip install --no-cache-dir --index-url \(base)/simple/ --require-hashes -r \(requirements) "
                        + "&& LD_BIND_NOW=1 /tmp/p/bin/python -c 'import yaml, yaml._yaml, msgpack._cmsgpack, jinja2, markupsafe._speedups, dateutil, attrs, idna' "
                        + "&& python3 -m venv --without-pip /tmp/u && UV_CACHE_DIR=/tmp/uvc /uv/uv pip install --python /tmp/u/bin/python -r /locks/pylock.\(name).toml "
                        + "&& LD_BIND_NOW=1 /tmp/u/bin/python -c 'import yaml._yaml, msgpack._cmsgpack, jinja2, dateutil, attrs; print(\"both installed\")'"
                ])
            XCTAssertEqual(installs.status, 0, installs.output)
            XCTAssertTrue(installs.output.contains("both installed"), installs.output)

            try checkTampering(bundle: first, key: "\(home)/keys/signing.pub")
        }

        // A yanked file a lock pins still installs, and lock warns; a rebuild under a new build
        // number leaves an existing lock installing the same bytes.
        let target = Self.targets[0]
        let name = LockFile.fileIdentifier(target)
        XCTAssertEqual(try wheelfarm(binary, ["yank", "pyyaml", "6.0.2", "--reason", "test", "--home", home]).status, 0)
        let relocked = try wheelfarm(
            binary, ["lock", "-r", "\(work.path)/service.txt", "--target", target, "-o", "\(work.path)/relock", "--url", base, "--home", home])
        XCTAssertEqual(relocked.status, 0, relocked.output)
        XCTAssertTrue(relocked.output.contains("is yanked"), "lock warns about the yanked pin: \(relocked.output)")
        XCTAssertTrue(relocked.output.contains("(1 resolution)"), "everything was there: \(relocked.output)")
        let repository = try Repository(root: "\(home)/repository")
        let original = try XCTUnwrap(try repository.manifest("markupsafe")?.files.first { $0.target == target })
        let rebuiltName = original.filename.replacingOccurrences(of: "markupsafe-3.0.2-", with: "markupsafe-3.0.2-1-")
        try FileManager.default.copyItem(atPath: "\(repository.directory(of: "markupsafe"))/\(original.filename)", toPath: "\(work.path)/\(rebuiltName)")
        try repository.publish("\(work.path)/\(rebuiltName)", filename: rebuiltName, target: target)
        let again = "\(work.path)/\(name)-3.tar"
        XCTAssertEqual(try wheelfarm(binary, ["bundle", "\(locks)/pylock.\(name).toml", "-o", again, "--check", "--home", home]).status, 0)
        XCTAssertEqual(try Digest.sha256(fileAt: again), try Digest.sha256(fileAt: "\(work.path)/\(name)-1.tar"), "the old lock installs the same bytes")
        let newer = try wheelfarm(
            binary, ["lock", "-r", "\(work.path)/service.txt", "--target", target, "-o", "\(work.path)/newer", "--url", base, "--home", home])
        XCTAssertEqual(newer.status, 0, newer.output)
        XCTAssertTrue(Files.readText("\(work.path)/newer/pylock.\(name).toml")?.contains(rebuiltName) == true, "a new lock takes the higher build number")
    }

    /// install.sh refuses a changed wheel, a changed lock, an extra wheel and another key, with
    /// minisign and with its own Python verifier; the untouched bundle installs.
    func checkTampering(bundle: String, key: String) throws {
        let root = "\(work.path)/tamper-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        XCTAssertEqual(try ProcessRunner.run(.tar, ["-xf", bundle, "-C", root]).status, 0)
        let top = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: root).first)
        let pristine = "\(root)/\(top)"
        // A PATH without minisign: the script's own verifier.
        let bare = "\(root)/bin"
        try FileManager.default.createDirectory(atPath: bare, withIntermediateDirectories: true)
        for tool in ["sh", "dirname", "python3"] {
            try FileManager.default.createSymbolicLink(
                atPath: "\(bare)/\(tool)",
                withDestinationPath: try XCTUnwrap(
                    HostTool.searchPath.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }))
        }
        func install(_ folder: String, path: String, keyArguments: [String]? = nil) throws -> ProcessOutput {
            try ProcessRunner.run(
                "/bin/sh", ["\(folder)/install.sh", "\(root)/venv-\(UUID().uuidString.prefix(6))"] + (keyArguments ?? ["--key", key]),
                environment: ["PATH": path, "HOME": root, "PIP_FIND_LINKS": ""])
        }
        func copy(_ name: String, change: (String) throws -> Void) throws -> String {
            let folder = "\(root)/\(name)"
            XCTAssertEqual(try ProcessRunner.run(.cp, ["-a", pristine, folder]).status, 0)
            try change(folder)
            return folder
        }
        let wheels = try FileManager.default.contentsOfDirectory(atPath: "\(pristine)/wheels").filter { $0.hasSuffix(".whl") }.sorted()
        let lockName = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: pristine).first { $0.hasSuffix(".toml") })
        let cases: [(String, String)] = [
            (
                try copy("changed-wheel") { folder in
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(folder)/wheels/\(wheels[0])"))
                    try handle.seekToEnd()
                    handle.write(Data("x".utf8))
                    try handle.close()
                }, "changed wheel"
            ),
            (
                try copy("changed-lock") { folder in
                    let text = try XCTUnwrap(Files.readText("\(folder)/\(lockName)"))
                    try Files.writeAtomically(Array(text.replacingOccurrences(of: "size = ", with: "size = 1").utf8), to: "\(folder)/\(lockName)")
                }, "changed lock"
            ),
            (
                try copy("extra-wheel") { folder in
                    try FileManager.default.copyItem(atPath: "\(folder)/wheels/\(wheels[0])", toPath: "\(folder)/wheels/extra-1.0-py3-none-any.whl")
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(folder)/wheels/extra-1.0-py3-none-any.whl"))
                    try handle.seekToEnd()
                    handle.write(Data("y".utf8))
                    try handle.close()
                }, "extra wheel"
            ),
            (
                try copy("other-key") { folder in
                    // Someone else's key, the lock and requirements re-signed with it, their key shipped in the bundle.
                    let other = try MinisignKey.generate()
                    for file in [lockName, lockName.replacingOccurrences(of: "pylock.", with: "requirements.").replacingOccurrences(of: ".toml", with: ".txt")]
                    {
                        let bytes = try Files.readBytes("\(folder)/\(file)")
                        try Files.writeAtomically(Array(try other.sign(bytes, fileName: file).utf8), to: "\(folder)/\(file).minisig")
                    }
                    try Files.writeAtomically(Array(other.publicKey.file.utf8), to: "\(folder)/wheelfarm.pub")
                }, "another key"
            )
        ]
        for path in ["\(bare)", HostTool.searchPath] {
            let good = try install(pristine, path: path)
            XCTAssertEqual(good.status, 0, "the untouched bundle installs (PATH \(path)): \(good.stdout)\(good.stderr)")
            for (folder, what) in cases {
                let refused = try install(folder, path: path)
                XCTAssertEqual(refused.status, 3, "\(what) (PATH \(path)) must be refused: \(refused.stdout)\(refused.stderr)")
                XCTAssertTrue(refused.stderr.contains("REFUSED"), "\(what): \(refused.stderr)")
            }
        }
        let noKey = try install(pristine, path: HostTool.searchPath, keyArguments: [])
        XCTAssertEqual(noKey.status, 2, "without --key install.sh asks for one: \(noKey.stderr)")
    }

    /// A wheel that works only because the build root has its library fails the test install
    /// in the runtime root, and says why: pyyaml against Debian's libyaml, repair turned off.
    func testAnUnrepairedWheelFailsInTheRuntimeRootWithTheReason() throws {
        let (home, binary) = try home()
        let data = "\(work.path)/data"
        try FileManager.default.createDirectory(atPath: "\(data)/recipes", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(data)/toolchains", withDestinationPath: "\(TestSupport.repositoryRoot)/toolchains")
        try Files.writeAtomically(
            Array(#"{"//": "no repair: libyaml stays outside the wheel", "packages": ["libyaml-dev"], "repair": false}"#.utf8),
            to: "\(data)/recipes/pyyaml.json")
        var environment = ProcessInfo.processInfo.environment
        environment["WHEELFARM_DATA_DIR"] = data
        let built = try wheelfarm(binary, ["build", "pyyaml==6.0.2", "--target", Self.targets[0], "--home", home], environment: environment)
        XCTAssertEqual(built.status, 1, built.output)
        XCTAssertTrue(built.output.contains("FAILED pyyaml 6.0.2 at test"), built.output)
        XCTAssertTrue(built.output.contains("libyaml-0.so.2"), "the reason names the missing library: \(built.output)")
        let ceiling = try wheelfarm(binary, ["build", "pyyaml==6.0.2", "--target", Self.targets[1], "--home", home], environment: environment)
        XCTAssertEqual(ceiling.status, 2, "repair off cannot keep a manylinux promise: \(ceiling.output)")
    }
}

import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import Signing
import TestSupport
import WheelAudit
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Builds for the glibc 2.17 baseline targets (zig): the corpus comes out manylinux_2_17 or
/// better, auditwheel agrees, pip accepts it for manylinux2014, the ceiling stops what is above it,
/// and C++ extensions built this way share a process with a libstdc++ wheel from the index.
final class BaselineBuildIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-glibc2.17-x86_64"
    static let oldest = "cp39-bullseye-glibc2.17-x86_64"
    static let projects = "\(TestSupport.repositoryRoot)/Tests/Fixtures/projects"

    func build(_ source: BuildSource, target: String = BaselineBuildIntegrationTests.target, builder: WheelBuilder? = nil) throws -> TargetBuild {
        let builder = try builder ?? BuildCorpusIntegrationTests.sharedBuilder()
        let result = try XCTUnwrap(builder.build(source, targets: [target]).first)
        if let failure = result.failure {
            XCTFail("\(source): \(failure)\n\(((try? String(contentsOfFile: result.logPath, encoding: .utf8)) ?? "").suffix(3000))")
        }
        return result
    }

    func policy(_ name: String) throws -> ABIPolicy {
        let catalog = try PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)
        return try XCTUnwrap(catalog.policies(libc: .glibc, architecture: "x86_64").first { $0.name == name })
    }

    /// The tag auditwheel calls the wheel consistent with.
    func auditwheelTag(_ wheel: String) throws -> String {
        let auditwheel = try TestSupport.requireTool(
            "auditwheel", environmentOverride: "WHEELFARM_AUDITWHEEL", hint: "bash ci/setup.sh installs it in /opt/wheelfarm-tools")
        let output = try ProcessRunner.run(auditwheel, ["show", wheel])
        let text = output.stdout + output.stderr
        guard let range = text.range(of: #"consistent with the following platform tag:\s*"([a-z0-9_]+)""#, options: .regularExpression) else {
            XCTFail("auditwheel show said: \(text)")
            return ""
        }
        return String(text[range].split(separator: "\"")[1])
    }

    /// minisign checks the wheel's signature with the farm's public key, and the provenance names
    /// the wheel, its sdist and the target.
    func assertSigned(_ wheel: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let minisign = try TestSupport.requireTool("minisign", hint: "apt-get install minisign (ci/setup.sh does)")
        let home = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        let keys = SigningKeyStore(home: home)
        let result = try ProcessRunner.run(minisign, ["-V", "-p", keys.publicPath, "-m", wheel])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr, file: file, line: line)
        let envelope = try String(contentsOfFile: wheel + ".intoto.json", encoding: .utf8)
        let statement = try Provenance.verify(
            envelope: envelope, key: keys.publicKey(), wheelName: (wheel as NSString).lastPathComponent,
            sha256: Digest.hex(try Digest.sha256(fileAt: wheel)))
        let text = String(decoding: try JSONSerialization.data(withJSONObject: statement), as: UTF8.self)
        XCTAssertTrue(text.contains(Self.target) && text.contains(".tar.gz"), text, file: file, line: line)
    }

    func testCorpusIsManylinux2014AndAuditwheelAgrees() throws {
        let floor = try policy("manylinux_2_17_x86_64")
        var wheels: [String] = []
        for requirement in ["markupsafe==3.0.2", "msgpack==1.1.0", "psutil==6.1.0", "pyyaml==6.0.2"] {
            let result = try build(.index(try XCTUnwrap(Requirement(requirement))))
            let path = try XCTUnwrap(result.wheelPath, requirement)
            wheels.append(path)
            let report = try WheelAnalyzer(catalog: PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)).analyze(path: path).report
            XCTAssertTrue(report.isCompliant, "\(requirement): \(report.findings)")
            XCTAssertGreaterThanOrEqual(try policy(report.platformTag).priority, floor.priority, "\(requirement): \(report.platformTag)")
            XCTAssertEqual(try auditwheelTag(path), report.platformTag, requirement)
            try assertSigned(path)
            if requirement.hasPrefix("pyyaml") {
                // libyaml was built from its Debian source package with zig, not taken from the root.
                XCTAssertEqual(result.record.grafted.map(\.soname), ["libyaml.so"], "\(result.record.grafted)")
                XCTAssertNotNil(result.record.derivedRoot)
            }
        }
        // pip takes every wheel for a manylinux2014 machine.
        let links = try TemporaryDirectory(prefix: "wf-links")
        let out = try TemporaryDirectory(prefix: "wf-links-out")
        for wheel in wheels { try FileManager.default.copyItem(atPath: wheel, toPath: "\(links.path)/\((wheel as NSString).lastPathComponent)") }
        let pip = try ProcessRunner.run(
            "/usr/bin/python3",
            [
                "-m", "pip", "download", "--no-index", "--find-links", links.path, "--only-binary", ":all:",
                "--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                "--no-deps", "--dest", out.path, "markupsafe", "msgpack", "psutil", "pyyaml"
            ],
            environment: ["PIP_FIND_LINKS": "", "PATH": "/usr/bin:/bin"])
        XCTAssertEqual(pip.status, 0, pip.stdout + pip.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).count, 4)
    }

    func testThreadsAndDlopenStayWithinGlibc217() throws {
        let result = try build(.local("\(Self.projects)/newsymbols"))
        let path = try XCTUnwrap(result.wheelPath)
        let analysis = try WheelAnalyzer(catalog: PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)).analyze(path: path)
        XCTAssertEqual(analysis.symbolVersionsBeyond(try policy("manylinux_2_17_x86_64")), [])
        XCTAssertFalse(analysis.symbolVersions.values.contains { $0.contains("GLIBC_2.34") }, "\(analysis.symbolVersions)")
    }

    /// meson-python, as numpy and scipy build: meson's compiler probes (standard input through
    /// `-E -dM -`, `-v`, header checks) go through the zig wrappers, and the wheel stays within
    /// the baseline.
    func testMesonPythonBuildsOnTheBaseline() throws {
        let result = try build(.local("\(Self.projects)/mesonext"))
        XCTAssertNil(result.failure, "\(String(describing: result.failure)) \(result.logPath)")
        let wheel = try XCTUnwrap(result.wheelPath)
        XCTAssertTrue(
            (wheel as NSString).lastPathComponent.contains("manylinux_2_17_x86_64") || (wheel as NSString).lastPathComponent.contains("manylinux_2_5_x86_64"),
            wheel)
        let log = try String(contentsOfFile: result.logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("Created wheel for mesonext"), "meson-python built it (its compiler probes passed)")
        XCTAssertTrue(log.contains("imported mesonext._mesonext"), "the extension loads in the runtime root")
    }

    func testGccPinIsHeldToTheCeiling() throws {
        let recipes = try TemporaryDirectory(prefix: "wf-recipes")
        try Files.writeAtomically(Array(#"{"compiler": "gcc"}"#.utf8), to: "\(recipes.path)/newsymbols.json")
        let builder = try BuildCorpusIntegrationTests.makeBuilder(recipes: recipes.path)
        let result = try XCTUnwrap(builder.build(.local("\(Self.projects)/newsymbols"), targets: [Self.target]).first)
        let failure = try XCTUnwrap(result.failure, "gcc's pthread_create@GLIBC_2.34 must not pass a manylinux_2_17 ceiling")
        XCTAssertEqual(failure.stage, .audit)
        XCTAssertEqual(failure.kind, .audit)
        XCTAssertTrue(failure.reason.contains("GLIBC_2.34"), failure.reason)
        XCTAssertTrue(failure.reason.contains("pthread_create"), failure.reason)
        XCTAssertTrue(failure.reason.contains("newsymbols/_native.cpython-311-x86_64-linux-gnu.so"), failure.reason)
        XCTAssertTrue(failure.reason.contains("pins this project to gcc"), failure.reason)
        XCTAssertNil(result.wheelPath)
    }

    /// Two zig-built C++ wheels (libc++ linked in statically) import into one process with numpy,
    /// which uses the root's libstdc++, in either order, and their C++ code runs.
    func testCppExtensionsShareAProcessWithLibstdcxx() throws {
        let one = try XCTUnwrap(try build(.local("\(Self.projects)/cppone")).wheelPath)
        let two = try XCTUnwrap(try build(.local("\(Self.projects)/cpptwo")).wheelPath)
        let numpy = try XCTUnwrap(
            try FileManager.default.contentsOfDirectory(atPath: TestSupport.fixtureWheels).first { $0.hasPrefix("numpy-") && $0.contains("cp311") },
            "bash ci/fixtures/fetch-wheels.sh downloads the numpy wheel")
        let wheels = try TemporaryDirectory(prefix: "wf-cpp")
        for path in [one, two, "\(TestSupport.fixtureWheels)/\(numpy)"] {
            try FileManager.default.copyItem(atPath: path, toPath: "\(wheels.path)/\((path as NSString).lastPathComponent)")
        }
        chmod(wheels.path, 0o755)
        let home = FarmLayout(path: ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home")
        let store = ToolchainStore(layout: home, catalog: try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot))
        let image = try store.requireImage(named: Self.target)
        let script = """
            python3 -m venv /tmp/v && /tmp/v/bin/python -m pip install --quiet --no-index --find-links /wheels cppone cpptwo numpy && \
            /tmp/v/bin/python -c 'import numpy, cppone, cpptwo; print("A", cppone.run("b a b"), cpptwo.run(1.5), int(numpy.arange(10).sum()))' && \
            /tmp/v/bin/python -c '
            import cpptwo, cppone, numpy
            try:
                cpptwo.run(-1.0)
            except ValueError as error:
                print("B", error, numpy.linalg.det(numpy.eye(3)))
            '
            """
        var output: [UInt8] = []
        let result = try NamespaceSandbox(layout: home).run(
            SandboxConfiguration(
                layers: [store.rootfs(digest: image.digest)], command: ["sh", "-c", script],
                mounts: [BindMount(source: wheels.path, destination: "/wheels", readOnly: true)])
        ) { chunk, _ in
            output.append(contentsOf: chunk)
        }
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        XCTAssertTrue(text.contains("A a=1,b=2 area=2,25 45"), text)
        XCTAssertTrue(text.contains("B negative side 1.0"), text)
    }

    /// The oldest root: wheels of the Debian 11 baseline target install and import there (the
    /// build's own test install), and the abi3 psutil built on Debian 12 does too.
    func testDebian11Root() throws {
        let markupsafe = try build(.index(try XCTUnwrap(Requirement("markupsafe==3.0.2"))), target: Self.oldest)
        XCTAssertEqual(markupsafe.record.wheel.map(TestSupport.withoutBuildNumber), "markupsafe-3.0.2-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        let psutil = try XCTUnwrap(try build(.index(try XCTUnwrap(Requirement("psutil==6.1.0")))).wheelPath)
        let home = FarmLayout(path: ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home")
        let store = ToolchainStore(layout: home, catalog: try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot))
        let image = try store.requireImage(named: Self.oldest)
        let script =
            "python3 -m venv /tmp/v && /tmp/v/bin/python -m pip install --quiet --no-index /wheel/\((psutil as NSString).lastPathComponent) && /tmp/v/bin/python -c 'import sys, psutil; print(sys.version_info[:2], psutil.cpu_count() > 0)'"
        var output: [UInt8] = []
        let result = try NamespaceSandbox(layout: home).run(
            SandboxConfiguration(
                layers: [store.rootfs(digest: image.digest)], command: ["sh", "-c", script],
                mounts: [BindMount(source: (psutil as NSString).deletingLastPathComponent, destination: "/wheel", readOnly: true)])
        ) { chunk, _ in
            output.append(contentsOf: chunk)
        }
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        XCTAssertTrue(text.contains("(3, 9) True"), text)
    }
}

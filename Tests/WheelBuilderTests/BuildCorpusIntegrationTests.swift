import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import Signing
import TestSupport
import WheelArchive
import WheelAudit
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Real builds from the package index for the default target, each passing its test install.
final class BuildCorpusIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"
    nonisolated(unsafe) static var shared: WheelBuilder?

    func builder() throws -> WheelBuilder { try Self.sharedBuilder() }

    static func sharedBuilder() throws -> WheelBuilder {
        if let shared = Self.shared { return shared }
        let builder = try makeBuilder(recipes: "\(TestSupport.repositoryRoot)/recipes")
        Self.shared = builder
        return builder
    }

    static var testHome: FarmLayout {
        FarmLayout(path: ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home")
    }

    /// A builder over the test farm home with the recipes of `recipes`.
    static func makeBuilder(recipes: String) throws -> WheelBuilder {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        let home = FarmLayout(path: ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home")
        let root = TestSupport.repositoryRoot
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        let environment = BuildEnvironment(
            layout: home, toolchains: ToolchainStore(layout: home, catalog: try ToolchainCatalog.load(dataDirectory: root)),
            sandbox: NamespaceSandbox(layout: home), index: IndexClient(configuration: try IndexConfiguration.resolve()), wheels: PipWheelFetcher(),
            policies: try PolicyCatalog.load(dataDirectory: root), recipes: RecipeBook(directory: recipes), patchelf: try Patchelf.locate(),
            signer: try SigningKeyStore(home: home.path).loadOrGenerate().key, builderVersion: "test",
            seccomp: { allowed in try SeccompPolicy.prepare(in: home.seccomp, allowed: allowed) },
            progress: { target, line in FileHandle.standardError.write(Data("[\(target)] \(line)\n".utf8)) })
        return WheelBuilder(environment: environment)
    }

    func build(_ requirement: String) throws -> TargetBuild {
        let builder = try builder()
        let results = builder.build(.index(try XCTUnwrap(Requirement(requirement))), targets: [Self.target])
        let result = try XCTUnwrap(results.first)
        if let failure = result.failure {
            let log = (try? String(contentsOfFile: result.logPath, encoding: .utf8)) ?? ""
            XCTFail("\(requirement): \(failure)\n\(log.suffix(3000))")
        }
        return result
    }

    func assertManylinux(_ result: TargetBuild, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try XCTUnwrap(result.wheelPath, file: file, line: line)
        let report = try WheelAnalyzer(catalog: PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)).analyze(path: path).report
        XCTAssertTrue(report.isCompliant, "\(report.findings)", file: file, line: line)
        XCTAssertTrue(report.platformTag.hasPrefix("manylinux_"), report.platformTag, file: file, line: line)
        XCTAssertFalse(report.binaries.isEmpty, file: file, line: line)
        let record = try XCTUnwrap(try BuildStore(layout: Self.testHome).record(in: (path as NSString).deletingLastPathComponent), file: file, line: line)
        XCTAssertEqual(record.outcome, .succeeded, file: file, line: line)
        XCTAssertEqual(record.toolchainDigest.count, 64, file: file, line: line)
        XCTAssertFalse(record.buildRequirements.isEmpty, file: file, line: line)
    }

    func testMarkupsafe() throws {
        let result = try build("markupsafe==3.0.2")
        try assertManylinux(result)
        XCTAssertEqual(result.record.platformTag, "manylinux_2_17_x86_64.manylinux2014_x86_64")
    }

    func testPyYAMLWithLibyamlGrafted() throws {
        let result = try build("pyyaml==6.0.2")
        try assertManylinux(result)
        XCTAssertEqual(result.record.grafted.map(\.soname), ["libyaml-0.so.2"])
        XCTAssertEqual(result.record.grafted.first?.package, "libyaml-0-2")
        XCTAssertNotNil(result.record.derivedRoot)
    }

    func testMsgpack() throws { try assertManylinux(try build("msgpack==1.1.0")) }

    func testPsutilAbi3() throws {
        let result = try build("psutil==6.1.0")
        try assertManylinux(result)
        XCTAssertTrue(result.record.wheel?.contains("-abi3-") == true, result.record.wheel ?? "")
    }

    func testPurePythonProjectIsBuiltOnce() throws {
        let builder = try builder()
        let results = builder.build(.index(try XCTUnwrap(Requirement("six==1.16.0"))), targets: [Self.target, "cp313-trixie-x86_64"])
        XCTAssertNil(results.first?.failure)
        XCTAssertTrue(results.first?.record.pure == true)
        XCTAssertEqual(results.first?.record.wheel, "six-1.16.0-py2.py3-none-any.whl")
        XCTAssertEqual(results.last?.skipped, "pure wheel, already built for \(Self.target)")
    }

    /// One small project for aarch64, under qemu-user emulation (its toolchain image takes minutes to make).
    func testMarkupsafeForAarch64UnderEmulation() throws {
        let builder = try builder()
        let result = try XCTUnwrap(builder.build(.index(try XCTUnwrap(Requirement("markupsafe==3.0.2"))), targets: ["cp311-bookworm-aarch64"]).first)
        XCTAssertNil(result.failure, "\(String(describing: result.failure))")
        XCTAssertEqual(result.record.wheel.map(TestSupport.withoutBuildNumber), "markupsafe-3.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    }

    func testBuildRequirementWithoutAWheelIsBuiltFirst() throws {
        let builder = try builder()
        let result = try XCTUnwrap(builder.build(.local("\(TestSupport.repositoryRoot)/Tests/Fixtures/projects/needsdocopt"), targets: [Self.target]).first)
        XCTAssertNil(
            result.failure, "\(String(describing: result.failure)) \((try? String(contentsOfFile: result.logPath, encoding: .utf8))?.suffix(3000) ?? "")")
        XCTAssertTrue(result.record.buildRequirements.contains { $0.name == "docopt" && $0.version == "0.6.2" }, "\(result.record.buildRequirements)")
        XCTAssertEqual(result.record.wheel, "needsdocopt-1.0-py3-none-any.whl")
    }

    func testSchedulerIsAskedForABuildRequirementWithoutAWheel() throws {
        // Under the farm, the build asks first: told to wait, it stops as deferred, having built nothing.
        let builder = try builder()
        let asked = AskedRequirements()
        let hooks = BuildHooks(buildDependency: { requirement, target in
            asked.add("\(requirement) for \(target)")
            return .wait("the farm builds \(requirement) first")
        })
        let result = try XCTUnwrap(
            builder.build(.local("\(TestSupport.repositoryRoot)/Tests/Fixtures/projects/needsdocopt"), targets: [Self.target], hooks: hooks).first)
        XCTAssertEqual(result.failure?.kind, .deferred, "\(String(describing: result.failure))")
        XCTAssertEqual(result.failure?.stage, .prepare)
        XCTAssertTrue(asked.all.contains { $0.hasPrefix("docopt") && $0.hasSuffix("for \(Self.target)") }, "\(asked.all)")
        XCTAssertNil(result.wheelPath)
    }

    func testCompileErrorIsAFailedBuildWithItsLog() throws {
        let builder = try builder()
        let result = try XCTUnwrap(builder.build(.local("\(TestSupport.repositoryRoot)/Tests/Fixtures/projects/brokenext"), targets: [Self.target]).first)
        XCTAssertEqual(result.failure?.stage, .build)
        XCTAssertEqual(result.failure?.kind, .build)
        let log = try String(contentsOfFile: result.logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("does not compile on purpose"), String(log.suffix(2000)))
    }

    /// A local sdist refused at extraction has no project name yet: messages name its file.
    func testALocalSdistRefusedAtExtractionIsNamedByItsFile() throws {
        let builder = try builder()
        let work = try TemporaryDirectory(prefix: "wf-evil")
        let sdist = "\(work.path)/evil-1.0.tar.gz"
        let program =
            "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w:gz')\ndata = b'x'\ni = tarfile.TarInfo('/etc/wheelfarm-evil')\ni.size = len(data)\nt.addfile(i, io.BytesIO(data))\nt.close()\n"
        try ProcessRunner.check("/usr/bin/python3", ["-c", program, sdist])
        let result = try XCTUnwrap(builder.build(.local(sdist), targets: [Self.target]).first)
        XCTAssertEqual(result.failure?.stage, .extract, "\(String(describing: result.failure))")
        XCTAssertEqual(result.record.project, "")
        XCTAssertEqual(result.name, "evil-1.0.tar.gz")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/wheelfarm-evil"))
    }

    func testSilentFallbackToPurePythonIsAFailure() throws {
        let builder = try builder()
        let result = try XCTUnwrap(builder.build(.local("\(TestSupport.repositoryRoot)/Tests/Fixtures/projects/fallback"), targets: [Self.target]).first)
        XCTAssertEqual(result.failure?.stage, .audit, "\(String(describing: result.failure))")
        XCTAssertTrue(result.failure?.reason.contains("no binary") == true, result.failure?.reason ?? "")
    }
}

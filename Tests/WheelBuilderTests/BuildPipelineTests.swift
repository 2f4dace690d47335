import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import TestSupport
import WheelArchive
import WheelAudit
@_spi(AnyProgram) import WheelfarmBasics
import WheelfarmTesting
import XCTest

@testable import WheelBuilder

/// A build environment of fakes: the pipeline's logic with neither root nor network.
final class PipelineHarness: @unchecked Sendable {
    let work: TemporaryDirectory
    let index = FixtureIndex()
    let wheels = FixtureWheels()
    let clock = ManualClock()
    let toolchains: FixtureToolchains
    let layout: FarmLayout
    let recipes: String
    /// The user's recipe folders, searched before `recipes`.
    var userRecipes: [String] = []
    /// What the scripted backend builds: a wheel name and its bytes, per build run.
    nonisolated(unsafe) var makeWheel: (SandboxConfiguration) throws -> (String, [UInt8])
    /// The backend's answer to get_requires_for_build_wheel, written on the control channel.
    nonisolated(unsafe) var hookAnswer: String = #"{"requires": []}"# + "\n" + #"{"building": true}"# + "\n"
    /// What the build "prints".
    nonisolated(unsafe) var buildOutput = "compiling...\n"
    /// Outcomes the next build runs end with instead of building (a memory kill, say).
    nonisolated(unsafe) var failingBuilds: [SandboxOutcome] = []
    /// The machine's memory as the builder sees it.
    var machineMemory: UInt64 = 64 << 30
    lazy var sandbox = ScriptedSandbox(clock: clock) { [unowned self] config in
        if config.isBuild, !self.failingBuilds.isEmpty {
            return ScriptedRun(outcome: self.failingBuilds.removeFirst(), output: "cc1plus: out of memory\n", control: self.hookAnswer, seconds: 5)
        }
        if config.isBuild {
            let (name, bytes) = try self.makeWheel(config)
            return ScriptedRun(output: self.buildOutput, control: self.hookAnswer, files: ["/tmp/wheelfarm-out/\(name)": bytes], seconds: 5)
        }
        if config.isTestInstall { return ScriptedRun(output: "installed\n", control: #"{"results": [], "libs": []}"# + "\n", seconds: 2) }
        return ScriptedRun(outcome: .exited(1), output: "unexpected run: \(config.command.prefix(2))")
    }

    static let targets = ["cp311-bookworm-glibc2.17-x86_64", "cp313-trixie-glibc2.17-x86_64"]

    init() throws {
        work = try TemporaryDirectory(prefix: "wf-pipeline")
        layout = FarmLayout(path: "\(work.path)/home")
        recipes = "\(work.path)/recipes"
        try FileManager.default.createDirectory(atPath: recipes, withIntermediateDirectories: true)
        toolchains = FixtureToolchains(catalog: try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot), root: "\(work.path)/images")
        let scratch = "\(work.path)/wheels"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        makeWheel = { _ in
            let path = try FixtureWheels.pureWheel(name: "demo", version: "1.0", into: scratch)
            return ((path as NSString).lastPathComponent, try Files.readBytes(path))
        }
    }

    func builder() throws -> WheelBuilder {
        var environment = BuildEnvironment(
            layout: layout, toolchains: toolchains, sandbox: sandbox, index: IndexClient(configuration: index.configuration, transport: index, clock: clock),
            wheels: wheels, clock: clock, policies: try PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot),
            recipes: RecipeBook(directory: recipes, userDirectories: userRecipes), patchelf: nil, signer: nil, builderVersion: "test")
        environment.machineMemoryBytes = machineMemory
        return WheelBuilder(environment: environment)
    }

    /// Publishes an sdist of `name` `version` on the fixture index; `files` go into its top folder.
    @discardableResult
    func sdist(
        _ name: String, _ version: String, files: [String: String] = [:], sha256: String? = nil,
        pyproject: String = "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n"
    ) throws -> [UInt8] {
        let top = "\(work.path)/sdists/\(name)-\(version)"
        var all = files
        all["pyproject.toml"] = pyproject
        all["PKG-INFO"] = "Metadata-Version: 2.1\nName: \(name)\nVersion: \(version)\n"
        for (path, text) in all {
            try FileManager.default.createDirectory(atPath: ("\(top)/\(path)" as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Files.writeAtomically(Array(text.utf8), to: "\(top)/\(path)")
        }
        let archive = "\(work.path)/sdists/\(name)-\(version).tar.gz"
        try ProcessRunner.check("tar", ["-czf", archive, "-C", "\(work.path)/sdists", "\(name)-\(version)"])
        let bytes = try Files.readBytes(archive)
        index.add(project: name, filename: "\(name)-\(version).tar.gz", bytes: bytes, sha256: sha256)
        return bytes
    }

    func build(
        _ requirement: String, targets: [String] = [PipelineHarness.targets[0]], reuse: Bool = false, hooks: BuildHooks = BuildHooks()
    ) throws -> [TargetBuild] {
        try builder().build(.index(try XCTUnwrap(Requirement(requirement))), targets: targets, reuse: reuse, hooks: hooks)
    }
}

/// The build's logic, stage by stage, without root, network or toolchains.
final class BuildPipelineTests: XCTestCase {
    func testPureWheelIsBuiltOnceForAllTargets() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "VERSION = '1.0'\n"])
        let results = try harness.build("demo==1.0", targets: PipelineHarness.targets)
        XCTAssertNil(results[0].failure, "\(String(describing: results[0].failure))")
        XCTAssertEqual(results[0].record.wheel, "demo-1.0-py3-none-any.whl")
        XCTAssertTrue(results[0].record.pure)
        XCTAssertEqual(results[1].skipped, "pure wheel, already built for \(PipelineHarness.targets[0])")
        XCTAssertEqual(harness.sandbox.runs.filter(\.isBuild).count, 1)
        XCTAssertEqual(harness.toolchains.builds, [PipelineHarness.targets[0]])
        // The record is on disk, typed, and names what went in.
        let stored = try XCTUnwrap(
            try BuildStore(layout: harness.layout).record(in: (try XCTUnwrap(results[0].wheelPath) as NSString).deletingLastPathComponent))
        XCTAssertEqual(stored.outcome, .succeeded)
        XCTAssertEqual(stored.sdist?.filename, "demo-1.0.tar.gz")
        XCTAssertEqual(stored.buildRequirements.map(\.name), ["setuptools"])
    }

    func testSilentFallbackToPurePythonIsRefused() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "", "demo/_speedups.c": "int x;\n"])
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(result.failure?.stage, .audit, "\(String(describing: result.failure))")
        XCTAssertTrue(result.failure?.reason.contains("silent fallback") == true, result.failure?.reason ?? "")
        XCTAssertNil(result.wheelPath)
        XCTAssertEqual(result.record.outcome, .failed)
    }

    /// A project whose release on the index is a pure wheel is pure by design (its compiled
    /// form is opt-in): no binaries is no fallback, and the record says which evidence decided.
    func testAPureWheelOnTheIndexIsEvidenceOfPureByDesign() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "", "demo/_speedups.c": "int x;\n"])
        harness.index.add(project: "demo", filename: "demo-1.0-py3-none-any.whl", bytes: Array("wheel".utf8))
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(result.failure, "\(String(describing: result.failure))")
        XCTAssertTrue(result.record.pure)
        XCTAssertTrue(result.record.warnings.contains { $0.contains("pure by design: the index lists demo-1.0-py3-none-any.whl") }, "\(result.record.warnings)")
        // Another version's pure wheel is no evidence for this one.
        let other = try PipelineHarness()
        try other.sdist("demo", "1.0", files: ["demo/__init__.py": "", "demo/_speedups.c": "int x;\n"])
        other.index.add(project: "demo", filename: "demo-0.9-py3-none-any.whl", bytes: Array("wheel".utf8))
        XCTAssertTrue(try XCTUnwrap(try other.build("demo==1.0").first).failure?.reason.contains("silent fallback") == true)
    }

    func testHashMismatchIsRefusedAndNothingIsStored() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", sha256: String(repeating: "0", count: 64))
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(result.failure?.stage, .fetch)
        XCTAssertEqual(result.failure?.kind, .configuration)
        XCTAssertTrue(result.failure?.reason.contains("does not match") == true, result.failure?.reason ?? "")
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: harness.layout.sources)) ?? [], [])
        XCTAssertTrue(harness.sandbox.runs.isEmpty)
    }

    func testTransientIndexFailuresAreRetriedWithBackoff() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        let page = harness.index.pageURL("demo")
        harness.index.fail(page, with: [.transport(url: page, reason: "connection reset"), .http(url: page, status: 503)])
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(result.failure, "\(String(describing: result.failure))")
        XCTAssertEqual(harness.index.requests.filter { $0 == page }.count, 3)
        // base 0.5 s, doubling, times a jitter factor in [0.5, 1.5).
        XCTAssertEqual(harness.clock.sleeps.count, 2)
        XCTAssertTrue((0.25..<0.75).contains(harness.clock.sleeps[0]), "\(harness.clock.sleeps)")
        XCTAssertTrue((0.5..<1.5).contains(harness.clock.sleeps[1]), "\(harness.clock.sleeps)")
    }

    func testAMissingProjectIsNotRetried() throws {
        let harness = try PipelineHarness()
        let result = try XCTUnwrap(try harness.build("nothere==1.0").first)
        XCTAssertEqual(result.failure?.stage, .resolve)
        XCTAssertEqual(result.failure?.kind, .configuration)
        XCTAssertEqual(harness.clock.sleeps, [])
    }

    func testPipDownloadFailuresAreRetriedThenTransient() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        harness.wheels.script([
            .failed("Read timed out", transient: true), .failed("Read timed out", transient: true), .failed("Read timed out", transient: true)
        ])
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(result.failure?.kind, .transient)
        XCTAssertEqual(result.failure?.stage, .prepare)
        XCTAssertEqual(harness.wheels.requests.count, 3)
        XCTAssertEqual(harness.clock.sleeps.count, 2)
    }

    func testRebuildWithOtherBytesGetsTheNextBuildNumber() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        let first = try XCTUnwrap(try harness.build("demo==1.0").first?.wheelPath)
        let scratch = "\(harness.work.path)/other"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        harness.makeWheel = { _ in
            let path = try FixtureWheels.pureWheel(name: "demo", version: "1.0", into: scratch, files: ["demo/__init__.py": Array("VERSION = 'other'\n".utf8)])
            return ((path as NSString).lastPathComponent, try Files.readBytes(path))
        }
        let second = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(second.record.wheel, "demo-1.0-1-py3-none-any.whl")
        XCTAssertTrue(FileManager.default.fileExists(atPath: first), "the earlier wheel keeps its name")
    }

    /// One index serves every target: a published file (or another target's build) of the same
    /// name with other bytes moves this build to the next free build number.
    func testANameTakenWithOtherBytesGetsTheNextFreeBuildNumber() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        let published = "\(harness.layout.repository)/files/demo"
        try FileManager.default.createDirectory(atPath: published, withIntermediateDirectories: true)
        try Files.writeAtomically(Array("other bytes".utf8), to: "\(published)/demo-1.0-py3-none-any.whl")
        try Files.writeAtomically(Array("more other bytes".utf8), to: "\(published)/demo-1.0-1-py3-none-any.whl")
        let built = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(built.failure, "\(String(describing: built.failure))")
        XCTAssertEqual(built.record.wheel, "demo-1.0-2-py3-none-any.whl")
    }

    /// What a build hands back is checked against what was asked for before anything is stored.
    func testAWheelOfAnotherProjectOrVersionIsRefusedAtTheAudit() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        let scratch = "\(harness.work.path)/impostor"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        for (name, version, expected) in [("setuptools", "99", "made a wheel of setuptools"), ("demo", "2.0", "made version 2.0")] {
            harness.makeWheel = { _ in
                let path = try FixtureWheels.pureWheel(name: name, version: version, into: scratch)
                return ((path as NSString).lastPathComponent, try Files.readBytes(path))
            }
            let result = try XCTUnwrap(try harness.build("demo==1.0").first)
            XCTAssertEqual(result.failure?.stage, .audit, "\(String(describing: result.failure))")
            XCTAssertEqual(result.failure?.kind, .audit)
            XCTAssertTrue(result.failure?.reason.contains(expected) == true, result.failure?.reason ?? "")
            XCTAssertNil(result.wheelPath)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(harness.layout.builds)/setuptools"))
        XCTAssertEqual(harness.sandbox.runs.filter(\.isTestInstall).count, 0, "nothing of an impostor is installed")
    }

    /// A build is of its sdist: a local sdist of the same name and version never replaces the
    /// index build's record, and an index requirement never reuses a local build.
    func testABuildFromAnotherSdistNeverReplacesARecord() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        let genuine = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(genuine.failure)
        let folder = try XCTUnwrap(genuine.wheelPath.map { ($0 as NSString).deletingLastPathComponent })
        let before = try XCTUnwrap(try BuildStore(layout: harness.layout).record(in: folder))
        // Another sdist claiming demo 1.0, built from a local file.
        let local = "\(harness.work.path)/local/demo-1.0"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        try Files.writeAtomically(Array("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: other\n".utf8), to: "\(local)/PKG-INFO")
        try Files.writeAtomically(Array("[build-system]\nrequires = [\"setuptools\"]\n".utf8), to: "\(local)/pyproject.toml")
        let archive = "\(harness.work.path)/local/demo-1.0.tar.gz"
        try ProcessRunner.check("tar", ["-czf", archive, "-C", "\(harness.work.path)/local", "demo-1.0"])
        let impostor = try XCTUnwrap(try harness.builder().build(.local(archive), targets: [PipelineHarness.targets[0]]).first)
        XCTAssertEqual(impostor.failure?.stage, .store, "\(String(describing: impostor.failure))")
        XCTAssertTrue(impostor.failure?.reason.contains("built from another sdist") == true, impostor.failure?.reason ?? "")
        let after = try XCTUnwrap(try BuildStore(layout: harness.layout).record(in: folder))
        XCTAssertEqual(after.sdist?.sha256, before.sdist?.sha256)
        XCTAssertEqual(after.wheelSha256, before.wheelSha256)
        // The store's folder names are validated: a version ".." is no folder.
        XCTAssertThrowsError(try BuildStore(layout: harness.layout).directory(project: "demo", version: "..", target: PipelineHarness.targets[0]))
        XCTAssertThrowsError(try BuildStore(layout: harness.layout).directory(project: "../demo", version: "1.0", target: PipelineHarness.targets[0]))
        XCTAssertThrowsError(try BuildStore(layout: harness.layout).directory(project: "demo", version: "1.0", target: "../x"))
    }

    /// Failures before the project is known (a 404, an unreadable file) each keep their log.
    func testFailuresOfUnknownProjectsDoNotReplaceEachOther() throws {
        let harness = try PipelineHarness()
        let first = try XCTUnwrap(try harness.build("absent==1.0").first)
        let second = try XCTUnwrap(try harness.build("missing==2.0").first)
        XCTAssertNotNil(first.failure)
        XCTAssertNotNil(second.failure)
        XCTAssertNotEqual(first.logPath, second.logPath)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.logPath), first.logPath)
        XCTAssertTrue(FileManager.default.fileExists(atPath: second.logPath), second.logPath)
    }

    func testCurrentBuildIsSkippedByItsKey() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        XCTAssertNil(try harness.build("demo==1.0").first?.failure)
        let runs = harness.sandbox.runs.count
        let again = try XCTUnwrap(try harness.build("demo==1.0", reuse: true).first)
        XCTAssertEqual(again.skipped, "already built with the same inputs")
        XCTAssertEqual(harness.sandbox.runs.count, runs)
        // A changed recipe is another key: built again.
        try Files.writeAtomically(Array(#"{"environment": {"X": "1"}}"#.utf8), to: "\(harness.recipes)/demo.json")
        let changed = try XCTUnwrap(try harness.build("demo==1.0", reuse: true).first)
        XCTAssertNil(changed.skipped)
        XCTAssertGreaterThan(harness.sandbox.runs.count, runs)
    }

    func testAUserRecipeReplacesOrExtendsTheBuiltInOneAndChangesTheKey() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        try Files.writeAtomically(Array(#"{"environment": {"A": "1"}, "test_command": "true"}"#.utf8), to: "\(harness.recipes)/demo.json")
        XCTAssertNil(try harness.build("demo==1.0").first?.failure)
        let builtinDigest = try XCTUnwrap(try harness.build("demo==1.0", reuse: true).first).record.recipeDigest
        let user = "\(harness.work.path)/mine"
        try FileManager.default.createDirectory(atPath: user, withIntermediateDirectories: true)
        harness.userRecipes = [user]
        // A user file extending the built-in one: both keys; the key changed, so it is built again.
        try Files.writeAtomically(Array(#"{"extends": "builtin", "environment": {"B": "2"}}"#.utf8), to: "\(user)/demo.json")
        let extended = try XCTUnwrap(try harness.build("demo==1.0", reuse: true).first)
        XCTAssertNil(extended.skipped)
        XCTAssertNotEqual(extended.record.recipeDigest, builtinDigest)
        let build = try XCTUnwrap(harness.sandbox.runs.last(where: \.isBuild))
        XCTAssertEqual(build.environment["A"], "1")
        XCTAssertEqual(build.environment["B"], "2")
        // Without "extends" it replaces: A is gone.
        try Files.writeAtomically(Array(#"{"environment": {"B": "2"}}"#.utf8), to: "\(user)/demo.json")
        let replaced = try XCTUnwrap(try harness.build("demo==1.0", reuse: true).first)
        XCTAssertNil(replaced.skipped)
        XCTAssertNil(try XCTUnwrap(harness.sandbox.runs.last(where: \.isBuild)).environment["A"])
        XCTAssertNotEqual(replaced.record.recipeDigest, extended.record.recipeDigest)
        // A misspelt key fails the build at configure, naming the file and line.
        try Files.writeAtomically(Array("{\n  \"enviroment\": {}\n}".utf8), to: "\(user)/demo.json")
        let refused = try XCTUnwrap(try harness.build("demo==1.0").first?.failure)
        XCTAssertEqual(refused.stage, .configure)
        XCTAssertTrue(refused.reason.contains("\(user)/demo.json:2: unknown key \"enviroment\" (did you mean \"environment\"?)"), refused.reason)
    }

    /// The recipe's test requirements are fetched beside the wheel's dependencies and installed
    /// with the wheel before the test command; one that is not a plain requirement is refused.
    func testTestRequirementsAreFetchedAndInstalledBeforeTheTestCommand() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        try Files.writeAtomically(
            Array(#"{"test_requires": ["pytest==8.3.4", "tomli; python_version < '3.11'"], "test_command": "python -m pytest -q"}"#.utf8),
            to: "\(harness.recipes)/demo.json")
        let built = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(built.failure, "\(String(describing: built.failure))")
        XCTAssertTrue(harness.wheels.requests.contains(["pytest==8.3.4"]), "\(harness.wheels.requests)")
        XCTAssertFalse(harness.wheels.requests.joined().contains { $0.contains("tomli") }, "a marker that does not apply on cp311 leaves it out")
        let test = try XCTUnwrap(harness.sandbox.runs.last(where: \.isTestInstall)).command[2]
        XCTAssertTrue(test.contains("demo-1.0-py3-none-any.whl' 'pytest==8.3.4' && "), test)
        XCTAssertTrue(test.hasSuffix("sh -c 'python -m pytest -q'"), test)

        XCTAssertEqual(
            RecipeCheck.problems(in: "{\n  \"test_requires\": [\"pytest @ https://example.invalid/p.whl\"]\n}", file: "r/demo.json").count, 1)
        XCTAssertTrue(
            RecipeCheck.problems(in: "{\n  \"test_requires\": [\"pytest @ https://example.invalid/p.whl\"]\n}", file: "r/demo.json")[0]
                .hasPrefix("r/demo.json:2: test_requires: "))
    }

    func testPatchesAreAppliedBeforeTheBuildAndRecordedAndABadOneFailsAtPrepare() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "A = 1\nB = 2\n"])
        let patch = "--- a/demo/__init__.py\n+++ b/demo/__init__.py\n@@ -1,2 +1,3 @@\n A = 1\n+PATCHED = True\n B = 2\n"
        try FileManager.default.createDirectory(atPath: "\(harness.recipes)/patches", withIntermediateDirectories: true)
        try Files.writeAtomically(Array(patch.utf8), to: "\(harness.recipes)/patches/demo.patch")
        try Files.writeAtomically(Array(#"{"patches": ["patches/demo.patch"]}"#.utf8), to: "\(harness.recipes)/demo.json")
        var seen = ""
        let scratch = "\(harness.work.path)/wheels"
        harness.makeWheel = { config in
            let source = try XCTUnwrap(config.mounts.first { $0.destination == "/src" }).source
            seen = try String(contentsOfFile: "\(source)/demo-1.0/demo/__init__.py", encoding: .utf8)
            let path = try FixtureWheels.pureWheel(name: "demo", version: "1.0", into: scratch)
            return ((path as NSString).lastPathComponent, try Files.readBytes(path))
        }
        let built = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(built.failure, "\(String(describing: built.failure))")
        XCTAssertEqual(seen, "A = 1\nPATCHED = True\nB = 2\n")
        XCTAssertEqual(built.record.patches, [AppliedPatch(file: "demo.patch", sha256: Digest.hex(Digest.sha256(Array(patch.utf8))))])
        // The patch is part of the key: changed, the build is not reused.
        let other = patch.replacingOccurrences(of: "True", with: "False")
        try Files.writeAtomically(Array(other.utf8), to: "\(harness.recipes)/patches/demo.patch")
        XCTAssertNil(try XCTUnwrap(try harness.build("demo==1.0", reuse: true).first).skipped)
        // A patch whose lines are not in the file fails at prepare, naming the patch and the hunk.
        try Files.writeAtomically(Array(patch.replacingOccurrences(of: " B = 2", with: " C = 3").utf8), to: "\(harness.recipes)/patches/demo.patch")
        let failed = try XCTUnwrap(try harness.build("demo==1.0").first?.failure)
        XCTAssertEqual(failed.stage, .prepare)
        XCTAssertTrue(failed.reason.contains("patch demo.patch: hunk #1 for demo/__init__.py"), failed.reason)
    }

    func testABuildKilledAtTheMemoryLimitIsTriedOnceMoreWithDouble() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        harness.failingBuilds = [.memoryExceeded(bytes: 4 << 30)]
        let built = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(built.failure, "\(String(describing: built.failure))")
        let limits = harness.sandbox.runs.filter(\.isBuild).map(\.limits.memoryBytes)
        XCTAssertEqual(limits, [4 << 30, 8 << 30])
        XCTAssertTrue(built.record.warnings.contains { $0.contains("\"memory_gb\": 8") }, "\(built.record.warnings)")
        let stored = try XCTUnwrap(try BuildStore(layout: harness.layout).record(in: Paths.parent(try XCTUnwrap(built.wheelPath))))
        XCTAssertEqual(stored.warnings, built.record.warnings)

        // A verification rebuild retried for memory keeps its own record, beside its own wheel.
        let sdist = try XCTUnwrap(stored.sdist)
        let into = "\(harness.work.path)/verify"
        harness.failingBuilds = [.memoryExceeded(bytes: 4 << 30)]
        let rebuilt = try harness.builder().rebuild(sdist: "\(harness.layout.sources)/\(sdist.sha256)/\(sdist.filename)", record: stored, into: into)
        XCTAssertNil(rebuilt.failure, "\(String(describing: rebuilt.failure))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(into)/rebuild-record.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(into)/record.json"))

        // Killed twice: failed, saying what to declare. A machine without double the memory does not retry.
        harness.failingBuilds = [.memoryExceeded(bytes: 4 << 30), .memoryExceeded(bytes: 8 << 30)]
        let twice = try XCTUnwrap(try harness.build("demo==1.0").first?.failure)
        XCTAssertTrue(twice.suggestion?.contains("more than 8 GiB (a second attempt had that much)") == true, "\(twice)")
        harness.machineMemory = 6 << 30
        harness.failingBuilds = [.memoryExceeded(bytes: 4 << 30)]
        let runs = harness.sandbox.runs.filter(\.isBuild).count
        let small = try XCTUnwrap(try harness.build("demo==1.0").first?.failure)
        XCTAssertEqual(harness.sandbox.runs.filter(\.isBuild).count, runs + 1)
        XCTAssertTrue(small.suggestion?.contains("\"memory_gb\": N") == true, "\(small)")
    }

    func testStageTimingsAreRecordedOnceEachAndNestedBuildsApart() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", pyproject: "[build-system]\nrequires = [\"helper>=1\"]\nbuild-backend = \"setuptools.build_meta\"\n")
        try harness.sdist("helper", "1.0")
        // No wheel of helper for the target: it is built from its sdist first.
        harness.wheels.script([.noWheel("helper>=1")])
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(result.failure, "\(String(describing: result.failure))")
        let own = result.record.stages.filter { $0.build == nil }.map(\.stage)
        XCTAssertEqual(own, [.configure, .resolve, .fetch, .extract, .prepare, .build, .audit, .test, .store])
        let nested = result.record.stages.filter { $0.build == "build requirement helper" }.map(\.stage)
        XCTAssertEqual(nested, [.resolve, .fetch, .extract, .prepare, .build])
        // The clock moves only in the sandbox: 5 s per build run, 2 s for the test install.
        XCTAssertEqual(result.record.timings["build"], 5)
        XCTAssertEqual(result.record.timings["test"], 2)
        XCTAssertEqual(result.record.timings["prepare"], 5, "the outer prepare stage holds the nested build")
        XCTAssertEqual(result.record.stages.first { $0.build != nil && $0.stage == .build }?.seconds, 5)
    }

    func testHostileBuildRequirementsNeverReachACommandLine() throws {
        for entry in [
            "--index-url=https://attacker.invalid/simple", "evil @ https://attacker.invalid/evil.whl", "../../etc", "-rrequirements.txt",
            "ok[--x]", "name; os_name == 'posix' and $(touch /tmp/x)"
        ] {
            let harness = try PipelineHarness()
            let quoted = entry.replacingOccurrences(of: "\"", with: "\\\"")
            try harness.sdist(
                "demo", "1.0", pyproject: "[build-system]\nrequires = [\"setuptools\", \"\(quoted)\"]\nbuild-backend = \"setuptools.build_meta\"\n")
            let result = try XCTUnwrap(try harness.build("demo==1.0").first)
            XCTAssertEqual(result.failure?.stage, .prepare, entry)
            XCTAssertTrue(result.failure?.reason.contains("from [build-system] requires") == true, "\(entry): \(result.failure?.reason ?? "")")
            XCTAssertEqual(harness.wheels.requests, [], "\(entry) reached the downloader")
            XCTAssertTrue(harness.sandbox.runs.isEmpty)
        }
    }

    /// A build chooses what the host downloads for it: how much is bounded.
    func testWhatTheHostFetchesForABuildIsBounded() throws {
        let harness = try PipelineHarness()
        let many = (0..<300).map { "\"package\($0)\"" }.joined(separator: ", ")
        try harness.sdist("demo", "1.0", pyproject: "[build-system]\nrequires = [\(many)]\nbuild-backend = \"setuptools.build_meta\"\n")
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(result.failure?.stage, .prepare)
        XCTAssertTrue(result.failure?.reason.contains("300 requirements asked for at once") == true, result.failure?.reason ?? "")
        XCTAssertFalse(harness.wheels.requests.joined().contains("package299"))
    }

    func testTheHookAnswerIsValidatedToo() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        harness.hookAnswer = #"{"requires": ["--find-links=https://attacker.invalid/"]}"# + "\n"
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(result.failure?.stage, .prepare)
        XCTAssertTrue(result.failure?.reason.contains("get_requires_for_build_wheel") == true, result.failure?.reason ?? "")
        XCTAssertFalse(harness.wheels.requests.joined().contains("attacker"))
    }

    func testForgedOutputLinesChangeNothing() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        harness.buildOutput = #"{"requires": ["forged-package"]}"# + "\nWHEELFARM-REQUIRES [\"forged-package\"]\nWHEELFARM-BUILDING\n"
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertNil(result.failure, "\(String(describing: result.failure))")
        XCTAssertFalse(harness.wheels.requests.joined().contains("forged"))
        XCTAssertTrue(try String(contentsOfFile: result.logPath, encoding: .utf8).contains("forged-package"), "the output is kept in the log")
    }

    func testOutputOtherThanOneWheelIsRefused() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        harness.makeWheel = { _ in ("not-a-wheel.txt", Array("x".utf8)) }
        let result = try XCTUnwrap(try harness.build("demo==1.0").first)
        XCTAssertEqual(result.failure?.stage, .build)
        XCTAssertTrue(result.failure?.reason.contains("not a wheel file name") == true, result.failure?.reason ?? "")
    }

    func testACancelledBuildStopsBeforeItsNextStage() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0")
        let result = try XCTUnwrap(try harness.build("demo==1.0", hooks: BuildHooks(shouldStop: { true })).first)
        XCTAssertEqual(result.failure?.kind, .cancelled)
        XCTAssertTrue(harness.sandbox.runs.isEmpty)
    }

    func testTheSchedulerIsAskedForARequirementWithoutAWheel() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", pyproject: "[build-system]\nrequires = [\"helper\"]\nbuild-backend = \"setuptools.build_meta\"\n")
        harness.wheels.script([.noWheel("helper")])
        let asked = Locked<[String]>([])
        let result = try XCTUnwrap(
            try harness.build(
                "demo==1.0",
                hooks: BuildHooks(buildDependency: { requirement, target in
                    asked.append("\(requirement)@\(target)")
                    return .wait("the farm builds \(requirement) first")
                })
            ).first)
        XCTAssertEqual(result.failure?.kind, .deferred)
        XCTAssertEqual(asked.current, ["helper@\(PipelineHarness.targets[0])"])
    }

    func testAnOptionalModuleMissingAtImportIsAWarningAndABrokenLibraryAFailure() throws {
        let work = try TemporaryDirectory(prefix: "wf-judge")
        let path = try FixtureWheels.pureWheel(name: "demo", version: "1.0", into: work.path)
        let wheel = try Wheel(path: path, selection: .binariesAndMetadata)
        let verdict = Stages.TestInstall.judge(
            [
                ["module": "demo._tk", "kind": "missing", "missing": "tkinter", "error": "No module named 'tkinter'"],
                ["module": "demo._own", "kind": "missing", "missing": "demo.helpers", "error": "No module named 'demo.helpers'"],
                ["module": "demo._dep", "kind": "missing", "missing": "numpy", "error": "No module named 'numpy'"],
                ["module": "demo._lib", "kind": "load", "error": "libfoo.so.1: cannot open shared object file"],
                ["module": "demo._ok", "kind": "ok"],
                // greenlet's test extension imports psutil, which it requires only for its "test" extra.
                ["module": "demo.tests._ext", "kind": "missing", "missing": "psutil", "error": "No module named 'psutil'"]
            ], wheel: wheel, dependencies: ["numpy>=1.20", "psutil; extra == \"test\""],
            markers: Marker.Environment(pythonFullVersion: "3.11.2", machine: "x86_64"))
        XCTAssertEqual(verdict.warnings.count, 2, "\(verdict.warnings)")
        XCTAssertTrue(verdict.warnings[0].contains("tkinter"))
        XCTAssertTrue(verdict.warnings[1].contains("psutil"))
        XCTAssertEqual(verdict.failures.count, 3, "\(verdict.failures)")
        XCTAssertTrue(verdict.failures.contains { $0.contains("libfoo.so.1") })
    }
}

import ArgumentParser
import FarmCore
import Foundation
import Repository
import TestSupport
import WheelBuilder
import WheelfarmBasics
import WheelfarmCommands
import WheelfarmTesting
import XCTest

/// The commands driven with a capturing context: what they print, where they look, their exit codes.
final class CommandTests: XCTestCase {
    var work: TemporaryDirectory!

    /// Settings from the environment (a developer's or fresh-check's WHEELFARM_HOME) would
    /// override the files these tests write: set aside while they run.
    var savedEnvironment: [String: String] = [:]

    override func setUpWithError() throws {
        work = try TemporaryDirectory(prefix: "wf-commands")
        for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("WHEELFARM_") && key != "WHEELFARM_TOOLS" && key != "WHEELFARM_PATCHELF" {
            savedEnvironment[key] = value
            unsetenv(key)
        }
    }

    override func tearDown() {
        for (key, value) in savedEnvironment { setenv(key, value, 1) }
        savedEnvironment = [:]
    }

    /// A configuration file naming a home and a signing key elsewhere.
    func configuration(_ extra: String = "") throws -> String {
        let path = "\(work.path)/wheelfarm.toml"
        try Files.writeAtomically(Array("home = \"\(work.path)/configured-home\"\n[signing]\nkey = \"\(work.path)/keys/custom.key\"\n\(extra)".utf8), to: path)
        return path
    }

    /// The configuration's home and key are what every command uses (the key and repository
    /// commands used to look in the default home and key, whatever the file said).
    func testEveryCommandUsesTheConfiguredHomeAndSigningKey() throws {
        let config = try configuration()
        let generate = CommandContext(capturing: true, config: config)
        try KeyCommand.Generate.parse([]).run(generate)
        XCTAssertTrue(generate.output.contains("\(work.path)/keys/custom.key"), generate.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(work.path)/keys/custom.pub"))
        let show = CommandContext(capturing: true, config: config)
        try KeyCommand.Show.parse([]).run(show)
        XCTAssertEqual(show.output, try String(contentsOfFile: "\(work.path)/keys/custom.pub", encoding: .utf8))

        let token = CommandContext(capturing: true, config: config)
        try TokenCommand.Create.parse(["--project", "demo"]).run(token)
        XCTAssertTrue(token.output.hasPrefix("wf_"), token.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(work.path)/configured-home/repository/tokens.json"))
        XCTAssertEqual(try CommandContext(capturing: true, config: config).farm().layout.path, "\(work.path)/configured-home")
        // A flag still wins over the file.
        let flagged = CommandContext(capturing: true, home: "\(work.path)/flag-home", config: config)
        XCTAssertEqual(try flagged.farm().layout.path, "\(work.path)/flag-home")
        XCTAssertEqual(try flagged.farm().keys().secretPath, "\(work.path)/keys/custom.key")
    }

    /// A requirement's marker decides per target on the direct path too: false everywhere is nothing to build.
    func testADirectRequirementWhoseMarkerIsFalseIsNotBuilt() throws {
        let context = CommandContext(capturing: true, home: "\(work.path)/home")
        let build = try BuildCommand.parse([#"markupsafe>=3; python_version<"3""#, "--target", "cp311-bookworm-x86_64"])
        XCTAssertEqual(build.run(context), 4, context.output + context.errors)
        XCTAssertTrue(context.output.contains("its marker is false for cp311-bookworm-x86_64"), context.output)
    }

    /// A remote repository's password is needed only to publish: `work` with nothing to publish runs without it.
    func testWorkWithoutAPasswordRunsWhenNothingPublishes() throws {
        unsetenv("WHEELFARM_REPOSITORY_PASSWORD")
        let config = "\(work.path)/remote.toml"
        try Files.writeAtomically(Array("home = \"\(work.path)/remote-home\"\n[repository]\nurl = \"http://127.0.0.1:9/\"\n".utf8), to: config)
        let context = CommandContext(capturing: true, config: config)
        try WorkCommand.parse([]).run(context)
        XCTAssertTrue(context.output.contains("queue empty"), context.output + context.errors)
    }

    /// `--jobs` is applied in `run(_ context:)`, so a command driven directly honours it too.
    func testFlagsApplyWhenTheCommandIsDrivenDirectly() throws {
        let context = CommandContext(capturing: true, home: "\(work.path)/home")
        try ConfigCommand.Show.parse(["--jobs", "7"]).run(context)
        XCTAssertTrue(context.output.contains("jobs = 7"), context.output)
    }

    func testServeRefusesAPortThatIsNotOne() throws {
        for port in ["99999", "-1", "65536"] {
            XCTAssertThrowsError(try ServeCommand.parseAsRoot(["--port=\(port)"]), port) { error in
                XCTAssertTrue(ServeCommand.message(for: error).contains("between 0 and 65535"), ServeCommand.message(for: error))
            }
        }
        XCTAssertNoThrow(try ServeCommand.parseAsRoot(["--port", "0"]))
        XCTAssertNoThrow(try ServeCommand.parseAsRoot(["--port", "65535"]))
    }

    func testAnInvalidConfigurationIsExitTwoNamingTheFile() throws {
        let path = "\(work.path)/bad.toml"
        try Files.writeAtomically(Array("jobs = \"many\"\n".utf8), to: path)
        let context = CommandContext(capturing: true, config: path)
        XCTAssertThrowsError(try StatusCommand.parse([]).run(context)) { error in
            XCTAssertEqual((error as? ExitCode)?.rawValue, 2)
        }
        XCTAssertTrue(context.errors.contains(path), context.errors)
    }

    func testStatusAndJobsOfAnEmptyFarm() throws {
        let context = CommandContext(capturing: true, home: "\(work.path)/home")
        try StatusCommand.parse([]).run(context)
        XCTAssertTrue(context.output.contains("jobs: 0 queued"), context.output)
        XCTAssertTrue(context.output.contains("recent failures: none"), context.output)
        let jobs = CommandContext(capturing: true, home: "\(work.path)/home")
        try JobsCommand.parse(["--json"]).run(jobs)
        XCTAssertEqual(jobs.output.trimmingCharacters(in: .whitespacesAndNewlines), "[\n\n]")
    }

    func testConfigShowSaysWhereEachValueCameFrom() throws {
        let context = CommandContext(capturing: true, config: try configuration())
        try ConfigCommand.Show.parse([]).run(context)
        XCTAssertTrue(context.output.contains("home = \"\(work.path)/configured-home\"  # file"), context.output)
        XCTAssertTrue(context.output.contains("limit_mb = 64  # default"), context.output)
    }

    /// Your recipe folder: `recipe add` extends the built-in recipe, `recipe show` says where each
    /// key came from, `recipe check` names a misspelt key with its line, and a folder that is not
    /// there is an error rather than the built-in recipes alone.
    func testRecipeAddShowCheckOverAUserFolder() throws {
        let mine = "\(work.path)/mine"
        let config = "\(work.path)/recipes.toml"
        try Files.writeAtomically(
            Array("home = \"\(work.path)/home\"\ndata_dir = \"\(TestSupport.repositoryRoot)\"\n[recipes]\npaths = [\"\(mine)\"]\n".utf8), to: config)
        let add = CommandContext(capturing: true, config: config)
        XCTAssertEqual(try RecipeCommand.Add.parse(["pyyaml", "--package", "libfoo-dev"]).run(add), 0, add.errors)
        let written = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(mine)/pyyaml.json"))) as? [String: Any])
        XCTAssertEqual(written["extends"] as? String, "builtin")
        XCTAssertEqual(written["packages"] as? [String], ["libyaml-dev", "libfoo-dev"])

        let show = CommandContext(capturing: true, config: config)
        XCTAssertEqual(try RecipeCommand.Show.parse(["PyYAML"]).run(show), 0, show.errors)
        XCTAssertTrue(show.output.contains("from: \(TestSupport.repositoryRoot)/recipes/pyyaml.json + \(mine)/pyyaml.json"), show.output)
        XCTAssertTrue(show.output.contains("  packages: \(mine)/pyyaml.json"), show.output)
        XCTAssertTrue(show.output.contains("  test_command: \(TestSupport.repositoryRoot)/recipes/pyyaml.json"), show.output)
        let builtinDigest = try RecipeBook(directory: "\(TestSupport.repositoryRoot)/recipes").recipe(for: "pyyaml").digest
        XCTAssertFalse(show.output.contains(builtinDigest), "the user's file changes the digest")

        let check = CommandContext(capturing: true, config: config)
        XCTAssertEqual(try RecipeCommand.Check.parse([]).run(check), 0, check.output)
        try Files.writeAtomically(Array("{\n  \"packages\": [],\n  \"tests_command\": \"true\"\n}\n".utf8), to: "\(mine)/six.json")
        let bad = CommandContext(capturing: true, config: config)
        XCTAssertEqual(try RecipeCommand.Check.parse([mine]).run(bad), 1)
        XCTAssertTrue(bad.output.contains("\(mine)/six.json:3: unknown key \"tests_command\" (did you mean \"test_command\"?)"), bad.output)

        let missing = CommandContext(capturing: true, config: config)
        XCTAssertEqual(try RecipeCommand.Show.parse(["six", "--recipes", "\(work.path)/nowhere"]).run(missing), 2)
        XCTAssertTrue(missing.errors.contains("\(work.path)/nowhere"), missing.errors)
    }

    func testTheRootHelpListsEveryExitStatus() {
        let help = Wheelfarm.helpMessage()
        for status in ["0 ", "1 ", "2 ", "3 ", "4 ", "64 ", "75 ", "124 "] { XCTAssertTrue(help.contains("  \(status)"), "\(status)missing:\n\(help)") }
    }

    func testPublishTakesTheTargetFromTheBuildRecord() throws {
        let home = FarmLayout(path: "\(work.path)/home")
        let folder = try BuildStore(layout: home).directory(project: "demo", version: "1.0", target: "cp311-bookworm-x86_64")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let wheel = try FixtureWheels.pureWheel(name: "demo", version: "1.0", into: folder)
        var record = BuildRecord(target: "cp311-bookworm-x86_64", builderVersion: "test", startedAt: Date())
        (record.project, record.version, record.outcome, record.wheel) = ("demo", "1.0", .succeeded, (wheel as NSString).lastPathComponent)
        try BuildStore(layout: home).write(record, in: folder)
        let context = CommandContext(capturing: true, home: home.path)
        try PublishCommand.parse([wheel]).run(context)
        XCTAssertTrue(context.output.contains("demo-1.0-py3-none-any.whl: published"), context.output)
        let repository = try Repository(root: home.repository)
        XCTAssertEqual(try repository.manifest("demo")?.files.first?.target, "cp311-bookworm-x86_64")
        // The same bytes again change nothing.
        let again = CommandContext(capturing: true, home: home.path)
        try PublishCommand.parse([wheel]).run(again)
        XCTAssertTrue(again.output.contains("unchanged"), again.output)
    }

    func testDoctorOfflineAsJSON() throws {
        let context = CommandContext(capturing: true, home: "\(work.path)/home")
        do { try DoctorCommand.parse(["--offline", "--json"]).run(context) } catch let exit as ExitCode { XCTAssertEqual(exit.rawValue, 1) }
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(context.output.utf8)) as? [String: Any])
        let names = (report["checks"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        XCTAssertTrue(names.contains("mmdebstrap"))
        XCTAssertFalse(names.contains("package index"), "offline asks no network")
    }
}

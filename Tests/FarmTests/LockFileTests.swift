import FarmCore
import Foundation
import PackagingModel
import XCTest

/// The lock's formats and the lock loop, without pip or builds.
final class LockFileTests: XCTestCase {
    func sample() -> LockFile {
        LockFile(
            target: "cp311-bookworm-glibc2.17-x86_64", python: "3.11", machine: "x86_64", created: Date(timeIntervalSince1970: 1_790_000_000),
            toolchainDigest: String(repeating: "a", count: 64), runtimeDigest: String(repeating: "b", count: 64), signingKey: "E85243B0A0AF6018",
            index: "http://farm:8080/simple/", requirements: ["pyyaml==6.0.2", "six; python_version < \"4\""],
            wheels: [
                LockedWheel(
                    project: "six", version: "1.17.0", filename: "six-1.17.0-py2.py3-none-any.whl",
                    url: "http://farm:8080/files/six/six-1.17.0-py2.py3-none-any.whl",
                    size: 11050, uploadTime: Date(timeIntervalSince1970: 1_780_000_000), sha256: String(repeating: "1", count: 64)),
                LockedWheel(
                    project: "pyyaml", version: "6.0.2", filename: "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
                    url: "http://farm:8080/files/pyyaml/PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl", size: 700_000,
                    uploadTime: Date(timeIntervalSince1970: 1_780_000_100), sha256: String(repeating: "2", count: 64))
            ])
    }

    func testThePEP751DocumentNamesEachWheelByURLSizeTimeAndHashAndReadsBack() throws {
        let lock = sample()
        XCTAssertEqual(lock.pylockName, "pylock.cp311-bookworm-glibc2_17-x86_64.toml", "PEP 751 allows no dot in the name part")
        let text = lock.toml()
        XCTAssertTrue(text.contains("lock-version = \"1.0\"\ncreated-by = \"wheelfarm\"\n"), text)
        XCTAssertTrue(text.contains("[[packages.wheels]]\nname = \"six-1.17.0-py2.py3-none-any.whl\"\nurl = \"http://farm:8080/files/six/"), text)
        XCTAssertTrue(text.contains("size = 11050\nupload-time = 2026-05-28T"), text)
        XCTAssertTrue(text.contains("hashes = { sha256 = \"\(String(repeating: "1", count: 64))\" }"), text)
        XCTAssertTrue(text.contains("requirements = [\"pyyaml==6.0.2\", \"six; python_version < \\\"4\\\"\"]"), "strings are escaped: \(text)")
        XCTAssertLessThan(try XCTUnwrap(text.range(of: "name = \"pyyaml\"")).lowerBound, try XCTUnwrap(text.range(of: "name = \"six\"")).lowerBound, "sorted")
        XCTAssertEqual(text, lock.toml(), "deterministic")

        let parsed = try LockFile.parse(toml: text)
        XCTAssertEqual(parsed.target, lock.target)
        XCTAssertEqual(parsed.python, "3.11")
        XCTAssertEqual(parsed.machine, "x86_64")
        XCTAssertEqual(parsed.created, lock.created)
        XCTAssertEqual(parsed.signingKey, lock.signingKey)
        XCTAssertEqual(parsed.wheels.map(\.filename), lock.wheels.map(\.filename))
        XCTAssertEqual(parsed.wheels.map(\.sha256), lock.wheels.map(\.sha256))
        XCTAssertEqual(parsed.requirementsText(), lock.requirementsText(), "the requirements file can be checked against a read lock")
    }

    func testTheRequirementsFilePinsEveryWheelWithItsHash() {
        let text = sample().requirementsText()
        XCTAssertTrue(text.contains("pyyaml==6.0.2 \\\n    --hash=sha256:\(String(repeating: "2", count: 64))\n"), text)
        XCTAssertTrue(text.contains("six==1.17.0 \\\n    --hash=sha256:\(String(repeating: "1", count: 64))\n"), text)
        let file = try? RequirementsFile.parse(text)
        XCTAssertEqual(file?.requirements.map(\.requirement.name), ["pyyaml", "six"], "pip's format: the farm's own parser reads it")
        XCTAssertEqual(file?.requirements.first?.hashes, [String(repeating: "2", count: 64)])
    }

    func testMalformedLocksAreRefusedWithTheReason() {
        XCTAssertThrowsError(try LockFile.parse(toml: "lock-version = \"2.0\"\n")) { XCTAssertTrue("\($0)".contains("lock-version"), "\($0)") }
        XCTAssertThrowsError(try LockFile.parse(toml: "lock-version = \"1.0\"\ncreated-by = \"x\"\n")) {
            XCTAssertTrue("\($0)".contains("tool.wheelfarm"), "\($0)")
        }
        let noHash =
            "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\n[[packages.wheels]]\nurl = \"http://x/a-1-py3-none-any.whl\"\nsize = 1\n[tool.wheelfarm]\ntarget = \"t\"\n"
        XCTAssertThrowsError(try LockFile.parse(toml: noHash)) { XCTAssertTrue("\($0)".contains("sha256"), "\($0)") }
        let traversal = noHash.replacingOccurrences(
            of: "size = 1\n", with: "size = 1\nname = \"../../etc/passwd\"\nhashes = { sha256 = \"\(String(repeating: "0", count: 64))\" }\n")
        XCTAssertThrowsError(try LockFile.parse(toml: traversal)) { XCTAssertTrue("\($0)".contains("not a wheel"), "\($0)") }
        XCTAssertThrowsError(try LockFile.parse(toml: "lock-version = [")) { XCTAssertTrue("\($0)".contains("TOML"), "\($0)") }
    }

    func testPipsReportMapsToRepositoryFilesAndOnlyThose() throws {
        let report = """
            {"version": "1", "install": [
              {"download_info": {"url": "file:///repo/files/six/six-1.17.0-py2.py3-none-any.whl", "archive_info": {"hashes": {"sha256": "\(String(repeating: "1", count: 64))"}}},
               "metadata": {"name": "six", "version": "1.17.0"}, "requested": true},
              {"download_info": {"url": "file:///repo/files/pyyaml/PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl", "archive_info": {"hash": "sha256=\(String(repeating: "2", count: 64))"}},
               "metadata": {"name": "PyYAML", "version": "6.0.2"}}
            ]}
            """
        let files = try Locker.parseReport(Array(report.utf8), filesURL: "file:///repo/files/")
        XCTAssertEqual(files.map(\.project), ["six", "pyyaml"])
        XCTAssertEqual(files.map(\.sha256), [String(repeating: "1", count: 64), String(repeating: "2", count: 64)])
        let outside = report.replacingOccurrences(of: "file:///repo/files/six/", with: "https://elsewhere/six/")
        XCTAssertThrowsError(try Locker.parseReport(Array(outside.utf8), filesURL: "file:///repo/files/")) {
            XCTAssertTrue("\($0)".contains("outside"), "\($0)")
        }
        XCTAssertThrowsError(try Locker.parseReport(Array("not json".utf8), filesURL: "file:///repo/files/"))
        XCTAssertEqual(
            Locker.missingRequirement(
                in:
                    "ERROR: Could not find a version that satisfies the requirement six>=1.5 (from versions: none)\nERROR: No matching distribution found for six>=1.5\n"
            ),
            "six>=1.5")
        XCTAssertNil(Locker.missingRequirement(in: "ERROR: ResolutionImpossible: for help visit ..."))
    }

    /// The loop: missing requirements are built one round each, then resolution is repeated;
    /// the same one missing twice, a refusal, or --no-build ends it with pip's words.
    func testTheLockLoopBuildsWhatIsMissingThenResolvesAgain() throws {
        let built = LockedList()
        let resolved = ResolvedFile(project: "a", version: "1", filename: "a-1-py3-none-any.whl", sha256: String(repeating: "1", count: 64))
        let locker = Locker(
            resolve: { _ in
                let have = built.items
                if !have.contains("b>=2") { return .missing(requirement: "b>=2", explanation: "No matching distribution found for b>=2") }
                if !have.contains("c") { return .missing(requirement: "c", explanation: "No matching distribution found for c") }
                return .resolved([resolved])
            },
            build: { requirements in
                built.append(contentsOf: requirements.map(\.description))
                return []
            })
        var said: [String] = []
        let files = try locker.lock(["a"], absent: [try XCTUnwrap(Requirement("a"))], say: { said.append($0) })
        XCTAssertEqual(files, [resolved])
        XCTAssertEqual(built.items, ["a", "b>=2", "c"], "the absent top level first, in one go; then each missing one")
        XCTAssertEqual(said.count, 3)

        let stuck = Locker(resolve: { _ in .missing(requirement: "z", explanation: "pip: none") }, build: { _ in [] })
        XCTAssertThrowsError(try stuck.lock(["z"], absent: [], say: { _ in })) { XCTAssertTrue("\($0)".contains("was built, but"), "\($0)") }
        let failing = Locker(resolve: { _ in .missing(requirement: "z", explanation: "") }, build: { _ in ["z (compile failed)"] })
        XCTAssertThrowsError(try failing.lock(["z"], absent: [], say: { _ in })) { XCTAssertTrue("\($0)".contains("compile failed"), "\($0)") }
        let offline = Locker(
            resolve: { _ in .missing(requirement: "z", explanation: "") },
            build: { _ in
                XCTFail("--no-build builds nothing"); return []
            }, mayBuild: false)
        XCTAssertThrowsError(try offline.lock(["z"], absent: [try XCTUnwrap(Requirement("z"))], say: { _ in })) {
            XCTAssertTrue("\($0)".contains("--no-build"), "\($0)")
        }
        let hostile = Locker(
            resolve: { _ in .missing(requirement: "--index-url http://evil", explanation: "") },
            build: { _ in
                XCTFail("never built"); return []
            })
        XCTAssertThrowsError(try hostile.lock(["z"], absent: [], say: { _ in }))
        let conflict = Locker(resolve: { _ in .failed("ResolutionImpossible: a 1 needs b<2") }, build: { _ in [] })
        XCTAssertThrowsError(try conflict.lock(["a"], absent: [], say: { _ in })) { XCTAssertTrue("\($0)".contains("a 1 needs b<2"), "pip's words: \($0)") }
    }
}

/// A list the loop's closures append to.
final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    var items: [String] { lock.withLock { values } }
    func append(contentsOf items: [String]) { lock.withLock { values += items } }
}

import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Verdicts from evidence, for real: charset-normalizer's compiled form is opt-in and the index
/// lists its pure wheel, so its pure build is no fallback; PyYAML without libyaml falls back to
/// pure Python and is still refused; a maturin project without Rust is told what it needs.
final class BuildEvidenceIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"
    var work: TemporaryDirectory!
    var home = ""

    /// A home of the test's own over the shared test home's images, toolchains and sources.
    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        work = try TemporaryDirectory(prefix: "wf-evidence")
        home = "\(work.path)/home"
        let shared = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for shareable in ["images", "toolchains", "derived", "sources"] {
            try FileManager.default.createDirectory(atPath: "\(shared)/\(shareable)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
        }
    }

    override func tearDown() { work = nil }

    func build(_ arguments: [String], home: String) throws -> (status: Int32, output: String) {
        let result = try ProcessRunner.run(try TestSupport.wheelfarmBinary(), ["build"] + arguments + ["--target", Self.target, "--home", home])
        return (result.status, result.stdout + result.stderr)
    }

    func testAnOptInCompileProjectIsPureByDesignAndARealFallbackIsRefused() throws {
        let optIn = try build(["charset-normalizer==3.5.3"], home: home)
        XCTAssertEqual(optIn.status, 0, optIn.output)
        XCTAssertTrue(optIn.output.contains("charset_normalizer-3.5.3-py3-none-any.whl"), optIn.output)
        let log = try String(contentsOfFile: "\(home)/builds/charset-normalizer/3.5.3/\(Self.target)/build.log", encoding: .utf8)
        XCTAssertTrue(log.contains("the index lists charset_normalizer-3.5.3-py3-none-any.whl for this version: pure by design"), log)
        // PyYAML with a recipe of the user's that leaves libyaml out: its build drops the extension.
        let recipes = "\(work.path)/recipes"
        try FileManager.default.createDirectory(atPath: recipes, withIntermediateDirectories: true)
        try Files.writeAtomically(Array(#"{"//": "no libyaml: the extension is dropped"}"#.utf8), to: "\(recipes)/pyyaml.json")
        let fallback = try build(["pyyaml==6.0.2", "--recipes", recipes], home: home)
        XCTAssertEqual(fallback.status, 1, fallback.output)
        XCTAssertTrue(fallback.output.contains("silent fallback to pure Python"), fallback.output)
    }
    /// A maturin project on a root without Rust: its backend reaches for a toolchain download,
    /// and the failure says what the project needs and what to run, not only "status 1".
    func testARustProjectWithoutRustSaysWhatItNeeds() throws {
        let result = try build(["rpds-py==0.21.0"], home: home)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("fix: this project needs a Rust toolchain (cargo, rustc)"), result.output)
        XCTAssertTrue(result.output.contains("wheelfarm recipe add rpds-py --package rustc --package cargo"), result.output)
    }
    /// numexpr 2.10.2 ships a CRLF pyproject.toml: its build requirements (numpy) are read, not
    /// replaced by pip's legacy default.
    func testACRLFPyprojectIsReadAsPipReadsIt() throws {
        let result = try build(["numexpr==2.10.2"], home: home)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("build requirements: setuptools, wheel, numpy>=2.0.0"), result.output)
    }
}

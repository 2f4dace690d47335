import Foundation
import PackagingModel
import WheelArchive
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Shared helpers for wheelfarm's tests: paths, external tools, and building real wheels.
public enum TestSupport {
    /// Starts `binary` with both output streams going to the file `log` (no pipe to fill). The
    /// caller closes the handle once the process has ended.
    public static func startLogged(
        _ binary: String, _ arguments: [String], environment: [String: String]? = nil, log: String
    ) throws -> (Process, FileHandle) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return (process, handle)
    }

    /// A wheel name without its build number: a home kept between runs holds earlier builds of
    /// other bytes, so a rebuild there gets one (a fresh home, as in CI, does not).
    public static func withoutBuildNumber(_ name: String) -> String {
        name.replacingOccurrences(of: #"-[0-9]+-(cp|py)"#, with: "-$1", options: .regularExpression)
    }

    /// The repository's root folder.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Whether the tests run in CI, where every tool must be present (a missing one fails, not skips).
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The folder of real wheels downloaded by `ci/fixtures/fetch-wheels.sh`.
    public static var fixtureWheels: String {
        ProcessInfo.processInfo.environment["WHEELFARM_FIXTURE_WHEELS"] ?? "\(repositoryRoot)/.build-fixtures/wheels"
    }

    /// Finds an external tool, or skips the test (fails it in CI) with a hint on how to install it.
    public static func requireTool(
        _ name: String, environmentOverride: String? = nil, hint: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        if let key = environmentOverride, let path = ProcessInfo.processInfo.environment[key], FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        let toolsBin = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"].map { "\($0)/bin/\(name)" }
        if let toolsBin, FileManager.default.isExecutableFile(atPath: toolsBin) { return toolsBin }
        if let found = ProcessRunner.resolveExecutable(name) { return found }
        let message = "\(name) is not available: \(hint)"
        if inCI { XCTFail(message, file: file, line: line) }
        throw XCTSkip(message)
    }

    /// The built `wheelfarm` executable beside the test bundle (or in `.build/debug`); skips when absent.
    public static func wheelfarmBinary(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wheelfarm").path
        if !FileManager.default.isExecutableFile(atPath: binary) { binary = "\(repositoryRoot)/.build/debug/wheelfarm" }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            if inCI { XCTFail("the wheelfarm binary is not built", file: file, line: line) }
            throw XCTSkip("the wheelfarm binary is not built")
        }
        return binary
    }

    /// Compiles C code with gcc into `output`; fails the test with gcc's message when it does not compile.
    public static func compile(_ sources: [String], output: String, arguments: [String]) throws {
        let result = try ProcessRunner.run("gcc", sources + ["-o", output] + arguments)
        guard result.status == 0 else {
            throw BasicsError.processFailed(program: "gcc", status: result.status, stderr: result.stderr)
        }
    }

    /// The include directory of Debian's Python 3 (python3-dev).
    public static func pythonInclude() throws -> String {
        try ProcessRunner.check("/usr/bin/python3", ["-c", "import sysconfig; print(sysconfig.get_paths()['include'])"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes a wheel with the given files plus METADATA, WHEEL and a correct RECORD.
    @discardableResult
    public static func makeWheel(
        in directory: String, name: String, version: String, tag: String,
        files: [String: [UInt8]], extraMetadata: [String: [UInt8]] = [:]
    ) throws -> String {
        let distInfo = "\(name)-\(version).dist-info"
        var all = files
        all["\(distInfo)/METADATA"] = Array("Metadata-Version: 2.1\nName: \(name)\nVersion: \(version)\n".utf8)
        all["\(distInfo)/WHEEL"] = Array("Wheel-Version: 1.0\nGenerator: wheelfarm-tests\nRoot-Is-Purelib: false\nTag: \(tag)\n".utf8)
        for (key, value) in extraMetadata { all[key] = value }
        let paths = all.keys.sorted()
        var record = RecordFile(entries: paths.map { RecordEntry(path: $0, content: all[$0] ?? []) })
        record.entries.append(RecordEntry(path: "\(distInfo)/RECORD", hash: "", size: nil))
        all["\(distInfo)/RECORD"] = Array(record.text.utf8)
        let entries = (paths + ["\(distInfo)/RECORD"]).map {
            ZipEntry(path: $0, content: all[$0] ?? [], permissions: $0.hasSuffix(".so") ? 0o755 : 0o644, modificationTime: 1_700_000_000)
        }
        let path = "\(directory)/\(name)-\(version)-\(tag).whl"
        try ZipWriter.write(entries, to: path)
        return path
    }

    /// Runs a small Python program that writes a zip with arbitrary (possibly hostile) entries.
    public static func pythonZip(_ path: String, script: String) throws {
        let program = "import zipfile, sys\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n" + script + "\nz.close()\n"
        try ProcessRunner.check("/usr/bin/python3", ["-c", program, path])
    }
}

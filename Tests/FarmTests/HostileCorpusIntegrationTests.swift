import Foundation
import TestSupport
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// The hostile corpus (`Tests/Fixtures/hostile/make-corpus.py`) built for real by the wheelfarm
/// binary: every attack is refused or contained with the host untouched, and the controls build.
/// The witnesses: marker paths on the host, a listener on the host's loopback that must hear
/// nothing, the farm process's own peak memory, and a pseudo-terminal that must not receive
/// keystrokes.
final class HostileCorpusIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"
    var work: TemporaryDirectory!
    var home = ""
    var binary = ""
    var corpus = ""
    var listener: Process?
    var listenerLog = ""
    var port = 0

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        binary = try TestSupport.wheelfarmBinary()
        work = try TemporaryDirectory(prefix: "wf-hostile")
        home = "\(work.path)/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        // The test home's images and sdists are shared; the rest of the farm is this test's own.
        let shared = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        if !FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(Self.target).json") {
            XCTAssertEqual(try ProcessRunner.run(binary, ["toolchain", "build", Self.target, "--home", shared]).status, 0)
        }
        for shareable in ["images", "toolchains", "derived", "sources"] {
            try FileManager.default.createDirectory(atPath: "\(shared)/\(shareable)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
        }
        // A listener on the host's loopback that records every request it gets.
        port = Int.random(in: 41000..<49000)
        listenerLog = "\(work.path)/listener.log"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", work.path]
        FileManager.default.createFile(atPath: listenerLog, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: listenerLog))
        server.standardOutput = log
        server.standardError = log
        try server.run()
        listener = server
        corpus = "\(work.path)/corpus"
        try ProcessRunner.check("/usr/bin/python3", ["\(TestSupport.repositoryRoot)/Tests/Fixtures/hostile/make-corpus.py", corpus, String(port)])
        try? FileManager.default.removeItem(atPath: "/tmp/wheelfarm-hostile-report.json")
    }

    override func tearDown() {
        listener?.terminate()
        listener?.waitUntilExit()
        work = nil
    }

    /// Builds one case with the binary; returns its exit status, its output and the farm's peak resident memory (KiB).
    func build(_ name: String, extraConfig: String = "") throws -> (status: Int32, output: String, peakKiB: Int) {
        let config = "\(work.path)/config-\(name).toml"
        try Files.writeAtomically(Array("[log]\nlimit_mb = 8\n\(extraConfig)".utf8), to: config)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["build", "\(corpus)/\(name)", "--target", Self.target, "--home", home, "--config", config]
        let outputPath = "\(work.path)/\(name).out"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        var peak = 0
        while process.isRunning {
            if let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
            {
                peak = max(peak, kib)
            }
            usleep(20_000)
        }
        try handle.close()
        return (process.terminationStatus, try String(contentsOfFile: outputPath, encoding: .utf8), peak)
    }

    func log(_ name: String) throws -> String {
        let folder = "\(home)/builds/hostile-\(name)/1.0/\(Self.target)"
        for file in ["build.log", "failed-build.log"] where FileManager.default.fileExists(atPath: "\(folder)/\(file)") {
            return try String(contentsOfFile: "\(folder)/\(file)", encoding: .utf8)
        }
        // A build refused before its name was read keeps its log under "unknown", in a folder of its own.
        let unknown = "\(home)/builds/unknown"
        let folders = ((try? FileManager.default.contentsOfDirectory(atPath: unknown)) ?? []).sorted()
        return folders.reversed().lazy.compactMap { try? String(contentsOfFile: "\(unknown)/\($0)/\(Self.target)/build.log", encoding: .utf8) }.first ?? ""
    }

    func assertListenerHeardNothing(file: StaticString = #filePath, line: UInt = #line) throws {
        let heard = try String(contentsOfFile: listenerLog, encoding: .utf8)
        XCTAssertFalse(heard.contains("GET ") || heard.contains("POST "), "the host's listener was reached:\n\(heard)", file: file, line: line)
    }

    func testRequirementsThatAreOptionsOrURLsNeverReachACommandLine() throws {
        let option = try build("requires-option")
        XCTAssertEqual(option.status, 1, option.output)
        XCTAssertTrue(option.output.contains("'--report=/tmp/wheelfarm-hostile-report.json' is an option"), option.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/wheelfarm-hostile-report.json"), "pip wrote where the sdist told it to")
        let url = try build("requires-url")
        XCTAssertEqual(url.status, 1, url.output)
        XCTAssertTrue(url.output.contains("is a direct reference"), url.output)
        let hook = try build("hook-options")
        XCTAssertEqual(hook.status, 1, hook.output)
        XCTAssertTrue(hook.output.contains("from the backend's get_requires_for_build_wheel"), hook.output)
        try assertListenerHeardNothing()
    }

    func testForgedProtocolLinesAndTheControlChannelAreOutOfReach() throws {
        let result = try build("forged-protocol")
        XCTAssertEqual(result.status, 0, result.output)
        let text = try log("forged-protocol")
        XCTAssertFalse(text.contains("FORGED-CONTROL wrote"), text)
        XCTAssertTrue(text.contains("forged-protocol: cannot open"), text)
        XCTAssertFalse(text.contains("wheelfarm-forged-probe ") && text.contains("pip download wheelfarm-forged-probe"), "a forged line was obeyed")
        try assertListenerHeardNothing()
    }

    func testTheBuildCannotTypeIntoTheOperatorsTerminal() throws {
        let script = try TestSupport.requireTool("script", hint: "apt-get install bsdutils")
        // Control: outside the sandbox, the same injection reaches the terminal on this kernel.
        let injector = "import fcntl, termios; [fcntl.ioctl(0, termios.TIOCSTI, c.encode()) for c in 'echo INJECTED-BY-THE-CONTROL\\n']"
        let control = try ProcessRunner.run(script, ["-q", "-e", "-c", "python3 -c \"\(injector)\"; read -t 2 typed; echo \"TYPED:$typed\"", "/dev/null"])
        // The terminal echoes what is pushed into it: the text in the session's output is the witness.
        let injectionWorks = control.stdout.contains("INJECTED-BY-THE-CONTROL")
        let legacy = (try? String(contentsOfFile: "/proc/sys/dev/tty/legacy_tiocsti", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if legacy != "0" { XCTAssertTrue(injectionWorks, "the control could not inject, so this test would prove nothing:\n\(control.stdout)") }
        let command = "\(binary) build \(corpus)/terminal --target \(Self.target) --home \(home); read -t 2 typed; echo \"TYPED:$typed\""
        let result = try ProcessRunner.run(script, ["-q", "-e", "-c", command, "/dev/null"])
        XCTAssertFalse(result.stdout.contains("INJECTED-BY-THE-BUILD"), result.stdout)
        XCTAssertTrue(result.stdout.contains("TYPED:"), result.stdout)
        let text = try log("terminal")
        XCTAssertFalse(text.contains("TERMINAL-INJECTED"), text)
        XCTAssertTrue(text.contains("terminal: no /dev/tty"), text)
        if !injectionWorks { print("note: this kernel refuses TIOCSTI outright (dev.tty.legacy_tiocsti = 0): the control could not inject either") }
        XCTAssertTrue(text.contains("terminal: fd 0"), "the build tried its descriptors:\n\(text)")
    }

    func testSystemCallsABuildNeverNeedsAreDenied() throws {
        let result = try build("kernel-surface")
        XCTAssertEqual(result.status, 0, result.output)
        let text = try log("kernel-surface")
        for call in ["userns", "keyctl", "bpf", "mount"] { XCTAssertTrue(text.contains("kernel-surface: \(call) EPERM"), "\(call):\n\(text)") }
        XCTAssertTrue(text.contains("kernel-surface: io_uring_setup ENOSYS"), text)
        XCTAssertTrue(text.contains("kernel-surface: vsock EAFNOSUPPORT"), text)
    }

    func testOutputBesideTheWheelNeverReachesTheHost() throws {
        let fill = try build("disk-fill")
        XCTAssertEqual(fill.status, 1, fill.output)
        XCTAssertTrue(fill.output.contains("files besides its one wheel"), fill.output)
        let link = try build("output-link")
        XCTAssertEqual(link.status, 1, link.output)
        XCTAssertTrue(link.output.contains("link, fifo or device"), link.output)
        // Nothing of either stayed anywhere in the farm's home (the work folders are gone, and no 300 MiB file was copied).
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: "\(home)/jobs"))
        while let item = walker.nextObject() as? String { XCTAssertFalse(item.hasSuffix("filler.bin"), item) }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/jobs")) ?? [], [])
    }

    func testAFloodOfOutputKeepsTheFarmsMemoryFlatAndTheLogBounded() throws {
        let result = try build("flood")
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertLessThan(result.peakKiB, 200 << 10, "wheelfarm grew to \(result.peakKiB) KiB while the build printed 400 MiB")
        let path = "\(home)/builds/hostile-flood/1.0/\(Self.target)/build.log"
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertLessThan(size, 8 << 20 + 4096)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains("bytes of output were cut here"), "no cut marker")
        XCTAssertTrue(text.contains("FLOOD-END"), "the tail was not kept")
        XCTAssertTrue(text.contains("== build"), "the head was not kept")
    }

    func testAWheelOfAnotherProjectOrVersionIsRefusedBeforeAnythingIsStored() throws {
        let impostor = try build("impostor")
        XCTAssertEqual(impostor.status, 3, impostor.output)
        XCTAssertTrue(impostor.output.contains("not what was asked for"), impostor.output)
        XCTAssertTrue(impostor.output.contains("made a wheel of setuptools"), impostor.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(home)/builds/setuptools"), "the impostor was stored under setuptools")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(home)/repository/files/setuptools"))
        // The impostor's own project keeps nothing but its failure.
        XCTAssertFalse(
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/builds/hostile-impostor/1.0/\(Self.target)")) ?? []).contains {
                $0.hasSuffix(".whl")
            })
    }

    func testAForgedTestVerdictIsNotBelieved() throws {
        for name in ["verdict-pth", "verdict-sitecustomize", "verdict-module"] {
            let result = try build(name)
            XCTAssertEqual(result.status, 1, "\(name): \(result.output)")
            XCTAssertTrue(result.output.contains("at test"), "\(name): \(result.output)")
            XCTAssertTrue(result.output.contains("_broken"), "\(name): \(result.output)")
            let package = "hostile-" + name
            XCTAssertFalse(
                ((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/builds/\(package)/1.0/\(Self.target)")) ?? []).contains {
                    $0.hasSuffix(".whl")
                },
                "\(name): a wheel whose extension does not load was stored")
        }
    }

    func testEscapeSequencesFromTheBuildReachTheTerminalEscaped() throws {
        let result = try build("escapes")
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertFalse(result.output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0 == "\r" }, result.output)
        XCTAssertTrue(result.output.contains("\\e]52;c;"), result.output)
        // The stored log keeps the bytes as the build wrote them.
        XCTAssertTrue(try log("escapes").contains("\u{1B}]52;c;"))
    }

    func testHostParsersTrustOnlyTheBytesPresent() throws {
        let claims = try build("elf-claims")
        XCTAssertEqual(claims.status, 3, claims.output)
        XCTAssertTrue(claims.output.contains("dynamic symbol table"), claims.output)
        let inflates = try build("inflates")
        XCTAssertNotEqual(inflates.status, 0, inflates.output)
        XCTAssertTrue(inflates.output.contains("RECORD"), inflates.output)
        XCTAssertLessThan(inflates.peakKiB, 512 << 10, "wheelfarm grew to \(inflates.peakKiB) KiB reading a wheel that inflates to 4 GiB")
    }

    func testWhatTheHostFetchesForABuildIsBounded() throws {
        let result = try build("many-requires")
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("301 requirements asked for at once"), result.output)
        let text = try log("many-requires")
        XCTAssertTrue(text.contains("301 requirements asked for at once"), text)
        XCTAssertFalse(text.contains("pip download"), "the host fetched for it")
        try assertListenerHeardNothing()
    }

    func testPatchelfNeverRunsOnTheHostWithTheBuildsBinaries() throws {
        let result = try build("grafts")
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("grafted libffi.so."), result.output)
        let text = try log("grafts")
        XCTAssertTrue(text.contains("patchelf ran in the sandbox on 2 files"), text)
    }

    func testControlsStillBuild() throws {
        for name in ["control-plain", "control-extra-requirement", "control-chatty"] {
            let result = try build(name)
            XCTAssertEqual(result.status, 0, "\(name): \(result.output)")
            XCTAssertTrue(result.output.contains("built hostile-\(name) 1.0"), result.output)
        }
        XCTAssertTrue(try log("control-extra-requirement").contains("pip download wheel>=0.40"), "the hook's real requirement was fetched")
        try assertListenerHeardNothing()
    }
}

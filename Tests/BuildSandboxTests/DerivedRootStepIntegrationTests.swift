import Foundation
import TestSupport
import WheelAudit
import WheelfarmBasics
import XCTest

@testable import BuildSandbox

/// A failed preparation names the step that failed and shows that step's own output.
final class DerivedRootStepIntegrationTests: XCTestCase {
    func assertClean(_ store: ToolchainStore, file: StaticString = #filePath, line: UInt = #line) throws {
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        XCTAssertFalse(mounts.contains("\(store.layout.path)/derived"), "a mount of the derived root is left", file: file, line: line)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "\(store.layout.path)/derived")) ?? []).filter {
            $0.hasPrefix(".staging-") || $0.hasPrefix(".building-")
        }
        XCTAssertEqual(left, [], file: file, line: line)
    }

    func testAPackageThatDoesNotExistIsNamed() throws {
        let (store, image) = try TestImage.get()
        XCTAssertThrowsError(try DerivedRoots(store: store).ensure(base: image, packages: ["wheelfarm-no-such-package"]) { _ in }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("failed at installing wheelfarm-no-such-package"), text)
            XCTAssertTrue(text.contains("Unable to locate package wheelfarm-no-such-package"), text)
        }
        try assertClean(store)
    }

    /// The libffi case of the issue: a library's compile error, not "installing pkg-config".
    func testASourceLibraryCompileErrorNamesItsBuildAndShowsTheCompilerLine() throws {
        let (store, image) = try TestImage.get()
        let broken = SourceBuild(
            source: "libyaml", configure: "test -f include/yaml.h",
            script: "printf 'int broken( {\\n' > broken.c && cc -c broken.c -o broken.o")
        XCTAssertThrowsError(try DerivedRoots(store: store).ensure(base: image, packages: ["pkg-config"], sources: [broken]) { _ in }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("failed at building libyaml from source (source_libraries)"), text)
            XCTAssertFalse(text.contains("failed at installing"), text)
            XCTAssertTrue(text.contains("broken.c:1:"), text)
            XCTAssertTrue(text.contains("error:"), text)
            XCTAssertFalse((error as? ToolchainError)?.isTransient ?? true)
        }
        try assertClean(store)
    }

    func testAFailingConfigureIsNamedAsSuch() throws {
        let (store, image) = try TestImage.get()
        let broken = SourceBuild(source: "libyaml", configure: "echo 'configure: error: no acceptable C compiler found' >&2; exit 77", script: "true")
        XCTAssertThrowsError(try DerivedRoots(store: store).ensure(base: image, packages: [], sources: [broken]) { _ in }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("failed at configuring libyaml (source_libraries)"), text)
            XCTAssertTrue(text.contains("configure: error: no acceptable C compiler found"), text)
        }
        try assertClean(store)
    }

    /// A source library builds offline, as the unprivileged user, under the seccomp filter.
    func testSourceLibrariesBuildOfflineAndUnprivileged() throws {
        let (store, image) = try TestImage.get()
        let mirror = try XCTUnwrap(DebianMirror.host())
        let host = try XCTUnwrap(URL(string: mirror.archive)?.host)
        let probe = SourceBuild(
            source: "libyaml",
            script: """
                test "$(id -u)" = 65534 || { echo "runs as $(id -u)"; exit 1; }
                if python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], 80), timeout=5)' \(host) 2>/dev/null; then echo "reached the network"; exit 1; fi
                if python3 -c 'import ctypes, sys; sys.exit(0 if ctypes.CDLL(None).unshare(0x10000000) == 0 else 1)'; then echo "made a user namespace"; exit 1; fi
                mkdir -p "$PREFIX/lib" && echo built > "$PREFIX/lib/wheelfarm-probe.txt"
                """)
        let (root, built) = try DerivedRoots(store: store, seccomp: try SeccompPolicy.prepare(in: store.layout.seccomp))
            .ensure(base: image, packages: [], sources: [probe]) { _ in }
        XCTAssertTrue(built)
        let layer = try XCTUnwrap(root.layers.first)
        XCTAssertEqual(try String(contentsOfFile: "\(layer)/opt/wheelfarm/prefix/lib/wheelfarm-probe.txt", encoding: .utf8), "built\n")
        var info = stat()
        XCTAssertEqual(lstat("\(layer)/opt/wheelfarm/prefix/lib/wheelfarm-probe.txt", &info), 0)
        XCTAssertEqual(info.st_uid, 0, "the prefix is root's once built")
        XCTAssertEqual(try String(contentsOfFile: "\(layer)/etc/ld.so.conf.d/wheelfarm-prefix.conf", encoding: .utf8), "/opt/wheelfarm/prefix/lib\n")
        let source = try XCTUnwrap(root.added.first { $0.name == "libyaml" && $0.architecture == "source" }, "\(root.added)")
        // The files the build put in the prefix are listed under its source package and version,
        // so the audit names them (as dpkg names a package's files).
        let list = "\(layer)/opt/wheelfarm/prefix/share/wheelfarm-sources/libyaml_\(source.version).list"
        XCTAssertEqual(try String(contentsOfFile: list, encoding: .utf8), "/opt/wheelfarm/prefix/lib/wheelfarm-probe.txt\n")
        let owner = DpkgDatabase(layers: root.layers).owner(of: ["/opt/wheelfarm/prefix/lib/wheelfarm-probe.txt"])
        XCTAssertEqual(owner.map { "\($0.name) \($0.version) \($0.architecture)" }, "libyaml \(source.version) source")
        try assertClean(store)
        try SafeRemoval.remove(store.layout.derivedRoot(root.key))
    }

    func testFailedStepIsReadFromTheStepFiles() throws {
        let work = try TemporaryDirectory(prefix: "wf-steps")
        try Files.writeAtomically(Array("apt-get update\ninstalling x y\n".utf8), to: "\(work.path)/steps")
        try Files.writeAtomically(Array("E: Unable to locate package y\n".utf8), to: "\(work.path)/step-2.log")
        let (step, output) = DerivedRoots.failedStep(work.path, fallback: "whole log")
        XCTAssertEqual(step, "installing x y")
        XCTAssertEqual(output, "E: Unable to locate package y\n")
        let (none, fallback) = DerivedRoots.failedStep("\(work.path)/nothing", fallback: "whole log")
        XCTAssertEqual(none, "preparing the derived root")
        XCTAssertEqual(fallback, "whole log")
    }
}

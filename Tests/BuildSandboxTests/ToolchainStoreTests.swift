import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

@testable import BuildSandbox

final class ToolchainStoreTests: XCTestCase {
    func catalog() throws -> ToolchainCatalog { try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot) }

    func testTargetsCoverThreeReleasesOnTwoArchitectures() throws {
        let catalog = try catalog()
        let releases = ["cp39-bullseye", "cp311-bookworm", "cp313-trixie"]
        let expected = (releases + releases.map { "\($0)-glibc2.17" } + ["cp311-bookworm-glibc2.28"]).flatMap { ["\($0)-x86_64", "\($0)-aarch64"] }
        XCTAssertEqual(Set(catalog.specs.keys), Set(expected))
        let spec = try catalog.spec("cp311-bookworm-x86_64")
        XCTAssertEqual(spec.pythonTag, "cp311")
        XCTAssertEqual(spec.abiTag, "cp311")
        XCTAssertEqual(spec.architecture, "x86_64")
        XCTAssertEqual(spec.debianArchitecture, "amd64")
        XCTAssertEqual(spec.glibc, "2.36")
        XCTAssertEqual(try catalog.spec("cp39-bullseye-aarch64").debianArchitecture, "arm64")
        XCTAssertEqual(try catalog.spec("cp313-trixie-x86_64").python, "3.13")
        for spec in catalog.specs.values {
            XCTAssertTrue(
                spec.packages.contains("build-essential") && spec.packages.contains("python3-dev") && spec.packages.contains("python3-venv"), spec.name)
            XCTAssertNotNil(spec.frontend["pip"], spec.name)
            XCTAssertNotNil(spec.frontend["build"], spec.name)
        }
        XCTAssertThrowsError(try catalog.spec("cp312-nope-x86_64")) { XCTAssertTrue("\($0)".contains("known targets")) }
    }

    func testBaselineTargetsCompileWithZigUnderACeiling() throws {
        let catalog = try catalog()
        for spec in catalog.specs.values {
            let name = spec.name
            if let range = name.range(of: #"-glibc[0-9.]+-"#, options: .regularExpression) {
                let baseline = String(name[range].dropFirst("-glibc".count).dropLast())
                XCTAssertTrue(spec.usesZig, name)
                XCTAssertEqual(spec.baselineGlibc, baseline, name)
                XCTAssertEqual(spec.tagCeiling, "manylinux_" + baseline.replacingOccurrences(of: ".", with: "_"), name)
                XCTAssertNotNil(spec.compiler?.ziglang, name)
                XCTAssertEqual(ZigToolchain.target(spec), "\(spec.architecture)-linux-gnu.\(baseline)")
                XCTAssertEqual(spec.compilerEnvironment["CC"], "/opt/wheelfarm/zig/bin/cc", name)
                XCTAssertEqual(spec.compilerEnvironment["_PYTHON_SYSCONFIGDATA_NAME"], ZigToolchain.sysconfigModule, name)
                XCTAssertTrue(spec.compilerEnvironment["PATH"]?.hasPrefix("/opt/wheelfarm/zig/bin:") == true, name)
                // The same release as the gcc target of the same name.
                let gccName = name.replacingOccurrences(of: String(name[range]), with: "-")
                XCTAssertEqual(try catalog.spec(gccName).suite, spec.suite, name)
            } else {
                XCTAssertFalse(spec.usesZig, name)
                XCTAssertEqual(spec.baselineGlibc, spec.glibc, name)
                XCTAssertEqual(spec.compilerEnvironment, [:], name)
            }
        }
        // The wrapper puts the root's headers and libraries after zig's libc.
        let wrapper = ZigToolchain.wrapper(mode: "c++", spec: try catalog.spec("cp311-bookworm-glibc2.17-aarch64"))
        XCTAssertTrue(
            wrapper.contains(
                "zig c++ -target aarch64-linux-gnu.2.17 \"$@\" -idirafter /usr/include/aarch64-linux-gnu -idirafter /usr/include -L/usr/lib/aarch64-linux-gnu"),
            wrapper)
    }

    func testDigestChangesWithAnyPackageVersion() throws {
        let spec = try catalog().spec("cp311-bookworm-x86_64")
        let packages = [InstalledPackage(name: "libxml2", version: "2.9.14+dfsg-1.3~deb12u1", architecture: "amd64")]
        let a = ToolchainStore.digest(spec: spec, packages: packages, frontendWheels: ["pip-24.3.1-py3-none-any.whl": "aa"])
        let b = ToolchainStore.digest(spec: spec, packages: packages, frontendWheels: ["pip-24.3.1-py3-none-any.whl": "aa"])
        XCTAssertEqual(a, b)
        var updated = packages
        updated[0].version = "2.9.14+dfsg-1.3~deb12u2"  // a security update
        XCTAssertNotEqual(a, ToolchainStore.digest(spec: spec, packages: updated, frontendWheels: ["pip-24.3.1-py3-none-any.whl": "aa"]))
        XCTAssertNotEqual(a, ToolchainStore.digest(spec: spec, packages: packages, frontendWheels: ["pip-24.3.1-py3-none-any.whl": "bb"]))
        XCTAssertNotEqual(
            DerivedRoots.key(baseDigest: a, packages: ["libxml2-dev"]), DerivedRoots.key(baseDigest: a, packages: ["libxml2-dev", "libxslt1-dev"]))
        XCTAssertEqual(DerivedRoots.key(baseDigest: a, packages: ["b", "a"]), DerivedRoots.key(baseDigest: a, packages: ["a", "b", "a"]))
        // Source builds, their scripts and the compiler count in the derived root's key.
        let libyaml = SourceBuild(source: "libyaml", script: "cmake ...")
        let plain = DerivedRoots.key(baseDigest: a, packages: ["cmake"])
        let withSource = DerivedRoots.key(baseDigest: a, packages: ["cmake"], sources: [libyaml])
        XCTAssertNotEqual(plain, withSource)
        XCTAssertNotEqual(withSource, DerivedRoots.key(baseDigest: a, packages: ["cmake"], sources: [SourceBuild(source: "libyaml", script: "make")]))
        XCTAssertNotEqual(withSource, DerivedRoots.key(baseDigest: a, packages: ["cmake"], sources: [libyaml], useGcc: true))
        // A zig target's digest differs from the gcc one's with the same packages.
        let zig = try catalog().spec("cp311-bookworm-glibc2.17-x86_64")
        XCTAssertNotEqual(
            ToolchainStore.digest(spec: zig, packages: packages, frontendWheels: [:]),
            ToolchainStore.digest(spec: spec, packages: packages, frontendWheels: [:]))
    }

    func testImagesAreSharedAndRemovedOnlyWhenUnused() throws {
        let home = try TemporaryDirectory()
        let store = ToolchainStore(layout: FarmLayout(path: home.path), catalog: try catalog())
        XCTAssertNil(try store.image(named: "cp311-bookworm-x86_64"))
        XCTAssertThrowsError(try store.requireImage(named: "cp311-bookworm-x86_64")) { XCTAssertTrue("\($0)".contains("wheelfarm toolchain build")) }
        // Two targets pointing at one stored image.
        let digest = String(repeating: "ab", count: 32)
        let image = ToolchainImage(
            spec: try store.catalog.spec("cp311-bookworm-x86_64"), digest: digest, packages: [], frontendWheels: [:],
            builtAt: Date(), sizeBytes: 1, buildSeconds: 1)
        try FileManager.default.createDirectory(atPath: "\(home.path)/images/\(digest)/rootfs", withIntermediateDirectories: true)
        try Files.writeAtomically(Array(try ToolchainStore.encoder.encode(image)), to: "\(home.path)/images/\(digest)/manifest.json")
        try FileManager.default.createDirectory(atPath: "\(home.path)/toolchains", withIntermediateDirectories: true)
        for name in ["cp311-bookworm-x86_64", "cp313-trixie-x86_64"] {
            try Files.writeAtomically(Array("{\"digest\": \"\(digest)\"}".utf8), to: "\(home.path)/toolchains/\(name).json")
        }
        XCTAssertEqual(try store.image(named: "cp313-trixie-x86_64")?.digest, digest)
        XCTAssertTrue(try store.remove("cp311-bookworm-x86_64"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(home.path)/images/\(digest)/rootfs"), "still used by the other target")
        XCTAssertTrue(try store.remove("cp313-trixie-x86_64"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(home.path)/images/\(digest)"))
        XCTAssertFalse(try store.remove("cp313-trixie-x86_64"))
    }

    func testBindMountParsing() {
        XCTAssertEqual(BindMount(parsing: "/a:/b:ro"), BindMount(source: "/a", destination: "/b", readOnly: true))
        XCTAssertEqual(BindMount(parsing: "/a:/b"), BindMount(source: "/a", destination: "/b", readOnly: false))
        XCTAssertNil(BindMount(parsing: "a:/b"))
        XCTAssertNil(BindMount(parsing: "/a:/b:rx"))
        XCTAssertNil(BindMount(parsing: "/a"))
    }
}

/// The aarch64 target under qemu-user emulation: slow, so only in the long suite
/// (`WHEELFARM_LONG_TESTS=1 bash ci/test.sh --filter EmulatedBuildTests`).
final class EmulatedBuildTests: XCTestCase {
    func testSmallExtensionBuildsForAarch64UnderEmulation() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["WHEELFARM_LONG_TESTS"] == "1", "long suite only (WHEELFARM_LONG_TESTS=1)")
        guard getuid() == 0 else { throw XCTSkip("needs root") }
        let home = TestImage.home
        let store = ToolchainStore(layout: home, catalog: try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot))
        let target = "cp311-bookworm-aarch64"
        let image = try store.image(named: target) ?? store.build(target) { FileHandle.standardError.write(Data("[toolchain] \($0)\n".utf8)) }
        let src = try TemporaryDirectory()
        let out = try TemporaryDirectory()
        chmod(out.path, 0o777)
        try FileManager.default.copyItem(atPath: "\(TestSupport.repositoryRoot)/Tests/Fixtures/cext/withpy.c", toPath: "\(src.path)/withpy.c")
        chmod(src.path, 0o755)
        let config = SandboxConfiguration(
            layers: [store.rootfs(digest: image.digest)],
            command: [
                "sh", "-c",
                "uname -m && python3 -c 'import platform; print(platform.machine())' && gcc -shared -fPIC $(python3-config --includes) -o /out/_withpy.so /src/withpy.c && python3 -c 'import sys; sys.path.insert(0, \"/out\"); import _withpy; print(\"imported\")'"
            ],
            mounts: [BindMount(source: src.path, destination: "/src", readOnly: true), BindMount(source: out.path, destination: "/out", readOnly: false)],
            limits: SandboxLimits(wallSeconds: 900, memoryBytes: 2 << 30, maxProcesses: 256, diskBytes: 1 << 30))
        var log: [UInt8] = []
        let result = try NamespaceSandbox(layout: home).run(config) { chunk, _ in log.append(contentsOf: chunk) }
        let text = String(decoding: log, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        XCTAssertTrue(text.contains("aarch64\naarch64\n") && text.contains("imported"), text)
        let elf = try ELFFileProbe.architecture(of: "\(out.path)/_withpy.so")
        XCTAssertEqual(elf, "aarch64")
    }
}

/// Reads the ELF machine of a file (e_machine 183 is AArch64), without the ELF module.
enum ELFFileProbe {
    static func architecture(of path: String) throws -> String {
        let bytes = try Files.readBytes(path)
        guard bytes.count > 20, bytes[0] == 0x7f else { return "not ELF" }
        let machine = UInt16(bytes[18]) | UInt16(bytes[19]) << 8
        return machine == 183 ? "aarch64" : machine == 62 ? "x86_64" : "machine \(machine)"
    }
}

import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
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
        // The wrapper puts the root's headers and libraries after zig's libc, and turns off the
        // UBSan of zig's Debug mode before the build's own flags (which may turn it back on).
        let wrapper = ZigToolchain.wrapper(mode: "c++", spec: try catalog.spec("cp311-bookworm-glibc2.17-aarch64"))
        XCTAssertTrue(
            wrapper.contains(
                "zig c++ -target aarch64-linux-gnu.2.17 -fno-sanitize=undefined \"$@\" -idirafter /usr/include/aarch64-linux-gnu -idirafter /usr/include -L/usr/lib/aarch64-linux-gnu"
            ),
            wrapper)
    }

    /// gcc's x86 CPU names reach zig in its own spelling (it reads `-march=x86-64-v3` as CPU
    /// `x86` without features `64` and `v3`); other arguments pass unchanged and in order.
    func testTheX86WrapperSpellsCPUNamesAsZigDoes() throws {
        let work = try TemporaryDirectory(prefix: "wf-zigwrap")
        let spec = try catalog().spec("cp311-bookworm-glibc2.17-x86_64")
        // A stand-in for zig that prints the arguments it got, one per line.
        let stub = "\(work.path)/zig"
        try Files.writeAtomically(Array("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n".utf8), to: stub, mode: 0o755)
        let wrapper = ZigToolchain.wrapper(mode: "cc", spec: spec).replacingOccurrences(of: "/opt/wheelfarm/zig/ziglang/zig", with: stub)
        try Files.writeAtomically(Array(wrapper.utf8), to: "\(work.path)/cc", mode: 0o755)
        let output = try ProcessRunner.run(
            "/bin/sh", ["\(work.path)/cc", "-march=skylake-avx512", "-mtune=x86-64-v3", "-O2", "-march=haswell", "a b.c", "-o", "x-y.o"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let arguments = output.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(arguments.prefix(4), ["cc", "-target", "x86_64-linux-gnu.2.17", "-fno-sanitize=undefined"])
        XCTAssertEqual(Array(arguments.dropFirst(4).prefix(7)), ["-march=skylake_avx512", "-mtune=x86_64_v3", "-O2", "-march=haswell", "a b.c", "-o", "x-y.o"])
        // Arm's -march names an architecture (armv8-a): left alone.
        XCTAssertFalse(ZigToolchain.wrapper(mode: "cc", spec: try catalog().spec("cp311-bookworm-glibc2.17-aarch64")).contains("tr - _"))
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

import BuildSandbox
import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

@testable import WheelBuilder

/// Which stored builds a new toolchain image calls for rebuilding: only those whose packages
/// (grafted, recipe, source libraries, compiler) changed version.
final class TargetedRebuildTests: XCTestCase {
    static let target = PipelineHarness.targets[0]

    func package(_ name: String, _ version: String, _ architecture: String = "amd64") -> InstalledPackage {
        InstalledPackage(name: name, version: version, architecture: architecture)
    }

    func image(_ packages: [InstalledPackage]) throws -> ToolchainImage {
        let spec = try XCTUnwrap(try ToolchainCatalog.load(dataDirectory: TestSupport.repositoryRoot).specs[Self.target])
        return ToolchainImage(spec: spec, digest: "d", packages: packages, frontendWheels: [:], builtAt: Date(), sizeBytes: 0, buildSeconds: 0)
    }

    func testCompilerPackagesAreRecognised() {
        for name in [
            "gcc-12", "g++-12", "cpp-12", "binutils", "binutils-x86-64-linux-gnu", "libgcc-s1", "libgcc-12-dev", "libstdc++6", "libc6-dev", "gfortran-12"
        ] {
            XCTAssertTrue(BuildPackages.isCompiler(name), name)
        }
        for name in ["tzdata", "apt", "libc6", "cppcheck", "libyaml-0-2", "python3.11"] {
            XCTAssertFalse(BuildPackages.isCompiler(name), name)
        }
    }

    func testUsesListGraftedRecipeSourceAndCompilerPackages() throws {
        let base = try image([package("gcc-12", "12.2.0-14"), package("tzdata", "2024a-0+deb12u1"), package("libc6-dev", "2.36-9")])
        let derived = DerivedRoot(
            key: "k", baseDigest: "d", requested: ["libyaml-dev"],
            added: [package("libyaml-dev", "0.2.5-1"), package("libyaml-0-2", "0.2.5-1"), package("libffi", "3.4.4-1", "source")], builtAt: Date())
        let uses = BuildPackages.uses(
            image: base, derived: derived, grafted: [GraftedLibrary(soname: "libyaml-0.so.2", file: "x", package: "libyaml-0-2", version: "0.2.5-1")])
        XCTAssertEqual(
            uses.map { "\($0.how.rawValue) \($0.name) \($0.version)" },
            ["grafted libyaml-0-2 0.2.5-1", "recipe libyaml-dev 0.2.5-1", "source libffi 3.4.4-1", "toolchain gcc-12 12.2.0-14", "toolchain libc6-dev 2.36-9"])

        // tzdata and a package nothing used changed: no change. The grafted library changed: one.
        let refreshed = try image([package("gcc-12", "12.2.0-14"), package("tzdata", "2025b-0+deb12u1"), package("libc6-dev", "2.36-9")])
        var newDerived = derived
        newDerived.added = [package("libyaml-dev", "0.2.5-1"), package("libyaml-0-2", "0.2.5-1"), package("libffi", "3.4.4-1", "source")]
        XCTAssertEqual(BuildPackages.changes(recorded: uses, image: refreshed, derived: newDerived), [])
        newDerived.added[1] = package("libyaml-0-2", "0.2.5-1+deb12u1")
        newDerived.added[2] = package("libffi", "3.4.4-2", "source")
        XCTAssertEqual(
            BuildPackages.changes(recorded: uses, image: refreshed, derived: newDerived).map(\.description),
            ["libyaml-0-2 0.2.5-1 → 0.2.5-1+deb12u1 (grafted)", "libffi 3.4.4-1 → 3.4.4-2 (source)"])
        // A package the new root no longer has is a change too.
        let without = try image([package("tzdata", "2025b-0+deb12u1"), package("libc6-dev", "2.36-9")])
        XCTAssertEqual(
            BuildPackages.changes(recorded: uses, image: without, derived: derived).map(\.description), ["gcc-12 12.2.0-14 → removed (toolchain)"])
    }

    func testANewImageRebuildsOnlyWhatItsPackagesChanged() throws {
        let harness = try PipelineHarness()
        try Files.writeAtomically(Array(#"{"packages": ["libfoo-dev"]}"#.utf8), to: "\(harness.recipes)/demo.json")
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "\n"])
        let python = package("python3.11", "3.11.2-6")
        harness.toolchains.setImagePackages([python, package("gcc-12", "12.2.0-14"), package("tzdata", "2024a-1")], for: Self.target)
        harness.toolchains.setDerivedPackages([package("libfoo-dev", "1.0-1"), package("libfoo1", "1.0-1")], for: ["libfoo-dev"])
        let first = try harness.build("demo==1.0")
        XCTAssertNil(first[0].failure, "\(String(describing: first[0].failure))")
        let record = first[0].record
        XCTAssertEqual(record.debianPackages?.map { "\($0.how.rawValue) \($0.name) \($0.version)" }, ["recipe libfoo-dev 1.0-1", "toolchain gcc-12 12.2.0-14"])
        let builder = try harness.builder()
        XCTAssertEqual(builder.currency(of: record, builtFor: Self.target), .current(nil))

        // A refresh that only updates tzdata: a new image and epoch; the recipe's root is not made yet, then is, unchanged.
        harness.toolchains.setImagePackages([python, package("gcc-12", "12.2.0-14"), package("tzdata", "2025b-1")], for: Self.target)
        var image = try harness.toolchains.build(Self.target) { _ in }
        XCTAssertNotEqual(image.digest, record.toolchainDigest)
        guard case let .stale(why) = builder.currency(of: record, builtFor: Self.target) else { return XCTFail("a root not made yet is not guessed at") }
        XCTAssertTrue(why.contains("not installed over it yet"), why)
        _ = try harness.toolchains.derivedRoot(base: image, packages: ["libfoo-dev"], sources: [], useGcc: false) { _ in }
        guard case let .current(note) = builder.currency(of: record, builtFor: Self.target) else { return XCTFail("tzdata alone rebuilt the build") }
        XCTAssertTrue(note?.contains("none of the 2 packages the build used did") == true, note ?? "")
        XCTAssertNotNil(builder.existingBuild(project: "demo", version: "1.0", target: Self.target), "the stored build stands")

        // The recipe's library is updated: the build is stale, and the reason names the update.
        harness.toolchains.setDerivedPackages([package("libfoo-dev", "1.0-1+deb12u1"), package("libfoo1", "1.0-1+deb12u1")], for: ["libfoo-dev"])
        image = try harness.toolchains.build(Self.target) { _ in }
        _ = try harness.toolchains.derivedRoot(base: image, packages: ["libfoo-dev"], sources: [], useGcc: false) { _ in }
        XCTAssertEqual(builder.currency(of: record, builtFor: Self.target), .stale("libfoo-dev 1.0-1 → 1.0-1+deb12u1 (recipe)"))
        XCTAssertNil(builder.existingBuild(project: "demo", version: "1.0", target: Self.target))
        XCTAssertEqual(builder.staleness(project: "demo", version: "1.0", target: Self.target), "libfoo-dev 1.0-1 → 1.0-1+deb12u1 (recipe)")

        // A new compiler rebuilds too.
        harness.toolchains.setDerivedPackages([package("libfoo-dev", "1.0-1"), package("libfoo1", "1.0-1")], for: ["libfoo-dev"])
        harness.toolchains.setImagePackages([python, package("gcc-12", "12.2.0-15"), package("tzdata", "2025b-1")], for: Self.target)
        image = try harness.toolchains.build(Self.target) { _ in }
        _ = try harness.toolchains.derivedRoot(base: image, packages: ["libfoo-dev"], sources: [], useGcc: false) { _ in }
        XCTAssertEqual(builder.currency(of: record, builtFor: Self.target), .stale("gcc-12 12.2.0-14 → 12.2.0-15 (toolchain)"))
    }

    /// `verify --rebuild` after a refresh: the rebuild runs on the image its record names, by
    /// digest, not on the one the target points at now; an image that is gone is a clear failure.
    func testAVerificationRebuildUsesTheRecordsImageByDigest() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "\n"])
        harness.toolchains.setImagePackages([package("tzdata", "2024a-1")], for: Self.target)
        let first = try harness.build("demo==1.0")[0]
        XCTAssertNil(first.failure, "\(String(describing: first.failure))")
        harness.toolchains.setImagePackages([package("tzdata", "2025b-1")], for: Self.target)
        let refreshed = try harness.toolchains.build(Self.target) { _ in }
        XCTAssertNotEqual(refreshed.digest, first.record.toolchainDigest)
        let sdist = "\(harness.work.path)/sdists/demo-1.0.tar.gz"
        let again = try harness.builder().rebuild(sdist: sdist, record: first.record, into: "\(harness.work.path)/verify")
        XCTAssertNil(again.failure, "\(String(describing: again.failure))")
        XCTAssertEqual(again.record.toolchainDigest, first.record.toolchainDigest)

        var gone = first.record
        gone.toolchainDigest = String(repeating: "0", count: 64)
        let failed = try harness.builder().rebuild(sdist: sdist, record: gone, into: "\(harness.work.path)/verify-gone")
        XCTAssertTrue(failed.failure?.reason.contains("is no longer stored") == true, "\(String(describing: failed.failure))")
    }

    func testARecipeThatFollowsTheToolchainRebuildsOnAnyNewImage() throws {
        let harness = try PipelineHarness()
        try Files.writeAtomically(Array(#"{"follow_toolchain": true}"#.utf8), to: "\(harness.recipes)/demo.json")
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "\n"])
        harness.toolchains.setImagePackages([package("tzdata", "2024a-1")], for: Self.target)
        let record = try harness.build("demo==1.0")[0].record
        let builder = try harness.builder()
        XCTAssertEqual(builder.currency(of: record, builtFor: Self.target), .current(nil))
        harness.toolchains.setImagePackages([package("tzdata", "2025b-1")], for: Self.target)
        _ = try harness.toolchains.build(Self.target) { _ in }
        guard case let .stale(why) = builder.currency(of: record, builtFor: Self.target) else { return XCTFail("a follower was not rebuilt") }
        XCTAssertTrue(why.contains("follows the toolchain"), why)
    }

    func testARecordWithoutPackagesFollowsTheDigestAsBefore() throws {
        let harness = try PipelineHarness()
        try harness.sdist("demo", "1.0", files: ["demo/__init__.py": "\n"])
        var record = try harness.build("demo==1.0")[0].record
        record.debianPackages = nil
        let builder = try harness.builder()
        XCTAssertEqual(builder.currency(of: record, builtFor: Self.target), .current(nil))
        harness.toolchains.setImagePackages([package("tzdata", "2025b-1")], for: Self.target)
        _ = try harness.toolchains.build(Self.target) { _ in }
        guard case let .stale(why) = builder.currency(of: record, builtFor: Self.target) else { return XCTFail("an old record survived a new image") }
        XCTAssertTrue(why.hasPrefix("the toolchain image changed"), why)
    }
}

/// Extra apt entries are checked before they are written into a root.
final class AptSourcesTests: XCTestCase {
    func testEntriesAreCheckedLineByLine() throws {
        let sources = try AptSources(
            text: "# our packages\n\ndeb [trusted=yes] http://127.0.0.1:8000/ ./\ndeb https://apt.example.invalid/debian bookworm main\n", path: "s.list")
        XCTAssertEqual(sources.lines.count, 2)
        XCTAssertEqual(sources.file, "deb [trusted=yes] http://127.0.0.1:8000/ ./\ndeb https://apt.example.invalid/debian bookworm main\n")
        let refused: [(String, String)] = [
            ("deb-src http://x/ bookworm main", "only `deb` entries"),
            ("deb http://x/", "a URI and a suite"),
            ("deb ftp://x/ bookworm main", "not http, https or file"),
            ("deb [trusted=yes http://x/ ./", "not closed"),
            ("deb http://x/ ./ \u{1b}[2J", "control characters")
        ]
        for (line, reason) in refused {
            XCTAssertThrowsError(try AptSources(text: "\n" + line, path: "s.list"), line) { error in
                XCTAssertTrue("\(error)".hasPrefix("s.list:2: "), "\(error)")
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
    }

    func testTheyArePartOfTheDerivedRootsKey() {
        let plain = DerivedRoots.key(baseDigest: "d", packages: ["libfoo-dev"])
        let sources = try? AptSources(text: "deb [trusted=yes] http://127.0.0.1:8000/ ./\n", path: "s")
        XCTAssertNotEqual(plain, DerivedRoots.key(baseDigest: "d", packages: ["libfoo-dev"], aptSources: sources))
        XCTAssertNotEqual(plain, DerivedRoots.key(baseDigest: "d", packages: ["libfoo-dev"], epoch: "2026-12-02T00:00:00Z"))
        XCTAssertEqual(plain, DerivedRoots.key(baseDigest: "d", packages: ["libfoo-dev"], epoch: nil, aptSources: nil), "keys made before stay")
    }
}

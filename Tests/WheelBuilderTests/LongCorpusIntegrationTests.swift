import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import Signing
import TestSupport
import WheelArchive
import WheelAudit
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// The rest of the corpus and the other targets: `WHEELFARM_LONG_TESTS=1 bash ci/test.sh --filter LongCorpusIntegrationTests`.
final class LongCorpusIntegrationTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["WHEELFARM_LONG_TESTS"] == "1", "long suite only (WHEELFARM_LONG_TESTS=1)")
    }

    func testLxmlGraftsItsLibraries() throws {
        let builder = try BuildCorpusIntegrationTests.sharedBuilder()
        let result = try XCTUnwrap(builder.build(.index(try XCTUnwrap(Requirement("lxml==5.3.0"))), targets: [BuildCorpusIntegrationTests.target]).first)
        XCTAssertNil(result.failure, "\(String(describing: result.failure))")
        let grafted = Set(result.record.grafted.map(\.soname))
        XCTAssertTrue(grafted.isSuperset(of: ["libxml2.so.2", "libxslt.so.1", "libexslt.so.0"]), "\(grafted)")
        // What `sbom query --package libxml2` and the targeted rebuilds read: each grafted library's package and version.
        let packages = Set(result.record.grafted.compactMap { graft in graft.version.map { _ in graft.package ?? "" } })
        XCTAssertTrue(packages.isSuperset(of: ["libxml2", "libxslt1.1"]), "\(result.record.grafted)")
        XCTAssertTrue(
            result.record.debianPackages?.contains { $0.name == "libxml2" && $0.how == .grafted } == true, "\(String(describing: result.record.debianPackages))"
        )
    }

    /// The user's example, `wheelfarm build numpy==2.1.3`: with Debian's OpenBLAS found by meson
    /// through pkg-config and grafted on the Debian 12 gcc target; on the default glibc 2.17
    /// baseline, and for CPython 3.13 on Debian 13's baseline, with OpenBLAS built from its Debian
    /// source by zig and grafted from the prefix. The recipe's test install checks, in the runtime
    /// root, that `show_config` names OpenBLAS, a matrix inverse and a product.
    func testNumpyWithOpenBLASAndOnTheBaseline() throws {
        let builder = try BuildCorpusIntegrationTests.sharedBuilder()
        let numpy = try XCTUnwrap(Requirement("numpy==2.1.3"))
        let gcc = try XCTUnwrap(builder.build(.index(numpy), targets: [BuildCorpusIntegrationTests.target]).first)
        XCTAssertNil(gcc.failure, "\(String(describing: gcc.failure))")
        XCTAssertTrue(gcc.record.grafted.contains { $0.soname == "libopenblas.so.0" && $0.package == "libopenblas0-pthread" }, "\(gcc.record.grafted)")
        XCTAssertTrue(gcc.record.wheel?.contains("manylinux_2_35_x86_64") == true, "\(String(describing: gcc.record.wheel))")
        for target in ["cp311-bookworm-glibc2.17-x86_64", "cp313-trixie-glibc2.17-x86_64"] {
            let baseline = try XCTUnwrap(builder.build(.index(numpy), targets: [target]).first)
            XCTAssertNil(baseline.failure, "\(target): \(String(describing: baseline.failure))")
            XCTAssertTrue(baseline.record.wheel?.contains("manylinux_2_17_x86_64") == true, "\(String(describing: baseline.record.wheel))")
            // Built from Debian's source with the target's zig: grafted from the prefix, named by its source package.
            XCTAssertTrue(
                baseline.record.grafted.contains { $0.soname == "libopenblas.so.0" && $0.package == "openblas" },
                "\(target): \(baseline.record.grafted)")
        }
    }

    /// The other glibc 2.17 baselines: Debian 13 (CPython 3.13's sysconfig is a package) and aarch64
    /// (the host's zig cross-compiles natively inside the emulated root; PyYAML builds libyaml there).
    func testOtherBaselineTargets() throws {
        let builder = try BuildCorpusIntegrationTests.sharedBuilder()
        let trixie = try XCTUnwrap(builder.build(.index(try XCTUnwrap(Requirement("markupsafe==3.0.2"))), targets: ["cp313-trixie-glibc2.17-x86_64"]).first)
        XCTAssertEqual(
            trixie.record.wheel, "markupsafe-3.0.2-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "\(String(describing: trixie.failure))")
        let arm = builder.build(.index(try XCTUnwrap(Requirement("pyyaml==6.0.2"))), targets: ["cp311-bookworm-glibc2.17-aarch64"])
        XCTAssertEqual(
            arm.first?.record.wheel, "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "\(String(describing: arm.first?.failure))")
    }

    func testOtherTargets() throws {
        let builder = try BuildCorpusIntegrationTests.sharedBuilder()
        let results = builder.build(.index(try XCTUnwrap(Requirement("markupsafe==3.0.2"))), targets: ["cp39-bullseye-x86_64", "cp313-trixie-x86_64"])
        XCTAssertEqual(
            results.compactMap(\.record.wheel),
            [
                "markupsafe-3.0.2-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "markupsafe-3.0.2-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
            ])
    }
}

/// Requirements a hook was asked about, from any thread.
final class AskedRequirements: @unchecked Sendable {
    private var items: [String] = []
    private let lock = NSLock()
    func add(_ item: String) { lock.withLock { items.append(item) } }
    var all: [String] { lock.withLock { items } }
}

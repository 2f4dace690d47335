import FarmCore
import Foundation
import TestSupport
import WheelBuilder
import WheelfarmBasics
import XCTest

/// `sbom query` over records laid out as builds write them: grafted packages and libraries
/// built from their Debian source, with `--below` in Debian's version order.
final class SBOMCatalogTests: XCTestCase {
    func testQueryFindsGraftedAndSourceBuiltPackages() throws {
        let work = try TemporaryDirectory(prefix: "wf-sbom-unit")
        let home = "\(work.path)/home"
        let store = BuildStore(layout: FarmLayout(path: home))
        func stored(_ project: String, target: String, grafted: [GraftedLibrary], uses: [PackageUse]) throws {
            var record = BuildRecord(target: target, builderVersion: "test", startedAt: Date())
            let wheel = "\(project)-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
            (record.project, record.version, record.outcome, record.wheel, record.wheelSha256) = (project, "1.0", .succeeded, wheel, "00")
            record.grafted = grafted
            record.debianPackages = uses
            let folder = try store.directory(project: project, version: "1.0", target: target)
            try store.write(record, in: folder)
            try Files.writeAtomically([0], to: "\(folder)/\(wheel)")
        }
        try stored(
            "pyyaml", target: "cp311-bookworm-glibc2.17-x86_64", grafted: [GraftedLibrary(soname: "libyaml-0.so.2", file: "libyaml-0-abc.so.2")],
            uses: [PackageUse(name: "libyaml", version: "0.2.5-1", how: .source), PackageUse(name: "gcc-12", version: "12.2.0-14", how: .toolchain)])
        try stored(
            "other", target: "cp311-bookworm-x86_64",
            grafted: [GraftedLibrary(soname: "libyaml-0.so.2", file: "x", package: "libyaml-0-2", version: "0.2.5-1")],
            uses: [PackageUse(name: "libyaml-0-2", version: "0.2.5-1", how: .grafted)])
        // Grafted from the prefix, its source package named by the derived root's source lists.
        try stored(
            "third", target: "cp311-bookworm-glibc2.17-x86_64",
            grafted: [GraftedLibrary(soname: "libyaml-0.so.2", file: "y", package: "libyaml", version: "0.2.5-1")],
            uses: [PackageUse(name: "libyaml", version: "0.2.5-1", how: .source)])
        let context = FarmContext(configuration: try FarmConfiguration(homeFlag: home, environment: [:]))
        let catalog = SBOMCatalog(context: context)

        let source = try catalog.query(package: "libyaml")
        XCTAssertEqual(
            source.map { "\($0.project) \($0.packageVersion) \($0.how)" }, ["pyyaml 0.2.5-1 built from source", "third 0.2.5-1 grafted, built from source"])
        XCTAssertEqual(try catalog.query(package: "libyaml-0-2").map { "\($0.project) \($0.how) \($0.soname)" }, ["other grafted libyaml-0.so.2"])
        XCTAssertEqual(try catalog.query(package: "libyaml", below: "0.2.5-1+deb12u1").count, 2)
        XCTAssertEqual(try catalog.query(package: "libyaml", below: "0.2.5-1").count, 0, "not below its own version")
        XCTAssertEqual(try catalog.query(package: "gcc-12").count, 0, "the compiler is not carried by the wheel")
    }
}

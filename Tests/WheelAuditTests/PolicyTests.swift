import Foundation
import TestSupport
import WheelAudit
import WheelfarmBasics
import XCTest

final class PolicyTests: XCTestCase {
    func catalog(_ extra: [String] = []) throws -> PolicyCatalog {
        try PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot, extraPolicyFiles: extra)
    }

    func testEveryManylinuxPolicyForEveryArchitecture() throws {
        let catalog = try catalog()
        let expected = ["2_5", "2_12", "2_17", "2_24", "2_26", "2_27", "2_28", "2_31", "2_34", "2_35", "2_36", "2_37", "2_38", "2_39", "2_40", "2_41"]
        let x86 = catalog.policies(libc: .glibc, architecture: "x86_64").map(\.name)
        XCTAssertEqual(Set(x86), Set(["linux_x86_64"] + expected.map { "manylinux_\($0)_x86_64" }))
        for arch in ["i686", "aarch64", "ppc64le", "s390x", "armv7l", "riscv64", "loongarch64", "ppc64"] {
            let names = catalog.policies(libc: .glibc, architecture: arch).map(\.name)
            XCTAssertTrue(names.contains("manylinux_2_41_\(arch)") || arch == "ppc64", "\(arch): \(names)")
            XCTAssertGreaterThan(names.count, 1, arch)
        }
        XCTAssertTrue(catalog.policies(libc: .glibc, architecture: "ppc64").map(\.name).contains("manylinux_2_17_ppc64"))
        XCTAssertTrue(catalog.policies(libc: .glibc, architecture: "riscv64").map(\.name).contains("manylinux_2_31_riscv64"))
        // Legacy aliases survive.
        let m2014 = try XCTUnwrap(catalog.policies(libc: .glibc, architecture: "x86_64").first { $0.name == "manylinux_2_17_x86_64" })
        XCTAssertEqual(m2014.aliases, ["manylinux2014_x86_64"])
        XCTAssertTrue(m2014.allowedLibraries.contains("libc.so.6"))
        XCTAssertFalse(m2014.allowedLibraries.contains("libyaml-0.so.2"))
        XCTAssertTrue(m2014.symbolVersions["GLIBC"]?.contains("GLIBC_2.17") == true)
        XCTAssertFalse(m2014.symbolVersions["GLIBC"]?.contains("GLIBC_2.18") == true)
    }

    func testPoliciesAreOrderedAndNested() throws {
        // PEP 600: a newer glibc policy allows everything an older one does.
        let policies = try catalog().policies(libc: .glibc, architecture: "x86_64").filter { !$0.isFallback }
        for (older, newer) in zip(policies.reversed(), policies.reversed().dropFirst()) {
            XCTAssertGreaterThan(older.priority, newer.priority)
            XCTAssertTrue(older.allowedLibraries.isSubset(of: newer.allowedLibraries), "\(older) vs \(newer)")
            for (prefix, versions) in older.symbolVersions {
                XCTAssertTrue(versions.isSubset(of: newer.symbolVersions[prefix] ?? []), "\(prefix): \(older) vs \(newer)")
            }
        }
    }

    func testMuslPolicies() throws {
        let catalog = try catalog()
        XCTAssertEqual(catalog.policies(libc: .musl, architecture: "x86_64").map(\.name), ["linux_x86_64", "musllinux_1_2_x86_64"])
        let all = catalog.policies(libc: .musl, architecture: "aarch64", includeAll: true)
        XCTAssertEqual(Set(all.map(\.name)), ["linux_aarch64", "musllinux_1_1_aarch64", "musllinux_1_2_aarch64"])
        XCTAssertTrue(all.last?.allowedLibraries.contains("libc.musl-aarch64.so.1") == true)
    }

    func testOrganisationPolicyExtendsPublishedOne() throws {
        let dir = try TemporaryDirectory()
        let file = "\(dir.path)/acme.json"
        try Files.writeAtomically(
            Array(
                """
                {"format": 1, "policies": [
                  {"name": "manylinux_2_28", "base": "manylinux_2_28", "extra_allowed_libraries": ["libgfortran.so.5", "libyaml-0.so.2"]}
                ]}
                """.utf8), to: file)
        let policy = try XCTUnwrap(catalog([file]).policies(libc: .glibc, architecture: "x86_64").first { $0.name == "manylinux_2_28_x86_64" })
        XCTAssertTrue(policy.allowedLibraries.contains("libyaml-0.so.2"))
        XCTAssertTrue(policy.allowedLibraries.contains("libc.so.6"))
        XCTAssertTrue(policy.symbolVersions["GLIBC"]?.contains("GLIBC_2.28") == true)

        try Files.writeAtomically(Array(#"{"format": 1, "policies": [{"name": "x", "base": "nope"}]}"#.utf8), to: file)
        XCTAssertThrowsError(try catalog([file])) { XCTAssertTrue("\($0)".contains("unknown policy 'nope'")) }
        try Files.writeAtomically(Array("not json".utf8), to: file)
        XCTAssertThrowsError(try catalog([file])) { XCTAssertTrue("\($0)".contains("invalid policy file")) }
    }
}

import PackagingModel
import XCTest

final class VersionTests: XCTestCase {
    func v(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> PackageVersion {
        guard let version = PackageVersion(text) else { XCTFail("cannot parse \(text)", file: file, line: line); return PackageVersion("0")! }
        return version
    }

    /// The ordering example from PEP 440 ("Summary of permitted suffixes and relative ordering").
    func testPEP440OrderingExample() {
        let ordered = [
            "1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
            "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7",
            "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1"
        ]
        let versions = ordered.map { v($0) }
        for (a, b) in zip(versions, versions.dropFirst()) { XCTAssertLessThan(a, b, "\(a) < \(b)") }
        XCTAssertEqual(versions.shuffled().sorted().map(\.description), versions.map(\.description))
    }

    func testEpochsAndPadding() {
        XCTAssertLessThan(v("2013.10"), v("1!1.0"))
        XCTAssertEqual(v("1.0"), v("1.0.0"))
        XCTAssertEqual(v("1.0").hashValue, v("1.0.0").hashValue)
        XCTAssertLessThan(v("1.0"), v("1.0.1"))
        XCTAssertEqual(v("1!2.0").epoch, 1)
    }

    /// Normalisation rules of PEP 440.
    func testNormalisation() {
        let cases = [
            "1.0-alpha.1": "1.0a1", "1.0ALPHA1": "1.0a1", "1.0.beta2": "1.0b2", "1.0c1": "1.0rc1", "1.0-pre3": "1.0rc3",
            "1.0.preview4": "1.0rc4", "1.0a": "1.0a0", "1.0-post1": "1.0.post1", "1.0post": "1.0.post0", "1.0.rev2": "1.0.post2",
            "1.0-r3": "1.0.post3", "1.0-1": "1.0.post1", "1.0-dev2": "1.0.dev2", "1.0dev": "1.0.dev0", "v1.0": "1.0",
            "1.0+ubuntu-1": "1.0+ubuntu.1", "1.0+Ubuntu_1": "1.0+ubuntu.1", " 1.0 ": "1.0", "01.002": "1.2"
        ]
        for (input, expected) in cases { XCTAssertEqual(PackageVersion(input)?.description, expected, input) }
        for bad in ["", "1.0+", "abc", "1.0.", "1..0", "1.0-", "1.0+a b", "1.0xyz"] { XCTAssertNil(PackageVersion(bad), bad) }
    }

    func testLocalVersionOrdering() {
        XCTAssertLessThan(v("1.0+abc"), v("1.0+1"), "numeric local segments sort after alphanumeric ones")
        XCTAssertLessThan(v("1.0"), v("1.0+0"))
        XCTAssertLessThan(v("1.0+1.2"), v("1.0+1.10"))
    }

    func s(_ text: String) -> SpecifierSet { SpecifierSet(text) ?? SpecifierSet("")! }

    /// Examples from PEP 440's "Version specifiers" section.
    func testSpecifierExamplesFromPEP440() {
        XCTAssertTrue(s("~=2.2").contains(v("2.3")))
        XCTAssertFalse(s("~=2.2").contains(v("3.0")))
        XCTAssertTrue(s("~=1.4.5").contains(v("1.4.9")))
        XCTAssertFalse(s("~=1.4.5").contains(v("1.5.0")))
        XCTAssertTrue(s("~=2.2.post3").contains(v("2.2.post4")))
        XCTAssertFalse(s("~=2.2.post3").contains(v("3.0")))
        XCTAssertTrue(s("~=1.4.5a4").contains(v("1.4.5")))
        XCTAssertTrue(s("~=1.4.5a4").contains(v("1.4.5a5")), "the clause names a pre-release, so pre-releases match")
        XCTAssertTrue(s("~=2.2.0").contains(v("2.2.9")))
        XCTAssertFalse(s("~=2.2.0").contains(v("2.3.0")))
        // Prefix matching: "==1.1.*" matches 1.1.post1 and 1.1.0 but not 1.10.
        XCTAssertTrue(s("==1.1").contains(v("1.1.0")))
        XCTAssertFalse(s("==1.1").contains(v("1.1.post1")))
        XCTAssertTrue(s("==1.1.*").contains(v("1.1.post1")))
        XCTAssertFalse(s("==1.1.*").contains(v("1.10")))
        XCTAssertTrue(s("!=1.1").contains(v("1.1.post1")))
        XCTAssertFalse(s("!=1.1.*").contains(v("1.1.post1")))
        // Local versions: ignored unless the specifier has one.
        XCTAssertTrue(s("==1.0").contains(v("1.0+local.1")))
        XCTAssertFalse(s("==1.0+other").contains(v("1.0+local.1")))
        XCTAssertTrue(s("==1.0+local.1").contains(v("1.0+local.1")))
        // Exclusive comparisons.
        XCTAssertFalse(s(">1.7").contains(v("1.7.post2")), ">1.7 does not allow 1.7.post2")
        XCTAssertTrue(s(">1.7.post2").contains(v("1.7.post3")))
        XCTAssertFalse(s("<3.1").contains(v("3.1.dev0"), prereleases: true), "<3.1 does not allow 3.1 pre-releases")
        XCTAssertTrue(s("<3.1").contains(v("3.0.dev0"), prereleases: true))
        XCTAssertTrue(s("<3.1rc1").contains(v("3.1a1")))
        XCTAssertTrue(s(">=1.0,<2").contains(v("1.5")))
        XCTAssertFalse(s(">=1.0,<2").contains(v("2.0")))
        XCTAssertTrue(s("===1.0").contains(v("1.0")))
        XCTAssertTrue(s("").contains(v("9.9")))
    }

    func testPrereleasesAreExcludedUnlessAskedFor() {
        XCTAssertFalse(s(">=1.0").contains(v("2.0b1")))
        XCTAssertTrue(s(">=1.0").contains(v("2.0b1"), prereleases: true))
        XCTAssertTrue(s(">=2.0b1").contains(v("2.0b2")))
        XCTAssertFalse(s("").contains(v("1.0.dev1")))
        XCTAssertTrue(s("==1.0.*").contains(v("1.0.post1")))
    }

    func testMalformedSpecifiersAreRejected() {
        for bad in ["~=1", ">=1.0.*", "=>1.0", "==", ">1.0+local", "1.0"] { XCTAssertNil(SpecifierSet(bad), bad) }
        XCTAssertTrue(SpecifierSet("==2.1.2")?.isExactPin == true)
        XCTAssertFalse(SpecifierSet("==2.1.*")?.isExactPin == true)
    }
}

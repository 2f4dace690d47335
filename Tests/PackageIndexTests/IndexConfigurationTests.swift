import Foundation
import PackageIndex
import PackagingModel
import TestSupport
import WheelfarmBasics
import XCTest

final class IndexConfigurationTests: XCTestCase {
    func testPrecedenceOfTheIndexSettings() throws {
        let dir = try TemporaryDirectory()
        let conf = "\(dir.path)/pip.conf"
        try Files.writeAtomically(Array("[global]\n# comment\nindex_url = https://user:s%40cret@mirror.invalid/simple/\n".utf8), to: conf)
        let fromFile = try IndexConfiguration.resolve(environment: ["PIP_CONFIG_FILE": conf])
        XCTAssertEqual(fromFile.indexURL, "https://mirror.invalid/simple")
        XCTAssertEqual(fromFile.username, "user")
        XCTAssertEqual(fromFile.password, "s@cret")
        XCTAssertEqual(fromFile.source, conf)
        let fromEnv = try IndexConfiguration.resolve(environment: ["PIP_CONFIG_FILE": conf, "PIP_INDEX_URL": "https://env.invalid/simple"])
        XCTAssertEqual(fromEnv.indexURL, "https://env.invalid/simple")
        let explicit = try IndexConfiguration.resolve(explicit: "https://flag.invalid/simple/", environment: ["PIP_INDEX_URL": "https://env.invalid/simple"])
        XCTAssertEqual(explicit.indexURL, "https://flag.invalid/simple")
        // With nothing configured, pip's own default is asked for; wheelfarm names no host itself.
        let fallback = try IndexConfiguration.resolve(environment: ["PIP_CONFIG_FILE": "/dev/null"])
        XCTAssertTrue(fallback.indexURL.hasPrefix("https://"), fallback.indexURL)
        XCTAssertEqual(fallback.source, "pip's default")
    }

    func testSdistFileNames() {
        XCTAssertEqual(SourceResolver.sdistVersion("markupsafe-3.0.2.tar.gz", project: "MarkupSafe")?.description, "3.0.2")
        XCTAssertEqual(SourceResolver.sdistVersion("python-dateutil-2.8.2.tar.gz", project: "python_dateutil")?.description, "2.8.2")
        XCTAssertEqual(SourceResolver.sdistVersion("PyYAML-6.0.2.zip", project: "pyyaml")?.description, "6.0.2")
        XCTAssertNil(SourceResolver.sdistVersion("markupsafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.whl", project: "markupsafe"))
        XCTAssertNil(SourceResolver.sdistVersion("other-1.0.tar.gz", project: "markupsafe"))
        XCTAssertEqual(ProjectName.normalise("Foo.Bar__Baz-qux"), "foo-bar-baz-qux")
    }
}

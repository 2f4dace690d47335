import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

@testable import BuildSandbox

final class DebianMirrorTests: XCTestCase {
    func testBothSourceFormats() throws {
        let deb822 = """
            Types: deb
            URIs: http://mirror.example/debian/
            Suites: bookworm bookworm-updates
            Components: main

            Types: deb
            URIs: http://mirror.example/debian-security
            Suites: bookworm-security
            Components: main

            Types: deb
            Enabled: no
            URIs: http://disabled.example/debian
            Suites: bookworm
            """
        let entries = DebianMirror.entries(deb822: deb822)
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(DebianMirror.parse(entries), DebianMirror(archive: "http://mirror.example/debian", security: "http://mirror.example/debian-security"))
        let oneLine = """
            # a comment
            deb [arch=amd64 signed-by=/x.gpg] http://mirror.example/debian bullseye main
            deb-src http://mirror.example/debian bullseye main
            deb http://mirror.example/security bullseye-security main
            """
        let mirror = try XCTUnwrap(DebianMirror.parse(DebianMirror.entries(oneLine: oneLine)))
        XCTAssertEqual(mirror.archive, "http://mirror.example/debian")
        XCTAssertEqual(
            mirror.sourceLines(suite: "trixie"),
            [
                "deb http://mirror.example/debian trixie main",
                "deb http://mirror.example/debian trixie-updates main",
                "deb http://mirror.example/security trixie-security main"
            ])
        XCTAssertEqual(mirror.releaseURL(suite: "trixie"), "http://mirror.example/debian/dists/trixie/InRelease")
        XCTAssertNil(DebianMirror.parse(DebianMirror.entries(oneLine: "deb-src http://x/debian bookworm main")))
    }

    func testTheHostHasAMirror() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/etc/apt"), "not a Debian host")
        XCTAssertNotNil(DebianMirror.host(), "the host's apt sources name no Debian archive")
    }
}

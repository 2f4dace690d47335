import Foundation
import PackagingModel
import WheelfarmBasics
import XCTest

final class RequirementsFileTests: XCTestCase {
    let linux311 = Marker.Environment(pythonFullVersion: "3.11.2", machine: "x86_64")
    let linux39 = Marker.Environment(pythonFullVersion: "3.9.2", machine: "aarch64")

    func testMarkers() throws {
        XCTAssertTrue(try Marker(parsing: #"python_version >= "3.10""#).evaluate(linux311))
        XCTAssertFalse(try Marker(parsing: #"python_version >= "3.10""#).evaluate(linux39))
        // Versions compare as versions, not strings ("3.9" < "3.10").
        XCTAssertTrue(try Marker(parsing: #"python_version < "3.10""#).evaluate(linux39))
        XCTAssertTrue(
            try Marker(parsing: #"sys_platform == "linux" and (platform_machine == "aarch64" or python_full_version >= "3.11.1")"#).evaluate(linux311))
        XCTAssertFalse(try Marker(parsing: #"sys_platform == 'win32' or platform_machine == "arm64""#).evaluate(linux39))
        XCTAssertTrue(try Marker(parsing: #"'linux' in sys_platform and platform_python_implementation != "PyPy""#).evaluate(linux39))
        XCTAssertTrue(try Marker(parsing: #"implementation_name not in "pypy jython""#).evaluate(linux39))
        // The names before PEP 508 that pip still reads (PyNaCl 1.5.0's build requirements use one).
        XCTAssertTrue(try Marker(parsing: #"python_implementation != 'PyPy'"#).evaluate(linux39))
        XCTAssertFalse(try Marker(parsing: #"'PyPy' == python_implementation"#).evaluate(linux39))
        XCTAssertTrue(try Marker(parsing: #"os.name == "posix" and sys.platform == 'linux' and platform.machine == "aarch64""#).evaluate(linux39))
        XCTAssertThrowsError(try Marker(parsing: #"pythonversion >= "3""#)) { XCTAssertTrue("\($0)".contains("unknown marker variable")) }
        XCTAssertThrowsError(try Marker(parsing: #"python_version >= "3"#))
        XCTAssertThrowsError(try Marker(parsing: #"(python_version >= "3""#))
    }

    func testPinsHashesMarkersIncludesAndContinuations() throws {
        let dir = "/tmp/rq/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(dir)/sub", withIntermediateDirectories: true)
        let hash = String(repeating: "ab", count: 32)
        try """
        # The CI job's binary dependencies
        --pre
        markupsafe==3.0.2 \\
            --hash=sha256:\(hash) \\
            --hash sha256:\(String(repeating: "cd", count: 32))
        PyYAML>=6 ; python_version >= "3.8"   # inline comment
        tomli==2.0.1; python_version < "3.11"
        -r sub/more.txt
        -c constraints.txt

        """.write(toFile: "\(dir)/requirements.txt", atomically: true, encoding: .utf8)
        try "psutil[test]~=6.1\n--requirement=../extra.txt\n".write(toFile: "\(dir)/sub/more.txt", atomically: true, encoding: .utf8)
        try "six==1.16.0\n".write(toFile: "\(dir)/extra.txt", atomically: true, encoding: .utf8)
        try "pyyaml<7\n".write(toFile: "\(dir)/constraints.txt", atomically: true, encoding: .utf8)
        let file = try RequirementsFile.load(path: "\(dir)/requirements.txt", reader: { Files.readText($0) })
        XCTAssertTrue(file.prereleases)
        XCTAssertEqual(file.requirements.map(\.requirement.name), ["markupsafe", "PyYAML", "tomli", "psutil", "six"])
        XCTAssertEqual(file.requirements[0].hashes, [hash, String(repeating: "cd", count: 32)])
        XCTAssertEqual(file.requirements[0].origin, "requirements.txt:3")
        XCTAssertEqual(file.requirements[3].origin, "more.txt:1")
        XCTAssertEqual(file.requirements[3].requirement.extras, ["test"])
        XCTAssertTrue(file.requirements[2].applies(to: linux39))
        XCTAssertFalse(file.requirements[2].applies(to: linux311))
        XCTAssertEqual(file.constraints.map(\.requirement.description), ["pyyaml<7"])
    }

    func testUnsupportedLinesAreRefusedWithTheirLine() {
        let cases: [(String, String)] = [
            ("six\n-e ./local\n", "requirements.txt:2: -e is not supported"),
            ("--extra-index-url https://example.invalid/simple\n", "requirements.txt:1: --extra-index-url is not supported"),
            ("six @ https://example.invalid/six.whl\n", "requirements.txt:1: URL and path requirements are not supported"),
            ("./vendor/pkg\n", "requirements.txt:1: URL and path requirements are not supported"),
            ("six==1.16.0 --hash=md5:abcd\n", "requirements.txt:1: only --hash=sha256"),
            ("six==1.16.0 --global-option=x\n", "requirements.txt:1: only --hash may follow"),
            ("six===\n", "requirements.txt:1: cannot parse requirement"),
            ("six; os_name == \n", "requirements.txt:1:"),
            ("\n\n-r\n", "requirements.txt:3: -r needs a file name")
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try RequirementsFile.parse(text), text) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(text): \(error)")
            }
        }
        XCTAssertThrowsError(try RequirementsFile.load(path: "/nonexistent/requirements.txt", reader: { Files.readText($0) })) {
            XCTAssertTrue("\($0)".contains("cannot read"))
        }
    }

    func testIncludeCyclesAndRequireHashes() throws {
        let dir = "/tmp/rq/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "-r b.txt\n".write(toFile: "\(dir)/a.txt", atomically: true, encoding: .utf8)
        try "-r a.txt\n".write(toFile: "\(dir)/b.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RequirementsFile.load(path: "\(dir)/a.txt", reader: { Files.readText($0) })) {
            XCTAssertTrue("\($0)".contains("includes itself"))
        }
        try "--require-hashes\nsix==1.16.0\n".write(toFile: "\(dir)/h.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RequirementsFile.load(path: "\(dir)/h.txt", reader: { Files.readText($0) })) {
            XCTAssertEqual("\($0)", "h.txt:2: --require-hashes is set but six has no --hash")
        }
    }
    /// A requirements file from a Windows checkout: CRLF line endings, a BOM, a continuation.
    func testCRLFAndAByteOrderMarkReadAsPipReadsThem() throws {
        let dir = "/tmp/rq/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "\u{FEFF}markupsafe==3.0.2\r\n# a comment\r\npyyaml>=6 \\\r\n    ; python_version >= \"3.8\"\r\n".write(
            toFile: "\(dir)/requirements.txt", atomically: true, encoding: .utf8)
        let file = try RequirementsFile.load(path: "\(dir)/requirements.txt", reader: { Files.readText($0) })
        XCTAssertEqual(file.requirements.map(\.requirement.name), ["markupsafe", "pyyaml"])
        XCTAssertEqual(file.requirements.first?.requirement.description, "markupsafe==3.0.2")
    }
}

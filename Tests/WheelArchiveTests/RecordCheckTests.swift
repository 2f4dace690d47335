import Foundation
import TestSupport
import WheelArchive
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// RECORD cannot be bypassed: every entry carries an accepted hash (sha256 or stronger, and it is
/// checked) and a size, and the metadata folders carry the wheel's own name and version.
final class RecordCheckTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory(prefix: "wf-record") }

    /// A wheel whose RECORD rows for its one module are written by `row(algorithm-digest, size)`.
    func wheel(
        _ name: String = "demo-1.0-py3-none-any.whl", distInfo: String = "demo-1.0.dist-info", algorithm: String, size: String = "%d",
        corrupt: Bool = false, extra: String = ""
    ) throws -> String {
        let path = "\(dir.path)/\(name)"
        try TestSupport.pythonZip(
            path,
            script: """
                import hashlib, base64
                def digest(algorithm, data):
                    if algorithm == '': return ''
                    raw = hashlib.new(algorithm, data).digest()
                    return algorithm + '=' + base64.urlsafe_b64encode(raw).rstrip(b'=').decode()
                module = b'x = 1\\n'
                wheel = b'Wheel-Version: 1.0\\nTag: py3-none-any\\n'
                module_hash = digest('\(algorithm)', b'tampered' if \(corrupt ? "True" : "False") else module)
                size = '\(size)' % len(module) if '\(size)' != '' else ''
                z.writestr('demo/__init__.py', module)
                z.writestr('\(distInfo)/WHEEL', wheel)
                \(extra)
                z.writestr('\(distInfo)/RECORD', 'demo/__init__.py,%s,%s\\n\(distInfo)/WHEEL,%s,%d\\n\(distInfo)/RECORD,,\\n' % (module_hash, size, digest('sha256', wheel), len(wheel)))
                """)
        return path
    }

    func testStrongerAlgorithmsAreCheckedAndAccepted() throws {
        for algorithm in ["sha256", "sha384", "sha512", "sha3_256", "blake2b"] {
            XCTAssertNoThrow(try Wheel(path: try wheel(algorithm: algorithm)), algorithm)
            XCTAssertThrowsError(try Wheel(path: try wheel(algorithm: algorithm, corrupt: true)), algorithm) { error in
                XCTAssertTrue("\(error)".contains("does not match the content"), "\(algorithm): \(error)")
            }
        }
    }

    func testWeakUnknownOrMissingHashesAndSizesAreRefused() throws {
        for algorithm in ["md5", "sha1", "sha224"] {
            XCTAssertThrowsError(try Wheel(path: try wheel(algorithm: algorithm)), algorithm) { error in
                XCTAssertTrue("\(error)".contains("is not a RECORD hash wheelfarm accepts"), "\(algorithm): \(error)")
            }
        }
        XCTAssertThrowsError(try Wheel(path: try wheel(algorithm: ""))) { XCTAssertTrue("\($0)".contains("no hash in RECORD"), "\($0)") }
        XCTAssertThrowsError(try Wheel(path: try wheel(algorithm: "sha256", size: ""))) { XCTAssertTrue("\($0)".contains("gives no size"), "\($0)") }
    }

    func testMetadataFoldersMustCarryTheWheelsNameAndVersion() throws {
        XCTAssertThrowsError(try Wheel(path: try wheel(distInfo: "other-1.0.dist-info", algorithm: "sha256"))) {
            XCTAssertTrue("\($0)".contains("other-1.0.dist-info does not match"), "\($0)")
        }
        XCTAssertThrowsError(try Wheel(path: try wheel(distInfo: "demo-2.0.dist-info", algorithm: "sha256"))) {
            XCTAssertTrue("\($0)".contains("does not match the wheel's name and version"), "\($0)")
        }
        let data = "z.writestr('evil-1.0.data/scripts/x', 'x')"
        XCTAssertThrowsError(try Wheel(path: try wheel(algorithm: "sha256", extra: data))) { XCTAssertTrue("\($0)".contains("evil-1.0.data"), "\($0)") }
        // Case and separators may differ (PEP 503 normalisation).
        XCTAssertNoThrow(try Wheel(path: try wheel("Demo-1.0-py3-none-any.whl", distInfo: "demo-1.0.dist-info", algorithm: "sha256")))
    }
}

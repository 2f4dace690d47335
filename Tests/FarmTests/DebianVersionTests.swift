import FarmCore
import Foundation
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Debian's version order, checked against dpkg itself.
final class DebianVersionTests: XCTestCase {
    func testOrderAgreesWithDpkg() throws {
        let pairs = [
            ("0.2.5-1", "0.2.5-1"), ("0.2.5-1", "0.2.5-2"), ("0.2.5-1", "0.2.5-1+deb12u1"), ("1.0~rc1-1", "1.0-1"), ("1:0.1", "2.0"),
            ("2.9.14+dfsg-1.3~deb12u1", "2.9.14+dfsg-1.3"), ("1.0a", "1.0"), ("1.0.10", "1.0.9"), ("1.0-1", "1.0"), ("0.2.5", "0.2.5-0"),
            ("3.0.11-1~deb12u2", "3.0.11-1~deb12u10"), ("1.2.3", "1.2.3~"), ("1.01", "1.1")
        ]
        for (a, b) in pairs {
            let ours = DebianVersion.compare(a, b)
            let less = try ProcessRunner.run("dpkg", ["--compare-versions", a, "lt", b]).status == 0
            let equal = try ProcessRunner.run("dpkg", ["--compare-versions", a, "eq", b]).status == 0
            XCTAssertEqual(ours < 0, less, "\(a) < \(b)")
            XCTAssertEqual(ours == 0, equal, "\(a) = \(b)")
            XCTAssertEqual(DebianVersion.compare(b, a), -ours, "\(b) against \(a)")
        }
    }
}

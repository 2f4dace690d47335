import PackagingModel
import XCTest

final class RequirementTests: XCTestCase {
    func testParsesTheUsualForms() throws {
        let pinned = try XCTUnwrap(Requirement("numpy==2.1.2"))
        XCTAssertEqual(pinned.name, "numpy")
        XCTAssertTrue(pinned.specifier.isExactPin)
        let ranged = try XCTUnwrap(Requirement("Foo.Bar_baz >= 1.0 , < 2"))
        XCTAssertEqual(ranged.name, "Foo.Bar_baz")
        XCTAssertEqual(ranged.specifier.description, ">=1.0,<2")
        let full = try XCTUnwrap(Requirement("requests[socks, security] ~= 2.31 ; python_version >= \"3.8\""))
        XCTAssertEqual(full.extras, ["socks", "security"])
        XCTAssertEqual(full.marker, "python_version >= \"3.8\"")
        XCTAssertEqual(Requirement("six")?.specifier.specifiers.count, 0)
        for bad in ["", "==1.0", "-foo", "foo[bar", "foo >= ", "foo bar"] { XCTAssertNil(Requirement(bad), bad) }
    }
}

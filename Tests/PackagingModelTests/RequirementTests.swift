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

final class BuildSystemTests: XCTestCase {
    func testReadsBuildSystemTables() throws {
        let text = """
            [project]
            name = "demo"
            requires = ["not-this"]

            [build-system]
            # the backend
            requires = [
                "setuptools>=70.1",  # comment, with a ] inside
                'cython>=3.0,<4',
                "wheel",
            ]
            build-backend = "setuptools.build_meta"
            backend-path = ["."]

            [tool.other]
            requires = ["nor-this"]
            """
        let system = try XCTUnwrap(try BuildSystem(pyproject: text))
        XCTAssertEqual(system.requires, ["setuptools>=70.1", "cython>=3.0,<4", "wheel"])
        XCTAssertEqual(system.backend, "setuptools.build_meta")
        XCTAssertEqual(system.backendPath, ["."])
        XCTAssertNil(try BuildSystem(pyproject: "[project]\nname = \"x\"\n"))
        let bare = try XCTUnwrap(try BuildSystem(pyproject: "[build-system]\nrequires = [\"flit_core >=3.2,<4\"]\n"))
        XCTAssertEqual(bare.backend, BuildSystem.legacyDefault.backend)
        XCTAssertThrowsError(try BuildSystem(pyproject: "[build-system]\nrequires = [\"oops]\n"))
    }
}

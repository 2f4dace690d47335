import PackagingModel
import XCTest

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
    /// pyproject.toml as real projects ship it: CRLF line endings (numexpr 2.10.2) and a BOM.
    func testCRLFAndAByteOrderMarkReadAsPipReadsThem() throws {
        let text =
            "\u{FEFF}[build-system]\r\nrequires = [\r\n    \"setuptools\",\r\n    \"numpy>=2.0.0rc1\",\r\n]\r\nbuild-backend = \"setuptools.build_meta\"\r\n"
        let system = try XCTUnwrap(try BuildSystem(pyproject: text))
        XCTAssertEqual(system.requires, ["setuptools", "numpy>=2.0.0rc1"])
        XCTAssertEqual(system.backend, "setuptools.build_meta")
        // Not TOML: the line and column, never a default.
        XCTAssertThrowsError(try BuildSystem(pyproject: "[build-system]\r\nrequires = [\"a\",\r\nbuild-backend = 3\r\n")) { error in
            XCTAssertTrue("\(error)".contains("line "), "\(error)")
            XCTAssertTrue("\(error)".contains("column "), "\(error)")
        }
        XCTAssertThrowsError(try BuildSystem(pyproject: "[build-system]\nrequires = \"setuptools\"\n"))
        XCTAssertThrowsError(try BuildSystem(pyproject: "[build-system]\nbuild-backend = [\"x\"]\n"))
    }
}

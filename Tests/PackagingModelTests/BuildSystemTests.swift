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
}

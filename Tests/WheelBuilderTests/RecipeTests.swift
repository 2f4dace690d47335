import Foundation
import PackagingModel
import WheelBuilder
import XCTest

final class RecipeTests: XCTestCase {
    func testOverridesApplyToMatchingVersions() throws {
        let json = """
        {"//": "why", "packages": ["libfoo-dev"], "environment": {"A": "1"}, "skip_targets": ["cp39-*"],
         "overrides": [{"versions": "<2", "packages": ["libfoo1-dev"], "environment": {"B": "2"}, "allow_pure": true}]}
        """
        let recipe = try JSONDecoder().decode(Recipe.self, from: Data(json.utf8))
        let old = recipe.resolved(for: try XCTUnwrap(PackageVersion("1.5")))
        XCTAssertEqual(old.packages, ["libfoo1-dev"])
        XCTAssertEqual(old.environment, ["A": "1", "B": "2"])
        XCTAssertEqual(old.allowPure, true)
        let new = recipe.resolved(for: try XCTUnwrap(PackageVersion("2.0")))
        XCTAssertEqual(new.packages, ["libfoo-dev"])
        XCTAssertEqual(new.environment, ["A": "1"])
        XCTAssertNil(new.allowPure)
        XCTAssertTrue(recipe.skips("cp39-bullseye-x86_64"))
        XCTAssertFalse(recipe.skips("cp311-bookworm-x86_64"))
    }

    func testShippedRecipesParse() throws {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { dir.deleteLastPathComponent() }
        let recipes = dir.appendingPathComponent("recipes")
        let files = try FileManager.default.contentsOfDirectory(atPath: recipes.path).filter { $0.hasSuffix(".json") }
        XCTAssertFalse(files.isEmpty)
        for file in files { XCTAssertNoThrow(try JSONDecoder().decode(Recipe.self, from: Data(contentsOf: recipes.appendingPathComponent(file))), file) }
    }
}

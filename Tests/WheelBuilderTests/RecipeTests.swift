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

    func testOverridesApplyToMatchingTargets() throws {
        let json = """
            {"packages": ["libyaml-dev"],
             "overrides": [{"targets": "*-glibc*", "packages": ["cmake"], "compiler": "gcc",
                            "source_libraries": [{"source": "libyaml", "build": "cmake -S . -B b"}], "environment": {"CFLAGS": "-I/p"}},
                           {"versions": ">=7", "targets": "cp39-*", "allow_pure": true}]}
            """
        let recipe = try JSONDecoder().decode(Recipe.self, from: Data(json.utf8))
        let version = PackageVersion("6.0.2")
        let baseline = recipe.resolved(for: version, target: "cp311-bookworm-glibc2.17-x86_64")
        XCTAssertEqual(baseline.packages, ["cmake"])
        XCTAssertEqual(baseline.compiler, "gcc")
        XCTAssertEqual(baseline.sourceLibraries, [Recipe.SourceLibrary(source: "libyaml", build: "cmake -S . -B b")])
        XCTAssertEqual(baseline.environment, ["CFLAGS": "-I/p"])
        let plain = recipe.resolved(for: version, target: "cp311-bookworm-x86_64")
        XCTAssertEqual(plain.packages, ["libyaml-dev"])
        XCTAssertNil(plain.sourceLibraries)
        XCTAssertNil(plain.compiler)
        // Both conditions must hold; without a target, target overrides do not apply.
        XCTAssertNil(recipe.resolved(for: version, target: "cp39-bullseye-x86_64").allowPure)
        XCTAssertEqual(recipe.resolved(for: PackageVersion("7.0"), target: "cp39-bullseye-x86_64").allowPure, true)
        XCTAssertEqual(recipe.resolved(for: version).packages, ["libyaml-dev"])
        // An override that says neither when nor where is an error, not an override that always applies.
        XCTAssertThrowsError(try JSONDecoder().decode(Recipe.self, from: Data(#"{"overrides": [{"packages": ["x"]}]}"#.utf8)))
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

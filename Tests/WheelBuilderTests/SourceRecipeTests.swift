import Foundation
import XCTest

@testable import WheelBuilder

/// `recipe add --from-source`: the build system read from a Sources paragraph, the commands
/// chosen for it, and the recipe fields merged.
final class SourceRecipeTests: XCTestCase {
    func testBuildSystemComesFromBuildDepends() throws {
        let libffi = """
            Package: libffi
            Binary: libffi8, libffi-dev, libffi8-udeb
            Version: 3.4.4-1
            Build-Depends: debhelper-compat (= 13), dejagnu <!nocheck>, lib32gcc-dev [amd64 ppc64 x32] <!nobiarch>,
             texinfo
            """
        let jpeg =
            "Package: libjpeg-turbo\nBinary: libjpeg62-turbo, libjpeg62-turbo-dev\nBuild-Depends: cmake (>= 2.8.12), debhelper-compat (= 13), nasm [amd64 i386 x32]\n"
        let glib = "Package: glib2.0\nBuild-Depends: debhelper-compat (= 13), dh-sequence-gir, meson (>= 0.60.0), ninja-build, cmake\n"
        XCTAssertEqual(SourceRecipe(paragraph: libffi), SourceRecipe(source: "libffi", buildSystem: .autotools))
        XCTAssertEqual(SourceRecipe(paragraph: jpeg), SourceRecipe(source: "libjpeg-turbo", buildSystem: .cmake))
        XCTAssertEqual(SourceRecipe(paragraph: glib), SourceRecipe(source: "glib2.0", buildSystem: .meson), "meson wins over a cmake also listed")
        XCTAssertNil(SourceRecipe(paragraph: "Binary: x\n"), "no Package field")
        XCTAssertNil(SourceRecipe(paragraph: "Package: ../../etc\n"), "not a source package name")
        XCTAssertNil(SourceRecipe(paragraph: "Package: a; rm -rf /\n"), "not a source package name")
    }

    func testCommandsPerBuildSystem() {
        let ffi = SourceRecipe(source: "libffi", buildSystem: .autotools).library
        XCTAssertTrue(ffi.configure?.hasPrefix("[ -x ./configure ] || autoreconf -fi; ./configure --prefix=\"$PREFIX\"") == true, ffi.configure ?? "")
        XCTAssertTrue(ffi.configure?.hasSuffix("--disable-exec-static-tramp --disable-docs") == true, "libffi's known option: \(ffi.configure ?? "")")
        XCTAssertEqual(ffi.build, "make -j\"$(nproc)\" && make install")
        let cmake = SourceRecipe(source: "zlib", buildSystem: .cmake)
        XCTAssertTrue(cmake.library.configure?.contains("-DCMAKE_INSTALL_PREFIX=\"$PREFIX\" -DCMAKE_INSTALL_LIBDIR=lib") == true)
        XCTAssertEqual(cmake.library.build, "cmake --build /tmp/zlib-build -j \"$(nproc)\" && cmake --install /tmp/zlib-build")
        XCTAssertEqual(cmake.toolPackages, ["cmake", "make", "pkg-config"])
        let meson = SourceRecipe(source: "glib2.0", buildSystem: .meson)
        XCTAssertEqual(meson.library.build, "meson compile -C /tmp/glib2.0-build && meson install -C /tmp/glib2.0-build")
        XCTAssertEqual(meson.toolPackages, ["meson", "ninja-build", "pkg-config"])
    }

    func testMergedKeepsTheDebianPackageAndReplacesAnEarlierEntry() throws {
        let ffi = SourceRecipe(source: "libffi", buildSystem: .autotools)
        var fields = ffi.merged(into: ["packages": ["pkg-config"], "test_command": "true"], debianPackage: "libffi-dev")
        fields = SourceRecipe(source: "libffi", buildSystem: .cmake).merged(into: fields, debianPackage: "libffi-dev")
        fields = SourceRecipe(source: "libyaml", buildSystem: .autotools).merged(into: fields, debianPackage: "libyaml-dev")
        XCTAssertEqual(fields["packages"] as? [String], ["pkg-config", "libffi-dev", "libyaml-dev"])
        XCTAssertEqual(fields["test_command"] as? String, "true")
        let overrides = try XCTUnwrap(fields["overrides"] as? [[String: Any]])
        XCTAssertEqual(overrides.count, 1)
        XCTAssertEqual(overrides[0]["targets"] as? String, "*-glibc*")
        let libraries = try XCTUnwrap(overrides[0]["source_libraries"] as? [[String: Any]])
        XCTAssertEqual(libraries.compactMap { $0["source"] as? String }, ["libffi", "libyaml"])
        XCTAssertTrue((libraries[0]["configure"] as? String ?? "").hasPrefix("cmake "), "the later choice replaced the earlier")
        XCTAssertEqual(overrides[0]["packages"] as? [String], ["autoconf", "automake", "libtool", "make", "pkg-config", "cmake"])
        // What is written is a recipe the checker accepts.
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        XCTAssertEqual(RecipeCheck.problems(in: String(decoding: data, as: UTF8.self), file: "cffi.json"), [])
        let recipe = try JSONDecoder().decode(Recipe.self, from: data).resolved(for: nil, target: "cp311-bookworm-glibc2.17-x86_64")
        XCTAssertEqual(recipe.sourceLibraries?.map(\.source), ["libffi", "libyaml"])
        XCTAssertEqual(recipe.environment?["LDFLAGS"], "-L/opt/wheelfarm/prefix/lib")
    }
}

import Foundation
import XCTest

@testable import WheelBuilder

/// What failed builds' logs say was missing, in the words of the tools that say it, and the
/// Debian packages the contents index names for it.
final class MissingDependenciesTests: XCTestCase {
    func testTheToolsWaysOfSayingSomethingIsMissing() {
        let log = """
            src/c/_cffi_backend.c:15:10: fatal error: ffi.h: No such file or directory
            src/x.c:3:10: fatal error: 'libxml/parser.h' file not found
            /usr/bin/ld: cannot find -lssl: No such file or directory
            ld.lld: error: unable to find library -lz
            Package 'libffi', required by 'virtual:world', not found
            No package 'gobject-introspection-1.0' found
            Run-time dependency cairo found: NO (tried pkgconfig and cmake)
            meson.build:12:10: ERROR: Dependency "cairo" not found, tried pkgconfig and cmake
            sh: 1: cmake: not found
            /bin/sh: nasm: command not found
            error: command 'swig' failed: No such file or directory
            Error: pg_config executable not found.
            CMake Error at CMakeLists.txt:4 (find_package):
              Could NOT find ZLIB (missing: ZLIB_LIBRARY ZLIB_INCLUDE_DIR)
            error: Could not find a package configuration file provided by "Eigen3" with any of the following names:
            warning: file: not found
            fatal error: ../../../etc/passwd.h: No such file or directory
            """
        XCTAssertEqual(
            MissingDependencies.scan(log),
            [
                MissingDependency(.header, "ffi.h"), MissingDependency(.header, "libxml/parser.h"), MissingDependency(.library, "ssl"),
                MissingDependency(.library, "z"), MissingDependency(.pkgconfig, "libffi"), MissingDependency(.pkgconfig, "gobject-introspection-1.0"),
                MissingDependency(.pkgconfig, "cairo"), MissingDependency(.program, "cmake")
            ], "in log order, each once, at most eight")
        let rest = MissingDependencies.scan(log.split(separator: "\n").dropFirst(9).joined(separator: "\n"))
        XCTAssertEqual(
            rest,
            [
                MissingDependency(.program, "nasm"), MissingDependency(.program, "swig"), MissingDependency(.program, "pg_config"),
                MissingDependency(.cmake, "ZLIB"), MissingDependency(.cmake, "Eigen3")
            ], "no 'file' program, no path out of the include folders")
        XCTAssertEqual(MissingDependencies.scan("all good\n"), [])
        // meson without pkg-config in the root says so before it misses the module.
        XCTAssertEqual(
            MissingDependencies.scan("Found pkg-config: NO\nRun-time dependency cairo found: NO\nProgram cython found: NO\n"),
            [MissingDependency(.program, "pkg-config"), MissingDependency(.pkgconfig, "cairo"), MissingDependency(.program, "cython")])
    }

    /// A program a build only probed for (OpenBLAS asks for gfortran, then builds without it)
    /// is not the cause of a compile error after it; one missing at the end still is.
    func testAProbedProgramIsNotBlamedForALaterCompileError() {
        let probed = """
            /bin/sh: 1: gfortran: not found
            cc -c -O2 kernel.c
            linktest.c:2:1: error: call to undeclared function 'lsame_'
            20 errors generated.
            make: *** [Makefile:125: shared] Error 2
            """
        XCTAssertEqual(MissingDependencies.scan(probed), [])
        XCTAssertEqual(
            MissingDependencies.scan("/bin/sh: 1: gfortran: not found\nsrc/a.c:1:10: fatal error: 'ffi.h' file not found\n1 error generated.\n"),
            [MissingDependency(.header, "ffi.h")])
        XCTAssertEqual(
            MissingDependencies.scan("cc -c a.c\na.c:1: error: old\n/bin/sh: 1: cython: not found\nmake: *** Error 127\n"),
            [MissingDependency(.program, "cython")])
    }

    func testPackagesAreRankedByHowDirectlyTheyProvideTheFile() {
        let lines = [
            "usr/include/botan-2/botan/ffi.h                         libdevel/libbotan-2-dev",
            "usr/include/x86_64-linux-gnu/ffi.h                      libdevel/libffi-dev",
            "usr/share/doc/libffi8/ffi.h                             doc/libffi-doc",
            "usr/bin/pg_config                                       libdevel/libpq-dev",
            "usr/lib/postgresql/15/bin/pg_config                     database/postgresql-server-dev-15",
            "usr/lib/x86_64-linux-gnu/pkgconfig/cairo.pc             libdevel/libcairo2-dev",
            "usr/lib/x86_64-linux-gnu/libz.so                        libdevel/zlib1g-dev",
            "usr/lib/x86_64-linux-gnu/cmake/ZLIB/ZLIBConfig.cmake    libdevel/zlib1g-dev,libdevel/other-dev"
        ]
        XCTAssertEqual(MissingDependencies.packages(for: MissingDependency(.header, "ffi.h"), in: lines), ["libffi-dev", "libbotan-2-dev"])
        XCTAssertEqual(MissingDependencies.packages(for: MissingDependency(.program, "pg_config"), in: lines), ["libpq-dev"])
        XCTAssertEqual(MissingDependencies.packages(for: MissingDependency(.pkgconfig, "cairo"), in: lines), ["libcairo2-dev"])
        XCTAssertEqual(MissingDependencies.packages(for: MissingDependency(.library, "z"), in: lines), ["zlib1g-dev"])
        XCTAssertEqual(MissingDependencies.packages(for: MissingDependency(.cmake, "ZLIB"), in: lines), ["other-dev", "zlib1g-dev"])
        XCTAssertEqual(MissingDependencies.packages(for: MissingDependency(.header, "nothere.h"), in: lines), [])
    }

    func testTheSuggestionNamesThePackageAndTheCommand() {
        let found: [(MissingDependency, [String])] = [
            (MissingDependency(.header, "ffi.h"), ["libffi-dev", "libbotan-2-dev"]), (MissingDependency(.pkgconfig, "libffi"), ["libffi-dev"]),
            (MissingDependency(.program, "mystery"), [])
        ]
        XCTAssertEqual(
            MissingDependencies.suggestion(project: "cffi", found: found, baseline: nil),
            "ffi.h is in libffi-dev (also libbotan-2-dev); pkg-config module libffi is in libffi-dev; wheelfarm recipe add cffi --package libffi-dev")
        let baseline = MissingDependencies.suggestion(project: "cffi", found: found, baseline: "manylinux_2_17")
        XCTAssertTrue(baseline?.hasSuffix("as source_libraries: wheelfarm recipe add cffi --package libffi-dev --from-source)") == true, baseline ?? "")
        XCTAssertNil(MissingDependencies.suggestion(project: "cffi", found: [(MissingDependency(.program, "mystery"), [])], baseline: nil))
    }
    func testAToolchainDownloadOrTheNetworkIsNamedForWhatItIs() {
        let rust = MissingDependencies.offlineNeed("Collecting puccinialin\nerror: Temporary failure in name resolution\n", project: "orjson")
        XCTAssertTrue(rust?.contains("needs a Rust toolchain") == true, rust ?? "")
        XCTAssertTrue(rust?.contains("wheelfarm recipe add orjson --package rustc --package cargo") == true, rust ?? "")
        let setuptoolsRust = MissingDependencies.offlineNeed("error: can't find Rust compiler\n", project: "bcrypt")
        XCTAssertTrue(setuptoolsRust?.contains("Rust toolchain") == true)
        let network = MissingDependencies.offlineNeed("urllib3 ... Failed to establish a new connection: [Errno 101] Network is unreachable\n", project: "x")
        XCTAssertTrue(network?.hasPrefix("the build reached for the network") == true, network ?? "")
        XCTAssertNil(MissingDependencies.offlineNeed("fatal error: ffi.h: No such file or directory\n", project: "cffi"))
    }
}

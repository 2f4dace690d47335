import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelArchive

/// Two wheels compared member by member, made here with Python's zipfile.
final class WheelComparisonTests: XCTestCase {
    func zip(_ path: String, _ members: [String: String], order: [String]? = nil, time: Int = 1980) throws {
        let script = """
            import json, sys, zipfile
            members, order, year = json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
            with zipfile.ZipFile(sys.argv[1], 'w') as z:
                for name in order:
                    z.writestr(zipfile.ZipInfo(name, (year, 1, 1, 0, 0, 0)), members[name])
            """
        let names = order ?? members.keys.sorted()
        let json = { (value: Any) in String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self) }
        _ = try ProcessRunner.check("python3", ["-c", script, path, try json(members), try json(names), String(time)])
    }

    func testIdenticalTextAndMembersAndArchiveOnlyDifferences() throws {
        let work = try TemporaryDirectory(prefix: "wf-compare")
        let base = ["pkg/__init__.py": "A = 1\nB = 2\nC = 3\n", "pkg/data.txt": "x\n"]
        try zip("\(work.path)/a.whl", base)
        try zip("\(work.path)/b.whl", base)
        XCTAssertTrue(try WheelComparison.compare("\(work.path)/a.whl", "\(work.path)/b.whl").identical)

        var changed = base
        changed["pkg/__init__.py"] = "A = 1\nB = 20\nC = 3\n"
        changed["pkg/new.txt"] = "n\n"
        changed["pkg/data.txt"] = nil
        try zip("\(work.path)/c.whl", changed)
        let result = try WheelComparison.compare("\(work.path)/a.whl", "\(work.path)/c.whl")
        XCTAssertFalse(result.identical)
        XCTAssertEqual(result.differences.count, 3, "\(result.differences)")
        XCTAssertTrue(result.differences.contains("pkg/data.txt: only in the original"))
        XCTAssertTrue(result.differences.contains("pkg/new.txt: only in the rebuild"))
        XCTAssertTrue(
            result.differences.contains { $0.hasPrefix("pkg/__init__.py: text differs from line 2:") && $0.contains("-B = 2") && $0.contains("+B = 20") })

        try zip("\(work.path)/d.whl", base, time: 2020)
        XCTAssertEqual(
            try WheelComparison.compare("\(work.path)/a.whl", "\(work.path)/d.whl").differences,
            ["every member has the same content: the archives differ in times, compression or headers"])
        try zip("\(work.path)/e.whl", base, order: base.keys.sorted().reversed())
        XCTAssertEqual(try WheelComparison.compare("\(work.path)/a.whl", "\(work.path)/e.whl").differences, ["the members are in another order"])
    }

    func testELFSectionsAreNamed() throws {
        let work = try TemporaryDirectory(prefix: "wf-compare-elf")
        // The same source name (it is in .strtab) and no build id (a hash of the content): only the string differs.
        for (name, text) in [("a", "one"), ("b", "two")] {
            try FileManager.default.createDirectory(atPath: "\(work.path)/\(name)", withIntermediateDirectories: true)
            try "const char stamp[] = \"\(text)\"; int f(void) { return 1; }\n".write(toFile: "\(work.path)/\(name)/s.c", atomically: true, encoding: .utf8)
            _ = try ProcessRunner.check(
                "cc", ["-shared", "-fPIC", "-O1", "-Wl,--build-id=none", "-o", "\(work.path)/\(name).so", "s.c"], currentDirectory: "\(work.path)/\(name)")
        }
        let a = try Files.readBytes("\(work.path)/a.so")
        let b = try Files.readBytes("\(work.path)/b.so")
        XCTAssertNotNil(WheelComparison.sections(a)?[".text"])
        XCTAssertEqual(WheelComparison.describe(path: "x.so", a, b), "x.so: ELF sections differ: .rodata")
        XCTAssertNil(WheelComparison.sections(Array("not an ELF file".utf8)))
    }
}

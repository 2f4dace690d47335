import PackagingModel
import TestSupport
import WheelArchive
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

final class WheelArchiveTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }

    func goodWheel() throws -> String {
        try TestSupport.makeWheel(
            in: dir.path, name: "demo", version: "1.0", tag: "py3-none-any",
            files: ["demo/__init__.py": Array("x = 1\n".utf8), "demo/ünïcode.txt": Array("ok".utf8)])
    }

    func testReadsValidWheelWithUnicodeNames() throws {
        let wheel = try Wheel(path: goodWheel(), selection: .everything)
        XCTAssertEqual(wheel.distInfo, "demo-1.0.dist-info")
        XCTAssertEqual(wheel.content(of: "demo/__init__.py"), Array("x = 1\n".utf8))
        XCTAssertNotNil(wheel.members.first { $0.path == "demo/ünïcode.txt" })
        XCTAssertEqual(wheel.wheelMetadata.value("Tag"), "py3-none-any")
    }

    func testWrittenZipPassesPythonZipfile() throws {
        let path = try goodWheel()
        let result = try ProcessRunner.run("/usr/bin/python3", ["-m", "zipfile", "-t", path])
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testRejectsRecordHashMismatch() throws {
        let path = "\(dir.path)/demo-1.0-py3-none-any.whl"
        try TestSupport.pythonZip(
            path,
            script: """
                z.writestr('demo/__init__.py', 'x = 2\\n')
                z.writestr('demo-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nTag: py3-none-any\\n')
                z.writestr('demo-1.0.dist-info/RECORD', 'demo/__init__.py,sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,6\\ndemo-1.0.dist-info/WHEEL,,\\ndemo-1.0.dist-info/RECORD,,\\n')
                """)
        XCTAssertThrowsError(try Wheel(path: path)) { error in
            guard case .recordMismatch(_, let entry, _)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(entry, "demo/__init__.py")
        }
    }

    func testRejectsUnlistedFile() throws {
        let path = "\(dir.path)/demo-1.0-py3-none-any.whl"
        try TestSupport.pythonZip(
            path,
            script: """
                import hashlib, base64
                wheel = b'Wheel-Version: 1.0\\nTag: py3-none-any\\n'
                digest = base64.urlsafe_b64encode(hashlib.sha256(wheel).digest()).rstrip(b'=').decode()
                z.writestr('demo/sneaky.py', 'import os\\n')
                z.writestr('demo-1.0.dist-info/WHEEL', wheel)
                z.writestr('demo-1.0.dist-info/RECORD', 'demo-1.0.dist-info/WHEEL,sha256=%s,%d\\ndemo-1.0.dist-info/RECORD,,\\n' % (digest, len(wheel)))
                """)
        XCTAssertThrowsError(try Wheel(path: path)) { XCTAssertTrue("\($0)".contains("not listed in RECORD"), "\($0)") }
    }

    func testRejectsAbsoluteAndParentPaths() throws {
        for bad in ["/etc/passwd", "../../escape.py", "demo/../../x.py"] {
            let path = "\(dir.path)/demo-1.0-py3-none-any.whl"
            try TestSupport.pythonZip(path, script: "z.writestr(\(pythonString(bad)), 'boom')")
            XCTAssertThrowsError(try ZipReader.read(path), bad) { error in
                guard case .unsafePath? = error as? ArchiveError else { return XCTFail("\(bad): \(error)") }
            }
        }
    }

    func testRejectsSymlinkEntries() throws {
        let path = "\(dir.path)/link.whl"
        try TestSupport.pythonZip(
            path,
            script: """
                info = zipfile.ZipInfo('demo/link')
                info.external_attr = (0o120777 << 16)
                z.writestr(info, '/etc/passwd')
                """)
        XCTAssertThrowsError(try ZipReader.read(path)) { error in
            guard case .unsupportedEntryType(_, _, let kind)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(kind, "symbolic link")
        }
    }

    func testRejectsDuplicateEntries() throws {
        let path = "\(dir.path)/dup.whl"
        try TestSupport.pythonZip(path, script: "import warnings\nwarnings.simplefilter('ignore')\nz.writestr('a.py', '1')\nz.writestr('a.py', '2')")
        XCTAssertThrowsError(try ZipReader.read(path)) { XCTAssertEqual($0 as? ArchiveError, .duplicateEntry(archive: path, entry: "a.py")) }
    }

    func testRejectsNonZipAndTruncatedZip() throws {
        let notZip = "\(dir.path)/x-1.0-py3-none-any.whl"
        try Files.writeAtomically(Array("this is plain text, not a zip archive".utf8), to: notZip)
        XCTAssertThrowsError(try Wheel(path: notZip)) { guard case .unreadable? = $0 as? ArchiveError else { return XCTFail("\($0)") } }

        let good = try Files.readBytes(goodWheel())
        let truncated = "\(dir.path)/t-1.0-py3-none-any.whl"
        try Files.writeAtomically(Array(good[..<(good.count * 2 / 3)]), to: truncated)
        XCTAssertThrowsError(try Wheel(path: truncated)) { guard case .unreadable? = $0 as? ArchiveError else { return XCTFail("\($0)") } }
    }

    func testRejectsZipBomb() throws {
        let path = "\(dir.path)/bomb.whl"
        // 64 MiB of zeros compress to about 64 KiB: a ratio near 1000.
        try TestSupport.pythonZip(path, script: "z.writestr('zeros.bin', bytes(64 << 20))")
        let limits = ExpansionLimits(maximumTotalBytes: 1 << 40, maximumRatio: 200, ratioFloorBytes: 8 << 20, maximumEntries: 100)
        XCTAssertThrowsError(try ZipReader.read(path, limits: limits)) { error in
            guard case .tooLarge? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("zip bomb"))
        }
        // The same archive within limits that allow it is read whole.
        let generous = ExpansionLimits(maximumTotalBytes: 1 << 40, maximumRatio: 2000, ratioFloorBytes: 8 << 20, maximumEntries: 100)
        let members = try ZipReader.read(path, limits: generous) { _, _, _ in .none }
        XCTAssertEqual(members.first?.size, 64 << 20)
    }

    func testParallelWriterKeepsOrderAndContent() throws {
        // Enough bytes to be split among writers; pseudo-random so that deflate has work.
        var state: UInt64 = 42
        func bytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: state >> 59)
            }
        }
        let entries = (0..<12).map {
            ZipEntry(path: "pkg/m\($0).bin", content: bytes(700_000 + $0 * 1000), permissions: $0 == 3 ? 0o755 : 0o644, modificationTime: 1_700_000_000)
        }
        let parallel = "\(dir.path)/parallel.zip", single = "\(dir.path)/single.zip"
        try ZipWriter.write(entries, to: parallel, compressionLevel: 3, threads: 3)
        try ZipWriter.write(entries, to: single, compressionLevel: 3, threads: 1)
        for path in [parallel, single] {
            let members = try ZipReader.read(path)
            XCTAssertEqual(members.map(\.path), entries.map(\.path))
            XCTAssertEqual(members.map(\.content), entries.map(\.content))
            XCTAssertEqual(members[3].permissions, 0o755)
            let check = try ProcessRunner.run("/usr/bin/python3", ["-m", "zipfile", "-t", path])
            XCTAssertEqual(check.status, 0, check.stderr)
        }
        // Deterministic: the same input gives the same bytes.
        let again = "\(dir.path)/again.zip"
        try ZipWriter.write(entries, to: again, compressionLevel: 3, threads: 3)
        XCTAssertEqual(try Files.readBytes(again), try Files.readBytes(parallel))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".part") || $0.contains(".joined") }, [])
    }

    func testAllowedTotalCombinesFloorRatioAndCap() {
        let limits = ExpansionLimits(maximumTotalBytes: 1000, maximumRatio: 10, ratioFloorBytes: 100, maximumEntries: 1)
        XCTAssertEqual(limits.allowedTotal(archiveSize: 5), 100)
        XCTAssertEqual(limits.allowedTotal(archiveSize: 50), 500)
        XCTAssertEqual(limits.allowedTotal(archiveSize: 5000), 1000)
    }

    func testSafePathPredicate() {
        XCTAssertTrue(isSafeRelativePath("a/b/c.py"))
        XCTAssertTrue(isSafeRelativePath("a/..b/c"))
        XCTAssertFalse(isSafeRelativePath("/a"))
        XCTAssertFalse(isSafeRelativePath("a/../../b"))
        XCTAssertFalse(isSafeRelativePath(""))
        XCTAssertFalse(isSafeRelativePath("a\\..\\b"))
    }

    func pythonString(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "\\'") + "'" }
}

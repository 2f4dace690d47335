import TestSupport
import WheelArchive
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Hostile and ordinary sdists, made with Python's tarfile and zipfile at test time.
final class SourceArchiveTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }

    /// Writes a .tar.gz whose members the Python snippet adds to `t` (a tarfile opened for writing).
    func tar(_ name: String, _ script: String) throws -> String {
        let path = "\(dir.path)/\(name)"
        let program = """
            import tarfile, io, sys
            t = tarfile.open(sys.argv[1], 'w:gz')
            def add(name, data=b'x', **kw):
                info = tarfile.TarInfo(name); info.size = len(data)
                for k, v in kw.items(): setattr(info, k, v)
                t.addfile(info, io.BytesIO(data))
            def link(name, target, kind=tarfile.SYMTYPE):
                info = tarfile.TarInfo(name); info.type = kind; info.linkname = target; t.addfile(info)
            \(script)
            t.close()
            """
        try ProcessRunner.check("/usr/bin/python3", ["-c", program, path])
        return path
    }

    func assertRejected(_ archive: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let destination = "\(dir.path)/out-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertThrowsError(try SourceArchive.extract(archive, into: destination), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(error)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination), "nothing may be left behind", file: file, line: line)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.filter { $0.contains("extracting") } ?? []
        XCTAssertEqual(leftovers, [], file: file, line: line)
    }

    func testExtractsAnOrdinarySdist() throws {
        let archive = try tar(
            "pkg-1.0.tar.gz",
            """
            add('pkg-1.0/pyproject.toml', b'[build-system]\\nrequires = ["setuptools"]\\n')
            add('pkg-1.0/src/pkg/__init__.py', b'x = 1\\n')
            add('pkg-1.0/configure', b'#!/bin/sh\\n', mode=0o755)
            link('pkg-1.0/src/pkg/alias.py', '__init__.py')
            link('pkg-1.0/docs/up', '../src')
            link('pkg-1.0/copy.py', 'pkg-1.0/src/pkg/__init__.py', tarfile.LNKTYPE)
            """)
        let out = "\(dir.path)/tree"
        let paths = try SourceArchive.extract(archive, into: out)
        XCTAssertTrue(paths.contains("pkg-1.0/pyproject.toml"))
        XCTAssertEqual(try String(contentsOfFile: "\(out)/pkg-1.0/src/pkg/alias.py", encoding: .utf8), "x = 1\n")
        XCTAssertEqual(try String(contentsOfFile: "\(out)/pkg-1.0/copy.py", encoding: .utf8), "x = 1\n")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "\(out)/pkg-1.0/configure"))
    }

    func testRejectsHostileArchives() throws {
        assertRejected(try tar("abs.tar.gz", "add('/etc/evil', b'x')"), "unsafe path")
        assertRejected(try tar("dotdot.tar.gz", "add('pkg/../../evil', b'x')"), "unsafe path")
        assertRejected(try tar("symlink-abs.tar.gz", "link('pkg/l', '/etc/passwd')"), "points outside")
        assertRejected(try tar("symlink-up.tar.gz", "link('pkg/l', '../../etc')"), "points outside")
        assertRejected(try tar("through-link.tar.gz", "link('pkg/l', 'sub')\nadd('pkg/sub/x', b'1')\nadd('pkg/l/x', b'2')"), "unsafe path")
        assertRejected(try tar("chain.tar.gz", "link('pkg/a', '..')\nlink('pkg/b', 'a/..')"), "through other links")
        assertRejected(try tar("hardlink.tar.gz", "link('pkg/h', '/etc/shadow', tarfile.LNKTYPE)"), "hard link")
        assertRejected(
            try tar("device.tar.gz", "info = tarfile.TarInfo('pkg/dev'); info.type = tarfile.CHRTYPE; info.devmajor = 1; info.devminor = 3; t.addfile(info)"),
            "character device")
        assertRejected(try tar("fifo.tar.gz", "info = tarfile.TarInfo('pkg/fifo'); info.type = tarfile.FIFOTYPE; t.addfile(info)"), "fifo")
        let notArchive = "\(dir.path)/plain.tar.gz"
        try Files.writeAtomically(Array("not an archive".utf8), to: notArchive)
        assertRejected(notArchive, "cannot read")
    }

    func testRejectsArchiveBomb() throws {
        let bomb = try tar("bomb.tar.gz", "add('pkg/zeros', bytes(64 << 20))")
        let limits = ExpansionLimits(maximumTotalBytes: 1 << 40, maximumRatio: 100, ratioFloorBytes: 8 << 20, maximumEntries: 100)
        let destination = "\(dir.path)/bomb-out"
        XCTAssertThrowsError(try SourceArchive.extract(bomb, into: destination, limits: limits)) { XCTAssertTrue("\($0)".contains("bomb"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination))
    }

    func testZipSdistsToo() throws {
        let path = "\(dir.path)/pkg-1.0.zip"
        try TestSupport.pythonZip(path, script: "z.writestr('pkg-1.0/setup.py', 'from setuptools import setup\\nsetup()\\n')")
        try SourceArchive.extract(path, into: "\(dir.path)/zipped")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir.path)/zipped/pkg-1.0/setup.py"))
        let evil = "\(dir.path)/evil.zip"
        try TestSupport.pythonZip(evil, script: "z.writestr('../evil.py', 'x')")
        assertRejected(evil, "unsafe path")
    }
}

import ELFInspection
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

final class ELFFileTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws {
        _ = try TestSupport.requireTool("gcc", hint: "apt-get install gcc")
        dir = try TemporaryDirectory()
    }

    func write(_ name: String, _ code: String) throws -> String {
        let path = "\(dir.path)/\(name)"
        try Files.writeAtomically(Array(code.utf8), to: path)
        return path
    }

    func testSharedLibraryDynamicInformation() throws {
        let dep = try write("dep.c", "int dep(void) { return 1; }\n")
        try TestSupport.compile([dep], output: "\(dir.path)/libdep.so.1", arguments: ["-shared", "-fPIC", "-Wl,-soname,libdep.so.1"])
        let src = try write(
            "m.c",
            """
            #include <pthread.h>
            #include <math.h>
            int dep(void);
            static void *run(void *a) { return a; }
            int f(double x) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_join(t, 0); return dep() + (int)exp(x); }
            int PyInit_m(void) { return 0; }
            """)
        let out = "\(dir.path)/m.so"
        try TestSupport.compile(
            [src], output: out,
            arguments: ["-shared", "-fPIC", "-Wl,-soname,m.so", "-Wl,-rpath,$ORIGIN/../lib", "-L\(dir.path)", "-l:libdep.so.1", "-lm", "-lpthread"])
        let elf = try ELFFile(bytes: Files.readBytes(out))
        XCTAssertEqual(elf.bits, 64)
        XCTAssertEqual(elf.architecture, "x86_64")
        XCTAssertEqual(elf.soname, "m.so")
        XCTAssertTrue(elf.needed.contains("libdep.so.1"))
        XCTAssertTrue(elf.needed.contains("libc.so.6"))
        XCTAssertEqual(elf.runpath ?? elf.rpath, "$ORIGIN/../lib")
        let libc = try XCTUnwrap(elf.versionNeeds.first { $0.file == "libc.so.6" })
        XCTAssertTrue(libc.versions.contains("GLIBC_2.34"), "Debian 12's pthread_create is GLIBC_2.34: \(libc.versions)")
        let pthreadCreate = try XCTUnwrap(elf.dynamicSymbols.first { $0.name == "pthread_create" })
        XCTAssertTrue(pthreadCreate.isUndefined)
        XCTAssertEqual(pthreadCreate.version, "GLIBC_2.34")
        XCTAssertTrue(elf.isPythonExtension(fileName: "m.so"))
        XCTAssertFalse(elf.isPythonExtension(fileName: "other.so"))
        XCTAssertTrue(elf.requiredSymbols.contains("exp"))
        XCTAssertNil(elf.interpreter)
    }

    func testExecutableInterpreterAndISALevel() throws {
        let src = try write("e.c", "int main(void) { return 0; }\n")
        try TestSupport.compile([src], output: "\(dir.path)/v3", arguments: ["-Wl,-z,x86-64-v3"])
        try TestSupport.compile([src], output: "\(dir.path)/v1", arguments: [])
        let v3 = try ELFFile(bytes: Files.readBytes("\(dir.path)/v3"))
        XCTAssertEqual(v3.x86ISALevel, 3)
        XCTAssertEqual(v3.interpreter, "/lib64/ld-linux-x86-64.so.2")
        let v1 = try ELFFile(bytes: Files.readBytes("\(dir.path)/v1"))
        XCTAssertTrue(v1.x86ISALevel == nil || v1.x86ISALevel == 1)
    }

    func testRejectsGarbageAndTruncation() throws {
        XCTAssertThrowsError(try ELFFile(bytes: Array("not an elf file at all, really not".utf8))) { XCTAssertEqual($0 as? ELFError, .notELF) }
        let src = try write("t.c", "int g(void) { return 2; }\n")
        try TestSupport.compile([src], output: "\(dir.path)/t.so", arguments: ["-shared", "-fPIC"])
        let bytes = try Files.readBytes("\(dir.path)/t.so")
        // Every prefix either parses or throws: never crashes.
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            _ = try? ELFFile(bytes: Array(bytes[..<length]))
        }
        XCTAssertThrowsError(try ELFFile(bytes: Array(bytes[..<40])))
        // Corrupt the section header offset: a clear error, not a crash.
        var corrupt = bytes
        for i in 40..<48 { corrupt[i] = 0xff }
        XCTAssertThrowsError(try ELFFile(bytes: corrupt))
    }
    /// A 192-byte ELF whose dynamic symbol table claims 2^44 entries: refused by the bytes
    /// present, never by reserving memory for the claim (this once aborted the host process).
    func testSymbolTableCountIsBoundedByTheBytesPresent() throws {
        var bytes = [UInt8](repeating: 0, count: 192)
        func put(_ value: UInt64, at offset: Int, size: Int) {
            for k in 0..<size { bytes[offset + k] = UInt8((value >> (8 * UInt64(k))) & 0xff) }
        }
        bytes[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        bytes[4] = 2  // 64-bit
        bytes[5] = 1  // little endian
        bytes[6] = 1
        put(3, at: 16, size: 2)  // ET_DYN
        put(62, at: 18, size: 2)  // x86-64
        put(64, at: 40, size: 8)  // section headers right after the header
        put(64, at: 58, size: 2)  // their size
        put(2, at: 60, size: 2)  // two sections
        // Section 1: SHT_DYNSYM at offset 0, size 24 * 2^44, linked to section 0.
        let section = 64 + 64
        put(11, at: section + 4, size: 4)
        put(0, at: section + 24, size: 8)
        put(24 << 44, at: section + 32, size: 8)
        put(24, at: section + 56, size: 8)
        XCTAssertEqual(bytes.count, 192)
        XCTAssertThrowsError(try ELFFile(bytes: bytes)) { error in
            XCTAssertEqual(error as? ELFError, .truncated("dynamic symbol table"))
        }
    }
    /// The fuzz harnesses' seed corpora (`ci/fuzz/corpus`) replay through the harnesses of the
    /// normal build: every seed is parsed and refused or accepted without a crash.
    func testTheFuzzSeedCorporaReplayWithoutACrash() throws {
        let binary = URL(fileURLWithPath: try TestSupport.wheelfarmBinary()).deletingLastPathComponent().appendingPathComponent("wheelfarm-fuzz").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            if TestSupport.inCI { XCTFail("wheelfarm-fuzz is not built") }
            throw XCTSkip("wheelfarm-fuzz is not built")
        }
        let corpora = "\(TestSupport.repositoryRoot)/ci/fuzz/corpus"
        let targets = try FileManager.default.contentsOfDirectory(atPath: corpora).sorted()
        XCTAssertEqual(targets, ["elf", "marker", "metadata", "patch", "record", "requirement", "wheel"])
        for target in targets {
            let seeds = try FileManager.default.contentsOfDirectory(atPath: "\(corpora)/\(target)").sorted().map { "\(corpora)/\(target)/\($0)" }
            XCTAssertFalse(seeds.isEmpty, target)
            let result = try ProcessRunner.run(binary, [target] + seeds)
            XCTAssertEqual(result.status, 0, "\(target): \(result.stderr)")
            XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(target): \(seeds.count) inputs, no crash")
        }
    }
}

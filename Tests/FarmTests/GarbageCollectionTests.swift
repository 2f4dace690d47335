import FarmStore
import Foundation
import TestSupport
import WheelBuilder
@_spi(AnyProgram) import WheelfarmBasics
import WheelfarmCommands
import XCTest

@testable import FarmCore

/// `wheelfarm gc` on a farm home laid out as wheelfarm lays it out.
final class GarbageCollectionTests: XCTestCase {
    func testRemovesWhatNothingNeedsAndKeepsWhatRecordsName() throws {
        var binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wheelfarm").path
        if !FileManager.default.isExecutableFile(atPath: binary) { binary = "\(TestSupport.repositoryRoot)/.build/debug/wheelfarm" }
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "the wheelfarm binary is not built")
        let work = try TemporaryDirectory(prefix: "wf-gc")
        let home = "\(work.path)/home"
        let fm = FileManager.default
        func write(_ path: String, _ text: String = "x", daysOld: Double = 0) throws {
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            if daysOld > 0 { try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-daysOld * 86400)], ofItemAtPath: path) }
        }
        let kept = String(repeating: "a", count: 64), old = String(repeating: "b", count: 64)
        // Refreshed two days ago: derived roots from before it go unless a stored build names them.
        let refreshed = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-2 * 86400))
        try write("\(home)/toolchains/t.json", "{\"digest\": \"\(kept)\", \"built_at\": \"\(refreshed)\"}")
        try write("\(home)/images/\(kept)/manifest.json")
        try write("\(home)/images/\(old)/rootfs/usr/lib/big", String(repeating: "z", count: 4096))
        func derived(_ key: String, base: String, built: String = "2026-01-01T00:00:00Z") throws {
            try write(
                "\(home)/derived/\(key)/manifest.json",
                "{\"key\": \"\(key)\", \"base_digest\": \"\(base)\", \"requested\": [], \"added\": [], \"built_at\": \"\(built)\"}")
        }
        try derived("d1", base: old)
        try derived("d2", base: kept)
        try derived("d3", base: kept)
        try derived("d4", base: kept, built: ISO8601DateFormatter().string(from: Date()))
        let store = BuildStore(layout: FarmLayout(path: home))
        let folder = "\(home)/builds/p/1.0/t"
        var landed = BuildRecord(target: "t", builderVersion: "test", startedAt: Date())
        (landed.project, landed.version, landed.outcome, landed.wheel) = ("p", "1.0", .succeeded, "p-1.0-1-py3-none-any.whl")
        landed.sdist = SdistFacts(filename: "p-1.0.tar.gz", sha256: "s1", url: "file:///p-1.0.tar.gz")
        landed.derivedRoot = "d2"
        try store.write(landed, in: folder)
        try write("\(folder)/p-1.0-1-py3-none-any.whl")
        try write("\(folder)/p-1.0-py3-none-any.whl")
        try write("\(folder)/p-1.0-py3-none-any.whl.minisig")
        try write("\(folder)/build.log")
        try write("\(folder)/failed-build.log", daysOld: 40)
        var failed = BuildRecord(target: "t", builderVersion: "test", startedAt: Date())
        (failed.project, failed.version, failed.outcome) = ("q", "2.0", .failed)
        try store.write(failed, in: "\(home)/builds/q/2.0/t")
        try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-40 * 86400)], ofItemAtPath: "\(home)/builds/q/2.0/t/record.json")
        try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-40 * 86400)], ofItemAtPath: "\(home)/builds/q/2.0/t")
        try write("\(home)/sources/s1/p-1.0.tar.gz", daysOld: 90)
        try write("\(home)/sources/s2/gone-1.0.tar.gz")
        try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-90 * 86400)], ofItemAtPath: "\(home)/sources/s2")
        try write("\(home)/sources/s3/fresh-1.0.tar.gz")
        try write("\(home)/jobs/t@999999.1/src/setup.py")
        try write("\(home)/jobs/t@\(getpid()).2/src/setup.py")

        let dry = try ProcessRunner.run(binary, ["gc", "--home", home, "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would remove \(home)/images/\(old)"), dry.stdout)
        XCTAssertTrue(fm.fileExists(atPath: "\(home)/images/\(old)"), "a dry run removes nothing")

        let run = try ProcessRunner.run(binary, ["gc", "--home", home])
        XCTAssertEqual(run.status, 0, run.stderr)
        let gone = [
            "images/\(old)", "derived/d1", "derived/d3", "builds/p/1.0/t/p-1.0-py3-none-any.whl", "builds/p/1.0/t/p-1.0-py3-none-any.whl.minisig",
            "builds/p/1.0/t/failed-build.log", "builds/q/2.0/t", "sources/s2", "jobs/t@999999.1"
        ]
        let stay = [
            "images/\(kept)", "derived/d2", "derived/d4", "builds/p/1.0/t/record.json", "builds/p/1.0/t/p-1.0-1-py3-none-any.whl", "builds/p/1.0/t/build.log",
            "sources/s1/p-1.0.tar.gz", "sources/s3/fresh-1.0.tar.gz", "jobs/t@\(getpid()).2"
        ]
        for path in gone { XCTAssertFalse(fm.fileExists(atPath: "\(home)/\(path)"), "\(path) should be gone\n\(run.stdout)") }
        for path in stay { XCTAssertTrue(fm.fileExists(atPath: "\(home)/\(path)"), "\(path) should stay\n\(run.stdout)") }
        XCTAssertEqual(try ProcessRunner.run(binary, ["gc", "--home", home]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), "nothing to remove")
        // A record that cannot be read stops gc, naming it, and removes nothing.
        try write("\(home)/builds/r/1.0/t/record.json", "{not json")
        try write("\(home)/images/\(old)/manifest.json")
        let refused = try ProcessRunner.run(binary, ["gc", "--home", home])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("builds/r/1.0/t/record.json"), refused.stderr)
        XCTAssertTrue(fm.fileExists(atPath: "\(home)/images/\(old)"))
    }
}

/// A small seeded generator, so that a failing crash test can be told apart by its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A writer killed mid-write leaves a hidden partial file beside the build store's files: it is
/// a leftover once its process is gone, never while it lives.
final class PartialFileLeftoverTests: XCTestCase {
    func testPartialFilesOfDeadWritersAreFoundAndSwept() throws {
        let work = try TemporaryDirectory(prefix: "wf-partial")
        let layout = FarmLayout(path: work.path)
        let folder = "\(layout.builds)/demo/1.0/cp311-bookworm-x86_64"
        try Files.makeDirectories(folder)
        // A pid that is gone: a child that has exited and been waited for.
        let gone = try ProcessRunner.run("/bin/sh", ["-c", "echo $$"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let dead = "\(folder)/.demo-1.0-py3-none-any.whl.tmp-\(gone)-12345"
        let living = "\(folder)/.record.json.tmp-\(getpid())-678"
        for path in [dead, living, "\(folder)/demo-1.0-py3-none-any.whl", "\(folder)/.hidden"] {
            try Files.writeAtomically(Array("x".utf8), to: path)
        }
        XCTAssertEqual(Leftovers.find(layout), [dead])
        XCTAssertEqual(Leftovers.sweep(layout).removed, [dead])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: living), "a living writer's file stays")
        XCTAssertNil(Files.partialWriter(of: ".hidden"))
        XCTAssertNil(Files.partialWriter(of: "x.tmp-12-34"), "only hidden names")
    }
}

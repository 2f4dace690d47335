import FarmCore
import FarmStore
import Foundation
import Signing
import TestSupport
import WheelBuilder
import WheelfarmBasics
import XCTest

/// The coordinator's checks of a builder's result, without HTTP: who may send, what, and what
/// lands (signed with the farm's key, naming the builder).
final class BuilderIntakeTests: XCTestCase {
    var directory: TemporaryDirectory!
    var store: JobStore!
    var intake: BuilderIntake!
    var key: MinisignKey!
    let token = "wfb_" + String(repeating: "ab", count: 32)

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(prefix: "wf-intake")
        store = try JobStore(path: "\(directory.path)/home/state/farm.sqlite")
        key = try MinisignKey.generate()
        intake = BuilderIntake(
            store: store, layout: FarmLayout(path: "\(directory.path)/home"), signer: key, retry: RetryPolicy(), maxWheelBytes: 1 << 20, publish: nil)
        try store.addBuilder(name: "b1", tokenSha256: Digest.hex(Digest.sha256(Array(token.utf8))))
        try store.addBuilder(name: "b2", tokenSha256: "other")
    }

    /// A job of `demo==1.0` claimed by b1; returns it.
    func claimed() throws -> JobRecord {
        let request = try XCTUnwrap(store.createRequest(RequestRecord(kind: "test", description: "intake")).id)
        _ = try store.submit([JobRecord(requestId: request, requirement: "demo==1.0", origin: "test", project: "demo", version: "1.0", target: "t-x86_64")])
        return try XCTUnwrap(store.claimForBuilder(name: "b1", targets: ["t-x86_64"], memoryGb: 8, cores: 2, leaseSeconds: 600))
    }

    /// Sends a wheel of `project` and a record saying `recordProject`/`recordSha` for `job`.
    func send(_ job: JobRecord, project: String = "demo", recordProject: String = "demo", recordSha: String? = nil) throws {
        let made = try TestSupport.makeWheel(
            in: directory.path, name: project, version: "1.0", tag: "py3-none-any", files: ["\(project)/__init__.py": Array("x = 1\n".utf8)])
        var record = BuildRecord(target: "t-x86_64", builderVersion: "test", startedAt: Date())
        record.project = recordProject
        record.version = "1.0"
        record.outcome = .succeeded
        let actual = Digest.hex(try Digest.sha256(fileAt: made))
        record.wheelSha256 = recordSha ?? actual
        let recordPath = "\(directory.path)/record.json"
        try BuildStore(layout: FarmLayout(path: directory.path)).write(record, in: directory.path)
        let builder = try intake.builder(token: token)
        for (name, path) in [((made as NSString).lastPathComponent, made), ("record.json", recordPath)] {
            let staged = try intake.prepare(file: name, job: job.number, epoch: job.leaseEpoch, builder: builder)
            try FileManager.default.copyItem(atPath: path, toPath: staged)
            try intake.accept(file: name, job: job.number, epoch: job.leaseEpoch, staged: staged)
        }
    }

    func testOnlyTheHolderSendsResultFilesUnderItsClaim() throws {
        let job = try claimed()
        XCTAssertThrowsError(try intake.builder(token: "wfb_unknown")) { XCTAssertEqual($0 as? IntakeError, .unauthenticated) }
        XCTAssertThrowsError(try intake.builder(token: nil)) { XCTAssertEqual($0 as? IntakeError, .unauthenticated) }
        let b1 = try intake.builder(token: token)
        let b2 = try XCTUnwrap(store.builder(named: "b2"))
        XCTAssertThrowsError(try intake.prepare(file: "record.json", job: job.number, epoch: job.leaseEpoch, builder: b2)) {
            XCTAssertEqual($0 as? IntakeError, .notHeld(job: job.number, builder: "b2"))
        }
        XCTAssertThrowsError(try intake.prepare(file: "record.json", job: job.number, epoch: job.leaseEpoch + 1, builder: b1))
        for bad in ["../record.json", "notes.txt", ".hidden.whl", "a/b.whl", "x.whl"] {
            XCTAssertThrowsError(try intake.prepare(file: bad, job: job.number, epoch: job.leaseEpoch, builder: b1), bad)
        }
        XCTAssertNil(intake.limit(for: "notes.txt"))
        XCTAssertEqual(intake.limit(for: "demo-1.0-py3-none-any.whl"), 1 << 20)
    }

    func testAResultThatContradictsTheJobOrItsRecordIsRefused() throws {
        let job = try claimed()
        let b1 = try intake.builder(token: token)
        try send(job, recordProject: "other")
        XCTAssertThrowsError(try intake.complete(job: job.number, epoch: job.leaseEpoch, builder: b1, builderKey: nil)) { error in
            guard case .invalid = error as? IntakeError else { return XCTFail("\(error)") }
        }
        try send(job, recordSha: String(repeating: "0", count: 64))
        XCTAssertThrowsError(try intake.complete(job: job.number, epoch: job.leaseEpoch, builder: b1, builderKey: nil))
        try send(job, project: "evil", recordProject: "evil")
        XCTAssertThrowsError(try intake.complete(job: job.number, epoch: job.leaseEpoch, builder: b1, builderKey: nil))
        XCTAssertEqual(try store.job(job.number)?.state, .running, "nothing landed")
    }

    func testAGoodResultLandsSignedWithTheFarmsKeyAndNamesItsBuilder() throws {
        let job = try claimed()
        let b1 = try intake.builder(token: token)
        try send(job)
        let landed = try intake.complete(job: job.number, epoch: job.leaseEpoch, builder: b1, builderKey: "0123456789ABCDEF")
        XCTAssertEqual(landed.state, .succeeded)
        XCTAssertEqual(landed.builder, "b1")
        let wheel = try XCTUnwrap(landed.wheelPath)
        let signature = try XCTUnwrap(Files.readText(wheel + ".minisig", limit: 1 << 16))
        XCTAssertNoThrow(try key.publicKey.verify(try Files.readBytes(wheel), signatureFile: signature))
        let statement = try Provenance.verify(
            envelope: try XCTUnwrap(Files.readText(wheel + ".intoto.json", limit: 1 << 20)), key: key.publicKey,
            wheelName: (wheel as NSString).lastPathComponent, sha256: try XCTUnwrap(landed.wheelSha256))
        let text = String(decoding: try JSONSerialization.data(withJSONObject: statement), as: UTF8.self)
        XCTAssertTrue(text.contains("urn:wheelfarm:builder:b1"), text)
        XCTAssertTrue(text.contains("0123456789ABCDEF"), text)
        let record = try XCTUnwrap(BuildStore(layout: FarmLayout(path: "\(directory.path)/home")).record(in: (wheel as NSString).deletingLastPathComponent))
        XCTAssertEqual(record.builderHost, "b1")
        // Asked again (an answer lost on the way back): the same job, nothing twice.
        XCTAssertEqual(try intake.complete(job: job.number, epoch: job.leaseEpoch, builder: b1, builderKey: nil).wheelPath, wheel)
        XCTAssertEqual(try store.events(job.number).filter { $0.toState == .succeeded }.count, 1)
    }
}

import FarmStore
import Foundation
import PackagingModel
import Repository
import Signing
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// Why the coordinator refused a builder's upload; each maps to an HTTP status.
public enum IntakeError: Error, CustomStringConvertible, Equatable {
    /// No token, or not a builder's.
    case unauthenticated
    /// The builder does not hold the job under that claim (never did, lapsed, or finished).
    case notHeld(job: Int64, builder: String)
    /// The files contradict the job, the record or themselves.
    case invalid(String)
    /// Larger than allowed.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .unauthenticated: return "a builder token is needed (wheelfarm builders add NAME), as 'Authorization: Bearer TOKEN'"
        case let .notHeld(job, builder): return "builder \(builder) does not hold job \(job) under this claim: its result is refused"
        case let .invalid(reason): return "refused: \(reason)"
        case let .tooLarge(what): return "too large: \(what)"
        }
    }

    /// The HTTP status of the refusal.
    public var status: Int {
        switch self {
        case .unauthenticated: return 401
        case .notHeld: return 409
        case .invalid: return 422
        case .tooLarge: return 413
        }
    }
}

/// The coordinator's side of builder results: files arrive one by one into a staging folder
/// of the claim; `complete` checks them against the job's claim and the builder's record,
/// stores the wheel, signs it and its provenance with the farm's key (builders never hold
/// it), records the job as landed under the claim's fencing token, and publishes it.
public struct BuilderIntake: Sendable {
    let store: JobStore
    let layout: FarmLayout
    let signer: MinisignKey
    let retry: RetryPolicy
    /// Publishes a landed job that asks for it (nil: nothing is published).
    let publish: (@Sendable (JobRecord) -> Bool)?
    /// The most a wheel may weigh.
    let maxWheelBytes: Int

    /// The largest record and builder provenance accepted.
    static let maxRecordBytes = 4 << 20

    public init(
        store: JobStore, layout: FarmLayout, signer: MinisignKey, retry: RetryPolicy, maxWheelBytes: Int,
        publish: (@Sendable (JobRecord) -> Bool)?
    ) {
        self.store = store
        self.layout = layout
        self.signer = signer
        self.retry = retry
        self.maxWheelBytes = maxWheelBytes
        self.publish = publish
    }

    /// The builder a bearer token belongs to.
    public func builder(token: String?) throws -> BuilderRecord {
        guard let token, token.hasPrefix("wfb_"), token.count < 200,
            let builder = try store.builder(tokenSha256: Digest.hex(Digest.sha256(Array(token.utf8))))
        else { throw IntakeError.unauthenticated }
        return builder
    }

    /// The staging folder of one claim.
    func staging(job: Int64, epoch: Int64) -> String { "\(layout.path)/incoming/builders/\(job)-\(epoch)" }

    /// The most a file called `name` may weigh; nil when the name is not one a result has.
    public func limit(for name: String) -> Int? {
        switch name {
        case "record.json", "builder.intoto.json": return Self.maxRecordBytes
        case "build.log": return 256 << 20
        default:
            guard name.hasSuffix(".whl"), !name.contains("/"), !name.hasPrefix("."), WheelFilename(name) != nil else { return nil }
            return maxWheelBytes
        }
    }

    /// Checks that `builder` holds `job` under `epoch` and `name` is a result file; returns
    /// the path the file's bytes go to (a hidden name, renamed by ``accept(file:job:epoch:builder:staged:)``).
    public func prepare(file name: String, job: Int64, epoch: Int64, builder: BuilderRecord) throws -> String {
        guard limit(for: name) != nil else {
            throw IntakeError.invalid("'\(name)' is not a result file (a wheel, record.json, build.log, builder.intoto.json)")
        }
        guard try store.holds(builder: builder.name, job: job, epoch: epoch) else { throw IntakeError.notHeld(job: job, builder: builder.name) }
        sweepAbandoned()
        let folder = staging(job: job, epoch: epoch)
        try Files.makeDirectories(folder)
        return "\(folder)/.\(name).\(UUID().uuidString).part"
    }

    /// Removes staging folders untouched for a day: files of claims whose builder died before
    /// asking to land them.
    func sweepAbandoned(now: Date = Date()) {
        let root = "\(layout.path)/incoming/builders"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let path = "\(root)/\(name)"
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                now.timeIntervalSince(modified) > 86400
            else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Moves a received file into the claim's staging folder.
    public func accept(file name: String, job: Int64, epoch: Int64, staged: String) throws {
        guard rename(staged, "\(staging(job: job, epoch: epoch))/\(name)") == 0 else {
            throw IntakeError.invalid("cannot stage \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// Checks the staged result of `job` and lands it: the wheel into the build store beside its
    /// record, signed with the farm's key, the job succeeded under `epoch`, published when asked.
    public func complete(job id: Int64, epoch: Int64, builder: BuilderRecord, builderKey: String?) throws -> JobRecord {
        guard let job = try store.job(id) else { throw IntakeError.notHeld(job: id, builder: builder.name) }
        // Asked again after an answer that was lost on the way back: it landed already.
        if job.state == .succeeded, job.builder == builder.name, job.leaseEpoch == epoch { return job }
        guard try store.holds(builder: builder.name, job: id, epoch: epoch) else { throw IntakeError.notHeld(job: id, builder: builder.name) }
        let folder = staging(job: id, epoch: epoch)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }
        let wheels = names.filter { $0.hasSuffix(".whl") }
        guard wheels.count == 1, let wheelName = wheels.first, let filename = WheelFilename(wheelName) else {
            throw IntakeError.invalid("a result has exactly one wheel; got \(wheels.count)")
        }
        guard names.contains("record.json"), var record = try? BuildStore(layout: layout).record(in: folder) else {
            throw IntakeError.invalid("the record (record.json) is missing or unreadable")
        }
        let wheelPath = "\(folder)/\(wheelName)"
        let sha256 = Digest.hex(try Digest.sha256(fileAt: wheelPath))
        // The record must describe this job and this wheel: a builder cannot land another
        // project, version or target under a claim it holds.
        guard ProjectName.normalise(record.project) == job.project else {
            throw IntakeError.invalid("the job builds \(job.project); the record says \(record.project)")
        }
        guard record.target == job.target else { throw IntakeError.invalid("the job is for \(job.target); the record says \(record.target)") }
        if let pinned = job.version, !pinned.isEmpty, (try? DistributionIdentity.version(pinned)) != (try? DistributionIdentity.version(record.version)) {
            throw IntakeError.invalid("the job pins version \(pinned); the record says \(record.version)")
        }
        // The same identity check as a local build's: the wheel (name, METADATA) is the job's project at the record's version.
        let checked: Wheel
        do { checked = try Wheel(path: "\(folder)/\(wheelName)", selection: .binariesAndMetadata) } catch {
            throw IntakeError.invalid("not a valid wheel: \(error)")
        }
        let metadata = MetadataFile(parsing: String(decoding: checked.content(of: "\(checked.distInfo)/METADATA") ?? [], as: UTF8.self))
        do {
            try DistributionIdentity.check(
                wheel: filename, metadataName: metadata.value("Name"), metadataVersion: metadata.value("Version"), project: job.project,
                version: record.version)
        } catch { throw IntakeError.invalid("\(error)") }
        guard record.wheelSha256 == sha256 else {
            throw IntakeError.invalid("the wheel's sha256 is \(sha256); the record says \(record.wheelSha256 ?? "none")")
        }

        // Into the build store, under a name no other bytes have.
        let store = BuildStore(layout: layout)
        let destination: String
        do { destination = try store.directory(project: job.project, version: record.version, target: job.target) } catch {
            throw IntakeError.invalid("\(error)")
        }
        try Files.makeDirectories(destination)
        var finalName = filename
        while let existing = try? Digest.hex(Digest.sha256(fileAt: "\(destination)/\(finalName.description)")), existing != sha256 {
            let number = finalName.build.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
            finalName = WheelFilename(
                distribution: filename.distribution, version: filename.version, build: String(number + 1), pythonTags: filename.pythonTags,
                abiTags: filename.abiTags, platformTags: filename.platformTags)
        }
        let final = "\(destination)/\(finalName.description)"
        let bytes = try Files.readBytes(wheelPath)
        try Files.writeAtomically(bytes, to: final)
        try Files.writeAtomically(Array(try signer.sign(bytes, fileName: finalName.description).utf8), to: final + ".minisig")
        let facts = ProvenanceFacts(
            wheelName: finalName.description, wheelSha256: sha256, sdistName: record.sdist?.filename ?? "", sdistSha256: record.sdist?.sha256 ?? "",
            sdistURL: record.sdist?.url ?? "", target: job.target, toolchainDigest: record.toolchainDigest, derivedRoot: record.derivedRoot,
            recipeDigest: record.recipeDigest, buildRequirements: record.buildRequirements.map { ($0.file, $0.sha256) },
            builderVersion: record.builderVersion, startedAt: record.startedAt, finishedAt: Date())
        var signed = facts
        signed.builderHost = builder.name
        signed.builderKey = builderKey
        try Files.writeAtomically(Array(try Provenance.envelope(statement: Provenance.statement(signed), key: signer).utf8), to: final + ".intoto.json")
        if names.contains("build.log") { try Files.writeAtomically(try Files.readBytes("\(folder)/build.log"), to: "\(destination)/build.log") }
        if names.contains("builder.intoto.json") {
            try Files.writeAtomically(try Files.readBytes("\(folder)/builder.intoto.json"), to: final + ".builder.intoto.json")
        }
        record.wheel = finalName.description
        record.builderHost = builder.name
        record.builderKey = builderKey
        try store.write(record, in: destination)

        let completion: Completion
        do {
            completion = try self.store.complete(
                id, outcome: .succeeded(wheel: finalName.description, path: final, sha256: sha256, log: "\(destination)/build.log"),
                version: record.version, retry: retry, epoch: epoch)
        } catch let error as FarmStoreError {
            if case .staleLease = error { throw IntakeError.notHeld(job: id, builder: builder.name) }
            throw error
        }
        if completion.job.publish, let publish, publish(completion.job) { try self.store.markPublished(id) }
        return try self.store.job(id) ?? completion.job
    }
}

import Foundation
import PackagingModel
import WheelArchive
import WheelfarmBasics

/// Errors of the artifact repository; `status` is the HTTP status an upload gets for it.
public enum RepositoryError: Error, CustomStringConvertible, Equatable {
    case invalidName(String)
    case notAWheel(String)
    case metadataMismatch(String)
    case hashMismatch(expected: String, actual: String)
    case exists(String)
    case tooLarge(Int)
    case unknown(String)
    case io(String)
    case configuration(String)

    public var description: String {
        switch self {
        case let .invalidName(name): return "'\(name)' is not a valid wheel file name"
        case let .notAWheel(reason): return "not a valid wheel: \(reason)"
        case let .metadataMismatch(reason): return "the metadata does not match the file name: \(reason)"
        case let .hashMismatch(expected, actual): return "sha256 mismatch: the upload declares \(expected), the file has \(actual)"
        case let .exists(name): return "\(name) exists already with different content; files are immutable (a rebuild gets a new build number)"
        case let .tooLarge(limit): return "the file is larger than the limit of \(limit) bytes"
        case let .unknown(what): return "\(what) is not in the repository"
        case let .io(reason): return reason
        case let .configuration(reason): return reason
        }
    }

    /// The HTTP status for an upload refused with this error.
    public var status: Int {
        switch self {
        case .exists: return 409
        case .tooLarge: return 413
        case .unknown: return 404
        case .io: return 500
        default: return 400
        }
    }
}

/// One file of a project, as the index lists it.
public struct RepositoryFile: Codable, Sendable, Equatable {
    public var filename: String
    public var version: String
    public var sha256: String
    public var size: Int
    public var uploadTime: Date
    public var requiresPython: String?
    /// The sha256 of the PEP 658 metadata file (`<file>.metadata`).
    public var metadataSha256: String
    /// The yank reason (PEP 592); nil when not yanked, "" when yanked without a reason.
    public var yanked: String?
    /// Whether `<file>.minisig` and `<file>.intoto.json` are stored beside it.
    public var signed: Bool
    /// The build record (target, toolchain, timings), for the project page.
    public var target: String?

    enum CodingKeys: String, CodingKey {
        case filename, version, sha256, size, yanked, signed, target
        case uploadTime = "upload_time"
        case requiresPython = "requires_python"
        case metadataSha256 = "metadata_sha256"
    }
}

/// A project's files: the manifest the index pages are rendered from.
public struct ProjectManifest: Codable, Sendable, Equatable {
    public var name: String
    public var files: [RepositoryFile]
}

/// What a publish did.
public enum PublishOutcome: Sendable, Equatable {
    /// The file is new.
    case added(RepositoryFile)
    /// The same bytes were there already: nothing changed.
    case unchanged(RepositoryFile)
}

/// The embedded artifact repository: files under `files/<project>/`, one manifest per project
/// under `projects/`. A publish writes the files first and the manifest last (each renamed into
/// place), so the index never lists a file that is not fully there; an exclusive lock
/// serialises writers, across processes too. Files are immutable.
public final class Repository: @unchecked Sendable {
    /// The repository's folder.
    public let root: String
    /// The largest accepted file.
    public let maxFileSize: Int
    private let lock = NSLock()
    /// Called after each change with the project's name (the server drops its cached pages).
    public var onChange: (@Sendable (String) -> Void)?

    /// Opens (and creates) a repository at `root`.
    public init(root: String, maxFileSize: Int = 512 << 20) throws {
        self.root = root
        self.maxFileSize = maxFileSize
        for dir in ["files", "projects", "incoming"] {
            try Files.makeDirectories("\(root)/\(dir)")
        }
        sweepIncoming()
    }

    /// Removes what uploads and checks of dead processes left in `incoming/` (they were never listed).
    @discardableResult
    public func sweepIncoming() -> SweepReport {
        OwnedFolders.sweep("\(root)/incoming")
    }

    /// The folder of a project's files.
    public func directory(of project: String) -> String { "\(root)/files/\(ProjectName.normalise(project))" }

    /// Every project name, sorted.
    public func projects() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/projects")) ?? [])
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// A project's manifest; nil when the project has none. A manifest that exists but cannot
    /// be read is an error naming it: it is never taken for empty (the next publish would then
    /// write a manifest without the files it listed).
    public func manifest(_ project: String) throws -> ProjectManifest? {
        let path = "\(root)/projects/\(ProjectName.normalise(project)).json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let bytes = try? Files.readBytes(path, limit: 256 << 20) else { throw RepositoryError.io("\(path) cannot be read") }
        do { return try Self.decoder.decode(ProjectManifest.self, from: Data(bytes)) } catch {
            throw RepositoryError.io("\(path) is not a project manifest (\(error)); it is left as it is: repair or restore it")
        }
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A place for an upload's bytes before `publish` checks them (same file system, so the
    /// final rename is atomic).
    public func incomingPath() -> String { "\(root)/incoming/\(OwnedFolders.name("upload")).part" }

    /// Checks and adds the wheel at `path` (moved into the repository when `move`, else copied),
    /// with its signature and provenance when given. `expectedSha256` is what an upload declared;
    /// `expected` the project and version a build was asked for.
    @discardableResult
    public func publish(
        _ path: String, filename: String, signature: String? = nil, provenance: String? = nil, target: String? = nil,
        expectedSha256: String? = nil, move: Bool = false, expected: (project: String, version: String?)? = nil
    ) throws -> PublishOutcome {
        guard !filename.contains("/"), !filename.contains("\0"), !filename.hasPrefix("."), let name = WheelFilename(filename) else {
            throw RepositoryError.invalidName(filename)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maxFileSize else { throw RepositoryError.tooLarge(maxFileSize) }
        let sha = Digest.hex(try Digest.sha256(fileAt: path))
        if let expectedSha256, !expectedSha256.isEmpty, expectedSha256.lowercased() != sha {
            throw RepositoryError.hashMismatch(expected: expectedSha256, actual: sha)
        }
        // The wheel is read through a link named as the upload says, so that its file name,
        // RECORD and METADATA are checked together.
        let checkDir = "\(root)/incoming/\(OwnedFolders.name("check"))"
        try Files.makeDirectories(checkDir)
        defer { try? FileManager.default.removeItem(atPath: checkDir) }
        guard symlink(path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path, "\(checkDir)/\(filename)") == 0 else {
            throw RepositoryError.io("cannot stage \(filename): \(String(cString: strerror(errno)))")
        }
        let wheel: Wheel
        do { wheel = try Wheel(path: "\(checkDir)/\(filename)", selection: .binariesAndMetadata) } catch {
            throw RepositoryError.notAWheel("\(error)")
        }
        guard let metadataBytes = wheel.content(of: "\(wheel.distInfo)/METADATA") else { throw RepositoryError.notAWheel("no \(wheel.distInfo)/METADATA") }
        let metadata = MetadataFile(parsing: String(decoding: metadataBytes, as: UTF8.self))
        guard let metaName = metadata.value("Name"), let metaVersion = metadata.value("Version") else {
            throw RepositoryError.notAWheel("METADATA lacks Name or Version")
        }
        // The farm's one identity check: the file name, METADATA and (for a build) the job agree.
        do {
            try DistributionIdentity.check(
                wheel: name, metadataName: metaName, metadataVersion: metaVersion, project: expected?.project ?? name.distribution,
                version: expected?.version)
        } catch { throw RepositoryError.metadataMismatch("\(error)") }

        lock.lock()
        defer { lock.unlock() }
        let fileLock = try FileLock(path: "\(root)/.lock")
        defer { fileLock.unlock() }
        let project = ProjectName.normalise(metaName)
        var manifest = try manifest(project) ?? ProjectManifest(name: project, files: [])
        if let existing = manifest.files.first(where: { $0.filename == filename }) {
            guard existing.sha256 == sha else { throw RepositoryError.exists(filename) }
            if move { try? FileManager.default.removeItem(atPath: path) }
            return .unchanged(existing)
        }
        let dir = directory(of: project)
        try Files.makeDirectories(dir)
        let destination = "\(dir)/\(filename)"
        if FileManager.default.fileExists(atPath: destination) {
            // Left by a publish that died before its manifest: not listed, so not published.
            try? FileManager.default.removeItem(atPath: destination)
        }
        try Files.writeAtomically(metadataBytes, to: destination + ".metadata")
        if let signature { try Files.writeAtomically(Array(signature.utf8), to: destination + ".minisig") }
        if let provenance { try Files.writeAtomically(Array(provenance.utf8), to: destination + ".intoto.json") }
        if move, rename(path, destination) == 0 {
            chmod(destination, 0o644)
        } else {
            try Files.writeAtomically(try Files.readBytes(path), to: destination)
            if move { try? FileManager.default.removeItem(atPath: path) }
        }
        let entry = RepositoryFile(
            filename: filename, version: name.version, sha256: sha, size: size, uploadTime: Date(),
            requiresPython: metadata.value("Requires-Python"), metadataSha256: Digest.hex(Digest.sha256(metadataBytes)),
            yanked: nil, signed: signature != nil && provenance != nil, target: target)
        manifest.files.append(entry)
        manifest.files.sort { $0.filename < $1.filename }
        try write(manifest)
        onChange?(project)
        return .added(entry)
    }

    /// Yanks (PEP 592) every file of `version`, or the one named `version` when it is a file name.
    public func yank(project: String, version: String, reason: String, undo: Bool = false) throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        let fileLock = try FileLock(path: "\(root)/.lock")
        defer { fileLock.unlock() }
        guard var manifest = try manifest(project) else { throw RepositoryError.unknown("project \(project)") }
        var changed: [String] = []
        let wanted = PackageVersion(version)
        for index in manifest.files.indices
        where manifest.files[index].filename == version || manifest.files[index].version == version
            || (wanted != nil && PackageVersion(manifest.files[index].version) == wanted)
        {
            manifest.files[index].yanked = undo ? nil : reason
            changed.append(manifest.files[index].filename)
        }
        guard !changed.isEmpty else { throw RepositoryError.unknown("\(project) \(version)") }
        try write(manifest)
        onChange?(ProjectName.normalise(project))
        return changed
    }

    private func write(_ manifest: ProjectManifest) throws {
        try Files.writeAtomically(Array(try Self.encoder.encode(manifest)), to: "\(root)/projects/\(manifest.name).json")
    }
}

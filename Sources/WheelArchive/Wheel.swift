import ELFInspection
import Foundation
import PackagingModel
import WheelfarmBasics

/// A wheel read from disk: its file name, members, WHEEL metadata and a verified RECORD.
public struct Wheel: Sendable {
    /// What to keep in memory while reading.
    public enum ContentSelection: Sendable {
        /// Every member's content (for repair and rewriting).
        case everything
        /// Only ELF files and the `.dist-info` metadata (for auditing).
        case binariesAndMetadata
    }

    /// The path the wheel was read from.
    public let path: String
    /// The parsed file name.
    public let filename: WheelFilename
    /// The members, in archive order.
    public let members: [ArchiveMember]
    /// The `.dist-info` directory name inside the wheel.
    public let distInfo: String
    /// The parsed `WHEEL` file.
    public let wheelMetadata: MetadataFile

    /// Reads and verifies the wheel at `path`.
    ///
    /// Rejects unsafe or malformed archives (see `ZipReader`), a missing or malformed
    /// `.dist-info`, and any RECORD hash or size that does not match the content.
    public init(path: String, selection: ContentSelection = .binariesAndMetadata, limits: ExpansionLimits = .default) throws {
        let basename = (path as NSString).lastPathComponent
        guard let filename = WheelFilename(basename) else {
            throw ArchiveError.invalidWheel(archive: path, reason: "'\(basename)' is not a valid wheel file name (PEP 427)")
        }
        // Large wheels are inflated on every core; binaries are parsed as they arrive, and in
        // audit mode their bytes are dropped at once, so memory stays near one binary's size.
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        let threads = size > 4 << 20 ? min(4, ProcessInfo.processInfo.activeProcessorCount) : 1
        // Auditing keeps only metadata in memory, and no metadata file is larger than 64 MiB:
        // a wheel's size says nothing about what a build put in it.
        var limits = limits
        if selection == .binariesAndMetadata { limits.maximumKeptBytes = min(limits.maximumKeptBytes, 64 << 20) }
        let members = try ZipReader.read(
            path, limits: limits, threads: threads,
            keep: { name, prefix, declared in
                if selection == .everything { return .all }
                if name.split(separator: "/").first?.hasSuffix(".dist-info") == true { return .all }
                guard ELFFile.hasMagic(prefix) else { return .none }
                // Large binaries go to a temporary file and are parsed by mapping it: the parser
                // touches a few pages, so memory stays small whatever the size of the wheel.
                // A member of unknown size is one whose size only inflating tells: spilled too.
                return declared < 0 || declared > 1 << 20 ? .file : .all
            },
            process: { member in
                Self.parseBinary(&member, keepBytes: selection == .everything)
            })
        // The .dist-info directory: exactly one at the top level, for this distribution.
        let distInfos = Set(
            members.compactMap { member -> String? in
                let parts = member.path.split(separator: "/")
                guard parts.count >= 2, parts[0].hasSuffix(".dist-info") else { return nil }
                return String(parts[0])
            })
        guard distInfos.count == 1, let distInfo = distInfos.first else {
            throw ArchiveError.invalidWheel(
                archive: path,
                reason: distInfos.isEmpty ? "no .dist-info directory" : "more than one .dist-info directory: \(distInfos.sorted().joined(separator: ", "))")
        }
        // Its name and version, and those of any .data folder, are the file name's (PEP 427): a
        // wheel cannot carry another distribution's metadata under its own name.
        let topFolders = Set(
            members.compactMap { member -> String? in
                let parts = member.path.split(separator: "/")
                return parts.count >= 2 ? String(parts[0]) : nil
            })
        for folder in topFolders where folder.hasSuffix(".dist-info") || folder.hasSuffix(".data") {
            let stem = String(folder.prefix(upTo: folder.lastIndex(of: ".") ?? folder.endIndex))
            guard let dash = stem.lastIndex(of: "-"),
                ProjectName.normalise(String(stem[..<dash])) == ProjectName.normalise(filename.distribution),
                Self.sameVersion(String(stem[stem.index(after: dash)...]), filename.version)
            else {
                throw ArchiveError.invalidWheel(
                    archive: path, reason: "\(folder) does not match the wheel's name and version (\(filename.distribution) \(filename.version))")
            }
        }
        func text(_ name: String) throws -> String {
            guard let member = members.first(where: { $0.path == "\(distInfo)/\(name)" }), let content = member.content else {
                throw ArchiveError.invalidWheel(archive: path, reason: "\(distInfo)/\(name) is missing")
            }
            return String(decoding: content, as: UTF8.self)
        }
        let wheelMetadata = MetadataFile(parsing: try text("WHEEL"))
        guard wheelMetadata.value("Wheel-Version") != nil else {
            throw ArchiveError.invalidWheel(archive: path, reason: "\(distInfo)/WHEEL has no Wheel-Version")
        }
        let record: RecordFile
        do { record = try RecordFile(parsing: try text("RECORD")) } catch let error as PackagingError {
            throw ArchiveError.invalidWheel(archive: path, reason: "\(distInfo)/RECORD: \(error)")
        }
        try Self.verify(record: record, members: members, distInfo: distInfo, archive: path)
        self.path = path
        self.filename = filename
        self.members = members
        self.distInfo = distInfo
        self.wheelMetadata = wheelMetadata
    }

    /// Whether two version strings are the same version (PEP 440), or the same text when not versions.
    static func sameVersion(_ a: String, _ b: String) -> Bool {
        guard let left = PackageVersion(a), let right = PackageVersion(b) else { return a == b }
        return left == right
    }

    /// Parses a member that holds an ELF file into its payload; drops its bytes unless asked to keep them.
    static func parseBinary(_ member: inout ArchiveMember, keepBytes: Bool) {
        let result: Result<ELFFile, ELFError>
        do {
            if let fd = member.spillFile {
                defer { close(fd); member.spillFile = nil }
                var magic = [UInt8](repeating: 0, count: 4)
                guard pread(fd, &magic, 4, 0) == 4, ELFFile.hasMagic(magic) else { return }
                result = .success(try ELFFile(fileDescriptor: fd, name: member.path))
            } else {
                guard let content = member.content, ELFFile.hasMagic(content) else { return }
                result = .success(try ELFFile(bytes: content))
            }
        } catch let error as ELFError {
            result = .failure(error)
        } catch {
            result = .failure(.unsupported("\(error)"))
        }
        member.payload = result
        if !keepBytes {
            member.content = nil
        }
    }

    /// Checks that RECORD lists every member with its true SHA-256 and size, and nothing that is absent.
    static func verify(record: RecordFile, members: [ArchiveMember], distInfo: String, archive: String) throws {
        let exempt: Set<String> = ["\(distInfo)/RECORD", "\(distInfo)/RECORD.jws", "\(distInfo)/RECORD.p7s"]
        var byPath: [String: ArchiveMember] = [:]
        for member in members { byPath[member.path] = member }
        var listed = Set<String>()
        // Entries hashed with a stronger algorithm than SHA-256 (rare): checked after, from the content.
        var stronger: [(path: String, algorithm: String, expected: [UInt8])] = []
        for entry in record.entries {
            var entryPath = entry.path
            while entryPath.hasPrefix("./") { entryPath.removeFirst(2) }
            guard isSafeRelativePath(entryPath) else { throw ArchiveError.unsafePath(archive: archive, entry: entry.path) }
            listed.insert(entryPath)
            if exempt.contains(entryPath) { continue }
            guard let member = byPath[entryPath] else {
                throw ArchiveError.recordMismatch(archive: archive, entry: entryPath, reason: "listed in RECORD but not in the archive")
            }
            let parts = entry.hash.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ArchiveError.recordMismatch(archive: archive, entry: entryPath, reason: "no hash in RECORD")
            }
            let algorithm = parts[0].lowercased()
            guard RecordHash.accepted[algorithm] != nil else {
                throw ArchiveError.recordMismatch(
                    archive: archive, entry: entryPath, reason: "\(algorithm) is not a RECORD hash wheelfarm accepts (sha256 or stronger, PEP 427)")
            }
            guard let expected = Digest.decodeUrlsafeBase64(String(parts[1])) else {
                throw ArchiveError.recordMismatch(archive: archive, entry: entryPath, reason: "the \(algorithm) in RECORD is not base64")
            }
            if algorithm == "sha256" {
                guard expected == member.sha256 else {
                    throw ArchiveError.recordMismatch(archive: archive, entry: entryPath, reason: "sha256 in RECORD does not match the content")
                }
            } else {
                stronger.append((entryPath, algorithm, expected))
            }
            guard let size = entry.size else {
                throw ArchiveError.recordMismatch(archive: archive, entry: entryPath, reason: "RECORD gives no size")
            }
            if size != member.size {
                throw ArchiveError.recordMismatch(archive: archive, entry: entryPath, reason: "size \(member.size) differs from RECORD's \(size)")
            }
        }
        for member in members where !listed.contains(member.path) && !exempt.contains(member.path) {
            throw ArchiveError.recordMismatch(archive: archive, entry: member.path, reason: "present in the archive but not listed in RECORD")
        }
        guard !stronger.isEmpty else { return }
        let wanted = Set(stronger.map(\.path))
        var contents: [String: [UInt8]] = [:]
        for member in members where wanted.contains(member.path) { if let content = member.content { contents[member.path] = content } }
        if contents.count < wanted.count {
            for member in try ZipReader.read(archive, limits: .default, threads: 1, keep: { name, _, _ in wanted.contains(name) ? .all : .none }) {
                if let content = member.content { contents[member.path] = content }
            }
        }
        for (path, algorithm, expected) in stronger where RecordHash.digest(algorithm, contents[path] ?? []) != expected {
            throw ArchiveError.recordMismatch(archive: archive, entry: path, reason: "\(algorithm) in RECORD does not match the content")
        }
    }

    /// The ELF files of the wheel, parsed while reading, by path (a failed parse is kept as its error).
    public var binaries: [(path: String, elf: Result<ELFFile, ELFError>)] {
        members.compactMap { member in (member.payload as? Result<ELFFile, ELFError>).map { (member.path, $0) } }
    }

    /// The content of a member kept in memory, by path.
    public func content(of path: String) -> [UInt8]? {
        members.first(where: { $0.path == path })?.content
    }
}

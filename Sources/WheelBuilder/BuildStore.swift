import Foundation
import PackagingModel
import WheelfarmBasics

/// A build record that exists but cannot be read: refused, never overwritten.
public struct BuildStoreError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// The build store: `<home>/builds/<project>/<version>/<target>/` holds a build's wheel, log,
/// record, signature and provenance. Records are read and written only here, as ``BuildRecord``.
public struct BuildStore: Sendable {
    public let layout: FarmLayout

    public init(layout: FarmLayout) { self.layout = layout }

    /// The folder of a build: the project's normalised name, the normalised version and the
    /// target, each validated before it becomes a path (a version `..` is refused here).
    public func directory(project: String, version: String, target: String) throws -> String {
        let (name, normalised) = try DistributionIdentity.storeComponents(project: project, version: version)
        return try layout.build(project: name, version: normalised, target: target)
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// The record in `directory` (`record.json`, or `failed-record.json`): nil when there is none;
    /// an error naming the file when it cannot be parsed.
    public func record(in directory: String, file: String = "record.json") throws -> BuildRecord? {
        let path = "\(directory)/\(file)"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let bytes = try? Files.readBytes(path, limit: 16 << 20) else { throw BuildStoreError(description: "\(path): cannot be read") }
        do { return try Self.decoder.decode(BuildRecord.self, from: Data(bytes)) } catch {
            throw BuildStoreError(description: "\(path) is not a build record (\(error)); move it aside to go on")
        }
    }

    /// Writes a record.
    public func write(_ record: BuildRecord, in directory: String, file: String = "record.json") throws {
        try Files.makeDirectories(directory)
        try Files.writeAtomically(Array(try Self.encoder.encode(record)), to: "\(directory)/\(file)")
    }

    /// Every stored build: its folder and record (unreadable records are reported by `failed`).
    public func all(failed: ((String, Error) -> Void)? = nil) -> [(directory: String, record: BuildRecord)] {
        var result: [(String, BuildRecord)] = []
        func list(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }
        for project in list(layout.builds) {
            for version in list("\(layout.builds)/\(project)") {
                for target in list("\(layout.builds)/\(project)/\(version)") {
                    let directory = "\(layout.builds)/\(project)/\(version)/\(target)"
                    do {
                        if let record = try record(in: directory) { result.append((directory, record)) }
                    } catch {
                        failed?(directory, error)
                    }
                }
            }
        }
        return result
    }

    /// The stored build of `project` `version` for `target` if it is still current: it
    /// succeeded, its wheel is there, and `isCurrent` accepts its record (same toolchain image,
    /// recipe and builder). A pure wheel stored for another target counts. Nothing is resolved
    /// or downloaded, so checking a whole requirements file is quick. With `sdistSha256`, only a
    /// build of that sdist counts.
    public func current(
        project: String, version: String, target: String, sdistSha256: String? = nil,
        isCurrent: (_ record: BuildRecord, _ builtFor: String) -> Bool
    ) throws -> (record: BuildRecord, wheelPath: String, builtFor: String)? {
        guard let (name, normalised) = try? DistributionIdentity.storeComponents(project: project, version: version) else { return nil }
        let base = "\(layout.builds)/\(name)/\(normalised)"
        var candidates = [target]
        candidates += ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0 != target && !$0.hasPrefix(".") }.sorted()
        for candidate in candidates {
            let directory = "\(base)/\(candidate)"
            guard let record = try record(in: directory), record.outcome == .succeeded, let wheel = record.wheel,
                FileManager.default.fileExists(atPath: "\(directory)/\(wheel)")
            else { continue }
            guard candidate == target || record.pure else { continue }
            // A build is of the sdist it was made from: "already built" means from these bytes.
            if let sdistSha256, record.sdist?.sha256 != sdistSha256 { continue }
            guard isCurrent(record, candidate) else { continue }
            return (record, "\(directory)/\(wheel)", candidate)
        }
        return nil
    }

    /// Keeps a failed build's log and record. A failed rebuild never replaces the record of a
    /// stored wheel: that record is what skips unchanged builds and gives the next build number.
    /// Returns the log's path.
    public func keepFailure(_ record: BuildRecord, log: String) -> String {
        // A failure before the project was known (or with a name or version that is not one) is
        // kept under unknown/, in a folder of its own: the next such failure must not replace it.
        let destination =
            (try? directory(project: record.project, version: record.version, target: record.target))
            ?? "\(layout.builds)/unknown/\(Self.failureFolderName(record.startedAt))/\(FarmLayout.isPlainName(record.target) ? record.target : "unknown")"
        try? Files.makeDirectories(destination)
        let kept = ((try? self.record(in: destination)) ?? nil).map { $0.outcome == .succeeded } ?? false
        let logName = kept ? "failed-build.log" : "build.log"
        if rename(log, "\(destination)/\(logName)") != 0, let bytes = try? Files.readBytes(log) {
            try? Files.writeAtomically(bytes, to: "\(destination)/\(logName)")
        }
        try? write(record, in: destination, file: kept ? "failed-record.json" : "record.json")
        return "\(destination)/\(logName)"
    }

    /// A folder name of its own for a failure whose project is not known: when it started, and
    /// a random part (two failures in one second do not share it).
    static func failureFolderName(_ started: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "failed-\(formatter.string(from: started))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    /// The build number a new wheel `name` with `sha256` needs beside the previous build's wheel:
    /// nil when there is none to avoid (no earlier wheel of that name, or the same bytes).
    public static func nextBuildNumber(previous: BuildRecord, directory: String, name: WheelFilename, sha256: String) -> Int? {
        guard previous.outcome == .succeeded, let previousWheel = previous.wheel, previous.wheelSha256 != sha256,
            FileManager.default.fileExists(atPath: "\(directory)/\(previousWheel)"), var earlier = WheelFilename(previousWheel)
        else { return nil }
        let previousNumber = earlier.build.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        earlier.build = nil
        guard earlier == name else { return nil }
        return previousNumber + 1
    }
}

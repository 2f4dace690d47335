import Foundation
import PackageIndex
import PackagingModel
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm verify --rebuild`: a stored build done again from its record's inputs alone (the
/// same sdist by hash, the same toolchain image by digest, the same recipe digest, the same build
/// requirements by version and then by hash) in a fresh sandbox, and the two wheels compared
/// byte for byte.
public struct Reproducer: Sendable {
    public let context: FarmContext
    public let builder: WheelBuilder

    /// Creates a reproducer over the farm and its builder.
    public init(context: FarmContext, builder: WheelBuilder) {
        self.context = context
        self.builder = builder
    }

    /// What a verification came to.
    public struct Outcome: Sendable {
        /// The stored wheel.
        public var original: String
        /// The rebuilt one (removed after the comparison unless kept).
        public var rebuilt: String?
        public var identical: Bool
        /// Where the wheels differ, or why no rebuild could be compared.
        public var differences: [String]
        public var seconds: Double
    }

    /// Why a verification could not start (exit status 2).
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// The stored build a wheel file or `NAME==VERSION` (for `target`) names: its record and wheel.
    public func locate(_ argument: String, target: String?) throws -> (record: BuildRecord, wheel: String) {
        let store = BuildStore(layout: context.layout)
        if argument.hasSuffix(".whl") {
            let name = (argument as NSString).lastPathComponent
            guard let filename = WheelFilename(name) else { throw Refusal(description: "\(name) is not a wheel file name") }
            guard let (project, version) = try? DistributionIdentity.storeComponents(project: filename.distribution, version: filename.version) else {
                throw Refusal(description: "\(name) does not name a valid project and version")
            }
            let folder = "\(context.layout.builds)/\(project)/\(version)"
            for candidate in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() where target == nil || candidate == target {
                if let record = try store.record(in: "\(folder)/\(candidate)"), record.wheel == name {
                    return (record, "\(folder)/\(candidate)/\(name)")
                }
            }
            throw Refusal(description: "no stored build record names \(name) (only a folder's latest build keeps its record)")
        }
        guard let requirement = Requirement(argument), requirement.specifier.isExactPin, let clause = requirement.specifier.specifiers.first else {
            throw Refusal(description: "'\(argument.prefix(100))' is neither a wheel nor NAME==VERSION")
        }
        let pinned = clause.version?.description ?? clause.versionText
        let targets = target.map { [$0] } ?? context.targets([])
        for candidate in targets {
            guard let folder = try? store.directory(project: requirement.name, version: pinned, target: candidate) else { continue }
            if let record = try store.record(in: folder), record.outcome == .succeeded, let wheel = record.wheel {
                return (record, "\(folder)/\(wheel)")
            }
        }
        throw Refusal(description: "no stored build of \(argument) for \(targets.joined(separator: ", "))")
    }

    /// Rebuilds and compares; `keep` leaves the rebuilt wheel in the scratch folder.
    public func verify(_ argument: String, target: String?, keep: Bool = false) throws -> Outcome {
        let started = Date()
        let (record, wheel) = try locate(argument, target: target)
        guard let sdist = record.sdist else { throw Refusal(description: "the record of \(wheel) names no sdist") }
        if let expected = record.wheelSha256, try Digest.hex(Digest.sha256(fileAt: wheel)) != expected {
            throw Refusal(description: "\(wheel) is not the bytes its record names: the store was changed")
        }
        // The same inputs, or no verification: a changed image or recipe would be another build.
        let toolchains = try context.toolchains()
        // The target may point at a newer image by now: the rebuild uses the original by digest
        // while it is stored (`gc` removes an image once no target points at it).
        guard try toolchains.image(digest: record.toolchainDigest) != nil else {
            throw Refusal(
                description: "the toolchain image \(wheel) was built on (\(record.toolchainDigest.prefix(12))) is no longer stored; "
                    + "a rebuild on another root proves nothing about this wheel")
        }
        let recipe = try builder.recipeBook.recipe(for: record.project).digest
        guard recipe == record.recipeDigest else {
            throw Refusal(
                description: "the recipe of \(record.project) changed since the build (\(record.recipeDigest.prefix(12)) then, \(recipe.prefix(12)) now)")
        }
        let source = try self.sdist(sdist)
        let scratch = "\(context.layout.scratch)/verify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { if !keep { try? SafeRemoval.remove(scratch) } }
        let result = builder.rebuild(sdist: source, record: record, into: scratch)
        guard let rebuilt = result.wheelPath, result.failure == nil else {
            return Outcome(
                original: wheel, rebuilt: nil, identical: false,
                differences: ["the rebuild failed: \(result.failure.map(\.description) ?? "no wheel") (log: \(result.logPath))"],
                seconds: Date().timeIntervalSince(started))
        }
        var comparison = try WheelComparison.compare(wheel, rebuilt)
        let before = Set(record.buildRequirements.map { "\($0.file) \($0.sha256)" })
        let after = Set(result.record.buildRequirements.map { "\($0.file) \($0.sha256)" })
        if before != after {
            comparison.differences.append(
                "build requirements differ: \(before.subtracting(after).sorted().joined(separator: ", ")) then; "
                    + "\(after.subtracting(before).sorted().joined(separator: ", ")) now")
        }
        return Outcome(
            original: wheel, rebuilt: keep ? rebuilt : nil, identical: comparison.identical, differences: comparison.differences,
            seconds: Date().timeIntervalSince(started))
    }

    /// The sdist the record names, by hash: from the source store, else downloaded again and checked.
    func sdist(_ facts: SdistFacts) throws -> String {
        let kept = "\(context.layout.sources)/\(facts.sha256)/\(facts.filename)"
        if FileManager.default.fileExists(atPath: kept) { return kept }
        guard facts.url.hasPrefix("https://") || facts.url.hasPrefix("http://") else {
            throw Refusal(description: "the sdist \(facts.filename) (sha256 \(facts.sha256.prefix(12))) is no longer in \(context.layout.sources)")
        }
        let file = IndexFile(filename: facts.filename, url: facts.url, sha256: facts.sha256, requiresPython: nil, yanked: false, size: nil)
        return try SourceStore(directory: context.layout.sources).fetch(file, client: builder.environment.index).path
    }
}

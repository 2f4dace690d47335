import Foundation
import WheelBuilder
import WheelfarmBasics

/// One `verify --rebuild` of a stored build, kept beside its record (`verification.json`).
public struct Verification: Codable, Sendable, Equatable {
    public var wheel: String
    public var target: String
    public var identical: Bool
    public var verifiedAt: Date
    public var differences: [String]

    enum CodingKeys: String, CodingKey {
        case wheel, target, identical, differences
        case verifiedAt = "verified_at"
    }

    /// Creates an entry.
    public init(wheel: String, target: String, identical: Bool, verifiedAt: Date, differences: [String]) {
        self.wheel = wheel
        self.target = target
        self.identical = identical
        self.verifiedAt = verifiedAt
        self.differences = differences
    }
}

/// The verifications of the build store: which builds the nightly samples next (never verified
/// first, then the longest ago), and the farm's reproducibility rate, overall and per target.
public struct Verifications: Sendable {
    public let layout: FarmLayout
    static let file = "verification.json"

    /// Verifications over a home.
    public init(layout: FarmLayout) { self.layout = layout }

    /// The last verification of the build in `directory`, if it was of the wheel stored there now.
    public func latest(in directory: String, wheel: String) -> Verification? {
        guard let text = Files.readText("\(directory)/\(Self.file)", limit: 1 << 20) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let entry = try? decoder.decode(Verification.self, from: Data(text.utf8)), entry.wheel == wheel else { return nil }
        return entry
    }

    /// Keeps `entry` as the latest verification of the build in `directory`.
    public func record(_ entry: Verification, in directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try Files.writeAtomically(Array(try encoder.encode(entry)), to: "\(directory)/\(Self.file)")
    }

    /// Every succeeded build with its last verification.
    public func builds() -> [(directory: String, record: BuildRecord, last: Verification?)] {
        BuildStore(layout: layout).all().compactMap { entry in
            guard entry.record.outcome == .succeeded, let wheel = entry.record.wheel else { return nil }
            return (entry.directory, entry.record, latest(in: entry.directory, wheel: wheel))
        }
    }

    /// The `count` builds to verify next: never verified first (oldest build first), then the
    /// longest since their verification.
    public func samples(_ count: Int, targets: Set<String>) -> [(directory: String, record: BuildRecord, last: Verification?)] {
        builds().filter { targets.contains($0.record.target) }.sorted { a, b in
            switch (a.last, b.last) {
            case (nil, nil): return a.record.startedAt < b.record.startedAt
            case (nil, _): return true
            case (_, nil): return false
            case let (x?, y?): return x.verifiedAt < y.verifiedAt
            }
        }.prefix(max(0, count)).map { $0 }
    }

    /// Identical and verified builds, overall and per target (the last verification of each).
    public func rate() -> (identical: Int, verified: Int, perTarget: [String: (identical: Int, verified: Int)]) {
        var perTarget: [String: (identical: Int, verified: Int)] = [:]
        var identical = 0, verified = 0
        for build in builds() {
            guard let last = build.last else { continue }
            verified += 1
            identical += last.identical ? 1 : 0
            let old = perTarget[build.record.target] ?? (0, 0)
            perTarget[build.record.target] = (old.identical + (last.identical ? 1 : 0), old.verified + 1)
        }
        return (identical, verified, perTarget)
    }
}

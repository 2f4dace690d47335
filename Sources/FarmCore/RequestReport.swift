import FarmStore
import Foundation

/// How one requirement came out for one target.
public enum RequestOutcome: String, Codable, Sendable, CaseIterable {
    /// Built now.
    case built
    /// Already built with the same inputs (or a pure wheel built for another target).
    case alreadyBuilt = "already built"
    /// Not built, on purpose: the recipe skips the target.
    case skipped
    case failed
    case cancelled
}

/// A release of a followed project the nightly did not build yet: younger than the cooling-off period.
public struct HeldRelease: Codable, Sendable, Equatable {
    public var project: String
    public var version: String
    public var uploaded: Date
    /// When the nightly will build it.
    public var eligible: Date

    enum CodingKeys: String, CodingKey {
        case project, version, uploaded
        case eligible = "built_from"
    }

    /// Creates an entry.
    public init(project: String, version: String, uploaded: Date, eligible: Date) {
        self.project = project
        self.version = version
        self.uploaded = uploaded
        self.eligible = eligible
    }
}

/// One line of a request's report.
public struct RequestRow: Codable, Sendable, Equatable {
    public var requirement: String
    public var origin: String
    public var target: String
    public var outcome: RequestOutcome
    public var project: String
    public var version: String
    public var wheel: String?
    /// Where the wheel is stored.
    public var path: String?
    public var sha256: String?
    public var seconds: Double
    public var stage: String?
    public var failure: String?
    public var log: String?
    /// What to do about the failure, when the farm can tell (the Debian package of a missing header).
    public var suggestion: String?
    /// The farm's job (for `wheelfarm logs`, `retry`).
    public var job: Int64?

    /// What separates a failure's reason from its fix in a job's stored reason.
    public static let fixSeparator = " | fix: "

    enum CodingKeys: String, CodingKey {
        case requirement, origin, target, project, version, wheel, path, sha256, seconds, stage, failure, log, job, suggestion
        case outcome = "status"
    }

    /// The row of a job.
    public init(job: JobRecord) {
        let outcome: RequestOutcome
        switch job.state {
        case .succeeded: outcome = .built
        // A skipped job with a wheel was built before (or is a pure wheel of another target);
        // without one, its recipe skips the target.
        case .skipped: outcome = job.wheel != nil ? .alreadyBuilt : .skipped
        case .cancelled: outcome = .cancelled
        default: outcome = .failed
        }
        let failed = outcome == .failed || outcome == .cancelled
        requirement = job.requirement
        origin = job.origin
        target = job.target
        self.outcome = outcome
        project = job.project
        version = job.version ?? ""
        wheel = failed ? nil : job.wheel
        path = failed ? nil : job.wheelPath
        sha256 = failed ? nil : job.wheelSha256
        seconds = job.startedAt.map { (job.finishedAt ?? $0) - $0 } ?? 0
        stage = failed ? job.stage : nil
        failure = failed || outcome == .skipped ? (job.reason ?? job.state.rawValue) : nil
        // The job store keeps one reason: a fix the build found travels after a separator.
        if let text = failure, let split = text.range(of: Self.fixSeparator) {
            failure = String(text[..<split.lowerBound])
            suggestion = String(text[split.upperBound...])
        }
        log = failed ? job.logPath : nil
        self.job = job.number
    }

    public var hasWheel: Bool { wheel != nil && outcome != .failed }
}

/// A stored build the nightly made again, and the change that called for it (a package update
/// such as `libxml2 2.9.14+dfsg-1.3 → 2.9.14+dfsg-1.3~deb12u1 (grafted)`).
public struct Rebuilt: Codable, Sendable, Equatable {
    public var project: String
    public var version: String
    public var target: String
    /// The new wheel, when the rebuild succeeded.
    public var wheel: String?
    public var cause: String

    /// Creates an entry.
    public init(project: String, version: String, target: String, wheel: String?, cause: String) {
        self.project = project
        self.version = version
        self.target = target
        self.wheel = wheel
        self.cause = cause
    }
}

/// What a request (`build -r`, a nightly) came to: its rows, and the JSON and JUnit forms CI reads.
public struct RequestReport: Sendable {
    public var request: Int64
    public var started: Date
    public var finished: Date
    public var targets: [String]
    public var rows: [RequestRow]
    /// Releases the nightly held back for the cooling-off period.
    public var heldBack: [HeldRelease] = []
    /// Stored builds the nightly verified by rebuilding them.
    public var verifications: [Verification] = []
    /// Stored builds the nightly made again, each with its cause.
    public var rebuilt: [Rebuilt] = []

    public init(request: Int64, started: Date, finished: Date, targets: [String], rows: [RequestRow]) {
        self.request = request
        self.started = started
        self.finished = finished
        self.targets = targets
        self.rows = rows
    }

    /// Rows per outcome.
    public var counts: [RequestOutcome: Int] { Dictionary(grouping: rows, by: \.outcome).mapValues(\.count) }

    /// Whether every requirement has a wheel for every target (or its recipe skips it).
    public var succeeded: Bool { !rows.isEmpty && !rows.contains { $0.outcome == .failed || $0.outcome == .cancelled } }

    /// `3 built, 1 already built, 0 skipped, 0 failed in 12.3 s`.
    public var summary: String {
        [RequestOutcome.built, .alreadyBuilt, .skipped, .failed].map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
            + String(format: " in %.1f s", finished.timeIntervalSince(started))
    }

    /// The JSON report.
    public func json() throws -> [UInt8] {
        struct Document: Encodable {
            var started: Date
            var finished: Date
            var targets: [String]
            var summary: [String: Int]
            var results: [RequestRow]
            var heldBack: [HeldRelease]?
            var verifications: [Verification]?
            var rebuilt: [Rebuilt]?

            enum CodingKeys: String, CodingKey {
                case started, finished, targets, summary, results, verifications, rebuilt
                case heldBack = "held_back"
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let summary = Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) })
        return Array(
            try encoder.encode(
                Document(
                    started: started, finished: finished, targets: targets, summary: summary, results: rows, heldBack: heldBack.isEmpty ? nil : heldBack,
                    verifications: verifications.isEmpty ? nil : verifications, rebuilt: rebuilt.isEmpty ? nil : rebuilt)))
    }

    /// The JUnit XML report: one test case per requirement and target; a failure carries the end of its log.
    public func junit(
        logTail: (String) -> String = { path in
            (try? String(contentsOfFile: path, encoding: .utf8)).map { String($0.suffix(4000)) } ?? ""
        }
    ) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").filter { $0 == "\n" || $0 == "\t" || !($0.asciiValue.map { $0 < 32 } ?? false) }
        }
        let seconds = finished.timeIntervalSince(started)
        let failures = rows.filter { $0.outcome == .failed }.count
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"wheelfarm build\" tests=\"\(rows.count)\" failures=\"\(failures)\" time=\"\(String(format: "%.3f", seconds))\">\n"
        for (target, group) in Dictionary(grouping: rows, by: \.target).sorted(by: { $0.key < $1.key }) {
            xml +=
                "  <testsuite name=\"\(escape(target))\" tests=\"\(group.count)\" failures=\"\(group.filter { $0.outcome == .failed }.count)\" skipped=\"\(group.filter { $0.outcome == .skipped }.count)\">\n"
            for row in group {
                xml += "    <testcase classname=\"\(escape(target))\" name=\"\(escape(row.requirement))\" time=\"\(String(format: "%.3f", row.seconds))\">"
                switch row.outcome {
                case .failed, .cancelled:
                    xml +=
                        "\n      <failure message=\"\(escape("\(row.stage ?? ""): \(row.failure ?? "")"))\">\(escape(row.log.map(logTail) ?? ""))</failure>\n    "
                case .skipped:
                    xml += "<skipped message=\"\(escape(row.failure ?? "skipped"))\"/>"
                case .built, .alreadyBuilt:
                    xml += "<system-out>\(escape("\(row.outcome.rawValue): \(row.wheel ?? "")"))</system-out>"
                }
                xml += "</testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }
}

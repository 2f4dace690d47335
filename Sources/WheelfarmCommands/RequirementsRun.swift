import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// One line of a `build -r` report.
struct RequirementResult: Codable, Sendable {
    var requirement: String
    var origin: String
    var target: String
    /// `built`, `already built`, `skipped` (by the recipe, or a pure wheel of another target) or `failed`.
    var status: String
    var project: String
    var version: String
    var wheel: String?
    /// Where the wheel is stored.
    var path: String?
    var sha256: String?
    var seconds: Double
    var stage: String?
    var failure: String?
    var log: String?

    var hasWheel: Bool { wheel != nil && status != "failed" }
}

/// `wheelfarm build -r`: every requirement of the files for every target (its transitive
/// runtime dependencies too with `--with-deps`), skipping what is built with the same inputs.
struct RequirementsRun {
    let builder: WheelBuilder
    let store: ToolchainStore
    let file: RequirementsFile
    let targets: [String]
    let withDeps: Bool
    let prereleases: Bool
    let display: ProgressDisplay

    /// The interpreter's full version in a target's image (for markers), else its major.minor.0.
    func environment(_ spec: ToolchainSpec) -> Marker.Environment {
        let package = (try? store.image(named: spec.name))?.packages.first { $0.name == "python\(spec.python)" || $0.name == "python\(spec.python)-minimal" }
        let full = package.map { String($0.version.prefix { $0 != "-" && $0 != "+" && $0 != "~" }) } ?? "\(spec.python).0"
        return Marker.Environment(pythonFullVersion: full.split(separator: ".").count == 3 ? full : "\(spec.python).0", machine: spec.architecture)
    }

    /// The requirement narrowed by the constraints on the same project that apply.
    func constrained(_ requirement: Requirement, environment: Marker.Environment) -> Requirement {
        let name = IndexClient.normalise(requirement.name)
        let extra = file.constraints.filter { IndexClient.normalise($0.requirement.name) == name && $0.applies(to: environment) }
            .map(\.requirement.specifier.description).filter { !$0.isEmpty }
        guard !extra.isEmpty else { return requirement }
        var result = requirement
        result.specifier = SpecifierSet(([requirement.specifier.description] + extra).filter { !$0.isEmpty }.joined(separator: ",")) ?? requirement.specifier
        return result
    }

    /// The exact version a requirement pins (`==1.2.3`), if it does.
    static func pinnedVersion(_ requirement: Requirement) -> String? {
        let exact = requirement.specifier.specifiers.filter { $0.op == "==" || $0.op == "===" }
        guard let pin = exact.first, !pin.description.hasSuffix(".*") else { return nil }
        return String(pin.description.drop { "=".contains($0) })
    }

    /// Builds every target, `jobs` targets at once (each target's requirements in turn, so a
    /// target's toolchain and derived roots are made once); results in target order.
    func run(jobs: Int = 1) -> [RequirementResult] {
        let slots = LockedSlots<[RequirementResult]>(count: targets.count)
        let gate = DispatchSemaphore(value: max(1, jobs))
        DispatchQueue.concurrentPerform(iterations: targets.count) { index in
            gate.wait()
            defer { gate.signal() }
            slots.set(index, run(target: targets[index]))
        }
        return (0..<targets.count).flatMap { slots.get($0) ?? [] }
    }

    func run(target: String) -> [RequirementResult] {
        var results: [RequirementResult] = []
        do {
            guard let spec = store.catalog.specs[target] else { return [] }
            let environment = environment(spec)
            var queue: [(entry: RequirementsFile.Entry, origin: String)] = file.requirements.filter { $0.applies(to: environment) }.map { ($0, $0.origin) }
            var seen = Set(queue.map { IndexClient.normalise($0.entry.requirement.name) })
            var index = 0
            while index < queue.count {
                let (entry, origin) = queue[index]
                index += 1
                let requirement = constrained(entry.requirement, environment: environment)
                let started = Date()
                var result: TargetBuild
                if let version = Self.pinnedVersion(requirement), let existing = builder.existingBuild(project: requirement.name, version: version, target: target),
                   entry.hashes.isEmpty || entry.hashes.contains(existing.record.sdist["sha256"] ?? "") {
                    result = existing
                } else {
                    guard let first = builder.build(.index(requirement), targets: [target], prereleases: prereleases, sdistHashes: entry.hashes, reuse: true).first else { continue }
                    result = first
                }
                let row = Self.row(result, requirement: entry.requirement.description, origin: origin, seconds: Date().timeIntervalSince(started))
                results.append(row)
                display.message("[\(target)] \(row.status) \(row.project) \(row.version)" + (row.failure.map { ": \($0)" } ?? "") + (row.wheel.map { " (\($0))" } ?? ""))
                // Runtime dependencies from the wheel's METADATA, for this target's environment.
                guard withDeps, let wheelPath = result.wheelPath, result.failure == nil,
                      let wheel = try? Wheel(path: wheelPath, selection: .binariesAndMetadata),
                      let metadata = wheel.content(of: "\(wheel.distInfo)/METADATA") else { continue }
                for text in MetadataFile(parsing: String(decoding: metadata, as: UTF8.self)).values("Requires-Dist") {
                    guard let dependency = Requirement(text) else { continue }
                    if let markerText = dependency.marker {
                        guard let marker = try? Marker(parsing: markerText), marker.evaluate(environment) else { continue }
                    }
                    var plain = dependency
                    plain.marker = nil
                    plain.extras = []
                    guard seen.insert(IndexClient.normalise(plain.name)).inserted else { continue }
                    queue.append((RequirementsFile.Entry(requirement: plain, hashes: [], marker: nil, origin: "dependency of \(row.project)"), "dependency of \(row.project)"))
                }
            }
        }
        return results
    }

    /// The default number of targets built at once: one per two cores and 4 GiB of memory
    /// (a build's sandbox may use 4 GiB), at least one.
    static var defaultJobs: Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Int(ProcessInfo.processInfo.physicalMemory >> 32)
        return max(1, min(max(1, cores / 2) + (cores > 1 ? 1 : 0), memory))
    }

    static func row(_ build: TargetBuild, requirement: String, origin: String, seconds: Double) -> RequirementResult {
        let status: String
        if build.failure != nil {
            status = "failed"
        } else if let skipped = build.skipped {
            status = skipped.hasPrefix("already built") ? "already built" : "skipped"
        } else {
            status = "built"
        }
        let wheel = build.wheelPath.map { ($0 as NSString).lastPathComponent } ?? build.record.wheel
        return RequirementResult(requirement: requirement, origin: origin, target: build.target, status: status, project: build.record.project,
                                 version: build.record.version, wheel: build.failure == nil ? wheel : nil,
                                 path: build.failure == nil ? build.wheelPath : nil,
                                 sha256: build.failure == nil ? build.record.wheelSha256 : nil, seconds: seconds,
                                 stage: build.failure?.stage.rawValue, failure: build.failure?.reason ?? (status == "skipped" ? build.skipped : nil),
                                 log: build.failure == nil ? nil : build.logPath)
    }

    /// The JSON report.
    static func json(_ results: [RequirementResult], started: Date, finished: Date, targets: [String]) throws -> [UInt8] {
        struct Report: Codable {
            var started: Date
            var finished: Date
            var targets: [String]
            var summary: [String: Int]
            var results: [RequirementResult]
        }
        let summary = Dictionary(grouping: results, by: \.status).mapValues(\.count)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(Report(started: started, finished: finished, targets: targets, summary: summary, results: results)))
    }

    /// The JUnit XML report: one test case per requirement and target.
    static func junit(_ results: [RequirementResult], seconds: Double) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").filter { $0 == "\n" || $0 == "\t" || !($0.asciiValue.map { $0 < 32 } ?? false) }
        }
        let failures = results.filter { $0.status == "failed" }.count
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"wheelfarm build\" tests=\"\(results.count)\" failures=\"\(failures)\" time=\"\(String(format: "%.3f", seconds))\">\n"
        for (target, rows) in Dictionary(grouping: results, by: \.target).sorted(by: { $0.key < $1.key }) {
            xml += "  <testsuite name=\"\(escape(target))\" tests=\"\(rows.count)\" failures=\"\(rows.filter { $0.status == "failed" }.count)\" skipped=\"\(rows.filter { $0.status == "skipped" }.count)\">\n"
            for row in rows {
                xml += "    <testcase classname=\"\(escape(target))\" name=\"\(escape(row.requirement))\" time=\"\(String(format: "%.3f", row.seconds))\">"
                if row.status == "failed" {
                    let log = row.log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.map { String($0.suffix(4000)) } ?? ""
                    xml += "\n      <failure message=\"\(escape("\(row.stage ?? ""): \(row.failure ?? "")"))\">\(escape(log))</failure>\n    "
                } else if row.status == "skipped" {
                    xml += "<skipped message=\"\(escape(row.failure ?? "skipped"))\"/>"
                } else {
                    xml += "<system-out>\(escape("\(row.status): \(row.wheel ?? "")"))</system-out>"
                }
                xml += "</testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }
}

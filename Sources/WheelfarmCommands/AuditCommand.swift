import ArgumentParser
import FarmCore
import Foundation
import WheelArchive
import WheelAudit

/// `wheelfarm audit`: the most compatible platform tag of each wheel and what constrains it.
public struct AuditCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Report the platform tag each wheel satisfies, its external libraries and symbol versions.",
        discussion: "Exit status: 0 when every wheel is consistent with its tags and needs nothing external, 1 when one is not, 2 when one cannot be read.")

    @Argument(help: "Wheel files to audit.")
    public var wheels: [String]

    @Option(help: "Output format: text or json.")
    public var format: OutputFormat = .text

    @Option(help: "Root file system whose libraries the wheel would use.")
    public var root: String = "/"

    @Option(name: .customLong("policy"), help: "An organisation's policy file (JSON); may be repeated.")
    public var policyFiles: [String] = []

    @Option(name: .customLong("exclude"), help: "Soname glob never treated as external; may be repeated.")
    public var excludes: [String] = []

    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws {
        let status = execute(CommandContext(options))
        if status != 0 { throw ExitCode(status) }
    }

    /// Audits the wheels, writing to `context`; returns the exit status.
    public func execute(_ context: CommandContext) -> Int32 {
        let catalog: PolicyCatalog
        do {
            catalog = try context.farm().policies(extra: policyFiles)
        } catch {
            context.err("wheelfarm: \(error)")
            return ExitStatus.invalidInput
        }
        let analyzer = WheelAnalyzer(catalog: catalog, root: root, exclude: excludes)
        var reports: [AuditReport] = []
        var status = ExitStatus.success
        var errors: [(String, String)] = []
        for path in wheels {
            do {
                let report = try analyzer.analyze(path: path).report
                reports.append(report)
                if !report.isCompliant && status == ExitStatus.success { status = ExitStatus.failure }
                if format == .text { context.out(TextReport.render(report)) }
            } catch {
                status = ExitStatus.invalidInput
                errors.append((path, "\(error)"))
                context.err("wheelfarm: \(error)")
            }
        }
        if format == .json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            var items: [Any] = []
            for report in reports {
                if let data = try? encoder.encode(report), let object = try? JSONSerialization.jsonObject(with: data) { items.append(object) }
            }
            for (path, message) in errors { items.append(["wheel": (path as NSString).lastPathComponent, "error": message]) }
            if let data = try? JSONSerialization.data(withJSONObject: items, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
                context.out(String(decoding: data, as: UTF8.self))
            }
        }
        return status
    }
}

/// Output formats of reports.
public enum OutputFormat: String, ExpressibleByArgument, Sendable {
    case text
    case json
}

/// The human-readable audit report.
enum TextReport {
    static func render(_ report: AuditReport) -> String {
        var lines = [report.wheel]
        if report.pure {
            lines.append("  pure: no binaries for a platform" + (report.consistentWithFilename ? "" : " (but the file name has platform tags)"))
            lines += report.findings.map { "  - \($0)" }
            return lines.joined(separator: "\n")
        }
        let verdict =
            report.isCompliant ? "consistent with its file name" : (report.consistentWithFilename ? "needs repair" : "NOT consistent with its file name")
        lines.append("  platform tag:    \(report.platformTag)  (\(verdict))")
        if report.repairTag != report.platformTag { lines.append("  after repair:    \(report.repairTag)") }
        lines.append("  binaries:        \(report.binaries.count) (\(report.binaries.filter { $0.kind == "extension" }.count) extension modules)")
        if report.symbolVersions.isEmpty {
            lines.append("  symbol versions: none referenced")
        } else {
            lines.append("  symbol versions:")
            for (library, versions) in report.symbolVersions.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(library): \(summarise(versions))")
            }
        }
        if report.externalLibraries.isEmpty {
            lines.append("  external libraries: none")
        } else {
            lines.append("  external libraries (grafted by repair):")
            for lib in report.externalLibraries {
                lines.append("    \(lib.soname) => \(lib.path ?? "not found")  (needed by \(lib.neededBy.joined(separator: ", ")))")
            }
        }
        if !report.findings.isEmpty {
            lines.append("  findings:")
            lines += report.findings.map { "    - \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    /// The newest version per prefix, and how many there are: the full list is in the JSON.
    static func summarise(_ versions: [String]) -> String {
        var byPrefix: [String: [String]] = [:]
        for v in versions { byPrefix[String(v.split(separator: "_", maxSplits: 1).first ?? ""), default: []].append(v) }
        return byPrefix.sorted { $0.key < $1.key }.map { prefix, list in
            let newest = list.max { compareVersions($0, $1) } ?? ""
            return list.count == 1 ? newest : "\(newest) (and \(list.count - 1) older)"
        }.joined(separator: ", ")
    }

    static func compareVersions(_ a: String, _ b: String) -> Bool {
        let pa = a.split(separator: "_").last?.split(separator: ".").map { Int($0) ?? -1 } ?? []
        let pb = b.split(separator: "_").last?.split(separator: ".").map { Int($0) ?? -1 } ?? []
        return pa.lexicographicallyPrecedes(pb)
    }
}

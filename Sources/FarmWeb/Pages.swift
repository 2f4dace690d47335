import FarmCore
import FarmStore
import Foundation
import Hummingbird
import Mustache
import WheelfarmBasics

/// Values as people read them.
enum Format {
    static func age(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        switch seconds {
        case ..<1: return String(format: "%.1f s", max(0, seconds))
        case ..<90: return "\(Int(seconds)) s"
        case ..<5400: return "\(Int(seconds / 60)) min"
        case ..<172_800: return "\(Int(seconds / 3600)) h"
        default: return "\(Int(seconds / 86400)) d"
        }
    }

    static func size(_ bytes: Int?) -> String? {
        guard let bytes else { return nil }
        if bytes < 1 << 10 { return "\(bytes) B" }
        if bytes < 1 << 20 { return "\(bytes >> 10) KiB" }
        return String(format: "%.1f MiB", Double(bytes) / Double(1 << 20))
    }

    static func time(_ epoch: Double) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: Date(timeIntervalSince1970: epoch))
    }

    /// A job for a table row. Every key a row's template names is set ("" when absent): a
    /// missing key would be looked up in the enclosing context (Mustache's rule) and show
    /// another value there.
    static func job(_ job: JobSummary) -> [String: Any] {
        [
            "number": job.number, "requirement": job.requirement, "project": job.project, "target": job.target, "state": job.state,
            "elapsed": age(job.elapsedSeconds), "attempts": job.attempts, "request": job.request, "stage": job.stage ?? "", "reason": job.reason ?? "",
            "version": job.version ?? ""
        ]
    }
}

extension FarmWeb {
    typealias Rendered = (title: String, content: String, refresh: Int?)

    func render(_ template: String, _ context: [String: Any]) -> String {
        Templates.library.render(context, withTemplate: template) ?? ""
    }

    func overviewPage() throws -> Rendered {
        let overview = try queries.overview()
        let order = ["running", "queued", "waiting", "failed", "succeeded", "skipped", "cancelled"]
        let counts = overview.counts.sorted { (order.firstIndex(of: $0.key) ?? 99, $0.key) < (order.firstIndex(of: $1.key) ?? 99, $1.key) }
            .map { ["state": $0.key, "n": $0.value] as [String: Any] }
        let context: [String: Any] = [
            "counts": counts, "total": overview.total, "oldest": overview.oldestQueuedSeconds.map { Format.age($0) } ?? "none queued",
            "running": overview.running.map(Format.job), "hasRunning": !overview.running.isEmpty,
            "failures": overview.failures.map(Format.job), "hasFailures": !overview.failures.isEmpty,
            "builders": overview.builders.map {
                ["name": $0.name, "running": $0.running, "lastSeen": Format.age(overview.generatedAt - $0.lastSeen) + " ago"] as [String: Any]
            },
            "hasBuilders": overview.builders.count > 1
        ]
        return ("Overview", render("overview", context), 10)
    }

    func jobsPage(_ request: Request) throws -> Rendered {
        let filter = try Self.filter(request)
        let page = try queries.jobs(filter, cursor: Self.cursor(request), limit: try Self.limit(request))
        var described: [String] = []
        if let states = filter.states { described.append(states.map(\.rawValue).joined(separator: ", ")) }
        if let project = filter.project { described.append("project \(project)") }
        if let target = filter.target { described.append("target \(target)") }
        if let request = filter.request { described.append("request \(request)") }
        var next: String? = nil
        if let cursor = page.next {
            var items = [URLQueryItem(name: "cursor", value: cursor)]
            for key in ["state", "project", "target", "request", "limit"] {
                if let value = request.uri.queryParameters.get(key), !value.isEmpty { items.append(URLQueryItem(name: key, value: value)) }
            }
            var components = URLComponents()
            components.path = "/dashboard/jobs"
            components.queryItems = items
            next = components.string
        }
        var context: [String: Any] = [
            "items": page.items.map(Format.job), "states": JobState.allCases.map(\.rawValue), "filterText": described.joined(separator: " · ")
        ]
        if let next { context["next"] = next }
        return ("Jobs", render("jobs", context), nil)
    }

    func jobPage(_ number: Int64) throws -> Rendered {
        guard let detail = try queries.job(number) else { throw HTTPError(.notFound, message: "There is no job \(number).") }
        let job = detail.job
        var context = Format.job(job)
        // Sections on this page: absent values must be absent, not "" (a string is true).
        for key in ["stage", "reason", "version"] where (context[key] as? String)?.isEmpty == true { context[key] = nil }
        context["live"] = job.state == "running" ? "true" : "false"
        // The stream goes on from where the page's log ends.
        context["logSize"] = detail.logBytes
        context["log"] = detail.log
        context["logTruncated"] = detail.logTruncated
        context["logAvailable"] = detail.logAvailable
        context["created"] = Format.time(job.createdAt)
        if job.state != "failed" && job.state != "cancelled" { context["reason"] = nil }
        if let wheel = job.wheel { context["wheel"] = wheel }
        context["stages"] = detail.stages.map {
            ["stage": $0.stage, "seconds": String(format: "%.1f s", $0.seconds), "percent": String(format: "%.2f", $0.percent)]
        }
        context["hasStages"] = !detail.stages.isEmpty
        context["grafted"] = detail.grafted.map { graft -> [String: Any] in
            var entry: [String: Any] = ["soname": graft.soname, "version": graft.version ?? ""]
            if let package = graft.package { entry["package"] = package }
            return entry
        }
        context["hasGrafted"] = !detail.grafted.isEmpty
        context["warnings"] = detail.warnings
        context["hasWarnings"] = !detail.warnings.isEmpty
        if let sdist = detail.sdist { context["sdist"] = sdist }
        if let sha = detail.sdistSha256 { context["sdistSha256"] = sha }
        if let toolchain = detail.toolchainDigest { context["toolchain"] = toolchain }
        context["events"] = detail.events.map { event -> [String: Any] in
            ["at": Format.time(event.at), "to": event.to, "from": event.from ?? "", "stage": event.stage ?? "", "message": event.message ?? ""]
        }
        return ("Job \(number)", render("job", context), nil)
    }

    func searchPage(_ request: Request) throws -> Rendered {
        let query = (request.uri.queryParameters.get("q") ?? "").trimmingCharacters(in: .whitespaces)
        let name = ProjectNameForSearch.normalise(query)
        let matches = name.isEmpty ? [] : try queries.store.projects(matching: name)
        return ("Projects", render("search", ["query": query, "matches": matches, "hasMatches": !matches.isEmpty]), nil)
    }

    func projectPage(_ text: String) throws -> Rendered {
        let matrix = try queries.project(try Self.projectName(text))
        let rows = matrix.versions.map { row -> [String: Any] in
            let cells = row.cells.map { cell -> [String: Any] in
                guard let cell else { return ["present": false] }
                var entry: [String: Any] = ["present": true, "state": cell.state, "job": cell.job]
                if let wheel = cell.wheel { entry["wheel"] = wheel }
                if let tag = cell.tag { entry["tag"] = tag }
                if let number = cell.buildNumber { entry["buildNumber"] = number }
                if let size = Format.size(cell.sizeBytes) { entry["size"] = size }
                if let url = cell.signatureURL { entry["signatureURL"] = url }
                if let url = cell.provenanceURL { entry["provenanceURL"] = url }
                if let stage = cell.stage { entry["stage"] = stage }
                if let reason = cell.reason { entry["reason"] = reason }
                entry["grafted"] = cell.grafted.map { graft -> [String: Any] in
                    var item: [String: Any] = ["soname": graft.soname, "version": graft.version ?? ""]
                    if let package = graft.package { item["package"] = package }
                    return item
                }
                return entry
            }
            return ["version": row.version, "cells": cells]
        }
        let context: [String: Any] = ["project": matrix.project, "targets": matrix.targets, "versions": rows, "hasVersions": !rows.isEmpty]
        return (matrix.project, render("project", context), nil)
    }

    func requestsPage(_ request: Request) throws -> Rendered {
        let page = try queries.requests(cursor: Self.cursor(request), limit: try Self.limit(request))
        let items = page.items.map { row -> [String: Any] in
            let summary = row.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            return ["id": row.id, "kind": row.kind, "description": row.description, "created": Format.time(row.createdAt), "summary": summary]
        }
        var context: [String: Any] = ["items": items]
        if let next = page.next { context["next"] = "/dashboard/requests?cursor=\(next)" }
        return ("Requests", render("requests", context), nil)
    }

    func toolchainsPage() throws -> Rendered {
        let rows = try queries.toolchainRows().map { row -> [String: Any] in
            [
                "name": row.name, "kind": row.runtime ? "runtime root" : "build image", "digest": String(row.digest.prefix(12)),
                "age": Format.age(row.ageSeconds),
                "packages": row.packages, "size": Format.size(row.sizeBytes) ?? "-", "builds": row.builds, "state": row.current ? "current" : "out of date"
            ]
        }
        return ("Toolchains", render("toolchains", ["rows": rows]), nil)
    }

    /// A running job's log as Server-Sent Events: each new complete line an `event: log`, and
    /// `event: end` with the job's state once it is no longer running. Polled twice a second,
    /// for at most 30 minutes per connection (the browser reconnects).
    func logStream(_ number: Int64, offset start: Int) -> Response {
        let queries = self.queries
        let body = ResponseBody { writer in
            var offset = max(0, start)
            let deadline = Date().addingTimeInterval(1800)
            var path: String? = nil
            while Date() < deadline {
                guard let job = try? queries.store.job(number) else { break }
                let current = queries.logPath(of: job)
                if path == nil { path = current }
                var sent = false
                if let path, path == current, let chunk = Self.read(path, from: offset, limit: 64 << 10) {
                    // Only complete lines: a partial last line waits for its end.
                    if let last = chunk.lastIndex(of: 10) {
                        let lines = chunk[...last].split(separator: 10, omittingEmptySubsequences: false).dropLast()
                        var text = ""
                        for line in lines {
                            let clean = TerminalText.escaped(String(decoding: line, as: UTF8.self).replacingOccurrences(of: "\r", with: ""))
                            text += "event: log\ndata: \(clean)\n\n"
                        }
                        offset += last + 1
                        try await writer.write(ByteBuffer(string: text))
                        sent = true
                    }
                }
                if !sent && (job.state != .running || current != path) {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: \(job.state.rawValue)\n\n"))
                    break
                }
                if !sent { try await Task.sleep(nanoseconds: 500_000_000) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// Up to `limit` bytes of a file from `offset`; nil when there are none.
    static func read(_ path: String, from offset: Int, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, limit, off_t(offset)) }
        guard count > 0 else { return nil }
        return Array(buffer.prefix(count))
    }
}

/// Search text to a name prefix: what `ProjectName.normalise` makes of a name, kept to the
/// characters a project name may hold.
enum ProjectNameForSearch {
    static func normalise(_ text: String) -> String {
        String(text.lowercased().map { $0 == "_" || $0 == "." ? "-" : $0 }.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }.prefix(100))
    }
}

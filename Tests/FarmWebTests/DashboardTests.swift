import FarmCore
import FarmStore
import FarmWeb
import Foundation
import Repository
import RepositoryServer
import TestSupport
import WheelfarmBasics
import XCTest

/// A farm home with a store of jobs (no builds: rows written as a farm would leave them) and
/// the server with the dashboard, in this process.
final class DashboardHarness: @unchecked Sendable {
    let work: TemporaryDirectory
    let layout: FarmLayout
    let store: JobStore
    let repository: Repository
    var task: Task<Void, Error>?
    var port = 0

    init() throws {
        work = try TemporaryDirectory(prefix: "wf-dashboard")
        layout = FarmLayout(path: "\(work.path)/home")
        try FileManager.default.createDirectory(atPath: layout.state, withIntermediateDirectories: true)
        store = try JobStore(path: layout.database)
        repository = try Repository(root: layout.repository)
    }

    /// `count` jobs of one request; returns their numbers, oldest first.
    @discardableResult
    func jobs(_ count: Int, project: String = "demo", target: String = "cp311-bookworm-x86_64") throws -> [Int64] {
        let request = try store.createRequest(RequestRecord(kind: "requirements", description: "test"))
        let jobs = (0..<count).map { index in
            JobRecord(
                requestId: request.id ?? 0, requirement: "\(project)==1.\(index)", origin: "test", project: project, version: "1.\(index)", target: target)
        }
        return try store.submit(jobs).map(\.number)
    }

    func set(_ number: Int64, state: String, stage: String? = nil, reason: String? = nil, log: String? = nil) throws {
        try store.execute(
            sql: "UPDATE jobs SET state = ?, stage = ?, reason = ?, log_path = ?, started_at = created_at, finished_at = created_at + 3 WHERE id = ?",
            arguments: [state, stage, reason, log, number])
    }

    func start(readToken: Bool = false) async throws {
        let queries = DashboardQueries(store: store, layout: layout, toolchains: nil, repository: repository)
        let metrics = FarmMetrics(queries: queries)
        let web = FarmWeb(queries: queries, metrics: metrics, repository: repository, readToken: readToken, targets: ["cp311-bookworm-x86_64"])
        let box = Locked<[Int?]>(slots: 1)
        let repository = self.repository
        task = Task {
            try await RepositoryServer(
                repository: repository, options: ServerOptions(port: 0, readToken: readToken), observer: metrics, extraRoutes: { web.register(on: $0) }
            ).run { port in box.set(0, port) }
        }
        for _ in 0..<200 {
            if let port = box.get(0) {
                self.port = port
                return
            }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        throw XCTSkip("the server did not start")
    }

    func stop() { task?.cancel() }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> (status: Int, body: String, headers: [String: String]) {
        try await send("GET", path, headers: headers)
    }

    /// One request with curl (the farm's own HTTP client); header names come back lowercased.
    func send(
        _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]
    ) async throws -> (
        status: Int, body: String, headers: [String: String]
    ) {
        var arguments = ["-s", "-i", "--max-time", "20", "-X", method]
        for (key, value) in headers { arguments += ["-H", "\(key): \(value)"] }
        if let body {
            let file = "\(work.path)/body-\(UUID().uuidString)"
            try Files.writeAtomically(Array(body.utf8), to: file)
            arguments += ["--data-binary", "@\(file)"]
        }
        arguments.append("http://127.0.0.1:\(port)\(path)")
        let output = try ProcessRunner.run(.curl, arguments)
        guard let split = output.stdout.range(of: "\r\n\r\n") else {
            XCTFail("no HTTP answer for \(method) \(path): \(output.stderr)")
            return (0, "", [:])
        }
        let head = output.stdout[..<split.lowerBound].split(separator: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, String(output.stdout[split.upperBound...]), fields)
    }

    func json(_ path: String) async throws -> [String: Any] {
        let (status, body, _) = try await get(path)
        XCTAssertEqual(status, 200, body)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], body)
    }
}

/// The API's JSON and pagination, escaping of what strangers wrote, operator actions and the
/// metrics' names, against the real server in this process.
final class DashboardTests: XCTestCase {
    var harness: DashboardHarness!

    override func setUp() async throws {
        harness = try DashboardHarness()
    }

    override func tearDown() async throws { harness.stop() }

    func testJobsPageThroughEveryJobOnceNewestFirstWithStableFields() async throws {
        let numbers = try harness.jobs(120)
        try harness.set(numbers[5], state: "failed", stage: "build", reason: "compiler said no")
        try await harness.start()
        var seen: [Int64] = []
        var cursor: String? = nil
        repeat {
            let page = try await harness.json("/api/v1/jobs?limit=50" + (cursor.map { "&cursor=\($0)" } ?? ""))
            let items = try XCTUnwrap(page["items"] as? [[String: Any]])
            seen += items.compactMap { ($0["number"] as? NSNumber)?.int64Value }
            cursor = page["next"] as? String
            if let first = items.first {
                for field in ["number", "request", "requirement", "project", "version", "target", "state", "attempts", "created_at"] {
                    XCTAssertNotNil(first[field], "field \(field) in \(first)")
                }
            }
        } while cursor != nil
        XCTAssertEqual(seen, numbers.reversed(), "every job once, newest first")

        let failed = try await harness.json("/api/v1/jobs?state=failed")
        let only = try XCTUnwrap((failed["items"] as? [[String: Any]])?.first)
        XCTAssertEqual(only["reason"] as? String, "compiler said no")
        XCTAssertEqual(only["stage"] as? String, "build")
        XCTAssertEqual((failed["items"] as? [[String: Any]])?.count, 1)
        let bad = try await harness.get("/api/v1/jobs?state=exploded")
        XCTAssertEqual(bad.status, 400)
        do {
            let answer = try await harness.get("/api/v1/jobs?limit=100000")
            XCTAssertEqual(answer.status, 400)
        }
        do {
            let answer = try await harness.get("/api/v1/jobs?cursor=abc")
            XCTAssertEqual(answer.status, 400)
        }
        do {
            let answer = try await harness.get("/api/v1/jobs/999999")
            XCTAssertEqual(answer.status, 404)
        }

        let overview = try await harness.json("/api/v1/overview")
        XCTAssertEqual(overview["total"] as? Int, 120)
        XCTAssertEqual((overview["counts"] as? [String: Int])?["queued"], 119)
        XCTAssertNotNil(overview["oldest_queued_seconds"])
        let matrix = try await harness.json("/api/v1/projects/Demo")
        XCTAssertEqual(matrix["project"] as? String, "demo")
        XCTAssertEqual((matrix["versions"] as? [[String: Any]])?.count, 120)
        let openapi = try await harness.json("/api/v1/openapi.json")
        for path in (openapi["paths"] as? [String: Any] ?? [:]).keys where !path.contains("{") && !path.hasSuffix("/builds") {
            do {
                let answer = try await harness.get(path)
                XCTAssertEqual(answer.status, 200, "documented \(path) answers")
            }
        }
    }

    /// Requirements, failure reasons and log lines come from strangers: every page escapes them.
    func testHostileNamesReasonsAndLogLinesAreEscaped() async throws {
        let numbers = try harness.jobs(1, project: "evil")
        let log = "\(harness.work.path)/build.log"
        try Files.writeAtomically(Array("compiling\n<script>alert('log')</script>\n\u{1b}]0;title\u{7}\n".utf8), to: log)
        try harness.set(numbers[0], state: "failed", stage: "build", reason: "<img src=x onerror=alert(1)> \"quoted\" & more", log: log)
        try harness.store.execute(sql: "UPDATE jobs SET requirement = ? WHERE id = ?", arguments: ["evil\"><script>alert(2)</script>", numbers[0]])
        try await harness.start()
        for path in ["/dashboard/", "/dashboard/jobs", "/dashboard/jobs/\(numbers[0])", "/dashboard/projects/evil", "/dashboard/projects?q=%3Cscript%3E"] {
            let (status, body, headers) = try await harness.get(path)
            XCTAssertEqual(status, 200, "\(path): \(body)")
            XCTAssertFalse(body.contains("<script>alert"), "\(path) let a script through")
            XCTAssertFalse(body.contains("<img src=x"), "\(path) let an element through")
            XCTAssertTrue(
                (headers["content-security-policy"] ?? "").contains("script-src 'self'"), "\(path) has a content security policy: \(headers)")
        }
        let page = try await harness.get("/dashboard/jobs/\(numbers[0])")
        XCTAssertTrue(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"), "the reason is shown, escaped")
        XCTAssertTrue(
            page.body.contains("&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;") || page.body.contains("&lt;script&gt;alert('log')&lt;/script&gt;"))
        do {
            let answer = try await harness.get("/dashboard/projects/%3Cscript%3E")
            XCTAssertEqual(answer.status, 404, "not a project name")
        }
    }

    /// Actions are POSTs that need an operator token in a header; reads follow --require-token.
    func testOperatorActionsNeedAnOperatorToken() async throws {
        let numbers = try harness.jobs(2)
        try harness.set(numbers[0], state: "failed", stage: "build", reason: "flaky")
        let tokens = TokenStore(repositoryRoot: harness.repository.root)
        let (upload, _) = try tokens.create(project: nil)
        let (operatorToken, _) = try tokens.create(project: nil, operator: true)
        try await harness.start()
        let path = "/api/v1/jobs/\(numbers[0])/retry"
        let anonymous = try await harness.send("POST", path)
        XCTAssertEqual(anonymous.status, 401, anonymous.body)
        XCTAssertTrue(anonymous.body.contains("operator token"), anonymous.body)
        do {
            let answer = try await harness.send("POST", path, headers: ["Authorization": "Bearer \(upload)"])
            XCTAssertEqual(answer.status, 403)
        }
        do {
            let answer = try await harness.send("POST", path, headers: ["Authorization": "Bearer wf_0000_forged"])
            XCTAssertEqual(answer.status, 403)
        }
        do {
            let answer = try await harness.get(path)
            XCTAssertNotEqual(answer.status, 200, "never a GET")
        }
        let retried = try await harness.send("POST", path, headers: ["Authorization": "Bearer \(operatorToken)"])
        XCTAssertEqual(retried.status, 200, retried.body)
        XCTAssertTrue(retried.body.contains("\"state\":\"queued\""), retried.body)
        let again = try await harness.send("POST", "/api/v1/jobs/\(numbers[1])/retry", headers: ["Authorization": "Bearer \(operatorToken)"])
        XCTAssertEqual(again.status, 200, "retrying a queued job changes nothing: \(again.body)")
        let missing = try await harness.send("POST", "/api/v1/jobs/999999/retry", headers: ["Authorization": "Bearer \(operatorToken)"])
        XCTAssertEqual(missing.status, 404, missing.body)
        let cancelled = try await harness.send("POST", "/api/v1/jobs/\(numbers[1])/cancel", headers: ["Authorization": "Bearer \(operatorToken)"])
        XCTAssertEqual(cancelled.status, 200, cancelled.body)

        let auth = ["Authorization": "Bearer \(operatorToken)", "Content-Type": "application/json"]
        let queued = try await harness.send(
            "POST", "/api/v1/builds", body: #"{"requirement": "markupsafe==3.0.2", "targets": ["cp311-bookworm-x86_64"]}"#, headers: auth)
        XCTAssertEqual(queued.status, 202, queued.body)
        XCTAssertTrue(queued.body.contains("\"requirement\":\"markupsafe==3.0.2\""), queued.body)
        for refused in [
            #"{"requirement": "markupsafe", "targets": ["cp311-bookworm-x86_64"]}"#,
            #"{"requirement": "--index-url=http://evil x==1", "targets": ["cp311-bookworm-x86_64"]}"#,
            #"{"requirement": "markupsafe==3.0.2", "targets": ["nowhere"]}"#, "not json"
        ] {
            let answer = try await harness.send("POST", "/api/v1/builds", body: refused, headers: auth)
            XCTAssertEqual(answer.status, 400, "\(refused): \(answer.body)")
        }
    }

    func testReadsFollowRequireToken() async throws {
        try harness.jobs(1)
        let (reader, _) = try TokenStore(repositoryRoot: harness.repository.root).create(project: nil)
        try await harness.start(readToken: true)
        for path in ["/dashboard/", "/api/v1/jobs", "/metrics"] {
            do {
                let answer = try await harness.get(path)
                XCTAssertEqual(answer.status, 401, path)
            }
            do {
                let answer = try await harness.get(path, headers: ["Authorization": "Bearer \(reader)"])
                XCTAssertEqual(answer.status, 200, path)
            }
        }
        do {
            let answer = try await harness.get("/healthz")
            XCTAssertEqual(answer.status, 200, "health checks need no token")
        }
    }

    func testMetricsNameJobsQueueRequestsAndStages() async throws {
        let numbers = try harness.jobs(3)
        try harness.set(numbers[0], state: "failed", stage: "build", reason: "x")
        try await harness.start()
        _ = try await harness.get("/dashboard/")
        let (status, body, headers) = try await harness.get("/metrics")
        XCTAssertEqual(status, 200)
        XCTAssertTrue((headers["content-type"] ?? "").hasPrefix("text/plain; version=0.0.4"), "\(headers)")
        for line in [
            #"wheelfarm_jobs{state="queued",target="cp311-bookworm-x86_64"} 2.0"#, #"wheelfarm_jobs{state="failed",target="cp311-bookworm-x86_64"} 1.0"#,
            #"wheelfarm_builds{result="failed"} 1.0"#, "# TYPE wheelfarm_queue_oldest_seconds gauge",
            #"wheelfarm_http_requests_total{area="dashboard",status="200"} 1"#,
            "# TYPE wheelfarm_http_request_seconds histogram"
        ] {
            XCTAssertTrue(body.contains(line), "metrics lack \(line):\n\(body)")
        }
        do {
            let answer = try await harness.get("/readyz")
            XCTAssertEqual(answer.status, 200)
        }
    }
}

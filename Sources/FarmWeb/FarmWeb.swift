import FarmCore
import FarmStore
import Foundation
import Hummingbird
import Mustache
import PackagingModel
import Repository
import RepositoryServer
import WheelfarmBasics

/// The farm in a browser, beside the repository in `wheelfarm serve`: the dashboard's pages
/// under `/dashboard/`, the same data as JSON under `/api/v1/`, operator actions (POST, an
/// operator token in the Authorization header), `/metrics`, `/healthz` and `/readyz`.
public struct FarmWeb: Sendable {
    let queries: DashboardQueries
    let metrics: FarmMetrics
    let tokens: TokenStore
    let repository: Repository
    /// Whether reads need a token (`serve --require-token`), as the index's do.
    let readToken: Bool
    /// Targets a build may be queued for.
    let targets: Set<String>
    /// Where builder hosts' results land (nil: this server takes none).
    let intake: BuilderIntake?

    public init(
        queries: DashboardQueries, metrics: FarmMetrics, repository: Repository, readToken: Bool, targets: Set<String>, intake: BuilderIntake? = nil
    ) {
        self.intake = intake
        self.queries = queries
        self.metrics = metrics
        self.tokens = TokenStore(repositoryRoot: repository.root)
        self.repository = repository
        self.readToken = readToken
        self.targets = targets
    }

    /// Adds the routes to the repository server's router.
    public func register(on router: Router<BasicRequestContext>) {
        let web = self
        router.get("/dashboard/style.css") { _, _ in web.asset(Assets.style, type: "text/css; charset=utf-8") }
        router.get("/dashboard/app.js") { _, _ in web.asset(Assets.script, type: "text/javascript; charset=utf-8") }
        router.get("/dashboard/") { request, _ in try web.page(request) { try web.overviewPage() } }
        router.get("/dashboard/jobs") { request, _ in try web.page(request) { try web.jobsPage(request) } }
        router.get("/dashboard/jobs/:number") { request, context in
            try web.page(request) { try web.jobPage(context.parameters.require("number", as: Int64.self)) }
        }
        router.get("/dashboard/jobs/:number/stream") { request, context in
            try web.authorizeRead(request)
            return web.logStream(try context.parameters.require("number", as: Int64.self), offset: Int(request.uri.queryParameters.get("offset") ?? "") ?? 0)
        }
        router.get("/dashboard/projects") { request, _ in try web.page(request) { try web.searchPage(request) } }
        router.get("/dashboard/projects/:name") { request, context in
            try web.page(request) { try web.projectPage(context.parameters.require("name")) }
        }
        router.get("/dashboard/requests") { request, _ in try web.page(request) { try web.requestsPage(request) } }
        router.get("/dashboard/toolchains") { request, _ in try web.page(request) { try web.toolchainsPage() } }

        router.get("/api/v1/overview") { request, _ in try web.api(request) { try web.queries.overview() } }
        router.get("/api/v1/jobs") { request, _ in
            try web.api(request) { try web.queries.jobs(try Self.filter(request), cursor: Self.cursor(request), limit: Self.limit(request)) }
        }
        router.get("/api/v1/jobs/:number") { request, context in
            try web.api(request) {
                let number = try context.parameters.require("number", as: Int64.self)
                guard let job = try web.queries.job(number) else { throw HTTPError(.notFound, message: "there is no job \(number)") }
                return job
            }
        }
        router.get("/api/v1/projects/:name") { request, context in
            try web.api(request) { try web.queries.project(try Self.projectName(context.parameters.require("name"))) }
        }
        router.get("/api/v1/requests") { request, _ in
            try web.api(request) { try web.queries.requests(cursor: Self.cursor(request), limit: Self.limit(request)) }
        }
        router.get("/api/v1/toolchains") { request, _ in try web.api(request) { try web.queries.toolchainRows() } }
        router.get("/api/v1/builders") { request, _ in try web.api(request) { try web.queries.overview().builders } }
        router.get("/api/v1/openapi.json") { _, _ in web.asset(OpenAPIDocument.json, type: "application/json") }
        router.post("/api/v1/jobs/:number/retry") { request, context in
            try web.action(request) { try web.queries.store.retry(context.parameters.require("number", as: Int64.self)) }
        }
        router.post("/api/v1/jobs/:number/cancel") { request, context in
            try web.action(request) { try web.queries.store.cancel(context.parameters.require("number", as: Int64.self)) }
        }
        router.post("/api/v1/builds") { request, _ in try await web.queueBuild(request) }

        registerBuilderRoutes(on: router)
        router.get("/metrics") { request, _ in
            try web.authorizeRead(request)
            return web.asset(web.metrics.render(), type: "text/plain; version=0.0.4; charset=utf-8", cache: false)
        }
        router.get("/healthz") { _, _ in web.asset("ok\n", type: "text/plain; charset=utf-8", cache: false) }
        router.get("/readyz") { _, _ in web.readiness() }
    }

    // MARK: - Access

    func authorizeRead(_ request: Request) throws {
        guard readToken else { return }
        guard let token = UploadHandler.token(authorization: request.headers[.authorization]), tokens.allows(token, .read) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"wheelfarm\""], message: "the dashboard needs a token")
        }
    }

    /// An operator action: a POST with an operator token in the Authorization header. A
    /// browser sends that header only from the dashboard's own script (another site's form
    /// cannot set it, and the API answers no CORS preflight), so actions cannot be forged.
    func action(_ request: Request, _ body: () throws -> JobRecord) throws -> Response {
        guard let token = UploadHandler.token(authorization: request.headers[.authorization]) else {
            return json(["error": "an operator token is needed (wheelfarm token create --operator), in the Authorization header"], status: .unauthorized)
        }
        guard tokens.allows(token, .operate) else {
            return json(["error": "this token may not act on the farm (wheelfarm token create --operator)"], status: .forbidden)
        }
        do {
            let job = try body()
            return try encoded(DashboardQueries.summary(job, now: Date().timeIntervalSince1970), status: .ok)
        } catch let error as HTTPError {
            throw error
        } catch FarmStoreError.noSuchJob(let number) {
            return json(["error": "there is no job \(number)"], status: .notFound)
        } catch {
            return json(["error": "\(error)"], status: .conflict)
        }
    }

    /// `POST /api/v1/builds` with `{"requirement": "name==version", "targets": [...]}`: queues
    /// a pinned build (the farm's workers pick it up).
    func queueBuild(_ request: Request) async throws -> Response {
        var request = request
        guard let token = UploadHandler.token(authorization: request.headers[.authorization]) else {
            return json(["error": "an operator token is needed (wheelfarm token create --operator), in the Authorization header"], status: .unauthorized)
        }
        guard tokens.allows(token, .operate) else {
            return json(["error": "this token may not act on the farm (wheelfarm token create --operator)"], status: .forbidden)
        }
        let body = try await request.collectBody(upTo: 16 << 10)
        struct Ask: Decodable {
            var requirement: String
            var targets: [String]
        }
        guard let ask = try? JSONDecoder().decode(Ask.self, from: Data(buffer: body)) else {
            return json(["error": "expected {\"requirement\": \"name==version\", \"targets\": [\"target\", ...]}"], status: .badRequest)
        }
        guard case let .success(requirement) = Requirement.validated(ask.requirement), requirement.marker == nil,
            let version = RequestPlanner.pinnedVersion(requirement)
        else {
            return json(["error": "the requirement must be a pinned requirement by name (name==version)"], status: .badRequest)
        }
        let unknown = ask.targets.filter { !targets.contains($0) }
        guard !ask.targets.isEmpty, unknown.isEmpty, ask.targets.count <= 64 else {
            return json(["error": "unknown or missing targets: \(unknown.prefix(5).joined(separator: ", "))"], status: .badRequest)
        }
        let store = queries.store
        let created = try store.createRequest(RequestRecord(kind: "dashboard", description: "queued from the dashboard: \(requirement)"))
        let jobs = Set(ask.targets).sorted().map { target in
            JobRecord(
                requestId: created.id ?? 0, requirement: requirement.description, origin: "dashboard", project: ProjectName.normalise(requirement.name),
                version: version, target: target, publish: true)
        }
        let submitted = try store.submit(jobs)
        let now = Date().timeIntervalSince1970
        struct Queued: Encodable {
            var request: Int64
            var jobs: [JobSummary]
        }
        return try encoded(Queued(request: created.id ?? 0, jobs: submitted.map { DashboardQueries.summary($0, now: now) }), status: .accepted)
    }

    func readiness() -> Response {
        let store = (try? queries.store.counts()) != nil
        let repository = access(self.repository.root, R_OK | X_OK) == 0
        let body = ["store": store ? "ok" : "not answering", "repository": repository ? "ok" : "not readable"]
        return json(body, status: store && repository ? .ok : .serviceUnavailable)
    }

    // MARK: - Responses

    func asset(_ text: String, type: String, cache: Bool = true) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: cache ? "max-age=300" : "no-store"]
        if let name = HeaderName.noSniff { headers[name] = "nosniff" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func json(_ value: [String: String], status: HTTPResponse.Status) -> Response {
        (try? encoded(value, status: status)) ?? Response(status: .internalServerError)
    }

    func encoded<T: Encodable>(_ value: T, status: HTTPResponse.Status) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: try DashboardJSON.encode(value))))
    }

    func api<T: Encodable>(_ request: Request, _ body: () throws -> T) throws -> Response {
        try authorizeRead(request)
        do { return try encoded(try body(), status: .ok) } catch let error as HTTPError {
            return json(["error": error.body ?? "\(error.status)"], status: error.status)
        }
    }

    /// A page in the frame, with a strict content policy: scripts and styles only from the
    /// dashboard itself (stage bars set widths in style attributes), nothing framed.
    func page(_ request: Request, _ body: () throws -> (title: String, content: String, refresh: Int?)) throws -> Response {
        try authorizeRead(request)
        let status: HTTPResponse.Status
        let rendered: (title: String, content: String, refresh: Int?)
        do {
            rendered = try body()
            status = .ok
        } catch let error as HTTPError where error.status == .notFound {
            rendered = ("Not found", Templates.library.render(["message": error.body ?? "not found"], withTemplate: "notFound") ?? "", nil)
            status = .notFound
        }
        var context: [String: Any] = ["title": rendered.title, "content": rendered.content, "query": request.uri.queryParameters.get("q") ?? ""]
        if let refresh = rendered.refresh { context["refresh"] = refresh }
        let html = Templates.library.render(context, withTemplate: "frame") ?? ""
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        if let name = HeaderName.contentSecurityPolicy {
            headers[name] =
                "default-src 'self'; img-src 'self' data:; style-src 'self'; style-src-attr 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
        }
        if let name = HeaderName.noSniff { headers[name] = "nosniff" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    // MARK: - Query parameters

    static func filter(_ request: Request) throws -> JobFilter {
        let parameters = request.uri.queryParameters
        var filter = JobFilter()
        if let text = parameters.get("state"), !text.isEmpty {
            let states = text.split(separator: ",").map { JobState(rawValue: String($0)) }
            guard states.allSatisfy({ $0 != nil }) else {
                throw HTTPError(.badRequest, message: "state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.states = states.compactMap { $0 }
        }
        if let project = parameters.get("project"), !project.isEmpty { filter.project = try projectName(project) }
        if let target = parameters.get("target"), !target.isEmpty {
            guard target.count <= 100, target.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                throw HTTPError(.badRequest, message: "not a target name")
            }
            filter.target = target
        }
        if let text = parameters.get("request"), !text.isEmpty {
            guard let request = Int64(text) else { throw HTTPError(.badRequest, message: "request must be a number") }
            filter.request = request
        }
        return filter
    }

    static func cursor(_ request: Request) throws -> String? {
        guard let cursor = request.uri.queryParameters.get("cursor"), !cursor.isEmpty else { return nil }
        guard Int64(cursor) != nil else { throw HTTPError(.badRequest, message: "not a cursor") }
        return cursor
    }

    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit"), !text.isEmpty else { return 50 }
        guard let limit = Int(text), (1...500).contains(limit) else { throw HTTPError(.badRequest, message: "limit must be between 1 and 500") }
        return limit
    }

    /// A project name from a URL: normalised, and only what a project name may hold.
    static func projectName(_ text: String) throws -> String {
        let name = ProjectName.normalise(text)
        guard !name.isEmpty, name.count <= 200, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw HTTPError(.notFound, message: "'\(text.prefix(100))' is not a project name")
        }
        return name
    }
}

/// Response headers Hummingbird has no name for.
enum HeaderName {
    static let contentSecurityPolicy = HTTPFields.Element.Name("Content-Security-Policy")
    static let noSniff = HTTPFields.Element.Name("X-Content-Type-Options")
}

import Foundation
import Hummingbird
import HummingbirdTLS
import PackagingModel
import Repository
import WheelfarmBasics

/// How `wheelfarm serve` listens.
public struct ServerOptions: Sendable {
    public var host: String
    public var port: Int
    /// PEM certificate chain and key: serve HTTPS.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Whether reads need a token too.
    public var readToken: Bool
    /// The largest upload body accepted.
    public var maxUploadBytes: Int

    public init(
        host: String = "127.0.0.1", port: Int = 8080, tlsCertificate: String? = nil, tlsKey: String? = nil,
        readToken: Bool = false, maxUploadBytes: Int = 512 << 20
    ) {
        self.host = host
        self.port = port
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.readToken = readToken
        self.maxUploadBytes = maxUploadBytes
    }
}

/// A rendered page, kept until the manifest it came from changes on disk.
struct CachedPage: Sendable {
    var stamp: String
    var body: ByteBuffer
    var etag: String
    var lastModified: String
}

/// Rendered pages by key, each checked against its file's change stamp on every request (one
/// stat): a publish from another process shows at once, and a read never re-renders or re-hashes.
final class PageCache: @unchecked Sendable {
    private let lock = NSLock()
    private var pages: [String: CachedPage] = [:]

    func page(key: String, stamp: String, render: () -> String?) -> CachedPage? {
        lock.lock()
        if let page = pages[key], page.stamp == stamp { lock.unlock(); return page }
        lock.unlock()
        guard let text = render() else { return nil }
        let bytes = Array(text.utf8)
        let page = CachedPage(
            stamp: stamp, body: ByteBuffer(bytes: bytes), etag: "\"\(Digest.hex(Digest.sha256(bytes)).prefix(32))\"",
            lastModified: HTTPDate.now())
        lock.lock()
        pages[key] = page
        lock.unlock()
        return page
    }
}

/// RFC 9110 dates.
enum HTTPDate {
    static func string(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    static func now() -> String { string(Date()) }
}

/// The change stamp of a file or folder: modification time (ns) and size; "" when missing.
func stamp(_ path: String) -> String {
    var info = stat()
    guard stat(path, &info) == 0 else { return "" }
    return "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec).\(info.st_size).\(info.st_ino)"
}

/// What the server reports as it serves, for the metrics: each request by area (the first
/// path segment, so labels stay few) and status, and each upload's size.
public protocol ServerObserver: Sendable {
    func served(area: String, status: Int, seconds: Double)
    func uploaded(bytes: Int, status: Int)
}

/// Routes another part of the farm adds to the server (the dashboard, the API, the metrics).
public typealias ExtraRoutes = @Sendable (Router<BasicRequestContext>) -> Void

/// Counts every request for the observer.
struct ObservingMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let observer: any ServerObserver

    static let areas: Set<String> = ["simple", "files", "project", "legacy", "dashboard", "api", "metrics", "healthz", "readyz"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let first = request.uri.path.split(separator: "/").first.map(String.init) ?? ""
        let area = first.isEmpty ? "home" : Self.areas.contains(first) ? first : "other"
        func seconds() -> Double {
            let elapsed = ContinuousClock.now - started
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        do {
            let response = try await next(request, context)
            observer.served(area: area, status: Int(response.status.code), seconds: seconds())
            return response
        } catch let error as HTTPError {
            observer.served(area: area, status: Int(error.status.code), seconds: seconds())
            throw error
        } catch {
            observer.served(area: area, status: 500, seconds: seconds())
            throw error
        }
    }
}

/// The artifact repository's HTTP server: the simple index (HTML and JSON), files with their
/// metadata, signatures and provenance, a page per project for people, and twine's upload API.
public struct RepositoryServer: Sendable {
    let repository: Repository
    let tokens: TokenStore
    let options: ServerOptions
    let cache = PageCache()
    let files = FileIO()
    let observer: (any ServerObserver)?
    let extraRoutes: ExtraRoutes?

    /// A server over `repository`; `extraRoutes` adds the farm's pages, `observer` counts requests.
    public init(repository: Repository, options: ServerOptions, observer: (any ServerObserver)? = nil, extraRoutes: ExtraRoutes? = nil) {
        self.repository = repository
        self.tokens = TokenStore(repositoryRoot: repository.root)
        self.options = options
        self.observer = observer
        self.extraRoutes = extraRoutes
    }

    /// Runs until SIGINT/SIGTERM; `onRunning` gets the bound port.
    public func run(onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        if let observer { router.add(middleware: ObservingMiddleware(observer: observer)) }
        let server = self
        router.get("/") { request, _ in try server.home(request) }
        // Hummingbird matches paths with and without a trailing slash alike.
        router.get("/simple/") { request, _ in try server.root(request) }
        router.get("/simple/:project/") { request, context in try server.project(request, context.parameters.require("project")) }
        router.get("/project/:project/") { request, context in try server.humanPage(request, context.parameters.require("project")) }
        router.get("/files/:project/:file") { request, context in
            try await server.file(request, context: context, project: context.parameters.require("project"), name: context.parameters.require("file"))
        }
        router.head("/files/:project/:file") { request, context in
            try await server.file(request, context: context, project: context.parameters.require("project"), name: context.parameters.require("file"))
        }
        router.post("/") { request, _ in try await server.upload(request) }
        router.post("/legacy/") { request, _ in try await server.upload(request) }
        extraRoutes?(router)

        let configuration = ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "wheelfarm")
        let port = options.port
        if let cert = options.tlsCertificate, let key = options.tlsKey {
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            let app = Application(
                router: router, server: try .tls(.http1(), tlsConfiguration: tls), configuration: configuration,
                onServerRunning: { channel in onRunning(channel.localAddress?.port ?? port) })
            try await app.runService()
        } else {
            let app = Application(router: router, configuration: configuration, onServerRunning: { channel in onRunning(channel.localAddress?.port ?? port) })
            try await app.runService()
        }
    }

    // MARK: - Reads

    func authorizeRead(_ request: Request) throws {
        guard options.readToken else { return }
        guard let token = UploadHandler.token(authorization: request.headers[.authorization]), tokens.allows(token, .read) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"wheelfarm\""], message: "this index needs a token")
        }
    }

    func respond(_ request: Request, _ page: CachedPage, contentType: String) -> Response {
        var headers: HTTPFields = [
            .eTag: page.etag, .lastModified: page.lastModified, .contentType: contentType, .vary: "Accept",
            .cacheControl: "max-age=60, must-revalidate"
        ]
        if request.headers[.ifNoneMatch].map({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains(page.etag) }) == true {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(page.body.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: page.body))
    }

    func format(_ request: Request) throws -> String {
        if let query = request.uri.queryParameters["format"] { return String(query) == "json" ? IndexPages.jsonType : IndexPages.htmlType }
        guard let type = IndexPages.negotiate(accept: request.headers[.accept]) else {
            throw HTTPError(.notAcceptable, message: "the index serves \(IndexPages.jsonType), \(IndexPages.htmlType) and text/html")
        }
        return type
    }

    func home(_ request: Request) throws -> Response {
        try authorizeRead(request)
        let html = IndexPages.homePage(projects: repository.projects())
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func root(_ request: Request) throws -> Response {
        try authorizeRead(request)
        let type = try format(request)
        let json = type == IndexPages.jsonType
        let dir = "\(repository.root)/projects"
        guard
            let page = cache.page(
                key: json ? "/json" : "/html", stamp: stamp(dir),
                render: {
                    json ? IndexPages.rootJSON(repository.projects()) : IndexPages.rootHTML(repository.projects())
                })
        else { throw HTTPError(.internalServerError) }
        return respond(request, page, contentType: type == "text/html" ? "text/html; charset=utf-8" : type)
    }

    func project(_ request: Request, _ name: String) throws -> Response {
        try authorizeRead(request)
        let normalised = ProjectName.normalise(name)
        guard normalised == name else {
            return Response(status: .movedPermanently, headers: [.location: "/simple/\(normalised)/"])
        }
        if !request.uri.path.hasSuffix("/") { return Response(status: .movedPermanently, headers: [.location: "/simple/\(normalised)/"]) }
        let type = try format(request)
        let json = type == IndexPages.jsonType
        let path = "\(repository.root)/projects/\(normalised).json"
        guard
            let page = cache.page(
                key: "\(normalised)/\(json)", stamp: stamp(path),
                render: {
                    ((try? repository.manifest(normalised)) ?? nil).map { json ? IndexPages.projectJSON($0) : IndexPages.projectHTML($0) }
                })
        else { throw HTTPError(.notFound, message: "no project \(normalised)") }
        return respond(request, page, contentType: type == "text/html" ? "text/html; charset=utf-8" : type)
    }

    func humanPage(_ request: Request, _ name: String) throws -> Response {
        try authorizeRead(request)
        let normalised = ProjectName.normalise(name)
        let path = "\(repository.root)/projects/\(normalised).json"
        guard
            let page = cache.page(
                key: "\(normalised)/page", stamp: stamp(path), render: { ((try? repository.manifest(normalised)) ?? nil).map(IndexPages.projectPage) })
        else {
            throw HTTPError(.notFound, message: "no project \(normalised)")
        }
        return respond(request, page, contentType: "text/html; charset=utf-8")
    }

    /// A listed file or one of its side files; never a file the manifest does not list.
    func file(_ request: Request, context: some RequestContext, project: String, name: String) async throws -> Response {
        try authorizeRead(request)
        let normalised = ProjectName.normalise(project)
        let listed: ProjectManifest?
        do { listed = try repository.manifest(normalised) } catch { throw HTTPError(.internalServerError, message: "\(error)") }
        guard !name.contains("/"), !name.hasPrefix("."), let manifest = listed else { throw HTTPError(.notFound) }
        var base = name
        var contentType = "application/octet-stream"
        for (suffix, type) in [(".metadata", "text/plain; charset=utf-8"), (".minisig", "text/plain; charset=utf-8"), (".intoto.json", "application/json")]
        where name.hasSuffix(suffix) {
            base = String(name.dropLast(suffix.count))
            contentType = type
        }
        guard let entry = manifest.files.first(where: { $0.filename == base }) else { throw HTTPError(.notFound) }
        let path = "\(repository.directory(of: normalised))/\(name)"
        var info = stat()
        guard stat(path, &info) == 0 else { throw HTTPError(.notFound) }
        let etag = base == name ? "\"\(entry.sha256)\"" : "\"\(stamp(path).hashValue)\""
        let lastModified = HTTPDate.string(Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec)))
        var headers: HTTPFields = [
            .eTag: etag, .lastModified: lastModified, .contentType: contentType, .acceptRanges: "none",
            .cacheControl: "max-age=31536000, immutable"
        ]
        if request.headers[.ifNoneMatch] == etag {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(info.st_size)
        if request.method == .head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: try await files.loadFile(path: path, context: context))
    }

    // MARK: - Upload

    func upload(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let handler = UploadHandler(repository: repository, tokens: tokens)
        let result: UploadResult
        // The token and the declared size are checked before any of the body is read; the body is
        // then streamed to a file in the repository's incoming folder, with the size limit, so
        // the server's memory stays flat whatever is sent.
        if let refusal = handler.preflight(
            authorization: request.headers[.authorization], contentLength: request.headers[.contentLength].flatMap { Int($0) },
            limit: options.maxUploadBytes + (1 << 20))
        {
            result = refusal
        } else {
            let staged = repository.incomingPath()
            defer { unlink(staged) }
            result =
                try await Self.receive(request.body, into: staged, limit: options.maxUploadBytes + (1 << 20)).map { _ in
                    handler.handle(bodyFile: staged, contentType: request.headers[.contentType], authorization: request.headers[.authorization])
                } ?? UploadResult(status: 413, message: "the upload is larger than \(options.maxUploadBytes) bytes")
        }
        observer?.uploaded(bytes: request.headers[.contentLength].flatMap { Int($0) } ?? 0, status: result.status)
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        if result.status == 401 { headers[.wwwAuthenticate] = "Basic realm=\"wheelfarm\"" }
        // The server's own time for the upload (receiving the body, checks, storing, the index
        // update), for clients and benchmarks to tell it from their own.
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        if let timing = HTTPFields.Element.Name("Server-Timing") { headers[timing] = String(format: "upload;dur=%.1f", milliseconds) }
        return Response(
            status: HTTPResponse.Status(code: result.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: result.message + "\n")))
    }

    /// Writes a request body to `path`; nil when it is larger than `limit` (nothing more is read).
    public static func receive(_ body: RequestBody, into path: String, limit: Int) async throws -> Int? {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HTTPError(.internalServerError, message: "cannot stage the upload") }
        defer { close(fd) }
        var total = 0
        for try await buffer in body {
            total += buffer.readableBytes
            guard total <= limit else { return nil }
            let written = buffer.withUnsafeReadableBytes { bytes -> Bool in
                var done = 0
                while done < bytes.count {
                    let n = write(fd, bytes.baseAddress.map { $0 + done }, bytes.count - done)
                    if n <= 0 { return false }
                    done += n
                }
                return true
            }
            guard written else { throw HTTPError(.init(code: 507), message: "cannot store the upload") }
        }
        return total
    }
}

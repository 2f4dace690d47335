import Foundation
import PackagingModel
import WheelfarmBasics

/// The answer to an upload: an HTTP status and a one-line message.
public struct UploadResult: Sendable, Equatable {
    public var status: Int
    public var message: String

    /// Creates a result.
    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }
}

/// twine's legacy upload API (`POST /legacy/`, multipart/form-data with `:action=file_upload`,
/// `name`, `version`, `sha256_digest` and the `content` file), authenticated by token (Basic
/// with user `__token__`, or Bearer). Everything is checked before anything is written.
public struct UploadHandler: Sendable {
    /// The repository written to.
    public let repository: Repository
    /// The tokens.
    public let tokens: TokenStore

    /// Creates a handler.
    public init(repository: Repository, tokens: TokenStore) {
        self.repository = repository
        self.tokens = tokens
    }

    /// The token in an Authorization header (Basic's password, or Bearer).
    public static func token(authorization: String?) -> String? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "bearer": return parts[1].trimmingCharacters(in: .whitespaces)
        case "basic":
            guard let data = Data(base64Encoded: parts[1].trimmingCharacters(in: .whitespaces)),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else { return nil }
            return String(text[text.index(after: colon)...])
        default: return nil
        }
    }

    /// The answer to an upload's headers alone, before any of its body is read: nil when they
    /// may go on (a token that exists, a body within the limit), else the refusal.
    public func preflight(authorization: String?, contentLength: Int?, limit: Int) -> UploadResult? {
        guard let token = Self.token(authorization: authorization), !token.isEmpty else {
            return UploadResult(status: 401, message: "an upload needs a token (user __token__, the token as password)")
        }
        guard tokens.allows(token, .read) else { return UploadResult(status: 403, message: "invalid or revoked token") }
        if let contentLength, contentLength > limit {
            return UploadResult(status: 413, message: "the upload is larger than \(limit) bytes")
        }
        return nil
    }

    /// Handles one upload request's body, held in memory (tests, small clients).
    public func handle(body: [UInt8], contentType: String?, authorization: String?) -> UploadResult {
        let staged = repository.incomingPath()
        defer { try? FileManager.default.removeItem(atPath: staged) }
        do { try Files.writeAtomically(body, to: staged) } catch { return UploadResult(status: 500, message: "\(error)") }
        return handle(bodyFile: staged, contentType: contentType, authorization: authorization)
    }

    /// Handles one upload request whose body was streamed to `bodyFile`: parsed from the file in
    /// pieces, the wheel copied out of it in pieces, so memory stays flat whatever its size.
    public func handle(bodyFile: String, contentType: String?, authorization: String?) -> UploadResult {
        if let refusal = preflight(authorization: authorization, contentLength: nil, limit: .max) { return refusal }
        let token = Self.token(authorization: authorization) ?? ""
        guard let boundary = MultipartForm.boundary(contentType: contentType) else {
            return UploadResult(status: 400, message: "expected multipart/form-data with a boundary")
        }
        let form: MultipartForm
        do { form = try MultipartForm(file: bodyFile, boundary: boundary) } catch {
            return UploadResult(status: 400, message: "\(error)")
        }
        guard form.fields[":action"] == "file_upload" else {
            return UploadResult(status: 400, message: "unsupported :action '\(form.fields[":action"] ?? "")' (only file_upload)")
        }
        guard let content = form.files["content"] else { return UploadResult(status: 400, message: "no 'content' file in the upload") }
        guard let project = form.fields["name"], !project.isEmpty else { return UploadResult(status: 400, message: "no 'name' field in the upload") }
        guard tokens.allows(token, .upload(project: project)) else {
            return UploadResult(status: 403, message: "this token may not upload to \(ProjectName.normalise(project))")
        }
        guard let name = WheelFilename(content.filename), !content.filename.contains("/"), !content.filename.contains("\\") else {
            return UploadResult(status: 400, message: RepositoryError.invalidName(content.filename).description + " (only wheels are accepted)")
        }
        guard ProjectName.normalise(name.distribution) == ProjectName.normalise(project) else {
            return UploadResult(status: 400, message: "the form names project \(project) but the file is \(content.filename)")
        }
        if let version = form.fields["version"], let declared = PackageVersion(version), let fileVersion = PackageVersion(name.version), declared != fileVersion
        {
            return UploadResult(status: 400, message: "the form says version \(version) but the file is \(content.filename)")
        }
        guard content.range.count <= repository.maxFileSize else {
            return UploadResult(status: 413, message: RepositoryError.tooLarge(repository.maxFileSize).description)
        }
        let staged = repository.incomingPath()
        defer { try? FileManager.default.removeItem(atPath: staged) }
        do {
            try Self.copy(bodyFile, range: content.range, to: staged)
            let outcome = try repository.publish(staged, filename: content.filename, expectedSha256: form.fields["sha256_digest"], move: true)
            switch outcome {
            case .added: return UploadResult(status: 200, message: "stored \(content.filename)")
            case .unchanged: return UploadResult(status: 200, message: "\(content.filename) is stored already with the same content")
            }
        } catch let error as RepositoryError {
            return UploadResult(status: error.status, message: error.description)
        } catch {
            return UploadResult(status: 500, message: "\(error)")
        }
    }

    /// Copies `range` of a file to a new file, in pieces.
    static func copy(_ source: String, range: Range<Int>, to destination: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw RepositoryError.io("cannot read the upload: \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw RepositoryError.io("cannot stage the upload: \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position = range.lowerBound
        while position < range.upperBound {
            let want = min(buffer.count, range.upperBound - position)
            let got = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, want, off_t(position)) }
            guard got > 0 else { throw RepositoryError.io("the upload ended early") }
            var written = 0
            while written < got {
                let n = buffer.withUnsafeBytes { write(output, $0.baseAddress.map { $0 + written }, got - written) }
                guard n > 0 else { throw RepositoryError.io("cannot stage the upload: \(String(cString: strerror(errno)))") }
                written += n
            }
            position += got
        }
        guard fsync(output) == 0 else { throw RepositoryError.io("cannot stage the upload: \(String(cString: strerror(errno)))") }
    }
}

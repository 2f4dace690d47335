import Foundation
import PackagingModel
import WheelfarmBasics

/// One API token: only its sha256 is kept.
public struct TokenEntry: Codable, Sendable, Equatable {
    public var id: String
    public var sha256: String
    /// The project it may upload to; nil for every project.
    public var project: String?
    /// Whether it may also read when reads need a token.
    public var created: Date
    public var revoked: Bool
    public var note: String?
    /// Whether it may act on the farm (retry, cancel, queue builds) through the API.
    public var `operator`: Bool?
}

/// What a token allows.
public enum TokenScope: Sendable, Equatable {
    case upload(project: String)
    case read
    /// Retry, cancel and queue builds through the dashboard's API.
    case operate
}

/// Upload (and optionally read) tokens, in `tokens.json` of the repository, hashed. A token
/// reads `wf_<id>_<secret>`; twine sends it as the password of user `__token__`.
public struct TokenStore: Sendable {
    /// The file.
    public let path: String

    /// The store of a repository folder.
    public init(repositoryRoot: String) { path = "\(repositoryRoot)/tokens.json" }

    /// Every token. A token file that exists but cannot be read is an error naming it, never
    /// taken for empty (a new token written over it would drop every existing one).
    public func entries() throws -> [TokenEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let bytes = try? Files.readBytes(path, limit: 64 << 20) else { throw RepositoryError.io("\(path) cannot be read") }
        do { return try Repository.decoder.decode([TokenEntry].self, from: Data(bytes)) } catch {
            throw RepositoryError.io("\(path) is not a token file (\(error)); it is left as it is: repair or restore it")
        }
    }

    /// Makes a token, scoped to `project` when given; returns the secret (shown once) and its entry.
    public func create(project: String?, note: String? = nil, operator isOperator: Bool = false) throws -> (token: String, entry: TokenEntry) {
        var random = [UInt8](repeating: 0, count: 24)
        for i in random.indices { random[i] = UInt8.random(in: 0...255) }
        let id = String(Digest.hex(Digest.sha256(random)).prefix(8))
        let secret = Data(random).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
            of: "=", with: "")
        let token = "wf_\(id)_\(secret)"
        let entry = TokenEntry(
            id: id, sha256: Digest.hex(Digest.sha256(Array(token.utf8))), project: project.map(ProjectName.normalise),
            created: Date(), revoked: false, note: note, operator: isOperator ? true : nil)
        try update { $0.append(entry) }
        return (token, entry)
    }

    /// Revokes a token by id; false when there is none.
    public func revoke(id: String) throws -> Bool {
        var found = false
        try update { entries in
            for index in entries.indices where entries[index].id == id {
                entries[index].revoked = true
                found = true
            }
        }
        return found
    }

    /// Whether `token` is valid for `scope`.
    public func allows(_ token: String, _ scope: TokenScope) -> Bool {
        let sha = Digest.hex(Digest.sha256(Array(token.utf8)))
        // An unreadable token file allows nothing.
        guard let entry = (try? entries())?.first(where: { $0.sha256 == sha }), !entry.revoked else { return false }
        switch scope {
        case .read: return true
        case let .upload(project): return entry.project == nil || entry.project == ProjectName.normalise(project)
        case .operate: return entry.operator == true
        }
    }

    private func update(_ change: (inout [TokenEntry]) -> Void) throws {
        let lock = try FileLock(path: path + ".lock")
        defer { lock.unlock() }
        var all = try entries()
        change(&all)
        try Files.writeAtomically(Array(try Repository.encoder.encode(all)), to: path, mode: 0o600)
    }
}

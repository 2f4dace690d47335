import Foundation
import PackagingModel

/// One file pip chose.
public struct ResolvedFile: Sendable, Equatable {
    public var project: String
    public var version: String
    public var filename: String
    public var sha256: String

    public init(project: String, version: String, filename: String, sha256: String) {
        self.project = project
        self.version = version
        self.filename = filename
        self.sha256 = sha256
    }
}

/// What one resolution against the repository said.
public enum ResolutionResult: Sendable, Equatable {
    /// Every requirement is satisfied by these files.
    case resolved([ResolvedFile])
    /// pip found no file for this requirement (its text as pip printed it), with pip's words.
    case missing(requirement: String, explanation: String)
    /// Something else: a conflict, a bad requirement, a sandbox failure; pip's explanation.
    case failed(String)
}

/// Why a lock could not be made.
public struct LockError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The lock loop: resolve with pip against the repository; when pip names a requirement the
/// repository cannot satisfy, build it through the farm (with its dependencies) and resolve
/// again. Resolution itself is pip's, never the farm's. The steps are injected, so the loop is
/// unit-tested without pip or builds.
public struct Locker: Sendable {
    /// Runs pip's resolver on the requirement lines.
    public var resolve: @Sendable ([String]) throws -> ResolutionResult
    /// Builds and publishes requirements for the target; returns what failed (empty: all landed).
    public var build: @Sendable ([Requirement]) throws -> [String]
    /// Whether missing requirements may be built (false: `--no-build`).
    public var mayBuild: Bool
    /// The most build rounds before giving up.
    public var maxRounds: Int

    public init(
        resolve: @escaping @Sendable ([String]) throws -> ResolutionResult, build: @escaping @Sendable ([Requirement]) throws -> [String],
        mayBuild: Bool = true, maxRounds: Int = 40
    ) {
        self.resolve = resolve
        self.build = build
        self.mayBuild = mayBuild
        self.maxRounds = maxRounds
    }

    /// The files of the resolution of `requirements`. `absent` are the requirements whose
    /// projects the repository has nothing of for the target: built up front, in one go.
    public func lock(_ requirements: [String], absent: [Requirement], say: (String) -> Void) throws -> [ResolvedFile] {
        var attempted = Set<String>()
        if mayBuild && !absent.isEmpty {
            say("building what the repository lacks: \(absent.map(\.description).joined(separator: ", "))")
            let failures = try build(absent)
            if !failures.isEmpty { throw LockError("cannot lock: the farm could not build \(failures.joined(separator: "; "))") }
            for requirement in absent { attempted.insert(requirement.description) }
        }
        for round in 0...maxRounds {
            switch try resolve(requirements) {
            case let .resolved(files):
                return files
            case let .failed(explanation):
                throw LockError("pip cannot resolve the requirements against the farm's repository:\n\(explanation)")
            case let .missing(text, explanation):
                guard mayBuild else {
                    throw LockError("the repository has no wheel for \(text) (run without --no-build to build it):\n\(explanation)")
                }
                guard case let .success(requirement) = Requirement.validated(text) else {
                    throw LockError("pip cannot find \(text.prefix(200)), which is not a requirement the farm can build:\n\(explanation)")
                }
                guard attempted.insert(requirement.description).inserted else {
                    throw LockError("\(requirement) was built, but no wheel in the repository satisfies it for this target:\n\(explanation)")
                }
                guard round < maxRounds else { throw LockError("gave up after \(maxRounds) rounds of building missing requirements") }
                say("the repository has no wheel for \(requirement): building it")
                let failures = try build([requirement])
                if !failures.isEmpty { throw LockError("cannot lock: the farm could not build \(failures.joined(separator: "; "))") }
            }
        }
        throw LockError("gave up after \(maxRounds) rounds of building missing requirements")
    }

    /// Reads pip's installation report (`pip install --dry-run --report`): each file to install,
    /// which must be a file of the repository mounted at `filesURL` (`file:///repo/files/`).
    public static func parseReport(_ data: [UInt8], filesURL: String) throws -> [ResolvedFile] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any], let install = object["install"] as? [[String: Any]] else {
            throw LockError("pip's report is not the JSON it documents")
        }
        return try install.map { item in
            let info = item["download_info"] as? [String: Any] ?? [:]
            let metadata = item["metadata"] as? [String: Any] ?? [:]
            guard let url = info["url"] as? String, url.hasPrefix(filesURL), let name = metadata["name"] as? String,
                let version = metadata["version"] as? String
            else {
                throw LockError("pip chose a file outside the farm's repository: \(String(describing: info["url"]).prefix(300))")
            }
            let path = url.dropFirst(filesURL.count).split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
            guard path.count == 2, let filename = path.last, WheelFilename(filename) != nil else {
                throw LockError("pip chose \(url.prefix(300)), which is not a wheel")
            }
            let hashes = (info["archive_info"] as? [String: Any])?["hashes"] as? [String: String] ?? [:]
            let hash = hashes["sha256"] ?? ((info["archive_info"] as? [String: Any])?["hash"] as? String).map { String($0.dropFirst("sha256=".count)) } ?? ""
            return ResolvedFile(project: ProjectName.normalise(name), version: version, filename: filename, sha256: hash)
        }
    }

    /// Reads pip's error output: the requirement it found no distribution for, if that is why it failed.
    public static func missingRequirement(in stderr: String) -> String? {
        for line in stderr.split(separator: "\n") {
            guard let range = line.range(of: "No matching distribution found for ") else { continue }
            let text = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : text
        }
        return nil
    }
}

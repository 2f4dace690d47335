import Foundation
import WheelfarmBasics

/// The patchelf program, checked to be recent enough to trust (0.14.5 or later).
public struct Patchelf: Sendable {
    /// Its path.
    public let path: String
    /// Its version as printed.
    public let version: String

    /// A patchelf at `path` (``locate()`` checks the version; this does not).
    public init(path: String, version: String) {
        self.path = path
        self.version = version
    }

    /// Finds patchelf through `WHEELFARM_PATCHELF`, `PATH` or the tools folder, taking the
    /// first that is recent enough.
    public static func locate() throws -> Patchelf {
        let env = ProcessInfo.processInfo.environment
        // The tools folder that ci/setup.sh fills comes last: Debian's own patchelf is too old.
        let tools = env["WHEELFARM_TOOLS"] ?? "/opt/wheelfarm-tools"
        let candidates = [env["WHEELFARM_PATCHELF"], "patchelf", "\(tools)/bin/patchelf"].compactMap { $0 }.filter { !$0.isEmpty }
        var lastProblem: Error = RepairError.patchelfMissing("not found in PATH")
        for candidate in candidates {
            let tool = HostTool.patchelf.at(candidate)
            guard let path = ProcessRunner.resolveExecutable(candidate) else { continue }
            do {
                let output = try ProcessRunner.check(tool.at(path), ["--version"])
                let version = output.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
                if isAtLeast(version, [0, 14, 5]) { return Patchelf(path: path, version: version) }
                lastProblem = RepairError.patchelfTooOld(version: version, path: path)
            } catch {
                lastProblem = RepairError.patchelfMissing("\(path): \(error)")
            }
        }
        throw lastProblem
    }

    static func isAtLeast(_ version: String, _ minimum: [Int]) -> Bool {
        let parts = version.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        for (index, floor) in minimum.enumerated() {
            let value = index < parts.count ? parts[index] : 0
            if value != floor { return value > floor }
        }
        return true
    }

    /// Runs patchelf with `arguments` on `file`.
    public func run(_ arguments: [String], file: String) throws {
        try ProcessRunner.check(HostTool.patchelf.at(path), arguments + [file])
    }

    /// Where patchelf runs on files a build made: given, every step of a repair runs through it
    /// (the build pipeline runs patchelf in the sandbox: no network, no writable host path but
    /// the folder of the files it patches, the build's limits), instead of on the host as root.
    public var confine: (@Sendable (_ patchelf: String, _ folder: String, _ steps: [PatchelfStep]) throws -> Void)?

    /// Runs every step on its file in `folder`: confined when ``confine`` is set, else on the
    /// host, files in parallel.
    public func runAll(_ steps: [PatchelfStep], in folder: String) throws {
        if let confine { return try confine(path, folder, steps) }
        let failures = Locked<[String: Error]>([:])
        DispatchQueue.concurrentPerform(iterations: steps.count) { index in
            let step = steps[index]
            do {
                for arguments in step.arguments { try run(arguments, file: "\(folder)/\(step.file)") }
            } catch {
                failures.withLock { $0[step.file] = error }
            }
        }
        if let (file, error) = failures.withLock({ $0.min { $0.key < $1.key } }) { throw RepairError.patchelfFailed(file: file, reason: "\(error)") }
    }
}

/// One file of a repair and the patchelf invocations it needs, in order.
public struct PatchelfStep: Sendable, Equatable {
    /// The file's name inside the repair's folder.
    public var file: String
    /// One argument list per patchelf run.
    public var arguments: [[String]]

    /// Creates a step.
    public init(file: String, arguments: [[String]]) {
        self.file = file
        self.arguments = arguments
    }
}

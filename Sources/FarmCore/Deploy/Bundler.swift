import Foundation
import PackagingModel
import Repository
import Signing
import WheelfarmBasics

/// What a bundle holds.
public struct BundleSummary: Sendable {
    /// The folder or tar file written.
    public var path: String
    public var target: String
    public var wheels: Int
    /// The wheels' bytes.
    public var bytes: Int
}

/// Makes offline bundles from signed locks: the wheels (from the farm's repository, checked
/// against the lock's sizes and hashes), each wheel's signature and provenance, the lock and
/// its requirements file with their signatures, the farm's public key and `install.sh`.
///
/// Deterministic: every file's bytes come from the lock and the repository's immutable files,
/// every time stamp is the lock's creation time, and a tar is written by GNU tar with sorted
/// names, numeric owner 0 and fixed modes, so the same lock gives the same bytes.
public struct Bundler: Sendable {
    public let repository: Repository
    public let publicKey: MinisignPublicKey

    public init(repository: Repository, publicKey: MinisignPublicKey) {
        self.repository = repository
        self.publicKey = publicKey
    }

    /// Reads and checks a lock and its requirements file (beside it), both signed by the farm's key.
    public func readLock(_ given: String) throws -> LockFile {
        let path = Paths.absolute(given)
        guard let text = Files.readText(path, limit: 64 << 20) else { throw LockError("cannot read \(path)") }
        try verify(path, what: "the lock")
        let lock = try LockFile.parse(toml: text)
        let requirements = "\(Paths.parent(path))/\(lock.requirementsName)"
        try verify(requirements, what: "the lock's requirements file")
        // The requirements file pip installs from must say what the lock says, wheel for wheel.
        let expected = Set(lock.wheels.map { "\($0.project)==\($0.version) --hash=sha256:\($0.sha256)" })
        let listed = Set(Self.pins(Files.readText(requirements, limit: 64 << 20) ?? ""))
        guard expected == listed else { throw LockError("\(requirements) does not pin the wheels \(path) names") }
        return lock
    }

    func verify(_ path: String, what: String) throws {
        guard let bytes = try? Files.readBytes(path, limit: 64 << 20) else { throw LockError("cannot read \(what) at \(path)") }
        guard let signature = Files.readText(path + ".minisig", limit: 64 << 10) else {
            throw LockError("\(what) has no signature (\(path).minisig); make it with wheelfarm lock")
        }
        do { _ = try publicKey.verify(bytes, signatureFile: signature) } catch {
            throw LockError("\(what) at \(path) is not signed by this farm's key \(publicKey.keyIDText): \(error)")
        }
    }

    /// `name==version --hash=sha256:H` of each pinned line of a requirements file.
    static func pins(_ text: String) -> [String] {
        text.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count == 2, fields[0].contains("=="), fields[1].hasPrefix("--hash=sha256:") else { return nil }
            return "\(fields[0]) \(fields[1])"
        }
    }

    /// Writes the bundle of the lock at `lockPath` to `output`: a folder, or a `.tar` file when
    /// the name ends so. An existing output is never overwritten.
    public func bundle(lockPath given: String, output requested: String) throws -> BundleSummary {
        let lockPath = Paths.absolute(given)
        let output = Paths.absolute(requested)
        let lock = try readLock(lockPath)
        guard !FileManager.default.fileExists(atPath: output) else { throw LockError("\(output) exists; bundles are never overwritten") }
        let asTar = output.hasSuffix(".tar")
        let parent = Paths.parent(output)
        try Files.makeDirectories(parent)
        let staging = "\(parent)/\(OwnedFolders.name(".wheelfarm-bundle"))"
        defer { try? SafeRemoval.remove(staging) }
        let top = asTar ? "\(staging)/wheelfarm-bundle-\(LockFile.fileIdentifier(lock.target))" : "\(staging)/bundle"
        try Files.makeDirectories("\(top)/wheels")

        var bytes = 0
        for wheel in lock.wheels {
            let source = "\(repository.directory(of: wheel.project))/\(wheel.filename)"
            guard let size = (try? FileManager.default.attributesOfItem(atPath: source))?[.size] as? NSNumber else {
                throw LockError("\(wheel.filename) is not in the farm's repository")
            }
            guard size.intValue == wheel.size else {
                throw LockError("\(wheel.filename): the repository's file has \(size) bytes, the lock says \(wheel.size)")
            }
            let destination = "\(top)/wheels/\(wheel.filename)"
            try FileManager.default.copyItem(atPath: source, toPath: destination)
            // The copy is what ships: its hash is checked, not the source's.
            let sha256 = Digest.hex(try Digest.sha256(fileAt: destination))
            guard sha256 == wheel.sha256 else { throw LockError("\(wheel.filename): sha256 \(sha256), the lock says \(wheel.sha256)") }
            for suffix in [".minisig", ".intoto.json"] where FileManager.default.fileExists(atPath: source + suffix) {
                try FileManager.default.copyItem(atPath: source + suffix, toPath: destination + suffix)
            }
            bytes += wheel.size
        }
        let directory = Paths.parent(lockPath)
        for name in [lock.pylockName, lock.requirementsName] {
            let source = name == lock.pylockName ? lockPath : "\(directory)/\(name)"
            try FileManager.default.copyItem(atPath: source, toPath: "\(top)/\(name)")
            try FileManager.default.copyItem(atPath: source + ".minisig", toPath: "\(top)/\(name).minisig")
        }
        try Files.writeAtomically(Array(publicKey.file.utf8), to: "\(top)/wheelfarm.pub")
        try Files.writeAtomically(Array(InstallScript.render(lock: lock).utf8), to: "\(top)/install.sh", mode: 0o755)
        try Self.normalise(top, time: lock.created)

        if asTar {
            let part = "\(staging)/bundle.tar"
            let epoch = Int(lock.created.timeIntervalSince1970)
            let result = try ProcessRunner.run(
                .tar,
                [
                    "--sort=name", "--format=gnu", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@\(epoch)", "-cf", part, "-C", staging,
                    (top as NSString).lastPathComponent
                ], environment: ["LC_ALL": "C", "PATH": HostTool.searchPath])
            guard result.status == 0 else { throw LockError("tar failed: \(result.stderr.prefix(2000))") }
            try Self.install(part, at: output)
        } else {
            try Self.install(top, at: output)
        }
        return BundleSummary(path: requested, target: lock.target, wheels: lock.wheels.count, bytes: bytes)
    }

    /// Fixed modes (0644, 0755 for folders and install.sh) and time stamps for every entry.
    static func normalise(_ root: String, time: Date) throws {
        var entries = [root]
        if let enumerator = FileManager.default.enumerator(atPath: root) {
            for case let relative as String in enumerator { entries.append("\(root)/\(relative)") }
        }
        for path in entries {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let mode: Int16 = isDirectory.boolValue || path.hasSuffix("/install.sh") ? 0o755 : 0o644
            try FileManager.default.setAttributes([.posixPermissions: mode, .modificationDate: time], ofItemAtPath: path)
        }
    }

    /// Moves the finished bundle into place, never over something that exists: a tar is
    /// hard-linked (EEXIST refuses), a folder replaces an empty folder made for it just before
    /// (mkdir refuses an existing one).
    static func install(_ path: String, at output: String) throws {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if !isDirectory.boolValue {
            guard link(path, output) == 0 else { throw LockError("cannot write \(output): \(String(cString: strerror(errno)))") }
            return
        }
        guard mkdir(output, 0o755) == 0 else { throw LockError("cannot create \(output): \(String(cString: strerror(errno)))") }
        guard rename(path, output) == 0 else {
            let reason = String(cString: strerror(errno))
            rmdir(output)
            throw LockError("cannot move the bundle to \(output): \(reason)")
        }
    }
}

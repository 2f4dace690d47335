import Foundation
import PackagingModel
import TOMLKit

/// One wheel a lock installs: a file of the farm's repository, named by hash.
public struct LockedWheel: Sendable, Equatable {
    /// The project's normalised name.
    public var project: String
    public var version: String
    /// The wheel's file name.
    public var filename: String
    /// Where the repository serves it.
    public var url: String
    public var size: Int
    public var uploadTime: Date
    public var sha256: String

    public init(project: String, version: String, filename: String, url: String, size: Int, uploadTime: Date, sha256: String) {
        self.project = project
        self.version = version
        self.filename = filename
        self.url = url
        self.size = size
        self.uploadTime = uploadTime
        self.sha256 = sha256
    }
}

/// Errors reading a lock file.
public struct LockFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A resolution for one target, written two ways: a PEP 751 `pylock.<target>.toml` (uv and
/// future pips install it) and a `requirements.<target>.txt` with `--hash` (every pip since 8
/// installs it with `--require-hashes`). Both name only files of the farm's repository, each by
/// its sha256, so one signature over the lock covers every wheel.
public struct LockFile: Sendable, Equatable {
    /// The farm's target the resolution is for.
    public var target: String
    /// The target's CPython version (`3.11`) and machine (`x86_64`).
    public var python: String
    public var machine: String
    /// When the lock was made.
    public var created: Date
    /// The target's build image and runtime root the wheels were built and resolved in.
    public var toolchainDigest: String?
    public var runtimeDigest: String
    /// The id of the key the wheels and the lock are signed with.
    public var signingKey: String
    /// The repository's simple index the URLs point into.
    public var index: String
    /// The requirements as given.
    public var requirements: [String]
    /// The wheels, sorted by project.
    public var wheels: [LockedWheel]

    public init(
        target: String, python: String, machine: String, created: Date, toolchainDigest: String?, runtimeDigest: String, signingKey: String,
        index: String, requirements: [String], wheels: [LockedWheel]
    ) {
        self.target = target
        self.python = python
        self.machine = machine
        self.created = created
        self.toolchainDigest = toolchainDigest
        self.runtimeDigest = runtimeDigest
        self.signingKey = signingKey
        self.index = index
        self.requirements = requirements
        self.wheels = wheels.sorted { ($0.project, $0.filename) < ($1.project, $1.filename) }
    }

    /// The name part of the file names: PEP 751 allows no dot in it (`glibc2.17` becomes `glibc2_17`).
    public static func fileIdentifier(_ target: String) -> String {
        String(target.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    /// `pylock.<target>.toml`.
    public var pylockName: String { "pylock.\(Self.fileIdentifier(target)).toml" }
    /// `requirements.<target>.txt`.
    public var requirementsName: String { "requirements.\(Self.fileIdentifier(target)).txt" }

    /// The PEP 751 document. Deterministic: the same lock gives the same bytes.
    public func toml() -> String {
        var out = "# Made by wheelfarm for the target \(target); install with `uv pip install -r \(pylockName)`,\n"
        out += "# or with pip: `pip install --require-hashes -r \(requirementsName)`.\n"
        out += "lock-version = \"1.0\"\n"
        out += "created-by = \"wheelfarm\"\n"
        out += "requires-python = \(Self.string("==\(python).*"))\n"
        out += "environments = [\(Self.string("sys_platform == 'linux' and platform_machine == '\(machine)' and python_version == '\(python)'"))]\n"
        for wheel in wheels {
            out += "\n[[packages]]\n"
            out += "name = \(Self.string(wheel.project))\n"
            out += "version = \(Self.string(wheel.version))\n"
            out += "index = \(Self.string(index))\n"
            out += "\n[[packages.wheels]]\n"
            out += "name = \(Self.string(wheel.filename))\n"
            out += "url = \(Self.string(wheel.url))\n"
            out += "size = \(wheel.size)\n"
            out += "upload-time = \(Self.datetime(wheel.uploadTime))\n"
            out += "hashes = { sha256 = \(Self.string(wheel.sha256)) }\n"
        }
        out += "\n[tool.wheelfarm]\n"
        out += "target = \(Self.string(target))\n"
        out += "created = \(Self.string(Self.isoTime(created)))\n"
        if let toolchainDigest { out += "toolchain = \(Self.string(toolchainDigest))\n" }
        out += "runtime = \(Self.string(runtimeDigest))\n"
        out += "signing-key = \(Self.string(signingKey))\n"
        out += "requirements = [\(requirements.map(Self.string).joined(separator: ", "))]\n"
        return out
    }

    /// The same resolution for pip: one pinned line per wheel with its hash. pip still checks
    /// each wheel's dependencies against the pins, so an incomplete closure fails loudly.
    public func requirementsText() -> String {
        var out = "# Made by wheelfarm from \(pylockName) (target \(target), key \(signingKey)).\n"
        out += "# pip install --require-hashes -r \(requirementsName) (with --index-url <repository>/simple/, or --no-index --find-links <wheels>)\n"
        for wheel in wheels {
            out += "\(wheel.project)==\(wheel.version) \\\n    --hash=sha256:\(wheel.sha256)\n"
        }
        return out
    }

    /// Reads a lock this farm wrote (or any PEP 751 file whose packages have wheels with a
    /// sha256, plus the `[tool.wheelfarm]` table).
    public static func parse(toml text: String) throws -> LockFile {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch { throw LockFileError("not a TOML document: \(error)") }
        guard table["lock-version"]?.string == "1.0" else { throw LockFileError("not a PEP 751 lock file (lock-version \"1.0\" expected)") }
        guard let tool = table["tool"]?.table?["wheelfarm"]?.table, let target = tool["target"]?.string else {
            throw LockFileError("the lock has no [tool.wheelfarm] target: it was not made by wheelfarm lock")
        }
        let environment = table["environments"]?.array?.first?.string ?? ""
        func quoted(after key: String) -> String? {
            guard let range = environment.range(of: "\(key) == '") else { return nil }
            return environment[range.upperBound...].split(separator: "'").first.map(String.init)
        }
        var wheels: [LockedWheel] = []
        for (index, package) in (table["packages"]?.array ?? []).enumerated() {
            guard let package = package.table, let name = package["name"]?.string, let version = package["version"]?.string else {
                throw LockFileError("packages[\(index)] has no name or version")
            }
            let files = package["wheels"]?.array ?? []
            guard files.count == 1, let wheel = files.first?.table, let url = wheel["url"]?.string,
                let sha256 = wheel["hashes"]?.table?["sha256"]?.string, let size = wheel["size"]?.int
            else {
                throw LockFileError("packages[\(index)] (\(name)) must have exactly one wheel with a url, a size and a sha256")
            }
            let filename = wheel["name"]?.string ?? (url.split(separator: "/").last.map(String.init) ?? "")
            guard WheelFilename(filename) != nil, !filename.contains("/"), sha256.count == 64, sha256.allSatisfy(\.isHexDigit) else {
                throw LockFileError("packages[\(index)] (\(name)): '\(filename.prefix(200))' is not a wheel named by a sha256")
            }
            wheels.append(
                LockedWheel(
                    project: ProjectName.normalise(name), version: version, filename: filename, url: url, size: size,
                    uploadTime: Date(timeIntervalSince1970: 0),
                    sha256: sha256.lowercased()))
        }
        return LockFile(
            target: target, python: quoted(after: "python_version") ?? "", machine: quoted(after: "platform_machine") ?? "",
            created: tool["created"]?.string.flatMap(Self.parseTime) ?? Date(timeIntervalSince1970: 0), toolchainDigest: tool["toolchain"]?.string,
            runtimeDigest: tool["runtime"]?.string ?? "", signingKey: tool["signing-key"]?.string ?? "",
            index: (table["packages"]?.array?.first?.table?["index"]?.string) ?? "", requirements: tool["requirements"]?.array?.compactMap(\.string) ?? [],
            wheels: wheels)
    }

    /// A TOML basic string.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A TOML offset date-time in UTC, to the second.
    static func datetime(_ date: Date) -> String { isoTime(date) }

    static func isoTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

import Foundation
import WheelfarmBasics

/// One target ABI: a Debian release and architecture with its interpreter, as described by
/// a file in `toolchains/targets/`.
///
/// Names read `<python tag>-<Debian suite>-<wheel architecture>`, for example
/// `cp311-bookworm-x86_64`: the Python and ABI tag, the release whose glibc and compilers
/// the wheels are built with, and the architecture of the binaries.
public struct ToolchainSpec: Codable, Sendable, Hashable {
    /// The name users type.
    public var name: String
    /// A one-line description.
    public var description: String
    /// The distribution (`debian`).
    public var distribution: String
    /// The release code name, for example `bookworm`.
    public var suite: String
    /// Debian's architecture name, for example `amd64` or `arm64`.
    public var debianArchitecture: String
    /// The wheel architecture, for example `x86_64` or `aarch64`.
    public var architecture: String
    /// The interpreter version, for example `3.11`.
    public var python: String
    /// The Python tag of the wheels, for example `cp311`.
    public var pythonTag: String
    /// The ABI tag of the wheels, for example `cp311`.
    public var abiTag: String
    /// The glibc version of the release.
    public var glibc: String
    /// Distribution packages baked into the image besides the minimal base.
    public var packages: [String]
    /// The pinned build frontend, installed from wheels into `/opt/wheelfarm/venv`.
    public var frontend: [String: String]
    /// The sha256 of each frontend pin's wheel (pure wheels: one file each), checked by pip
    /// with `--require-hashes`: a pin by version alone would take whatever the index serves.
    /// (Optional only so that manifests of images made before the pins still read: such an
    /// image is out of date, since its definition changed, and is made again on next use.)
    public var frontendSha256: [String: String]?
    /// The C/C++ compiler: Debian's gcc when absent.
    public var compiler: CompilerSpec?
    /// The least compatible platform tag a wheel of this target may carry (for example
    /// `manylinux_2_17`): an audit that comes out above it fails the build.
    public var tagCeiling: String?
    /// The packages of the target's runtime root (default: python3, python3-venv, python3-pip,
    /// ca-certificates): what production has, without compilers, `-dev` packages or headers.
    public var runtimePackages: [String]?

    enum CodingKeys: String, CodingKey {
        case name, description, distribution, suite, architecture, python, glibc, packages, frontend, compiler
        case debianArchitecture = "debian_architecture"
        case pythonTag = "python_tag"
        case abiTag = "abi_tag"
        case tagCeiling = "tag_ceiling"
        case frontendSha256 = "frontend_sha256"
        case runtimePackages = "runtime_packages"
    }

    /// The runtime root of this target: the same release, architecture and interpreter, with
    /// only what a production host has. Targets that differ only in their compiler share it.
    public var runtime: ToolchainSpec {
        var spec = self
        spec.name = "runtime-\(pythonTag)-\(suite)-\(architecture)"
        spec.description = "runtime root: Debian \(suite), CPython \(python), \(architecture); no compiler, no -dev packages, no headers"
        spec.packages = runtimePackages ?? ["python3", "python3-venv", "python3-pip", "ca-certificates"]
        spec.compiler = nil
        spec.tagCeiling = nil
        spec.runtimePackages = nil
        return spec
    }

    /// Whether this spec is a runtime root.
    public var isRuntime: Bool { name.hasPrefix("runtime-") }

    /// The oldest glibc the target's binaries are compiled for: the compiler's baseline, or the release's own.
    public var baselineGlibc: String { compiler?.glibc ?? glibc }

    /// Whether the target compiles with zig against a glibc baseline.
    public var usesZig: Bool { compiler?.kind == .zig }

    /// The GNU multiarch triplet of the root (`x86_64-linux-gnu`).
    public var multiarchTriplet: String { "\(architecture)-linux-gnu" }

    /// Environment variables that point a PEP 517 build at the target's compiler: CC, CXX and a
    /// sysconfig without gcc-only flags for zig targets, nothing for gcc ones.
    public var compilerEnvironment: [String: String] {
        guard usesZig else { return [:] }
        let bin = ZigToolchain.binDirectory
        return [
            "CC": "\(bin)/cc", "CXX": "\(bin)/c++", "LDSHARED": "\(bin)/cc -shared", "LDCXXSHARED": "\(bin)/c++ -shared",
            "_PYTHON_SYSCONFIGDATA_NAME": ZigToolchain.sysconfigModule,
            "PATH": "\(bin):" + (SandboxConfiguration.defaultEnvironment["PATH"] ?? "/usr/bin:/bin")
        ]
    }
}

/// The compiler of a target.
public struct CompilerSpec: Codable, Sendable, Hashable {
    /// Which compiler.
    public enum Kind: String, Codable, Sendable { case gcc, zig }
    /// gcc (the release's) or zig.
    public var kind: Kind
    /// The pinned `ziglang` version from the package index, for zig.
    public var ziglang: String?
    /// The glibc version zig compiles against, for example `2.17`.
    public var glibc: String?
    /// The sha256 of the `ziglang` wheel per host architecture (`x86_64`, `aarch64`).
    public var ziglangSha256: [String: String]?

    enum CodingKeys: String, CodingKey {
        case kind, ziglang, glibc
        case ziglangSha256 = "ziglang_sha256"
    }
}

extension ToolchainSpec {

    /// Whether running this target's binaries needs qemu-user emulation on this host.
    public var needsEmulation: Bool {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return machine != architecture
    }
}

/// Errors about toolchains and sandboxes.
public enum ToolchainError: Error, CustomStringConvertible {
    case unknownTarget(String, known: [String])
    case invalidSpec(path: String, reason: String)
    case notBuilt(String)
    case buildFailed(target: String, step: String, detail: String)
    case missingTool(String, hint: String)
    case needsRoot(String)

    /// Whether the failure looks like the network's (apt or pip could not reach the archive or
    /// the index): worth another attempt later, unlike a compile error.
    public var isTransient: Bool {
        guard case let .buildFailed(_, _, detail) = self else { return false }
        let signs = [
            "Temporary failure resolving", "Could not connect to", "Failed to fetch", "Connection timed out", "Connection refused",
            "NewConnectionError", "Read timed out", "Max retries exceeded", "503 Service", "502 Bad Gateway"
        ]
        return signs.contains { detail.contains($0) }
    }

    public var description: String {
        switch self {
        case let .unknownTarget(name, known): return "unknown target '\(name)'; known targets: \(known.joined(separator: ", "))"
        case let .invalidSpec(path, reason): return "invalid toolchain file \(path): \(reason)"
        case let .notBuilt(name): return "toolchain \(name) is not built; run 'wheelfarm toolchain build \(name)'"
        case let .buildFailed(target, step, detail):
            return "preparing the root of \(target) failed at \(step):\n\(LogExcerpt.meaningful(detail))"
        case let .missingTool(tool, hint): return "\(tool) is needed: \(hint)"
        case let .needsRoot(what): return "\(what) needs root (namespaces, mounts and cgroups); run as root"
        }
    }
}

/// The toolchain descriptions shipped in `toolchains/targets/`.
public struct ToolchainCatalog: Sendable {
    /// Every target, by name.
    public var specs: [String: ToolchainSpec]

    /// Loads every `*.json` of `<dataDirectory>/toolchains/targets`.
    public static func load(dataDirectory: String) throws -> ToolchainCatalog {
        let dir = "\(dataDirectory)/toolchains/targets"
        var specs: [String: ToolchainSpec] = [:]
        for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where file.hasSuffix(".json") {
            let path = "\(dir)/\(file)"
            do {
                let spec = try JSONDecoder().decode(ToolchainSpec.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
                guard "\(spec.name).json" == file else {
                    throw ToolchainError.invalidSpec(path: path, reason: "name '\(spec.name)' differs from the file name")
                }
                for name in spec.frontend.keys.sorted() where (spec.frontendSha256?[name] ?? "").count != 64 {
                    throw ToolchainError.invalidSpec(path: path, reason: "frontend_sha256 has no sha256 for \(name): every frontend wheel is pinned by hash")
                }
                specs[spec.name] = spec
            } catch let error as ToolchainError {
                throw error
            } catch {
                throw ToolchainError.invalidSpec(path: path, reason: "\(error)")
            }
        }
        return ToolchainCatalog(specs: specs)
    }

    /// The spec of a target, or a clear error listing the known ones.
    public func spec(_ name: String) throws -> ToolchainSpec {
        guard let spec = specs[name] else { throw ToolchainError.unknownTarget(name, known: specs.keys.sorted()) }
        return spec
    }
}

import BuildSandbox
import Foundation
import PackageIndex
import PackagingModel
import Signing
import WheelAudit
import WheelfarmBasics

/// Everything a build touches outside its own logic, each behind a protocol: the real ones
/// make images with mmdebstrap, run namespaces, talk to the index with curl and download with
/// pip; WheelfarmTesting's fakes let the build's logic run in a unit test without root or network.
public struct BuildEnvironment: Sendable {
    public var layout: FarmLayout
    public var toolchains: any ToolchainProvider
    public var sandbox: any SandboxRunner
    public var index: IndexClient
    public var wheels: any WheelFetcher
    public var clock: any Clock
    public var policies: PolicyCatalog
    public var recipes: RecipeBook
    /// Needed only when a wheel has libraries to graft.
    public var patchelf: Patchelf?
    /// With a key, every stored wheel gets a signature and a signed provenance statement.
    public var signer: MinisignKey?
    public var builderVersion: String
    /// The most bytes a build's log keeps (head and tail past it).
    public var logLimit: Int
    /// Whether `index` was named explicitly (pip then gets it too); else pip uses its own configuration.
    public var explicitIndex: Bool
    /// One line per step: (target, line).
    public var progress: @Sendable (String, String) -> Void
    /// The seccomp filter of the build's sandbox runs, given the system calls a recipe allows
    /// besides the usual (nil: none, for fakes that run nothing).
    public var seccomp: (@Sendable (Set<String>) throws -> SeccompPolicy)?
    /// Debian's index of package contents, searched when a build fails for something missing
    /// (nil: no diagnosis, for fakes without a mirror).
    public var contents: (any PackageContentsSearch)?
    /// The machine's memory: a build killed at its memory limit is tried once more with double
    /// the limit only when the machine has that much.
    public var machineMemoryBytes: UInt64 = ProcessInfo.processInfo.physicalMemory
    /// Set for a verification rebuild: the wheel, its record and log go to `into`, nothing is
    /// stored, signed or published, and the build requirements are pinned to `pins`.
    public var rebuild: Rebuild?

    public init(
        layout: FarmLayout, toolchains: any ToolchainProvider, sandbox: any SandboxRunner, index: IndexClient, wheels: any WheelFetcher,
        clock: any Clock = SystemClock(), policies: PolicyCatalog, recipes: RecipeBook, patchelf: Patchelf?, signer: MinisignKey?,
        builderVersion: String, logLimit: Int = 64 << 20, explicitIndex: Bool = false,
        seccomp: (@Sendable (Set<String>) throws -> SeccompPolicy)? = nil, contents: (any PackageContentsSearch)? = nil,
        progress: @escaping @Sendable (String, String) -> Void = { _, _ in }
    ) {
        self.seccomp = seccomp
        self.contents = contents
        self.layout = layout
        self.toolchains = toolchains
        self.sandbox = sandbox
        self.index = index
        self.wheels = wheels
        self.clock = clock
        self.policies = policies
        self.recipes = recipes
        self.patchelf = patchelf
        self.signer = signer
        self.builderVersion = builderVersion
        self.logLimit = logLimit
        self.explicitIndex = explicitIndex
        self.progress = progress
    }
}

/// How a verification rebuild differs from a build: where its output goes, and the build
/// requirements' versions the original build used.
public struct Rebuild: Sendable {
    public var into: String
    public var pins: [String]
    /// The derived root the original build ran in (used again while it is stored).
    public var derivedRoot: String?
    /// The digest of the toolchain image the original build ran on: used by digest, so that a
    /// target whose pointer moved to a newer image since can still be verified on the old one.
    public var imageDigest: String?

    /// Creates the settings.
    public init(into: String, pins: [String], derivedRoot: String? = nil, imageDigest: String? = nil) {
        self.into = into
        self.pins = pins
        self.derivedRoot = derivedRoot
        self.imageDigest = imageDigest
    }
}

/// Lines of a Debian suite's package contents index holding any of some fixed strings.
public protocol PackageContentsSearch: Sendable {
    func lines(containing patterns: [String], suite: String, architecture: String, limit: Int) throws -> [String]
}

extension ContentsIndex: PackageContentsSearch {}

/// What fetching requirement wheels gave.
public enum WheelFetchResult: Sendable, Equatable {
    /// Every requirement has a wheel in the wheelhouse.
    case fetched
    /// This requirement has no wheel for the target.
    case noWheel(String)
    /// Something else went wrong (`transient`: the network or the index, worth another try).
    case failed(String, transient: Bool)
}

/// Where wheels for a target come from and go to.
public struct WheelRequest: Sendable {
    public var requirements: [Requirement]
    public var spec: ToolchainSpec
    /// The platform tags pip may choose for the target.
    public var platformTags: [String]
    public var wheelhouse: String
    /// A constraints file (the recipe's).
    public var constraints: String
    /// The index to use, when it was named explicitly.
    public var indexURL: String?
}

/// Downloads requirements as wheels for a target: the host's pip for real, a fixture wheelhouse in tests.
public protocol WheelFetcher: Sendable {
    /// Fetches `request`'s requirements into its wheelhouse; returns the result and a log line.
    func fetch(_ request: WheelRequest) -> (WheelFetchResult, log: String)
}

/// `pip download` on the host, outside any sandbox, for the target's interpreter and platform.
/// Every requirement reaches pip as a validated PEP 508 requirement after `--`: nothing an
/// sdist wrote can be an option or a URL on this command line.
public struct PipWheelFetcher: WheelFetcher {
    public init() {}

    /// pip's messages for network and index trouble: worth another attempt later.
    static let networkSigns = [
        "Could not fetch URL", "NewConnectionError", "Temporary failure in name resolution", "Read timed out",
        "ConnectionError", "ProxyError", "Max retries exceeded", "HTTP error 5", "503 Service", "502 Bad Gateway"
    ]

    public func fetch(_ request: WheelRequest) -> (WheelFetchResult, log: String) {
        guard !request.requirements.isEmpty else { return (.fetched, "") }
        let spec = request.spec
        var arguments = [
            "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "--dest", request.wheelhouse,
            "--find-links", request.wheelhouse, "--python-version", spec.python, "--implementation", "cp",
            "--abi", spec.abiTag, "--abi", "abi3", "--abi", "none", "-c", request.constraints
        ]
        for tag in request.platformTags { arguments += ["--platform", tag] }
        if let index = request.indexURL { arguments += ["--index-url", index] }
        arguments += ["--"] + request.requirements.map(\.withoutMarker.description)
        let output: ProcessOutput
        do { output = try ProcessRunner.run(.python3, arguments) } catch {
            return (.failed("\(error)", transient: false), "\(error)")
        }
        let log = "pip download \(request.requirements.map(\.description).joined(separator: " ")): exit \(output.status)\n\(output.stdout)\(output.stderr)"
        if output.status == 0 { return (.fetched, log) }
        if let missing = output.stderr.split(separator: "\n").compactMap({ line -> String? in
            guard let range = line.range(of: "No matching distribution found for ") else { return nil }
            return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }).first {
            return (.noWheel(missing), log)
        }
        let transient = Self.networkSigns.contains { output.stderr.contains($0) }
        return (.failed(output.stderr.split(separator: "\n").suffix(3).joined(separator: " "), transient: transient), log)
    }
}

/// A parsed wheel file name (PEP 427, with the compressed tag sets of PEP 425).
///
/// `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`
public struct WheelFilename: Hashable, Sendable, CustomStringConvertible {
    /// The distribution name as written in the file name (underscores for dashes).
    public var distribution: String
    /// The version as written in the file name.
    public var version: String
    /// The optional build tag (starts with a digit).
    public var build: String?
    /// Python tags, for example `cp311` or `py3`.
    public var pythonTags: [String]
    /// ABI tags, for example `cp311`, `abi3` or `none`.
    public var abiTags: [String]
    /// Platform tags, for example `manylinux_2_17_x86_64` or `any`.
    public var platformTags: [String]

    /// Parses a wheel file name; nil when it is not one.
    public init?(_ filename: String) {
        guard filename.hasSuffix(".whl") else { return nil }
        let stem = filename.dropLast(4)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5 || parts.count == 6, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        distribution = parts[0]
        version = parts[1]
        if parts.count == 6 {
            guard let first = parts[2].first, first.isNumber else { return nil }
            build = parts[2]
        } else {
            build = nil
        }
        pythonTags = parts[parts.count - 3].split(separator: ".").map(String.init)
        abiTags = parts[parts.count - 2].split(separator: ".").map(String.init)
        platformTags = parts[parts.count - 1].split(separator: ".").map(String.init)
    }

    /// Creates a file name from its parts.
    public init(
        distribution: String, version: String, build: String? = nil,
        pythonTags: [String], abiTags: [String], platformTags: [String]
    ) {
        self.distribution = distribution
        self.version = version
        self.build = build
        self.pythonTags = pythonTags
        self.abiTags = abiTags
        self.platformTags = platformTags
    }

    /// The file name, with each tag set joined by dots.
    public var description: String {
        var parts = [distribution, version]
        if let build { parts.append(build) }
        parts += [pythonTags.joined(separator: "."), abiTags.joined(separator: "."), platformTags.joined(separator: ".")]
        return parts.joined(separator: "-") + ".whl"
    }

    /// The `.dist-info` directory name the wheel must contain.
    public var distInfoDirectory: String { "\(distribution)-\(version).dist-info" }

    /// Every `python-abi-platform` triple the compressed tag sets expand to.
    public var expandedTags: [String] {
        var tags: [String] = []
        for python in pythonTags { for abi in abiTags { for platform in platformTags { tags.append("\(python)-\(abi)-\(platform)") } } }
        return tags
    }

    /// Whether the wheel is platform independent (every platform tag is `any`).
    public var isPure: Bool { platformTags.allSatisfy { $0 == "any" } }
}

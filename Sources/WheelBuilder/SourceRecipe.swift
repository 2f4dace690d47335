import Foundation

/// The `source_libraries` recipe for a library built from its Debian source package with the
/// target's compiler: what `wheelfarm recipe add NAME --package PKG --from-source` writes, with
/// the build commands of the source package's build system, read from its `Build-Depends`.
public struct SourceRecipe: Sendable, Equatable {
    /// How a source package builds.
    public enum BuildSystem: String, Sendable {
        case autotools, cmake, meson
    }

    /// The Debian source package.
    public var source: String
    public var buildSystem: BuildSystem

    /// The target-name glob of the override: the baseline targets, whose tag ceiling a Debian
    /// library's glibc requirements would break.
    public static let baselineTargets = "*-glibc*"

    /// Reads a Sources paragraph (`Package:`, `Build-Depends:`): nil when it names no source package.
    public init?(paragraph: String) {
        var fields: [String: String] = [:]
        var current: String? = nil
        for line in paragraph.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.first == " " || line.first == "\t", let key = current {
                fields[key, default: ""] += " " + line.trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: ":") {
                current = String(line[..<colon]).lowercased()
                fields[current ?? ""] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
        }
        guard let name = fields["package"], Self.isSourceName(name) else { return nil }
        source = name
        // The build tools among the dependencies decide; meson projects often list cmake too, so meson first.
        let depends = ((fields["build-depends"] ?? "") + "," + (fields["build-depends-arch"] ?? "")).split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
        }
        if depends.contains("meson") {
            buildSystem = .meson
        } else if depends.contains("cmake") {
            buildSystem = .cmake
        } else {
            buildSystem = .autotools
        }
    }

    /// Creates one directly.
    public init(source: String, buildSystem: BuildSystem) {
        self.source = source
        self.buildSystem = buildSystem
    }

    /// Debian source package names: lower-case letters, digits, `+`, `-`, `.`.
    static func isSourceName(_ name: String) -> Bool {
        name.count >= 2 && name.count <= 100 && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "+-.".contains($0)) }
    }

    /// The Debian packages the build tools come from (installed into the derived root first).
    public var toolPackages: [String] {
        switch buildSystem {
        case .autotools: return ["autoconf", "automake", "libtool", "make", "pkg-config"]
        case .cmake: return ["cmake", "make", "pkg-config"]
        case .meson: return ["meson", "ninja-build", "pkg-config"]
        }
    }

    /// The `source_libraries` entry: a shared library with its headers in the prefix, where the
    /// build links it and the repair grafts it from. A tarball without a generated `configure`
    /// is bootstrapped with autoreconf; tests and documentation are not built.
    public var library: Recipe.SourceLibrary {
        let build = "/tmp/\(source)-build"
        let extra = Self.knownOptions[source].map { " \($0)" } ?? ""
        switch buildSystem {
        case .autotools:
            return Recipe.SourceLibrary(
                source: source,
                configure:
                    "[ -x ./configure ] || autoreconf -fi; ./configure --prefix=\"$PREFIX\" --libdir=\"$PREFIX/lib\" --enable-shared --disable-static\(extra)",
                build: "make -j\"$(nproc)\" && make install")
        case .cmake:
            return Recipe.SourceLibrary(
                source: source,
                configure:
                    "cmake -S . -B \(build) -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release "
                    + "-DCMAKE_INSTALL_PREFIX=\"$PREFIX\" -DCMAKE_INSTALL_LIBDIR=lib",
                build: "cmake --build \(build) -j \"$(nproc)\" && cmake --install \(build)")
        case .meson:
            return Recipe.SourceLibrary(
                source: source,
                configure: "meson setup \(build) --prefix=\"$PREFIX\" --libdir=lib --buildtype=release -Ddefault_library=shared",
                build: "meson compile -C \(build) && meson install -C \(build)")
        }
    }

    /// Configure options some source packages need with the baseline compiler: libffi's static
    /// trampolines use a function its headers declare only for newer glibc, which clang refuses
    /// to call undeclared; the classic closures need nothing newer.
    static let knownOptions = ["libffi": "--disable-exec-static-tramp --disable-docs"]

    /// The environment that points the wheel's build at the prefix.
    public static let environment = [
        "CFLAGS": "-I/opt/wheelfarm/prefix/include",
        "LDFLAGS": "-L/opt/wheelfarm/prefix/lib",
        "PKG_CONFIG_PATH": "/opt/wheelfarm/prefix/lib/pkgconfig"
    ]

    /// The recipe fields (a JSON object's) with this library added for the baseline targets:
    /// an override for ``baselineTargets`` holding the tools, the library and the environment,
    /// replacing an earlier entry for the same source package. `debianPackage` stays in the
    /// top-level packages, for the Debian targets without a ceiling.
    public func merged(into fields: [String: Any], debianPackage: String) -> [String: Any] {
        var result = fields
        var packages = result["packages"] as? [String] ?? []
        if !packages.contains(debianPackage) { packages.append(debianPackage) }
        result["packages"] = packages
        var overrides = result["overrides"] as? [[String: Any]] ?? []
        let index = overrides.firstIndex { $0["targets"] as? String == Self.baselineTargets && $0["source_libraries"] != nil }
        var override = index.map { overrides[$0] } ?? ["targets": Self.baselineTargets]
        override["//"] =
            "Baseline targets: Debian's \(debianPackage) would carry the root's glibc requirements above the tag's ceiling, "
            + "so \(source) is built from its Debian source (\(buildSystem.rawValue)) with the target's compiler into the prefix."
        var tools = override["packages"] as? [String] ?? []
        for tool in toolPackages where !tools.contains(tool) { tools.append(tool) }
        override["packages"] = tools
        var libraries = (override["source_libraries"] as? [[String: Any]] ?? []).filter { $0["source"] as? String != source }
        let entry = library
        libraries.append(["source": entry.source, "configure": entry.configure ?? "", "build": entry.build])
        override["source_libraries"] = libraries
        override["environment"] = (override["environment"] as? [String: String] ?? [:]).merging(Self.environment) { old, _ in old }
        if let index { overrides[index] = override } else { overrides.append(override) }
        result["overrides"] = overrides
        return result
    }
}

import Foundation

/// Finds wheelfarm's data folder: the one holding `toolchains/` (targets, policies) and
/// `recipes/`. Recipes carry shell commands run as root, so it is only ever a folder the
/// operator chose or installed, never one found from the current directory: a wheelfarm run
/// from inside an untrusted checkout must not load that checkout's recipes.
public enum DataDirectory {
    /// `WHEELFARM_DATA_DIR`, else `configured` (the configuration's `data_dir`), else the
    /// installation of the running executable: the nearest ancestor of its folder holding the
    /// data (a checkout's `.build/debug/wheelfarm`), then `<prefix>/share/wheelfarm` for a
    /// `<prefix>/bin/wheelfarm`.
    public static func locate(
        configured: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: String? = nil
    ) throws -> String {
        if let env = environment["WHEELFARM_DATA_DIR"], !env.isEmpty { return try checked(env, origin: "WHEELFARM_DATA_DIR") }
        if let configured, !configured.isEmpty { return try checked(configured, origin: "the configuration's data_dir") }
        var searched: [String] = []
        // /proc/self/exe is the binary itself, wherever it was started from.
        let binary = executable ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        if binary.hasPrefix("/") {
            let folder = (binary as NSString).deletingLastPathComponent
            var dir = folder
            while !dir.isEmpty && dir != "/" {
                searched.append(dir)
                if holdsData(dir) { return dir }
                dir = (dir as NSString).deletingLastPathComponent
            }
            let prefix = (folder as NSString).deletingLastPathComponent
            let shared = "\(prefix.isEmpty ? "" : prefix)/share/wheelfarm"
            searched.append(shared)
            if holdsData(shared) { return shared }
        }
        for candidate in ["/usr/local/share/wheelfarm", "/usr/share/wheelfarm"] where !searched.contains(candidate) {
            searched.append(candidate)
            if holdsData(candidate) { return candidate }
        }
        throw DataDirectoryError(
            description:
                "wheelfarm's data folder (toolchains/, recipes/) was not found; searched \(searched.joined(separator: ", ")); set WHEELFARM_DATA_DIR or data_dir"
        )
    }

    static func holdsData(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(dir)/toolchains/policies/manylinux.json")
    }

    static func checked(_ dir: String, origin: String) throws -> String {
        guard holdsData(dir) else { throw DataDirectoryError(description: "\(origin) names \(dir), which holds no toolchains/policies/manylinux.json") }
        return dir
    }
}

/// The data folder could not be found.
public struct DataDirectoryError: Error, CustomStringConvertible {
    public let description: String
}

import Foundation
import PackagingModel
import WheelfarmBasics

/// The recipes a build uses: the built-in ones (wheelfarm's `recipes/`) and the user's folders
/// (an organisation's recipes beside its CI configuration). A user file replaces the built-in
/// one of the same project, unless it says `"extends": "builtin"`: then the two are merged key
/// by key with the rules of `overrides` (`environment` and `config_settings` extend, `overrides`
/// append, other keys replace).
public struct RecipeBook: Sendable {
    /// The built-in folder.
    public let directory: String
    /// The user's folders, the first holding a project's file winning.
    public let userDirectories: [String]

    /// Creates a book over the built-in `directory` and the user's folders.
    public init(directory: String, userDirectories: [String] = []) {
        self.directory = directory
        self.userDirectories = userDirectories
    }

    /// The recipe a build of `project` uses, the files it came from, and where each key came from.
    public struct Effective: Sendable {
        /// The merged recipe, its patches as absolute paths.
        public var recipe: Recipe
        /// What enters the build key: the files' and the patches' digests ("none" without any).
        public var digest: String
        /// The files read, built-in first.
        public var files: [String]
        /// For each top-level key, the file it came from (both files for a merged key).
        public var origins: [String: String]
        /// Every patch any version or target may apply, with its sha256.
        public var patches: [(path: String, sha256: String)]
    }

    /// The recipe of a project and its digest ("none" without one).
    public func recipe(for project: String) throws -> (Recipe, digest: String) {
        let effective = try self.effective(for: project)
        return (effective.recipe, effective.digest)
    }

    /// The effective recipe of `project` (a PEP 503 normalised name).
    public func effective(for project: String) throws -> Effective {
        let builtin = "\(directory)/\(project).json"
        let user = userDirectories.map { "\($0)/\(project).json" }.first { FileManager.default.fileExists(atPath: $0) }
        var layers: [(path: String, fields: [String: Any], sha: String)] = []
        if let user {
            let loaded = try Self.load(user)
            if loaded.fields["extends"] as? String == "builtin", FileManager.default.fileExists(atPath: builtin) {
                layers.append(try Self.load(builtin))
            }
            layers.append(loaded)
        } else if FileManager.default.fileExists(atPath: builtin) {
            layers.append(try Self.load(builtin))
        }
        guard !layers.isEmpty else { return Effective(recipe: .none, digest: "none", files: [], origins: [:], patches: []) }

        var merged: [String: Any] = [:]
        var origins: [String: String] = [:]
        for layer in layers {
            for (key, value) in layer.fields where !key.hasPrefix("//") && key != "extends" {
                if let old = merged[key] as? [String: Any], let new = value as? [String: Any], Self.mergedKeys.contains(key) {
                    merged[key] = old.merging(new) { $1 }
                    origins[key] = "\(origins[key] ?? layer.path) + \(layer.path)"
                } else if key == "overrides", let old = merged[key] as? [Any], let new = value as? [Any] {
                    merged[key] = old + new
                    origins[key] = "\(origins[key] ?? layer.path) + \(layer.path)"
                } else {
                    merged[key] = value
                    origins[key] = layer.path
                }
            }
        }
        let recipe: Recipe
        do {
            recipe = try JSONDecoder().decode(Recipe.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch {
            throw BuildFailure(
                stage: .configure, kind: .configuration,
                reason: "invalid recipe \(layers.map(\.path).joined(separator: " + ")): \(RecipeCheck.describe(error))", log: nil)
        }
        var patches: [(path: String, sha256: String)] = []
        for path in Self.patchPaths(recipe) where !patches.contains(where: { $0.path == path }) {
            guard let bytes = try? Files.readBytes(path, limit: Self.patchLimit + 1), bytes.count <= Self.patchLimit else {
                throw BuildFailure(
                    stage: .configure, kind: .configuration, reason: "the recipe's patch \(path) cannot be read (or is over 4 MiB)", log: nil)
            }
            patches.append((path, Digest.hex(Digest.sha256(bytes))))
        }
        // One built-in file without patches keeps the file's own digest (the key builds had before user recipes).
        let digest =
            layers.count == 1 && patches.isEmpty && layers[0].path == builtin
            ? layers[0].sha
            : Digest.hex(
                Digest.sha256(
                    Array(
                        (layers.map { "\($0.path == builtin ? "builtin" : "user") \($0.sha)" }
                            + patches.map { "patch \(($0.path as NSString).lastPathComponent) \($0.sha256)" })
                            .joined(separator: "\n").utf8)))
        return Effective(recipe: recipe, digest: digest, files: layers.map(\.path), origins: origins, patches: patches)
    }

    /// Keys whose objects a later layer extends rather than replaces.
    static let mergedKeys: Set<String> = ["environment", "config_settings"]
    static let patchLimit = 4 << 20

    /// Every patch the recipe or one of its overrides names.
    static func patchPaths(_ recipe: Recipe) -> [String] {
        (recipe.patches ?? []) + (recipe.overrides ?? []).flatMap { $0.changes.patches ?? [] }
    }

    /// A recipe file's fields, checked for unknown keys, with patch names made absolute
    /// (relative to the file), and the file's sha256.
    static func load(_ path: String) throws -> (path: String, fields: [String: Any], sha: String) {
        guard let bytes = try? Files.readBytes(path, limit: (1 << 20) + 1), bytes.count <= 1 << 20 else {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "the recipe \(path) cannot be read (or is over 1 MiB)", log: nil)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let problems = RecipeCheck.problems(in: text, file: path)
        if !problems.isEmpty {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "invalid recipe: " + problems.joined(separator: "; "), log: nil)
        }
        guard var fields = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw BuildFailure(stage: .configure, kind: .configuration, reason: "invalid recipe \(path): not a JSON object", log: nil)
        }
        let folder = Paths.parent(path)
        func absolute(_ value: Any?) -> Any? {
            (value as? [String]).map { $0.map { $0.hasPrefix("/") ? $0 : Paths.absolute("\(folder)/\($0)") } }
        }
        if let patches = absolute(fields["patches"]) { fields["patches"] = patches }
        if var overrides = fields["overrides"] as? [[String: Any]] {
            for index in overrides.indices { if let patches = absolute(overrides[index]["patches"]) { overrides[index]["patches"] = patches } }
            fields["overrides"] = overrides
        }
        return (path, fields, Digest.hex(Digest.sha256(bytes)))
    }
}

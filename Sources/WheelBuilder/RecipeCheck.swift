import Foundation
import PackagingModel
import WheelfarmBasics

/// What is wrong with a recipe file, each problem with its file and line: JSON decoding ignores
/// keys it does not know, so a misspelt `enviroment` would otherwise build without the setting.
public enum RecipeCheck {
    static let topKeys = Set(Recipe.CodingKeys.allCases.map(\.rawValue))
    static let overrideKeys = topKeys.subtracting(["overrides", "extends"]).union(["versions", "targets"])
    static let resourceKeys = Set(Recipe.Resources.CodingKeys.allCases.map(\.rawValue))
    static let sourceLibraryKeys: Set<String> = ["source", "configure", "build"]

    /// The problems of one recipe file's text (empty when it is fine). Patches are looked for
    /// beside `file`.
    public static func problems(in text: String, file: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
            return ["\(file): not valid JSON\(jsonErrorLine(text).map { " (near line \($0))" } ?? "")"]
        }
        guard let fields = object as? [String: Any] else { return ["\(file):1: a recipe is a JSON object"] }
        var problems: [String] = []
        func unknown(_ keys: some Sequence<String>, allowed: Set<String>, within: String) {
            for key in keys.sorted() where !allowed.contains(key) && !key.hasPrefix("//") {
                let hint = closest(key, in: allowed).map { " (did you mean \"\($0)\"?)" } ?? ""
                problems.append("\(file):\(line(of: key, in: text)): unknown key \"\(key)\"\(within)\(hint)")
            }
        }
        unknown(fields.keys, allowed: topKeys, within: "")
        var sections: [([String: Any], String)] = [(fields, "")]
        for (index, override) in ((fields["overrides"] as? [Any]) ?? []).enumerated() {
            guard let override = override as? [String: Any] else {
                problems.append("\(file):\(line(of: "overrides", in: text)): overrides[\(index)] is not an object")
                continue
            }
            unknown(override.keys, allowed: overrideKeys, within: " in overrides[\(index)]")
            sections.append((override, " in overrides[\(index)]"))
        }
        for (section, within) in sections {
            if let resources = section["resources"] as? [String: Any] {
                unknown(resources.keys, allowed: resourceKeys, within: " in resources\(within)")
            }
            for library in (section["source_libraries"] as? [Any]) ?? [] {
                if let library = library as? [String: Any] { unknown(library.keys, allowed: sourceLibraryKeys, within: " in source_libraries\(within)") }
            }
            for patch in (section["patches"] as? [Any]) ?? [] {
                guard let patch = patch as? String else { continue }
                let path = patch.hasPrefix("/") ? patch : "\(Paths.parent(file))/\(patch)"
                if !FileManager.default.fileExists(atPath: path) {
                    problems.append("\(file):\(line(of: "patches", in: text)): the patch \(patch) is not there (patches are relative to the recipe)")
                } else if let patchText = Files.readText(path, limit: RecipeBook.patchLimit) {
                    do { _ = try SourcePatch(text: patchText, name: patch) } catch { problems.append("\(file): \(error)") }
                } else {
                    problems.append("\(file):\(line(of: "patches", in: text)): the patch \(patch) is not UTF-8 text of at most 4 MiB")
                }
            }
            for entry in (section["test_requires"] as? [Any]) ?? [] {
                guard let requirement = entry as? String else { continue }
                if case let .failure(refusal) = Requirement.validated(requirement) {
                    problems.append("\(file):\(line(of: "test_requires", in: text)): test_requires: \(refusal)")
                }
            }
            if let compiler = section["compiler"] as? String, compiler != "gcc" && compiler != "zig" {
                problems.append("\(file):\(line(of: "compiler", in: text)): compiler must be \"gcc\" or \"zig\", not \"\(compiler)\"")
            }
        }
        if let extends = fields["extends"], extends as? String != "builtin" {
            problems.append("\(file):\(line(of: "extends", in: text)): \"extends\" can only be \"builtin\"")
        }
        if problems.isEmpty {
            do { _ = try JSONDecoder().decode(Recipe.self, from: Data(text.utf8)) } catch { problems.append("\(file): \(describe(error))") }
        }
        return problems
    }

    /// Every recipe file of a folder checked; also that each is named by a normalised project name.
    public static func check(directory: String) throws -> (files: Int, problems: [String]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        var problems: [String] = []
        for name in names {
            let path = "\(directory)/\(name)"
            let stem = String(name.dropLast(5))
            if ProjectName.normalise(stem) != stem {
                problems.append("\(path): recipes are named by the normalised project name: \(ProjectName.normalise(stem)).json")
            }
            guard let text = Files.readText(path, limit: 1 << 20) else {
                problems.append("\(path): not UTF-8 text of at most 1 MiB")
                continue
            }
            problems += Self.problems(in: text, file: path)
        }
        return (names.count, problems)
    }

    /// A decoding error as a reader wants it: the key path and what was expected.
    static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        switch error {
        case let .typeMismatch(type, context): return "\(path(context)): expected \(type)"
        case let .valueNotFound(type, context): return "\(path(context)): expected \(type), found null"
        case let .keyNotFound(key, context): return "\(path(context)): \(key.stringValue) is missing"
        case let .dataCorrupted(context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The line of the first `"key":` in the text (1 when it is not found).
    static func line(of key: String, in text: String) -> Int {
        let quoted = "\"\(key)\""
        var search = text.startIndex..<text.endIndex
        while let found = text.range(of: quoted, range: search) {
            if text[found.upperBound...].first(where: { !$0.isWhitespace }) == ":" {
                return text[..<found.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
            }
            search = found.upperBound..<text.endIndex
        }
        return 1
    }

    /// The line where a JSON parse stops, from Foundation's "line N" when it gives one.
    static func jsonErrorLine(_ text: String) -> Int? {
        do { _ = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            let message = "\(error)"
            if let range = message.range(of: "line ") {
                return Int(message[range.upperBound...].prefix { $0.isNumber })
            }
        }
        return nil
    }

    /// The known key a misspelt one most likely means (at most two edits away).
    static func closest(_ key: String, in known: Set<String>) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var previous = row[0]
                row[0] = i + 1
                for (j, y) in b.enumerated() {
                    let current = row[j + 1]
                    row[j + 1] = min(row[j + 1] + 1, row[j] + 1, previous + (x == y ? 0 : 1))
                    previous = current
                }
            }
            return row[b.count]
        }
        var best: (name: String, distance: Int)? = nil
        for name in known.sorted() {
            let d = distance(Array(key), Array(name))
            if d <= 2 && d < (best?.distance ?? Int.max) { best = (name, d) }
        }
        return best?.name
    }
}

import ArgumentParser
import BuildSandbox
import FarmCore
import Foundation
import PackagingModel
import WheelBuilder
import WheelfarmBasics

/// `wheelfarm recipe`: the recipes a build would use, checked, and written.
public struct RecipeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "recipe",
        abstract: "Show, check and write build recipes.",
        discussion: """
            A recipe says what the defaults do not know about a project (system packages, environment, \
            patches, a test command). wheelfarm's own recipes/ come first to mind; your folders \
            (recipes.paths in the configuration, --recipes on build and nightly) are searched before them: \
            a file there replaces the built-in recipe of its project, or with "extends": "builtin" extends it.
            """,
        subcommands: [Show.self, Check.self, Add.self])

    public init() {}

    /// `recipe show NAME`: the effective recipe and where each key came from.
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print the recipe a build of a project would use, and the file each key came from.")
        @Argument(help: "The project.") var name: String
        @Option(help: "Apply the overrides for this target.") var target: String?
        @Option(help: "Apply the overrides for this version.") var version: String?
        @Option(name: .customLong("recipes"), help: "A folder of your own recipes, searched first (may be repeated).") var recipeFolders: [String] = []
        @OptionGroup var options: HomeOptions

        public init() {}

        public func run() throws {
            let status = run(CommandContext(options))
            if status != 0 { throw ExitCode(status) }
        }

        /// Prints the recipe; returns the exit status.
        public func run(_ context: CommandContext) -> Int32 {
            context.prependRecipeFolders(recipeFolders)
            guard case let .success(requirement) = Requirement.validated(name) else {
                context.err("wheelfarm: '\(name.prefix(100))' is not a project name")
                return ExitStatus.invalidInput
            }
            do {
                let book = try context.farm().recipeBook()
                let project = ProjectName.normalise(requirement.name)
                let effective = try book.effective(for: project)
                if effective.files.isEmpty {
                    context.out("\(project): no recipe; the defaults apply (searched: \((book.userDirectories + [book.directory]).joined(separator: ", ")))")
                    return ExitStatus.success
                }
                var parsedVersion: PackageVersion? = nil
                if let version {
                    guard let parsed = PackageVersion(version) else { throw ValidationError("'\(version)' is not a PEP 440 version") }
                    parsedVersion = parsed
                }
                var recipe = effective.recipe
                if version != nil || target != nil { recipe = recipe.resolved(for: parsedVersion, target: target) }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                context.out(String(decoding: try encoder.encode(recipe), as: UTF8.self))
                context.out("")
                context.out("from: \(effective.files.joined(separator: " + "))")
                for (key, file) in effective.origins.sorted(by: { $0.key < $1.key }) { context.out("  \(key): \(file)") }
                if version != nil || target != nil {
                    context.out("  (overrides applied for\(version.map { " version \($0)" } ?? "")\(target.map { " target \($0)" } ?? ""))")
                }
                for patch in effective.patches { context.out("patch \(patch.path) sha256 \(patch.sha256)") }
                context.out("digest: \(effective.digest)")
                return ExitStatus.success
            } catch {
                context.err("wheelfarm: \(error)")
                return ExitStatus.invalidInput
            }
        }
    }

    /// `recipe check DIR`: every file of a folder validated.
    public struct Check: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate every recipe of the folders: JSON, known keys (each unknown one with its file and line), patches, names.",
            discussion: "Without a folder: the configured recipes.paths and the built-in recipes. Exit status 1 when any problem is found.")
        @Argument(help: "Recipe folders.") var folders: [String] = []
        @OptionGroup var options: HomeOptions

        public init() {}

        public func run() throws {
            let status = run(CommandContext(options))
            if status != 0 { throw ExitCode(status) }
        }

        /// Checks the folders; returns the exit status.
        public func run(_ context: CommandContext) -> Int32 {
            var folders = self.folders
            var problems: [String] = []
            var files = 0
            do {
                if folders.isEmpty {
                    let book = try context.farm().recipeBook()
                    folders = book.userDirectories + [book.directory]
                }
                for folder in folders {
                    let result = try RecipeCheck.check(directory: folder)
                    files += result.files
                    problems += result.problems
                }
            } catch {
                context.err("wheelfarm: \(error)")
                return ExitStatus.invalidInput
            }
            for problem in problems { context.out(problem) }
            context.out(
                "\(files) recipe\(files == 1 ? "" : "s") in \(folders.joined(separator: ", ")): "
                    + (problems.isEmpty ? "all valid" : "\(problems.count) problem\(problems.count == 1 ? "" : "s")"))
            return problems.isEmpty ? ExitStatus.success : ExitStatus.failure
        }
    }

    /// `recipe add NAME --package PKG`: a user recipe written or updated.
    public struct Add: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add distribution packages to a project's recipe in your recipe folder.",
            discussion: """
                Writes <dir>/<name>.json, or adds to its "packages". A new file extends the built-in recipe \
                when there is one, so its settings are kept. The folder is --dir, else the first of the \
                configuration's recipes.paths.

                With --from-source, each package's Debian source package is also built with the target's \
                compiler on the baseline (glibc*) targets, where Debian's library would need a newer glibc \
                than the tag allows: an override with source_libraries, its build commands chosen for the \
                source's build system (autotools, CMake or meson, from its Build-Depends in the suite's \
                Sources index).
                """)
        @Argument(help: "The project.") var name: String
        @Option(help: "A Debian package the build needs (may be repeated).") var package: [String] = []
        @Option(help: "The recipe folder (default: the first of recipes.paths).") var dir: String?
        @Flag(help: "Build the packages' libraries from their Debian sources on baseline targets.") var fromSource = false
        @Option(help: "The target whose Debian suite is asked for the source packages (default: the first configured).") var target: String?
        @OptionGroup var options: HomeOptions

        public init() {}

        public mutating func validate() throws {
            if package.isEmpty { throw ValidationError("name at least one --package") }
            for name in package where !Self.isDebianPackageName(name) {
                throw ValidationError("'\(name.prefix(100))' is not a Debian package name")
            }
        }

        /// Debian policy: lower-case letters, digits, `+`, `-`, `.`; at least two, starting alphanumeric.
        static func isDebianPackageName(_ name: String) -> Bool {
            name.count >= 2 && name.count <= 100 && name.first.map { $0.isASCII && ($0.isLowercase || $0.isNumber) } == true
                && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "+-.".contains($0)) }
        }

        public func run() throws {
            let status = run(CommandContext(options))
            if status != 0 { throw ExitCode(status) }
        }

        /// Writes the recipe; returns the exit status.
        public func run(_ context: CommandContext) -> Int32 {
            guard case let .success(requirement) = Requirement.validated(name) else {
                context.err("wheelfarm: '\(name.prefix(100))' is not a project name")
                return ExitStatus.invalidInput
            }
            let project = ProjectName.normalise(requirement.name)
            do {
                // Not the farm's recipe book: that refuses a configured folder not made yet, which this makes.
                let farm = try context.farm()
                let book = RecipeBook(directory: "\(try farm.dataDirectory())/recipes")
                guard let folder = dir.map(Paths.absolute) ?? farm.configuration.recipePaths.first else {
                    throw ValidationError("name the folder with --dir, or set recipes.paths in the configuration")
                }
                try Files.makeDirectories(folder)
                let path = "\(folder)/\(project).json"
                var fields: [String: Any] = [:]
                if FileManager.default.fileExists(atPath: path) {
                    guard let text = Files.readText(path, limit: 1 << 20),
                        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                    else { throw ValidationError("\(path) is not a JSON object: fix it first (wheelfarm recipe check \(folder))") }
                    fields = object
                } else if FileManager.default.fileExists(atPath: "\(book.directory)/\(project).json") {
                    // Extending keeps the built-in settings; its packages are copied, as a list replaces a list.
                    fields["extends"] = "builtin"
                    fields["packages"] = try RecipeBook(directory: book.directory).recipe(for: project).0.packages ?? []
                }
                var packages = fields["packages"] as? [String] ?? []
                let added = package.filter { !packages.contains($0) }
                packages += added
                fields["packages"] = packages
                var built: [SourceRecipe] = []
                if fromSource {
                    (fields, built) = try sourceLibraries(fields, farm: farm)
                }
                let data = try JSONSerialization.data(withJSONObject: fields, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                let problems = RecipeCheck.problems(in: String(decoding: data, as: UTF8.self), file: path)
                if !problems.isEmpty { throw ValidationError(problems.joined(separator: "; ")) }
                try Files.writeAtomically(Array(data) + [10], to: path)
                for source in built {
                    context.out(
                        "\(path): \(source.source) built from its Debian source (\(source.buildSystem.rawValue)) on \(SourceRecipe.baselineTargets) targets")
                }
                context.out(
                    added.isEmpty && built.isEmpty
                        ? "\(path) already lists \(package.joined(separator: ", "))"
                        : "\(path): packages now \(packages.joined(separator: ", ")) (the recipe's digest changed: the next build of \(project) is not reused)")
                return ExitStatus.success
            } catch {
                context.err("wheelfarm: \(error)")
                return ExitStatus.invalidInput
            }
        }

        /// The recipe fields with a source build of each package's source package, looked up in
        /// the target suite's Sources index (fetched from the host's mirror and cached).
        func sourceLibraries(_ fields: [String: Any], farm: FarmContext) throws -> ([String: Any], [SourceRecipe]) {
            let targetName = target ?? farm.configuration.targets([]).first ?? FarmConfiguration.defaultTarget
            let spec = try farm.toolchains().catalog.spec(targetName)
            guard let index = farm.debianIndexes() else {
                throw ValidationError("the host's apt sources name no Debian archive: the Sources index of \(spec.suite) cannot be fetched")
            }
            var result = fields
            var built: [SourceRecipe] = []
            for name in package {
                guard let paragraph = try index.sourceParagraph(building: name, suite: spec.suite), let source = SourceRecipe(paragraph: paragraph) else {
                    throw ValidationError("no source package of \(spec.suite) builds \(name)")
                }
                result = source.merged(into: result, debianPackage: name)
                built.append(source)
            }
            return (result, built)
        }
    }
}

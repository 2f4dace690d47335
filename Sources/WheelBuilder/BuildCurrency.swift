import BuildSandbox
import Foundation
import PackagingModel

/// Whether a stored build still stands for what a build would make now.
public enum BuildCurrency: Sendable, Equatable {
    /// It does; the text says why when the toolchain changed but nothing the build used did.
    case current(String?)
    /// It does not, and why (the package updates that call for a rebuild, say).
    case stale(String)
}

extension WheelBuilder {
    /// Compares a stored build's inputs with what a build of `builtFor` would use now: the same
    /// recipe digest and builder version, and either the same toolchain image (and derived root)
    /// or a new one in which none of the packages the build used changed version (the record's
    /// `debian_packages`: grafted libraries, the recipe's packages, source libraries, the
    /// compiler). A recipe with `"follow_toolchain": true`, a changed target definition, or a
    /// record from before packages were listed makes any new image a reason to rebuild. A derived
    /// root not made since the image's refresh is not guessed at: the build is stale.
    public func currency(of record: BuildRecord, builtFor: String) -> BuildCurrency {
        let toolchains = environment.toolchains
        let (base, recipeDigest) = (try? environment.recipes.recipe(for: ProjectName.normalise(record.project))) ?? (Recipe.none, "none")
        guard record.recipeDigest == recipeDigest else { return .stale("its recipe changed") }
        guard record.builderVersion == environment.builderVersion else {
            return .stale("built by wheelfarm \(record.builderVersion), this is \(environment.builderVersion)")
        }
        guard let image = try? toolchains.image(named: builtFor) else { return .stale("the \(builtFor) toolchain image is not built") }
        guard toolchains.isCurrent(image) else { return .stale("the \(builtFor) toolchain image is older than its definition") }
        let recipe = base.resolved(for: PackageVersion(record.version), target: builtFor)
        let packages = recipe.packages ?? []
        let sources = (recipe.sourceLibraries ?? []).map { SourceBuild(source: $0.source, configure: $0.configure, script: $0.build) }
        let needsDerived = !packages.isEmpty || !sources.isEmpty
        let derivedKey = needsDerived ? toolchains.derivedKey(base: image, packages: packages, sources: sources, useGcc: recipe.compiler == "gcc") : nil
        let sameImage = image.digest == record.toolchainDigest
        // Records from before packages were listed: the image digest alone decides, as it did.
        guard let used = record.debianPackages else {
            return sameImage ? .current(nil) : .stale("the toolchain image changed (\(Self.short(record.toolchainDigest)) → \(Self.short(image.digest)))")
        }
        if sameImage && (derivedKey == nil || derivedKey == record.derivedRoot) { return .current(nil) }
        let what =
            sameImage
            ? "the derived root was made again after a refresh"
            : "the toolchain image changed (\(Self.short(record.toolchainDigest)) → \(Self.short(image.digest)))"
        if recipe.followToolchain == true { return .stale("\(what), and the recipe follows the toolchain") }
        if let definition = record.toolchainDefinition, definition != image.definition {
            return .stale("the \(builtFor) target's definition changed (target file, pins or wrappers)")
        }
        var derived: DerivedRoot? = nil
        if let derivedKey {
            guard let stored = toolchains.storedDerivedRoot(key: derivedKey) else {
                return .stale("\(what); the recipe's packages are not installed over it yet")
            }
            derived = stored
        }
        let changes = BuildPackages.changes(recorded: used, image: image, derived: derived)
        guard changes.isEmpty else { return .stale(changes.map(\.description).joined(separator: ", ")) }
        return .current("\(what); none of the \(used.count) packages the build used did")
    }

    static func short(_ digest: String) -> String { String(digest.prefix(12)) }
}

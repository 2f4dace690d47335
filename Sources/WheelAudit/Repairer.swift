import Foundation
import PackagingModel
import WheelArchive
import WheelfarmBasics

/// The result of a repair.
public struct RepairResult: Sendable {
    /// The repaired wheel's path.
    public var path: String
    /// The plan that was applied.
    public var plan: RepairPlan
    /// The packages the grafted libraries came from, by grafted soname.
    public var origins: [String: OwningPackage]
}

/// Applies repair plans: grafts libraries, patches binaries, retags and rewrites RECORD.
public struct Repairer: Sendable {
    /// The patchelf to use.
    public var patchelf: Patchelf
    /// The root the libraries come from.
    public var system: SystemLibraries
    /// The tool version written in the SBOM.
    public var toolVersion: String
    /// The deflate level of the written wheel (0 to 9).
    public var compressionLevel: Int

    /// Creates a repairer.
    public init(patchelf: Patchelf, system: SystemLibraries, toolVersion: String, compressionLevel: Int = Repairer.defaultCompressionLevel) {
        self.patchelf = patchelf
        self.system = system
        self.toolVersion = toolVersion
        self.compressionLevel = compressionLevel
    }

    /// zlib level 3: a wheel about 7% larger than at level 6, written more than twice as fast;
    /// the whole wheel is recompressed, so for large wheels this is most of a repair's time.
    public static let defaultCompressionLevel = 3

    /// Writes the repaired wheel into `outputDirectory`; nothing is written if any step fails.
    public func apply(_ plan: RepairPlan, to wheel: Wheel, outputDirectory: String) throws -> RepairResult {
        // Nothing to graft, patch or retag: the wheel is already what a repair would write.
        if plan.grafts.isEmpty && plan.edits.isEmpty && plan.filename == wheel.filename {
            try Files.makeDirectories(outputDirectory)
            let output = "\(outputDirectory)/\(plan.filename.description)"
            if URL(fileURLWithPath: output).standardizedFileURL.path != URL(fileURLWithPath: wheel.path).standardizedFileURL.path {
                try Files.writeAtomically(Files.readBytes(wheel.path), to: output)
            }
            return RepairResult(path: output, plan: plan, origins: [:])
        }
        let work = try TemporaryDirectory(prefix: "wheelfarm-repair")
        defer { work.remove() }
        let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Int.init)
        let mtime = epoch ?? wheel.members.map(\.modificationTime).max() ?? 315_532_800

        // Patch each edited binary and each grafted library in its own temporary file.
        struct Job: Sendable { var key: String; var source: [UInt8]; var arguments: [[String]]; var permissions: UInt32 }
        var jobs: [Job] = []
        for edit in plan.edits {
            guard let member = wheel.members.first(where: { $0.path == edit.path }), let content = member.content else { continue }
            var args: [String] = []
            for (old, new) in edit.replaceNeeded.sorted(by: { $0.key < $1.key }) { args += ["--replace-needed", old, new] }
            for soname in edit.removeNeeded { args += ["--remove-needed", soname] }
            // DT_RPATH rather than RUNPATH: it also applies to the dependencies of the libraries it finds.
            if let rpath = edit.rpath { args += ["--force-rpath", "--set-rpath", rpath] }
            jobs.append(Job(key: edit.path, source: content, arguments: [args], permissions: member.permissions))
        }
        let graftedNames = Dictionary(uniqueKeysWithValues: plan.grafts.map { ($0.soname, $0.newSoname) })
        for graft in plan.grafts {
            let content = try Files.readBytes(system.hostPath(graft.sourcePath))
            var args = ["--set-soname", graft.newSoname]
            if graft.needsGrafted.isEmpty {
                args += ["--remove-rpath"]
            } else {
                for soname in graft.needsGrafted.sorted() { if let new = graftedNames[soname] { args += ["--replace-needed", soname, new] } }
                args += ["--force-rpath", "--set-rpath", "$ORIGIN"]
            }
            jobs.append(Job(key: graft.destination, source: content, arguments: [args], permissions: 0o755))
        }
        // Every file to patch in one folder of its own, then patchelf over all of them (on the
        // host, or confined where the files come from a build: ``Patchelf/confine``).
        let folder = "\(work.path)/patch"
        try Files.makeDirectories(folder)
        var steps: [PatchelfStep] = []
        for (index, job) in jobs.enumerated() {
            let name = "\(index)-" + (job.key.split(separator: "/").last.map(String.init) ?? "binary")
            try Files.writeAtomically(job.source, to: "\(folder)/\(name)", mode: 0o755)
            steps.append(PatchelfStep(file: name, arguments: job.arguments.filter { !$0.isEmpty }))
        }
        try patchelf.runAll(steps, in: folder)
        var patched: [String: [UInt8]] = [:]
        for (job, step) in zip(jobs, steps) {
            patched[job.key] = try Files.readBytes("\(folder)/\(step.file)")
        }

        // Provenance of the grafted libraries.
        let dpkg = DpkgDatabase(layers: system.layers)
        var origins: [String: OwningPackage] = [:]
        for graft in plan.grafts {
            if let owner = dpkg.owner(of: [graft.sourcePath]) { origins[graft.soname] = owner }
        }

        // Assemble the members of the new wheel.
        let distInfo = wheel.distInfo
        var entries: [String: ZipEntry] = [:]
        for member in wheel.members {
            if member.path == "\(distInfo)/RECORD" { continue }
            guard let content = patched[member.path] ?? member.content else { continue }
            entries[member.path] = ZipEntry(
                path: member.path, content: content, permissions: member.permissions, modificationTime: epoch ?? member.modificationTime)
        }
        for graft in plan.grafts {
            guard let content = patched[graft.destination] else { continue }
            entries[graft.destination] = ZipEntry(path: graft.destination, content: content, permissions: 0o755, modificationTime: mtime)
        }
        let wheelFile = Self.retag(wheel.wheelMetadata, filename: plan.filename)
        entries["\(distInfo)/WHEEL"] = ZipEntry(path: "\(distInfo)/WHEEL", content: Array(wheelFile.text.utf8), permissions: 0o644, modificationTime: mtime)
        if !plan.grafts.isEmpty {
            var licenseFiles: [String: String] = [:]
            for (_, owner) in origins.sorted(by: { $0.key < $1.key }) {
                let path = "\(distInfo)/licenses/grafted/\(owner.name)/copyright"
                if entries[path] == nil, let text = dpkg.copyright(of: owner) {
                    entries[path] = ZipEntry(path: path, content: text, permissions: 0o644, modificationTime: mtime)
                    licenseFiles[owner.name] = path
                }
            }
            let sbom = SBOMWriter.cycloneDX(plan: plan, origins: origins, grafted: patched, toolVersion: toolVersion, licenseFiles: licenseFiles, epoch: epoch)
            let path = "\(distInfo)/sboms/wheelfarm.cdx.json"
            entries[path] = ZipEntry(path: path, content: sbom, permissions: 0o644, modificationTime: mtime)
        }
        // Deterministic order: the package first, then .dist-info, RECORD last.
        var ordered = entries.values.sorted { a, b in
            let aMeta = a.path.hasPrefix(distInfo + "/"), bMeta = b.path.hasPrefix(distInfo + "/")
            return aMeta == bMeta ? a.path < b.path : !aMeta
        }
        let record = RecordFile(
            entries: ordered.map { RecordEntry(path: $0.path, content: $0.content) } + [RecordEntry(path: "\(distInfo)/RECORD", hash: "", size: nil)])
        ordered.append(ZipEntry(path: "\(distInfo)/RECORD", content: Array(record.text.utf8), permissions: 0o644, modificationTime: mtime))
        try Files.makeDirectories(outputDirectory)
        let output = "\(outputDirectory)/\(plan.filename.description)"
        try ZipWriter.write(ordered, to: output, compressionLevel: compressionLevel)
        return RepairResult(path: output, plan: plan, origins: origins)
    }

    /// The WHEEL file with `Tag` lines for the new platform tags and `Root-Is-Purelib: false`.
    static func retag(_ metadata: MetadataFile, filename: WheelFilename) -> MetadataFile {
        var headers: [(key: String, value: String)] = []
        var tagsWritten = false
        let tags = filename.expandedTags
        for header in metadata.headers {
            if header.key.lowercased() == "tag" {
                if !tagsWritten { headers += tags.map { ("Tag", $0) }; tagsWritten = true }
                continue
            }
            if header.key.lowercased() == "root-is-purelib" { headers.append((header.key, "false")); continue }
            headers.append(header)
        }
        if !tagsWritten { headers += tags.map { ("Tag", $0) } }
        if let build = filename.build, !headers.contains(where: { $0.key.lowercased() == "build" }) { headers.append(("Build", build)) }
        return MetadataFile(headers: headers, body: metadata.body)
    }
}

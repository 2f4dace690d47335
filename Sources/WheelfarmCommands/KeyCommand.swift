import ArgumentParser
import FarmCore
import Foundation
import Signing
import WheelArchive
import WheelfarmBasics

/// `wheelfarm key`: the farm's signing key.
public struct KeyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Make or show the farm's signing key (Ed25519, minisign format).",
        discussion: """
            The secret key lives in <home>/keys/signing.key (mode 0600, not encrypted, since builds sign \
            unattended; WHEELFARM_SIGNING_KEY names another file) and the public key beside it. \
            'wheelfarm build' makes one on first use. Give the public key to whoever installs the wheels: \
            'minisign -Vm WHEEL -p signing.pub' checks a wheel's signature, 'wheelfarm verify' checks \
            the signature, the provenance and the RECORD.
            """,
        subcommands: [Generate.self, Show.self])

    public init() {}

    /// `wheelfarm key generate`.
    public struct Generate: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Make a new signing key pair.")
        @Flag(help: "Replace an existing key (signatures made with it then verify only with the old public key).") var force = false
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            let store = try context.openFarm().keys()
            do {
                let key = try store.generate(force: force)
                context.out("made signing key \(key.keyIDText)")
                context.out("  secret key: \(store.secretPath) (mode 0600)")
                context.out("  public key: \(store.publicPath)")
            } catch {
                throw context.inputFailure(error)
            }
        }
    }

    /// `wheelfarm key show`.
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Print the public key (minisign format).")
        @OptionGroup var options: HomeOptions
        public init() {}

        public func run() throws { try run(CommandContext(options)) }

        public func run(_ context: CommandContext) throws {
            do {
                context.write(Data(try context.farm().keys().publicKey().file.utf8), raw: true)
            } catch {
                throw context.inputFailure(error)
            }
        }
    }
}

/// `wheelfarm verify`: a wheel's signature, provenance and RECORD.
public struct VerifyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check wheels: minisign signature, signed in-toto provenance, and RECORD hashes.",
        discussion: """
            Reads WHEEL.minisig and WHEEL.intoto.json beside each wheel. The public key is --key, else \
            the farm's (<home>/keys/signing.pub). Exit status: 0 every wheel verified, 1 one did not, \
            2 a key or file could not be read.

            With --rebuild, a stored wheel is built again instead, and the bytes compared: where they \
            differ, the zip members, the ELF sections or the first lines of text are named. Exit status: \
            0 identical, 1 different (or the rebuild failed), 2 the inputs are no longer there (the \
            image or the recipe changed, the sdist is gone).
            """)

    @Argument(help: "Wheel files (with --rebuild, also NAME==VERSION).") var wheels: [String]
    @Option(help: "The public key file (minisign format).") var key: String?
    @Flag(
        help: """
            Build each stored wheel again from its record's inputs (the same sdist by hash, toolchain image by digest, \
            recipe digest and build requirements) in a fresh sandbox and compare the bytes; exit 0 only when identical.
            """)
    var rebuild = false
    @Option(help: "With --rebuild: the target of NAME==VERSION (default: the configured targets, first found).") var target: String?
    @Flag(help: "With --rebuild: hand a differing pair to diffoscope (Debian's diffoscope-minimal or diffoscope package).") var diffoscope = false
    @Flag(help: "With --rebuild: keep the rebuilt wheel (its path is printed).") var keep = false
    @OptionGroup var options: HomeOptions

    public init() {}

    public func run() throws { try run(CommandContext(options)) }

    public func run(_ context: CommandContext) throws {
        if rebuild { return try runRebuild(context) }
        let publicKey: MinisignPublicKey
        do {
            if let key {
                guard let text = Files.readText(key, limit: 64 << 10) else { throw SigningError.io(path: key, reason: "cannot read") }
                publicKey = try MinisignPublicKey(text: text)
            } else {
                publicKey = try context.farm().keys().publicKey()
            }
        } catch {
            throw context.inputFailure(error)
        }
        var failed = false
        for path in wheels {
            do {
                context.out("\(path): " + (try Self.verify(path, key: publicKey)))
            } catch {
                failed = true
                context.out("\(path): FAILED: \(error)")
            }
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }

    /// `--rebuild`: each wheel built again and compared.
    func runRebuild(_ context: CommandContext) throws {
        let reproducer: Reproducer
        do {
            let farm = try context.farm()
            let builder = try farm.builder(indexURL: nil, notice: { context.out($0) }, progress: { target, line in context.step("[\(target)] \(line)") })
            reproducer = Reproducer(context: farm, builder: builder)
        } catch {
            throw context.inputFailure(error)
        }
        var worst: Int32 = 0
        for argument in wheels {
            do {
                let outcome = try reproducer.verify(argument, target: target, keep: keep || diffoscope)
                if outcome.identical {
                    context.out("\(outcome.original): reproducible: the rebuild is byte for byte identical (\(String(format: "%.1f", outcome.seconds)) s)")
                    continue
                }
                worst = max(worst, ExitStatus.failure)
                context.out("\(outcome.original): NOT reproducible (\(String(format: "%.1f", outcome.seconds)) s):")
                for difference in outcome.differences { context.out("  \(difference)") }
                if let rebuilt = outcome.rebuilt {
                    if keep { context.out("  rebuilt wheel: \(rebuilt)") }
                    if diffoscope { try runDiffoscope(outcome.original, rebuilt, context: context) }
                    // Kept only for diffoscope: the scratch folder goes unless --keep asked for it.
                    if !keep { try? SafeRemoval.remove(Paths.parent(rebuilt)) }
                }
            } catch let refusal as Reproducer.Refusal {
                worst = max(worst, ExitStatus.invalidInput)
                context.err("wheelfarm: \(argument): \(refusal)")
            } catch {
                worst = max(worst, ExitStatus.invalidInput)
                context.err("wheelfarm: \(argument): \(error)")
            }
        }
        if worst != 0 { throw ExitCode(worst) }
    }

    func runDiffoscope(_ original: String, _ rebuilt: String, context: CommandContext) throws {
        guard HostTool.diffoscope.resolve() != nil else {
            context.out("  diffoscope is not installed (\(HostTool.diffoscope.fix))")
            return
        }
        var shown = 0
        _ = try ProcessRunner.stream(.diffoscope, ["--no-progress", original, rebuilt]) { chunk, _ in
            // Its report of two large wheels can be long: the first 256 KiB is plenty to read.
            guard shown < 256 << 10 else { return }
            shown += chunk.count
            context.write(chunk)
        }
    }

    /// Verifies one wheel; returns a one-line summary.
    static func verify(_ given: String, key: MinisignPublicKey) throws -> String {
        let path = Paths.absolute(given)
        let name = (path as NSString).lastPathComponent
        let bytes = try Files.readBytes(path)
        guard let signature = try? String(contentsOfFile: path + ".minisig", encoding: .utf8) else {
            throw SigningError.io(path: path + ".minisig", reason: "no signature beside the wheel")
        }
        let trusted = try key.verify(bytes, signatureFile: signature)
        guard trusted.split(separator: "\t").contains(where: { $0 == "file:\(name)" }) else {
            throw SigningError.badSignature("the signature was made for another file name (\(trusted))")
        }
        guard let envelope = try? String(contentsOfFile: path + ".intoto.json", encoding: .utf8) else {
            throw SigningError.io(path: path + ".intoto.json", reason: "no provenance beside the wheel")
        }
        let statement = try Provenance.verify(envelope: envelope, key: key, wheelName: name, sha256: Digest.hex(Digest.sha256(bytes)))
        _ = try Wheel(path: path, selection: .binariesAndMetadata)
        func object(_ value: Any?, _ key: String) -> Any? { (value as? [String: Any])?[key] }
        let definition = object(statement["predicate"], "buildDefinition")
        let source = object(object(object(definition, "externalParameters"), "source"), "uri") as? String ?? "?"
        let toolchain = object(object(object(definition, "internalParameters"), "toolchain"), "name") as? String ?? "?"
        return "ok (signature by \(MinisignPublicKey.idText(key.keyID)); provenance: built from \(source) for \(toolchain); RECORD matches)"
    }
}

import BuildSandbox
import Foundation
import Signing
import WheelfarmBasics

/// What `bundle --check` found.
public struct BundleCheckReport: Sendable {
    public var target: String
    /// install.sh's exit status and the end of its output.
    public var installStatus: Int
    public var installOutput: String
    public var installSeconds: Double
    /// Bytes the install added to the venv.
    public var installedBytes: Int
    /// pip check's status and words.
    public var pipCheckStatus: Int
    public var pipCheckOutput: String
    /// Each top-level module and its import error (nil: imported).
    public var imports: [(module: String, error: String?)]

    /// Whether the bundle installed, `pip check` passed and every module imported.
    public var passed: Bool { installStatus == 0 && pipCheckStatus == 0 && !imports.isEmpty && imports.allSatisfy { $0.error == nil } }
}

/// Proves a bundle where production would use it: in the target's runtime root (no compiler,
/// no network), install.sh into a fresh venv with the farm's key, then `pip check`, then each
/// top-level module of each locked distribution imported in its own process with
/// `LD_BIND_NOW=1`. The probe answers on the control channel; installed code never holds it.
public struct BundleChecker: Sendable {
    public let context: FarmContext
    public let store: ToolchainStore
    public let publicKey: MinisignPublicKey

    public init(context: FarmContext, store: ToolchainStore, publicKey: MinisignPublicKey) {
        self.context = context
        self.store = store
        self.publicKey = publicKey
    }

    public func check(_ given: String, progress: @escaping (String) -> Void) throws -> BundleCheckReport {
        let bundle = Paths.absolute(given)
        let work = try TemporaryDirectory(prefix: "wheelfarm-bundle-check")
        var folder = bundle
        if bundle.hasSuffix(".tar") {
            try Files.makeDirectories("\(work.path)/x")
            let result = try ProcessRunner.run(.tar, ["--no-same-owner", "--no-same-permissions", "-xf", bundle, "-C", "\(work.path)/x"])
            guard result.status == 0 else { throw LockError("cannot unpack \(bundle): \(result.stderr.prefix(2000))") }
            let tops = (try? FileManager.default.contentsOfDirectory(atPath: "\(work.path)/x")) ?? []
            guard tops.count == 1, let top = tops.first else { throw LockError("\(bundle) is not a wheelfarm bundle (one top folder expected)") }
            folder = "\(work.path)/x/\(top)"
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        guard let lockName = names.first(where: { $0.hasPrefix("pylock.") && $0.hasSuffix(".toml") }),
            let text = Files.readText("\(folder)/\(lockName)", limit: 64 << 20)
        else { throw LockError("\(bundle) has no pylock.<target>.toml: not a wheelfarm bundle") }
        let lock = try LockFile.parse(toml: text)
        let spec = try store.catalog.spec(lock.target)
        let runtime = try store.ensureRuntime(for: spec) { progress("  \($0)") }
        try Files.writeAtomically(Array(publicKey.file.utf8), to: "\(work.path)/wheelfarm.pub")
        try Files.makeDirectories("\(work.path)/key")
        try FileManager.default.moveItem(atPath: "\(work.path)/wheelfarm.pub", toPath: "\(work.path)/key/wheelfarm.pub")
        let wanted = lock.wheels.map(\.project)

        var config = SandboxConfiguration(
            layers: [store.rootfs(digest: runtime.digest)],
            command: ["python3", "-c", Self.probe, Self.json(wanted)],
            mounts: [
                BindMount(source: folder, destination: "/bundle", readOnly: true),
                BindMount(source: "\(work.path)/key", destination: "/key", readOnly: true)
            ],
            limits: SandboxLimits(wallSeconds: 1800, memoryBytes: 4 << 30, maxProcesses: 1024, diskBytes: 8 << 30))
        config.controlChannel = true
        config.seccomp = try SeccompPolicy.prepare(in: context.layout.seccomp)
        progress("installing \(lock.wheels.count) wheels offline in the runtime root \(spec.runtime.name)")
        var output: [UInt8] = []
        let result = try NamespaceSandbox(layout: context.layout).run(config) { chunk, _ in
            if output.count < 1 << 20 { output.append(contentsOf: chunk.prefix((1 << 20) - output.count)) }
        }
        guard let line = String(decoding: result.control, as: UTF8.self).split(separator: "\n").last,
            let report = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw LockError("the check did not finish (\(result.outcome)):\n\(LogExcerpt.printable(String(decoding: output.suffix(4000), as: UTF8.self)))")
        }
        let imports = (report["imports"] as? [[String]] ?? []).map { pair in
            (module: pair.first ?? "?", error: pair.count > 1 && !pair[1].isEmpty ? pair[1] : nil)
        }
        return BundleCheckReport(
            target: lock.target, installStatus: report["install_status"] as? Int ?? -1,
            installOutput: LogExcerpt.printable(String(decoding: output.suffix(6000), as: UTF8.self)),
            installSeconds: report["install_seconds"] as? Double ?? 0,
            installedBytes: report["installed_bytes"] as? Int ?? 0, pipCheckStatus: report["pip_check_status"] as? Int ?? -1,
            pipCheckOutput: LogExcerpt.printable(report["pip_check"] as? String ?? ""), imports: imports)
    }

    static func json(_ value: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: value)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// Runs with the root's own python3 (stdlib only), keeps fd 3 for itself, and never runs
    /// installed code in its own process: pip, the listing and the imports are child processes,
    /// and an import's verdict is its exit status counted from a per-child secret.
    static let probe = """
        import glob, json, os, re, secrets, subprocess, sys, time
        os.set_inheritable(3, False)
        control = os.fdopen(3, "w")
        CHILD = r'''
        import sys
        def main():
            import importlib, os
            secret = int(sys.stdin.readline())
            sys.stdin.close()
            sys.path.insert(0, sys.argv[2])
            importlib.import_module(sys.argv[1])
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(secret)
        main()
        '''
        wanted = set(json.loads(sys.argv[1]))
        report = {}
        def size(top):
            total = 0
            for root, _, files in os.walk(top):
                for name in files:
                    path = os.path.join(root, name)
                    if not os.path.islink(path):
                        total += os.path.getsize(path)
            return total
        subprocess.run([sys.executable, "-m", "venv", "/tmp/venv"], check=True)
        before = size("/tmp/venv")
        started = time.monotonic()
        run = subprocess.run(["sh", "/bundle/install.sh", "/tmp/venv", "--key", "/key/wheelfarm.pub"])
        report["install_seconds"] = time.monotonic() - started
        report["install_status"] = run.returncode
        report["installed_bytes"] = size("/tmp/venv") - before
        report["imports"] = []
        if run.returncode == 0:
            check = subprocess.run(["/tmp/venv/bin/python", "-m", "pip", "check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            report["pip_check_status"] = check.returncode
            report["pip_check"] = check.stdout.decode("utf-8", "replace")[-4000:]
            site = glob.glob("/tmp/venv/lib/python*/site-packages")[0]
            modules = set()
            for info in glob.glob(os.path.join(site, "*.dist-info")):
                name = re.sub(r"[-_.]+", "-", os.path.basename(info)[:-10].rsplit("-", 1)[0]).lower()
                if name not in wanted:
                    continue
                top = os.path.join(info, "top_level.txt")
                names = []
                if os.path.exists(top):
                    names = open(top, encoding="utf-8", errors="replace").read().split()
                else:
                    for row in open(os.path.join(info, "RECORD"), encoding="utf-8", errors="replace"):
                        first = row.split(",")[0].split("/")[0]
                        if first.endswith(".dist-info") or first.endswith(".data") or first in ("__pycache__", ".."):
                            continue
                        names.append(first.split(".")[0])
                modules.update(n for n in names if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n))
            environment = dict(os.environ, LD_BIND_NOW="1")
            for module in sorted(modules):
                # Each import in its own process with -I -S (no .pth, no sitecustomize), its verdict
                # the exit status counted from a secret only that child is told: a module that
                # prints or exits early cannot pass for imported.
                secret = 8 + secrets.randbelow(240)
                result = subprocess.run(["/tmp/venv/bin/python", "-I", "-S", "-c", CHILD, module, site], input=(str(secret) + "\\n").encode(),
                                        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/tmp")
                lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
                error = "" if result.returncode == secret else (lines or ["exit %d" % result.returncode])[-1][-500:] or "no verdict (exit %d)" % result.returncode
                report["imports"].append([module, error])
        control.write(json.dumps(report) + "\\n")
        control.close()
        """
}

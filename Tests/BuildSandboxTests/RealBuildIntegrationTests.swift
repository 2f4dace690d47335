import BuildSandbox
import Foundation
import TestSupport
import WheelAudit
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// Downloads with retries and backoff (the package index is the only network here).
func downloadWithRetries(_ arguments: [String]) throws {
    var lastError = ""
    for attempt in 1...4 {
        var env = ProcessInfo.processInfo.environment
        env["PIP_FIND_LINKS"] = ""
        let result = try ProcessRunner.run("/usr/bin/python3", ["-m", "pip", "download", "--quiet"] + arguments, environment: env)
        if result.status == 0 { return }
        lastError = result.stderr
        sleep(UInt32(attempt * attempt * 2))
    }
    XCTFail("pip download \(arguments.joined(separator: " ")) failed: \(lastError)")
    throw BasicsError.processFailed(program: "pip download", status: 1, stderr: lastError)
}

final class RealBuildIntegrationTests: XCTestCase {
    /// markupsafe from its sdist, in a sandbox of the Debian 12 target, with its build
    /// requirements supplied as a local wheelhouse and no network.
    func testMarkupsafeBuildsOfflineInTheSandbox() throws {
        let (store, image) = try TestImage.get()
        let cache = "\(TestSupport.repositoryRoot)/.build-fixtures/markupsafe"
        let sdists = "\(cache)/sdist", wheelhouse = "\(cache)/wheelhouse"
        if !FileManager.default.fileExists(atPath: "\(sdists)/markupsafe-3.0.2.tar.gz") {
            try downloadWithRetries(["--no-deps", "--no-binary", "markupsafe", "-d", sdists, "markupsafe==3.0.2"])
        }
        if ((try? FileManager.default.contentsOfDirectory(atPath: wheelhouse)) ?? []).isEmpty {
            try downloadWithRetries(["--no-deps", "--only-binary", ":all:", "-d", wheelhouse, "setuptools>=70.1"])
        }
        let out = try TemporaryDirectory(prefix: "wheelfarm-out")
        chmod(out.path, 0o777)
        var environment = SandboxConfiguration.defaultEnvironment
        environment["CIBUILDWHEEL"] = "1"  // markupsafe then fails instead of silently dropping its extension
        let config = SandboxConfiguration(
            layers: [store.rootfs(digest: image.digest)],
            command: [
                "python3", "-m", "pip", "wheel", "--no-index", "--find-links", "/wheelhouse", "--no-deps",
                "/src/markupsafe-3.0.2.tar.gz", "-w", "/out"
            ],
            environment: environment,
            mounts: [
                BindMount(source: sdists, destination: "/src", readOnly: true),
                BindMount(source: wheelhouse, destination: "/wheelhouse", readOnly: true),
                BindMount(source: out.path, destination: "/out", readOnly: false)
            ],
            limits: SandboxLimits(wallSeconds: 600, memoryBytes: 2 << 30, maxProcesses: 512, diskBytes: 2 << 30))
        var log: [UInt8] = []
        let result = try NamespaceSandbox(layout: store.layout).run(config) { chunk, _ in log.append(contentsOf: chunk) }
        let text = String(decoding: log, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        let wheels = try FileManager.default.contentsOfDirectory(atPath: out.path)
        XCTAssertEqual(wheels, ["markupsafe-3.0.2-cp311-cp311-linux_x86_64.whl"], text)
        guard let wheel = wheels.first else { return }

        // The wheel holds the compiled extension, and audited against the toolchain's own root it
        // needs nothing external.
        let catalog = try PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)
        let analysis = try WheelAnalyzer(catalog: catalog, root: store.rootfs(digest: image.digest)).analyze(path: "\(out.path)/\(wheel)")
        XCTAssertEqual(analysis.binaries.filter(\.isExtension).map(\.path), ["markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so"])
        XCTAssertTrue(analysis.report.externalLibraries.isEmpty, "\(analysis.report.externalLibraries)")
        XCTAssertTrue(analysis.report.repairTag.hasPrefix("manylinux_"), analysis.report.repairTag)
    }
}

import BuildSandbox
import Foundation
import TestSupport
import WheelfarmBasics
import XCTest

final class DerivedRootIntegrationTests: XCTestCase {
    func testDerivedRootIsMadeOnceAndCached() throws {
        let (store, image) = try TestImage.get()
        let derived = DerivedRoots(store: store)
        // Clear a cached copy from an earlier run, so that the first call really installs.
        let key = derived.key(base: image, packages: ["libyaml-dev"], sources: [], useGcc: false)
        try? FileManager.default.removeItem(atPath: "\(store.layout.path)/derived/\(key)")
        let (first, builtFirst) = try derived.ensure(base: image, packages: ["libyaml-dev"]) { _ in }
        XCTAssertTrue(builtFirst)
        XCTAssertTrue(first.added.contains { $0.name == "libyaml-dev" }, "\(first.added)")
        let (second, builtSecond) = try derived.ensure(base: image, packages: ["libyaml-dev"]) { _ in }
        XCTAssertFalse(builtSecond, "the second use must install nothing")
        XCTAssertEqual(second.layers, first.layers)
        var output: [UInt8] = []
        let config = SandboxConfiguration(layers: second.layers, command: ["sh", "-c", "ls /usr/include/yaml.h && dpkg -s libyaml-dev | grep Status"])
        let result = try NamespaceSandbox(layout: store.layout).run(config) { chunk, _ in output.append(contentsOf: chunk) }
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertEqual(result.outcome, .exited(0), text)
        XCTAssertTrue(text.contains("install ok installed"), text)
        // The base image is untouched.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(store.rootfs(digest: image.digest))/usr/include/yaml.h"))
    }
}

/// A counter many threads may bump.
final class LockedCounter: @unchecked Sendable {
    private var count = 0
    private let lock = NSLock()
    /// Adds one; returns the new count.
    func increment() -> Int {
        lock.withLock {
            count += 1; return count
        }
    }
    var value: Int { lock.withLock { count } }
}

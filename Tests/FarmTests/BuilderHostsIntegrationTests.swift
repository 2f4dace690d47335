import FarmStore
import Foundation
import Signing
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// The farm on many machines, for real: a PostgreSQL server from Debian's packages holds the
/// state, `wheelfarm serve` is the coordinator, and three `wheelfarm worker` builder hosts run
/// in network namespaces of their own (veth links), each with its own home, reaching the
/// coordinator, the state and a package index only across their links.
final class BuilderHostsIntegrationTests: XCTestCase {
    static let target = "cp311-bookworm-glibc2.17-x86_64"
    var work: TemporaryDirectory?
    var network: BuilderNetwork?
    var processes: [(Process, FileHandle)] = []

    override func tearDown() {
        for (process, handle) in processes {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            try? handle.close()
        }
        processes = []
        network?.remove()
        network = nil
        work = nil
    }

    struct Farm {
        var binary: String
        var work: String
        var state: String
        var coordinatorHome: String
        var store: JobStore
    }

    /// A PostgreSQL database, a coordinator home with its signing key, the builders' homes
    /// (sharing the test home's images and sdists) and three namespaces.
    func prepare() throws -> Farm {
        guard getuid() == 0 else { throw XCTSkip("network namespaces and builds need root") }
        let binary = try TestSupport.wheelfarmBinary()
        let ip = try TestSupport.requireTool("ip", hint: "apt-get install iproute2")
        let work = try TemporaryDirectory(prefix: "wf-builders")
        self.work = work
        let network = try BuilderNetwork(count: 3, ip: ip)
        self.network = network
        let database = try PostgresServer.freshDatabase()
        let store = try JobStore(location: database)
        let coordinatorHome = "\(work.path)/coordinator"
        try FileManager.default.createDirectory(atPath: coordinatorHome, withIntermediateDirectories: true)
        return Farm(binary: binary, work: work.path, state: database, coordinatorHome: coordinatorHome, store: store)
    }

    /// The state's URL as a builder in namespace `index` reaches it.
    func stateURL(_ farm: Farm, builder index: Int) throws -> String {
        let server = try PostgresServer.shared()
        let database = try XCTUnwrap(URL(string: farm.state)?.lastPathComponent)
        return server.url(database: database, host: try XCTUnwrap(network).hostAddress(index))
    }

    /// Registers builder `name` and writes its token to a file; returns the file.
    func register(_ farm: Farm, _ name: String) throws -> String {
        let output = try ProcessRunner.run(farm.binary, ["builders", "add", name, "--home", farm.coordinatorHome, "--state", farm.state])
        XCTAssertEqual(output.status, 0, output.stderr)
        let token = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(token.hasPrefix("wfb_"), token)
        let path = "\(farm.work)/\(name).token"
        try Files.writeAtomically(Array(token.utf8), to: path, mode: 0o600)
        return path
    }

    /// Starts a worker in namespace `index`.
    func startWorker(
        _ farm: Farm, index: Int, name: String, tokenFile: String, extra: [String], environment: [String: String] = [:]
    ) throws -> (Process, FileHandle) {
        let network = try XCTUnwrap(network)
        let home = "\(farm.work)/\(name)-home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let arguments =
            ["netns", "exec", network.namespace(index), farm.binary, "worker", "--name", name, "--token-file", tokenFile, "--home", home]
            + ["--state", try stateURL(farm, builder: index)] + extra
        let started = try TestSupport.startLogged(network.ip, arguments, environment: env, log: "\(farm.work)/\(name)-\(processes.count).log")
        processes.append(started)
        return started
    }

    func waitFor(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTFail("timed out after \(Int(timeout)) s waiting for \(what)")
        throw XCTSkip("gave up waiting for \(what)")
    }

    func submit(_ store: JobStore, _ requirements: [String], target: String, publish: Bool = false) throws -> [JobRecord] {
        let request = try XCTUnwrap(store.createRequest(RequestRecord(kind: "test", description: "builder hosts")).id)
        return try store.submit(
            requirements.map { text in
                JobRecord(
                    requestId: request, requirement: text, origin: "test", project: String(text.prefix { $0 != "=" }).lowercased(),
                    version: text.components(separatedBy: "==").dropFirst().first, target: target, publish: publish)
            })
    }

    // MARK: - Tests

    func testTwoHundredJobsAreSpreadOverThreeBuildersAndEachIsBuiltOnce() throws {
        let farm = try prepare()
        let jobs = try submit(farm.store, (0..<200).map { "p\($0)==1.0" }, target: "sim-x86_64")
        var workers: [Process] = []
        for index in 0..<3 {
            let name = "b\(index + 1)"
            let token = try register(farm, name)
            workers.append(
                try startWorker(
                    farm, index: index, name: name, tokenFile: token,
                    extra: ["--target", "sim-x86_64", "--simulate", "0.02", "--jobs", "3", "--poll-seconds", "0.2", "--exit-when-idle"]
                ).0)
        }
        try waitFor("the workers to finish the queue", timeout: 240) { workers.allSatisfy { !$0.isRunning } }
        for worker in workers { XCTAssertEqual(worker.terminationStatus, 0) }
        XCTAssertEqual(try farm.store.counts(), [.skipped: 200])
        var perBuilder: [String: Int] = [:]
        for job in jobs {
            let events = try farm.store.events(job.number)
            XCTAssertEqual(events.filter { $0.toState == .running }.count, 1, "job \(job.number) was claimed more than once")
            let stored = try XCTUnwrap(farm.store.job(job.number))
            perBuilder[stored.builder ?? "none", default: 0] += 1
        }
        XCTAssertEqual(Set(perBuilder.keys), ["b1", "b2", "b3"], "every builder took work: \(perBuilder)")
        // The operator's view names them and their day.
        let listed = try ProcessRunner.run(farm.binary, ["builders", "list", "--json", "--home", farm.coordinatorHome, "--state", farm.state])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        struct Row: Decodable {
            var name: String
            var builtLastDay: Int
            var architectures: [String]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let rows = try decoder.decode([Row].self, from: Data(listed.stdout.utf8))
        XCTAssertEqual(rows.map(\.name), ["b1", "b2", "b3"])
        XCTAssertEqual(rows.map(\.builtLastDay).reduce(0, +), 200)
        XCTAssertTrue(rows.allSatisfy { $0.architectures == ["x86_64"] })
    }
}

/// Network namespaces with one veth link each to this host: `10.213.<n>.1` here,
/// `10.213.<n>.2` in the namespace. Taking a link down cuts that builder off.
final class BuilderNetwork {
    let ip: String
    let count: Int
    let tag: Int

    init(count: Int, ip: String) throws {
        self.ip = ip
        self.count = count
        tag = Int(getpid() % 40) * 5
        remove()
        for index in 0..<count {
            try run(["netns", "add", namespace(index)])
            try run(["link", "add", hostLink(index), "type", "veth", "peer", "name", "wfpeer\(tag + index)"])
            try run(["link", "set", "wfpeer\(tag + index)", "netns", namespace(index)])
            try run(["addr", "add", "\(hostAddress(index))/24", "dev", hostLink(index)])
            try run(["link", "set", hostLink(index), "up"])
            try run(["-n", namespace(index), "addr", "add", "\(subnet(index)).2/24", "dev", "wfpeer\(tag + index)"])
            try run(["-n", namespace(index), "link", "set", "wfpeer\(tag + index)", "up"])
            try run(["-n", namespace(index), "link", "set", "lo", "up"])
        }
    }

    func namespace(_ index: Int) -> String { "wfb\(tag + index)" }
    func hostLink(_ index: Int) -> String { "wfhost\(tag + index)" }
    func subnet(_ index: Int) -> String { "10.213.\(tag + index)" }
    func hostAddress(_ index: Int) -> String { "\(subnet(index)).1" }

    /// Cuts or restores builder `index`'s link.
    func setLink(_ index: Int, up: Bool) throws { try run(["link", "set", hostLink(index), up ? "up" : "down"]) }

    func remove() {
        for index in 0..<count {
            _ = try? ProcessRunner.run(ip, ["link", "del", hostLink(index)])
            _ = try? ProcessRunner.run(ip, ["netns", "del", namespace(index)])
        }
    }

    func run(_ arguments: [String]) throws {
        let result = try ProcessRunner.run(ip, arguments)
        guard result.status == 0 else { throw BasicsError.spawn(program: "ip \(arguments.joined(separator: " "))", reason: result.stderr) }
    }
}

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
    static let runtime = "runtime-cp311-bookworm-x86_64"
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
    ) throws -> (process: Process, log: String) {
        let network = try XCTUnwrap(network)
        let home = "\(farm.work)/\(name)-home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let arguments =
            ["netns", "exec", network.namespace(index), farm.binary, "worker", "--name", name, "--token-file", tokenFile, "--home", home]
            + ["--state", try stateURL(farm, builder: index)] + extra
        let log = "\(farm.work)/\(name)-\(processes.count).log"
        let started = try TestSupport.startLogged(network.ip, arguments, environment: env, log: log)
        processes.append(started)
        return (started.0, log)
    }

    func waitFor(_ what: String, timeout: Double, every interval: Double = 0.5, _ condition: () throws -> Bool) throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try condition() { return }
            Thread.sleep(forTimeInterval: interval)
        }
        XCTFail("timed out after \(Int(timeout)) s waiting for \(what)\n\(diagnosis())")
        throw XCTSkip("gave up waiting for \(what)")
    }

    /// The tail of every log of the test's processes, for a failure's message; the logs are
    /// also kept under /tmp/wf-builders-failure.* (the work folder goes with the test).
    func diagnosis() -> String {
        guard let work = work?.path else { return "" }
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
        let kept = "/tmp/wf-builders-failure.\(getpid()).\(Int(Date().timeIntervalSince1970))"
        if (try? FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)) != nil {
            for log in logs { try? FileManager.default.copyItem(atPath: "\(work)/\(log)", toPath: "\(kept)/\(log)") }
        }
        return logs.map { log in
            let text = Files.readText("\(work)/\(log)", limit: 8 << 20) ?? ""
            return "---- \(log)\n" + text.split(separator: "\n", omittingEmptySubsequences: false).suffix(25).joined(separator: "\n")
        }.joined(separator: "\n")
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
        // Each simulated build holds its job 0.2 s: one builder alone would need 13 s for all,
        // far longer than the others take to start, so all three get work.
        let jobs = try submit(farm.store, (0..<200).map { "p\($0)==1.0" }, target: "sim-x86_64")
        var workers: [Process] = []
        for index in 0..<3 {
            let name = "b\(index + 1)"
            let token = try register(farm, name)
            workers.append(
                try startWorker(
                    farm, index: index, name: name, tokenFile: token,
                    extra: ["--target", "sim-x86_64", "--simulate", "0.2", "--jobs", "3", "--poll-seconds", "0.2", "--exit-when-idle"]
                ).process)
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

    /// A package index builders reach across their links: the test's sdist and the build
    /// requirements it needs, served as PEP 691 JSON and PEP 503 HTML. Returns the port.
    func startIndex(_ farm: Farm) throws -> Int {
        let files = "\(TestSupport.repositoryRoot)/.build-fixtures/builder-index"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        let wanted: [(check: String, arguments: [String])] = [
            ("markupsafe-3.0.2.tar.gz", ["--no-binary", ":all:", "markupsafe==3.0.2"]),
            ("setuptools-", ["--only-binary", ":all:", "setuptools==75.8.0"]),
            ("wheel-", ["--only-binary", ":all:", "wheel==0.45.1"])
        ]
        for (check, arguments) in wanted {
            let present = ((try? FileManager.default.contentsOfDirectory(atPath: files)) ?? []).contains { $0.hasPrefix(check) }
            if present { continue }
            var fetched = false
            for attempt in 1...4 where !fetched {
                fetched = try ProcessRunner.run("python3", ["-m", "pip", "download", "--no-deps", "--dest", files] + arguments).status == 0
                if !fetched { Thread.sleep(forTimeInterval: Double(attempt * attempt)) }
            }
            XCTAssertTrue(fetched, "pip download \(arguments.joined(separator: " "))")
        }
        let script = """
            import hashlib, http.server, json, os, re, sys
            root, portfile = sys.argv[1], sys.argv[2]
            def norm(name): return re.sub(r"[-_.]+", "-", name).lower()
            class Index(http.server.BaseHTTPRequestHandler):
                def answer(self, body, kind):
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def do_GET(self):
                    parts = [p for p in self.path.split("?")[0].split("/") if p]
                    if len(parts) == 2 and parts[0] == "files" and os.path.isfile(os.path.join(root, os.path.basename(parts[1]))):
                        return self.answer(open(os.path.join(root, os.path.basename(parts[1])), "rb").read(), "application/octet-stream")
                    if len(parts) == 2 and parts[0] == "simple":
                        found = [(n, hashlib.sha256(open(os.path.join(root, n), "rb").read()).hexdigest())
                                 for n in sorted(os.listdir(root)) if norm(re.split(r"-[0-9]", n)[0]) == norm(parts[1])]
                        if found:
                            if "json" in self.headers.get("Accept", ""):
                                page = {"meta": {"api-version": "1.0"}, "name": norm(parts[1]),
                                        "files": [{"filename": n, "url": "/files/" + n, "hashes": {"sha256": h}} for n, h in found]}
                                return self.answer(json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")
                            links = "".join('<a href="/files/%s#sha256=%s">%s</a>' % (n, h, n) for n, h in found)
                            return self.answer(("<html><body>%s</body></html>" % links).encode(), "text/html")
                    self.send_response(404)
                    self.end_headers()
                def log_message(self, *args): pass
            server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Index)
            open(portfile + ".part", "w").write(str(server.server_address[1]))
            os.rename(portfile + ".part", portfile)
            server.serve_forever()
            """
        try Files.writeAtomically(Array(script.utf8), to: "\(farm.work)/index.py")
        let started = try TestSupport.startLogged(
            "/usr/bin/python3", ["\(farm.work)/index.py", files, "\(farm.work)/index.port"], log: "\(farm.work)/index.log")
        processes.append(started)
        var port = 0
        try waitFor("the index to listen", timeout: 30) {
            port = Int(Files.readText("\(farm.work)/index.port", limit: 64) ?? "") ?? 0
            return port > 0
        }
        return port
    }

    /// Starts `wheelfarm serve` for the coordinator on every address; returns its port.
    func startCoordinator(_ farm: Farm) throws -> Int {
        let log = "\(farm.work)/coordinator.log"
        let started = try TestSupport.startLogged(
            farm.binary, ["serve", "--host", "0.0.0.0", "--port", "0", "--home", farm.coordinatorHome, "--state", farm.state], log: log)
        processes.append(started)
        var port = 0
        try waitFor("the coordinator to listen", timeout: 60) {
            let text = Files.readText(log, limit: 1 << 20) ?? ""
            guard let range = text.range(of: #"on http://0\.0\.0\.0:([0-9]+)/simple/"#, options: .regularExpression) else { return false }
            port = Int(text[range].split(separator: ":").last?.prefix { $0.isNumber } ?? "") ?? 0
            return port > 0
        }
        return port
    }

    /// curl from builder `index`'s namespace: a result file for `job` under `epoch` with `token`; returns the HTTP status.
    func upload(_ farm: Farm, from index: Int, port: Int, token: String, job: Int64, epoch: Int64, name: String) throws -> Int {
        let network = try XCTUnwrap(network)
        let file = "\(farm.work)/late.bin"
        try Files.writeAtomically(Array("not a wheel".utf8), to: file)
        let url = "http://\(network.hostAddress(index)):\(port)/api/v1/builder/jobs/\(job)/files/\(name)?epoch=\(epoch)"
        let result = try ProcessRunner.run(
            network.ip,
            [
                "netns", "exec", network.namespace(index), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H",
                "Authorization: Bearer \(token)",
                "--data-binary", "@\(file)", "--max-time", "20", url
            ])
        return Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func testAKilledBuilderAndACutOffBuilderLoseTheirJobsAndLateResultsAreRefused() throws {
        let farm = try prepare()
        let network = try XCTUnwrap(network)
        let shared = ProcessInfo.processInfo.environment["WHEELFARM_TEST_HOME"] ?? "\(TestSupport.repositoryRoot)/.build-fixtures/home"
        if !FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(Self.target).json") {
            XCTAssertEqual(try ProcessRunner.run(farm.binary, ["toolchain", "build", Self.target, "--home", shared]).status, 0)
        }
        // The test install's runtime root too: made by a builder's first build otherwise, which
        // would spend minutes in its configure stage.
        if !FileManager.default.fileExists(atPath: "\(shared)/toolchains/\(Self.runtime).json") {
            XCTAssertEqual(try ProcessRunner.run(farm.binary, ["toolchain", "build", Self.target, "--runtime", "--home", shared]).status, 0)
        }
        // Each builder's home shares the test home's images and sdists (a host would have its own).
        for name in ["b1", "b2", "b3"] {
            let home = "\(farm.work)/\(name)-home"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            for shareable in ["images", "toolchains", "sources"] {
                // On a fresh machine no sdist has been fetched into the test home yet: a link to
                // a folder that is not there would fail every build.
                try Files.makeDirectories("\(shared)/\(shareable)")
                try FileManager.default.createSymbolicLink(atPath: "\(home)/\(shareable)", withDestinationPath: "\(shared)/\(shareable)")
            }
        }
        let indexPort = try startIndex(farm)
        let port = try startCoordinator(farm)
        let tokens = try ["b1", "b2", "b3"].map { try register(farm, $0) }
        func environment(_ index: Int) -> [String: String] {
            ["WHEELFARM_INDEX_URL": "http://\(network.hostAddress(index)):\(indexPort)/simple", "PIP_TRUSTED_HOST": network.hostAddress(index)]
        }
        func real(_ index: Int) -> [String] {
            ["--coordinator", "http://\(network.hostAddress(index)):\(port)", "--target", Self.target, "--lease-seconds", "6", "--poll-seconds", "0.5"]
        }

        // 1. b1 takes a real build and is killed in the middle of it; b2 and b3 take over.
        let job = try XCTUnwrap(submit(farm.store, ["markupsafe==3.0.2"], target: Self.target, publish: true).first)
        let (b1, _) = try startWorker(farm, index: 0, name: "b1", tokenFile: tokens[0], extra: real(0), environment: environment(0))
        // Killed as soon as it holds the job: the build runs for seconds after the claim.
        try waitFor("b1 to be building", timeout: 300, every: 0.1) {
            let now = try farm.store.job(job.number)
            if now?.state.isFinal == true { XCTFail("the job ended before b1 could be killed: \(now?.state.rawValue ?? "") \(now?.reason ?? "")") }
            return now?.builder == "b1" && now?.state == .running
        }
        kill(b1.processIdentifier, SIGKILL)
        b1.waitUntilExit()
        for index in 1...2 {
            _ = try startWorker(farm, index: index, name: "b\(index + 1)", tokenFile: tokens[index], extra: real(index), environment: environment(index))
        }
        try waitFor("the job to land on another builder", timeout: 600) { try farm.store.job(job.number)?.state.isFinal == true }
        let landed = try XCTUnwrap(farm.store.job(job.number))
        XCTAssertEqual(landed.state, .succeeded, landed.reason ?? "")
        XCTAssertTrue(["b2", "b3"].contains(landed.builder ?? ""), landed.builder ?? "none")
        XCTAssertEqual(landed.leaseEpoch, 2)
        let events = try farm.store.events(job.number)
        XCTAssertEqual(events.filter { $0.toState == .running }.count, 2)
        XCTAssertTrue(events.contains { $0.message?.contains("builder b1's lease lapsed") == true })
        XCTAssertEqual(events.filter { $0.message == "published" }.count, 1, "published once")
        // Published once, signed with the farm's key (the coordinator's), naming the builder.
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(farm.coordinatorHome)/repository/files/markupsafe").filter { $0.hasSuffix(".whl") }
        XCTAssertEqual(files.count, 1, "\(files)")
        let wheel = try XCTUnwrap(landed.wheelPath)
        let minisign = try TestSupport.requireTool("minisign", hint: "apt-get install minisign")
        let verified = try ProcessRunner.run(minisign, ["-Vm", wheel, "-p", "\(farm.coordinatorHome)/keys/signing.pub"])
        XCTAssertEqual(verified.status, 0, verified.stderr)
        let provenance = Files.readText(wheel + ".intoto.json", limit: 1 << 20) ?? ""
        let payload = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(provenance.utf8)) as? [String: Any])?["payload"] as? String)
        let statement = String(decoding: try XCTUnwrap(Data(base64Encoded: payload)), as: UTF8.self)
        XCTAssertTrue(statement.contains("urn:wheelfarm:builder:\(landed.builder ?? "")"), statement)
        // The build log came with it; `logs` on the coordinator shows it.
        let logs = try ProcessRunner.run(farm.binary, ["logs", String(job.number), "--home", farm.coordinatorHome, "--state", farm.state])
        XCTAssertEqual(logs.status, 0, logs.stderr)
        XCTAssertTrue(logs.stdout.contains("markupsafe"), logs.stdout)

        // 2. b1 comes back for simulated builds, claims one, and is cut off past its lease.
        for (process, _) in processes where process.isRunning && process.processIdentifier != b1.processIdentifier {
            if (process.arguments ?? []).contains("worker") { kill(process.processIdentifier, SIGTERM) }
        }
        let simulated = try XCTUnwrap(submit(farm.store, ["late==1.0"], target: "sim-x86_64").first)
        func sim(_ index: Int, seconds: String) -> [String] {
            [
                "--coordinator", "http://\(network.hostAddress(index)):\(port)", "--target", "sim-x86_64", "--simulate", seconds, "--lease-seconds", "6",
                "--poll-seconds", "0.5"
            ]
        }
        let (_, returningLog) = try startWorker(farm, index: 0, name: "b1", tokenFile: tokens[0], extra: sim(0, seconds: "60"))
        try waitFor("b1 to claim the simulated job", timeout: 60) { try farm.store.job(simulated.number)?.builder == "b1" }
        try network.setLink(0, up: false)
        _ = try startWorker(farm, index: 1, name: "b2", tokenFile: tokens[1], extra: sim(1, seconds: "15"))
        try waitFor("b2 to take the job over", timeout: 90) {
            let now = try farm.store.job(simulated.number)
            return now?.builder == "b2" && now?.state == .running
        }
        // Only the holder may send files for a job, under its claim.
        let b2Token = Files.readText(tokens[1], limit: 256) ?? ""
        let b3Token = Files.readText(tokens[2], limit: 256) ?? ""
        XCTAssertEqual(try upload(farm, from: 2, port: port, token: b3Token, job: simulated.number, epoch: 2, name: "late-1.0-py3-none-any.whl"), 409)
        XCTAssertEqual(try upload(farm, from: 1, port: port, token: b2Token, job: simulated.number, epoch: 1, name: "late-1.0-py3-none-any.whl"), 409)
        XCTAssertEqual(try upload(farm, from: 1, port: port, token: "wfb_forged", job: simulated.number, epoch: 2, name: "record.json"), 401)
        XCTAssertEqual(try upload(farm, from: 1, port: port, token: b2Token, job: simulated.number, epoch: 2, name: "notes.txt"), 422)
        try waitFor("b2 to finish the job", timeout: 90) { try farm.store.job(simulated.number)?.state.isFinal == true }
        XCTAssertEqual(try farm.store.job(simulated.number)?.builder, "b2")
        // The link comes back: b1's late result is refused, by the coordinator and by the store.
        try network.setLink(0, up: true)
        let b1Token = Files.readText(tokens[0], limit: 256) ?? ""
        var late = 0
        try waitFor("b1's link to carry traffic again", timeout: 30) {
            late = try upload(farm, from: 0, port: port, token: b1Token, job: simulated.number, epoch: 1, name: "late-1.0-py3-none-any.whl")
            return late != 0
        }
        XCTAssertEqual(late, 409)
        XCTAssertThrowsError(
            try farm.store.complete(
                simulated.number, outcome: .skipped(reason: "late", wheel: nil, path: nil, sha256: nil), retry: RetryPolicy(), epoch: 1))
        try waitFor("b1 to give the job up", timeout: 120) { (Files.readText(returningLog, limit: 1 << 20) ?? "").contains("the claim lapsed") }
        XCTAssertEqual(try farm.store.job(simulated.number)?.state, .skipped)
        // The killed b1 left nothing mounted in its home once it came back (it sweeps at start).
        XCTAssertEqual(SafeRemoval.mounts(beneath: "\(farm.work)/b1-home"), [])
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

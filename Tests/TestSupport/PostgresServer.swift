import Foundation
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

/// A real PostgreSQL server from Debian's packages for the tests: started once per test process
/// in a temporary folder, listening on loopback (and on every address, for builders in network
/// namespaces), with trust authentication; stopped and removed when the process exits. Each
/// test takes a database of its own.
public final class PostgresServer: @unchecked Sendable {
    /// The folder with the data, socket and log.
    public let directory: String
    /// The TCP port.
    public let port: Int
    let binaries: String
    let superuser = "wheelfarm"
    // Kept for the server's life: the folder goes with it.
    private var folder: TemporaryDirectory?
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: PostgresServer?
    nonisolated(unsafe) private static var counter = 0
    nonisolated(unsafe) private static var failure: String?

    private init(directory: String, port: Int, binaries: String) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
    }

    /// A fresh, empty database on the shared server; returns its URL. Skips (fails in CI) when
    /// PostgreSQL is not installed.
    public static func freshDatabase(host: String = "127.0.0.1", file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let server = try shared(file: file, line: line)
        lock.lock()
        counter += 1
        let name = "wf_\(getpid())_\(counter)"
        lock.unlock()
        try server.psql("CREATE DATABASE \(name)")
        return server.url(database: name, host: host)
    }

    /// The URL of `database` on this server as seen from `host`.
    public func url(database: String, host: String = "127.0.0.1") -> String {
        "postgres://\(superuser)@\(host):\(port)/\(database)"
    }

    /// The shared server, started on first use.
    public static func shared(file: StaticString = #filePath, line: UInt = #line) throws -> PostgresServer {
        lock.lock()
        defer { lock.unlock() }
        if let started { return started }
        if let failure {
            if TestSupport.inCI { XCTFail(failure, file: file, line: line) }
            throw XCTSkip(failure)
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max(),
            FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/initdb")
        else {
            let message = "PostgreSQL is not installed: apt-get install postgresql (bash ci/setup.sh does)"
            if TestSupport.inCI { XCTFail(message, file: file, line: line) }
            throw XCTSkip(message)
        }
        let binaries = "/usr/lib/postgresql/\(version)/bin"
        let folder = try TemporaryDirectory(prefix: "wf-postgres")
        let directory = folder.path
        // The server refuses to run as root: as root it runs as Debian's `postgres` user.
        if getuid() == 0 {
            try run("/bin/chown", ["postgres:postgres", directory])
        }
        var lastError = ""
        for attempt in 0..<5 {
            let port = 20000 + Int((UInt32(getpid()) &* 7919 &+ UInt32(attempt) &* 104_729) % 30000)
            let server = PostgresServer(directory: directory, port: port, binaries: binaries)
            server.folder = folder
            do {
                try server.start(fresh: attempt == 0)
                started = server
                atexit { PostgresServer.stopShared() }
                return server
            } catch {
                lastError = "\(error)"
            }
        }
        failure = "PostgreSQL did not start: \(lastError)"
        if TestSupport.inCI { XCTFail(failure ?? "", file: file, line: line) }
        throw XCTSkip(failure)
    }

    func start(fresh: Bool) throws {
        let data = "\(directory)/data"
        if fresh {
            try asServerUser("\(binaries)/initdb", ["-D", data, "-U", superuser, "-A", "trust", "--no-sync", "-E", "UTF8"])
        }
        // fsync off: a test server's data is thrown away; listen everywhere for the builders'
        // network namespaces (trust is only for this throwaway cluster).
        try? "host all all 0.0.0.0/0 trust\n".appendLine(to: "\(data)/pg_hba.conf")
        let options = "-p \(port) -k \(directory) -c listen_addresses=* -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        try asServerUser("\(binaries)/pg_ctl", ["-D", data, "-l", "\(directory)/server.log", "-o", options, "-w", "-t", "60", "start"])
    }

    /// Runs SQL as the superuser on the `postgres` database.
    public func psql(_ sql: String) throws {
        try asServerUser("\(binaries)/psql", ["-h", directory, "-p", "\(port)", "-U", superuser, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql])
    }

    func asServerUser(_ binary: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", binary] + arguments)
        } else {
            try Self.run(binary, arguments)
        }
    }

    static func run(_ binary: String, _ arguments: [String]) throws {
        let result = try ProcessRunner.run(binary, arguments, currentDirectory: "/")
        guard result.status == 0 else {
            throw XCTSkip(
                "\((binary as NSString).lastPathComponent) \(arguments.joined(separator: " ")) failed: \((result.stdout + result.stderr).suffix(2000))")
        }
    }

    static func stopShared() {
        lock.lock()
        let server = started
        started = nil
        lock.unlock()
        guard let server else { return }
        try? server.asServerUser("\(server.binaries)/pg_ctl", ["-D", "\(server.directory)/data", "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: server.directory)
    }
}

extension String {
    fileprivate func appendLine(to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(utf8))
    }
}

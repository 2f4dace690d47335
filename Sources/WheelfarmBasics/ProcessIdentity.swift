import Foundation

/// A process as the farm records it (`pid:start-time`), so a reused pid is not taken for the
/// process that owned a job, a work folder or a staging root.
public enum ProcessIdentity {
    /// This process.
    public static var current: String { "\(getpid()):\(startTime(getpid()) ?? 0)" }

    /// Whether the process an owner string names is still running. An owner whose start time
    /// could not be read when it was recorded (`pid:0`) counts as alive while its pid exists:
    /// taking it for dead would let its job be built twice.
    public static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 2, let pid = Int32(parts[0]), let started = UInt64(parts[1]) else { return false }
        if started == 0 { return pidExists(pid) }
        guard let now = startTime(pid) else { return pidExists(pid) }
        return now == started
    }

    /// The pid of an owner string.
    public static func pid(_ owner: String) -> Int32? { owner.split(separator: ":").first.flatMap { Int32($0) } }

    /// Whether a process with this pid exists (a zombie counts as gone). Only ESRCH says it is
    /// gone: EPERM means it exists but belongs to someone else.
    public static func pidExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 || errno == EPERM {
            let state = FileManager.default.contents(atPath: "/proc/\(pid)/stat").map { String(decoding: $0, as: UTF8.self) }
            if let state, let close = state.lastIndex(of: ")") {
                return state[state.index(after: close)...].split(separator: " ").first != "Z"
            }
            return true
        }
        return errno != ESRCH
    }

    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot); nil when there is no
    /// such process or it cannot be read.
    public static func startTime(_ pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ')' come field 3 (state) onwards: field 22 is index 19.
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return UInt64(fields[19])
    }
}

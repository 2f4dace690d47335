/// Errors from the basic helpers: files and processes.
public enum BasicsError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read or written.
    case io(path: String, reason: String)
    /// A program could not be started.
    case spawn(program: String, reason: String)
    /// A program ran and failed.
    case processFailed(program: String, status: Int32, stderr: String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "\(path): \(reason)"
        case let .spawn(program, reason): return "cannot run \(program): \(reason)"
        case let .processFailed(program, status, stderr):
            let tail = stderr.split(separator: "\n").suffix(5).joined(separator: "\n")
            return "\(program) exited with status \(status)" + (tail.isEmpty ? "" : ":\n\(tail)")
        }
    }
}

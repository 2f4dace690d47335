import Foundation

/// Build progress for people and for logs: on a terminal, finished steps scroll up and the
/// running step stays on one live line with its elapsed time; elsewhere, plain lines.
final class ProgressDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private var current: String?
    private var started = Date()
    private var timer: DispatchSourceTimer?

    init() {
        live = isatty(1) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        guard live else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        timer.schedule(deadline: .now() + 0.5, repeating: 0.5)
        timer.setEventHandler { [weak self] in self?.redraw() }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    /// A new step begins: the previous one is printed as done.
    func step(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        guard live else { write(line + "\n"); return }
        if let current { write("\r\u{1B}[2K\(current) (\(elapsed()))\n") }
        current = line
        started = Date()
        write("\r\u{1B}[2K\(line)")
    }

    /// A line that is not a step (a result, an error): printed above the live line.
    func message(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        guard live else { write(line + "\n"); return }
        if let current { write("\r\u{1B}[2K\(current) (\(elapsed()))\n"); self.current = nil }
        write("\(line)\n")
    }

    private func redraw() {
        lock.lock(); defer { lock.unlock() }
        guard let current else { return }
        write("\r\u{1B}[2K\(current) \u{1B}[2m\(elapsed())\u{1B}[0m")
    }

    private func elapsed() -> String {
        let seconds = Date().timeIntervalSince(started)
        return seconds < 60 ? String(format: "%.1f s", seconds) : "\(Int(seconds) / 60) min \(Int(seconds) % 60) s"
    }

    private func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
}

import Foundation
import ThudBase

/// A one-line progress bar on stderr, redrawn in place, only when stderr is a terminal (logs and pipes get
/// just the warnings).
public final class ProgressBar {
    public let total: Int
    public let enabled = isatty(STDERR_FILENO) == 1
    private var drawn = false
    private let started = Date()

    public init(total: Int) { self.total = total }

    public func show(done: Int, current: String) {
        guard enabled else { return }
        let width = 30, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        // Time left from the mean time per clip so far (clips are similar in length within a dataset).
        let elapsed = Date().timeIntervalSince(started)
        let left = done > 0 ? " ~\(Format.duration(elapsed / Double(done) * Double(total - done))) left" : ""
        fputs("\r\u{1B}[K[\(bar)] \(done)/\(total)\(left) \(current.prefix(40))", stderr)
        drawn = true
    }

    /// A line that must stay (a failed clip): clears the bar, prints, and lets the next update redraw it.
    public func note(_ line: String) {
        if enabled && drawn { fputs("\r\u{1B}[K", stderr) }
        fputs(line + "\n", stderr)
    }

    public func finish() {
        if enabled && drawn { fputs("\r\u{1B}[K", stderr) }
    }
}

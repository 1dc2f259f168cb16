// The terminal view of `thud live` on a camera: drawn from the pipeline's `observe` hook (it needs the capture's
// statistics and each step's latency, which sinks do not see).
import Foundation
import ThudMedia
import ThudModel

/// A one-line live view redrawn in place: a scrolling envelope strip, a flash on hits, the figures.
public final class LiveView {
    public init() {}

    private var history = [Float](repeating: 0, count: 48)
    private var next = 0
    private var flash = 0
    private var lastFrames = 0
    private var lastTime = Date()
    private var fps = 0.0
    private static let bars = Array("▁▂▃▄▅▆▇█")

    public func draw(step: DescribedStep, statistics s: CaptureStatistics, latency: Double) {
        history[next % history.count] = step.envelope
        next += 1
        if step.hit != nil { flash = 3 }
        let now = Date()
        if now.timeIntervalSince(lastTime) >= 1 {
            fps = Double(s.framesCaptured - lastFrames) / now.timeIntervalSince(lastTime)
            lastFrames = s.framesCaptured
            lastTime = now
        }
        var strip = ""
        for i in 0..<history.count {
            let v = history[(next + i) % history.count]
            strip.append(Self.bars[min(7, max(0, Int(v * 8)))])
        }
        let hitText = flash > 0 ? "\u{1B}[1;41;97m HIT \(step.hit.map { String(format: "%.2f", $0.strength) } ?? "    ") \u{1B}[0m" : "          "
        if flash > 0 { flash -= 1 }
        let line = String(format: "\r\u{1B}[2K%@ %@ env %.2f  t %7.2f s  cam %4.1f fps  dropped %d  skipped %d  latency %3.0f ms",
                          strip, hitText, step.envelope, step.time, fps, s.framesDroppedByDriver + s.errorFrames, s.skippedSteps, latency * 1000)
        fputs(line, stdout)
        fflush(stdout)
    }

    public func finish() { fputs("\n", stdout); fflush(stdout) }
}

// The live loop: camera → ring (CaptureSession) → 12 Hz step → EnvelopeStream (encoder → LSTM → head → peak picker)
// → sinks (JSON lines, sound, terminal view). Shared by `thud live` and `thud predict /dev/videoN`.
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudSound

/// Where live steps come from: a camera's CaptureSession, or anything else that serves 12 Hz steps in order (with
/// gaps where it dropped stale ones) and the pixels of the step it served last.
public protocol LiveStepSource: AnyObject {
    /// The next step, nil when the source ended (a stop was requested); throws when it was lost.
    func nextStep() throws -> CapturedStep?
    /// The model-sized pixels of the step `nextStep` returned last.
    var pixels: UnsafeBufferPointer<UInt8> { get }
}

extension CaptureSession: LiveStepSource {
    public func nextStep() throws -> CapturedStep? { try nextStep(timeout: nil) }
}

/// The live loop, shared by `thud live` and `thud predict /dev/videoN`:
/// camera → ring → 12 Hz step → model → peak picker → JSONL / terminal view.
public struct LiveLoop {
    public let device: String
    public let model: StreamingModel
    public let picker: PeakPicker.Configuration
    public let request: CaptureRequest
    /// Where the JSON lines go ("-": stdout); nil: none (the terminal view alone).
    public let jsonl: String?
    /// Stop after this many steps; nil: until the camera or a signal stops it.
    public let steps: Int?
    public let terminalView: Bool
    /// The knock per hit, already open; live steps come in real time, so it is not paced.
    public let sonifier: HitSonifier?
    /// Further sinks (MQTT), given every described step after the printer and the sound.
    public let extraSinks: [any StepSink]

    public init(device: String, model: StreamingModel, picker: PeakPicker.Configuration, request: CaptureRequest,
                jsonl: String?, steps: Int?, terminalView: Bool, sonifier: HitSonifier?, extraSinks: [any StepSink] = []) {
        self.device = device; self.model = model; self.picker = picker; self.request = request
        self.jsonl = jsonl; self.steps = steps; self.terminalView = terminalView; self.sonifier = sonifier
        self.extraSinks = extraSinks
    }

    public func run() throws {
        let session = try CaptureSession(device: device, request: request)
        let sink = sonifier.map { SoundStepSink(sonifier: $0, pacer: nil) }
        defer { sink?.finish() }
        let stream = EnvelopeStream(model: model, picker: picker)
        let printer: StepPrinter? = terminalView && jsonl == nil ? nil : StepPrinter(format: .jsonl, out: try LineWriter(path: jsonl ?? "-"))
        let view = terminalView ? LiveView() : nil
        // Ctrl-C / SIGTERM: ask the session to stop; nextStep then returns nil and the loop ends normally.
        let stopping = StopOnSignals { _ in session.requestStop() }
        defer { stopping.cancel() }

        let f = session.format
        let rate = f.framesPerSecond.map { String(format: "%.2f fps", $0) } ?? "driver's rate"
        fputs("thud: live from \(device): \(f.fourcc) \(f.width)x\(f.height) at \(rate)\(f.emulated ? " (converted by libv4l2)" : ""), model input \(model.inputWidth)x\(model.inputHeight)\n", stderr)
        try session.start()
        defer { session.stop() }
        var sinks: [StepSink] = []
        if let printer { sinks.append(printer) }
        if let sink { sinks.append(sink) }
        sinks += extraSinks
        let (served, latencies) = try Self.serve(session, stream: stream, sinks: sinks, steps: steps) { captured, step in
            view?.draw(step: step, statistics: session.statistics, latency: captured.latency)
        }
        for extra in extraSinks { extra.finish() }
        view?.finish()
        let s = session.statistics
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : Percentiles.nearestRank(sorted, p) * 1000 }
        fputs(String(format: "thud: %d steps; camera frames %d, dropped by driver %d, error frames %d, stale steps skipped %d; latency frame→step median %.1f ms, p99 %.1f ms\n",
                     served, s.framesCaptured, s.framesDroppedByDriver, s.errorFrames, s.skippedSteps, pct(0.5), pct(0.99)), stderr)
    }
}

extension LiveLoop {
    /// The loop itself: each step the source serves goes through the stream, in order, with its own number and time
    /// (a step the source skipped stays skipped: no step is invented), and what the stream describes goes to every
    /// sink and to `observe`; at the end the stream's delayed last steps are described and handed on too. Returns
    /// the steps served and the first 100 000 latencies (frame → step).
    public static func serve(_ source: LiveStepSource, stream: EnvelopeStream, sinks: [StepSink], steps: Int?,
                             observe: (CapturedStep, DescribedStep) -> Void = { _, _ in }) throws -> (served: Int, latencies: [Double]) {
        var latencies: [Double] = []
        latencies.reserveCapacity(min(steps ?? 4096, 100_000))
        var served = 0
        while let captured = try source.nextStep() {
            // A delayed model (EnvelopeStream) describes nothing for its first frames.
            if let step = try stream.process(frame: source.pixels, step: captured.index, time: captured.time) {
                for sink in sinks { sink.submit(step) }
                observe(captured, step)
            }
            if latencies.count < 100_000 { latencies.append(captured.latency) }
            served += 1
            if let steps, served >= steps { break }
        }
        _ = try stream.finish { step in
            for sink in sinks { sink.submit(step) }
        }
        return (served, latencies)
    }
}

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

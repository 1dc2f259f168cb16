import ArgumentParser
import Foundation
import ThudMedia
import ThudModel

struct LiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Hear a camera live: predict the envelope and flag hits from a V4L2 device at 12 Hz.",
        discussion: """
        A capture thread fills a small ring buffer; the loop takes one frame per 12 Hz step by timestamp and \
        runs encoder → LSTM → head → peak picker on it. When the loop falls behind, stale steps are dropped \
        (newest wins, counted and logged) so the prediction always describes the present; a camera that slows \
        down (auto-exposure) only makes steps repeat frames, the 12 Hz clock does not move.

        On a terminal it shows a live view: a scrolling envelope strip, a flash on each hit, the camera's frame \
        rate, dropped frames and the latency from the driver's frame timestamp to the prediction. Otherwise \
        (or with --jsonl) it writes predict's JSON lines. Ctrl-C or SIGTERM stops it cleanly. A model trained \
        with an output delay (the bundled one: one step) describes each step after that many more frames: its \
        lines carry their own step's time and come that many steps later (the latency shown is the frame's to \
        its own prediction).
        """)

    @Argument(help: "V4L2 device.")
    var device = "/dev/video0"

    @Option(help: "A .thud model file (default: the bundled models/default.thud).")
    var model: String?

    @Option(help: "Camera size to ask for, WxH (the nearest offered is used).")
    var size = PictureSize(width: 320, height: 240)

    @Option(parsing: .unconditional, help: "Camera frame rate to ask for (the nearest offered is used).")
    var fps: Double = 30

    @Option(help: "Camera pixel format to ask for (yuyv, uyvy, nv12, yuv420, mjpeg, rgb24, grey…); default: the cheapest the camera offers.")
    var format: String?

    func validate() throws {
        if let format, FourCC.parse(format) == nil { throw ValidationError("--format \(format) is not a pixel format Thud reads") }
        guard fps.isFinite, fps > 0, fps <= 1000 else { throw ValidationError("--fps must be a frame rate above 0 and at most 1000") }
        if let frames, frames < 1 { throw ValidationError("--frames must be a whole number of steps, at least 1") }
    }

    @Option(help: "Also write the JSON lines to this file ('-' for stdout).")
    var jsonl: String?

    @Option(parsing: .unconditional, help: "Stop after this many steps.")
    var frames: Int?

    @OptionGroup var hits: HitOptions

    @OptionGroup var sound: SoundOptions

    func run() throws {
        do {
            let modelPath = try ModelLocator.resolve(model)
            let streaming = try StreamingModel(path: modelPath)
            try LiveRunner(device: device, model: streaming, picker: try hits.configuration(for: streaming, path: modelPath),
                           request: CaptureRequest(captureWidth: size.width, captureHeight: size.height,
                                                   outputWidth: streaming.inputWidth, outputHeight: streaming.inputHeight,
                                                   format: format.flatMap(FourCC.parse), framesPerSecond: fps),
                           jsonl: jsonl, frames: frames, terminalView: isatty(STDOUT_FILENO) != 0 && jsonl != "-", sound: sound).run()
        } catch {
            throw exitWith(error)
        }
    }
}

/// The live loop, shared by `thud live` and `thud predict /dev/videoN`:
/// camera → ring → 12 Hz step → model → peak picker → JSONL / terminal view.
struct LiveRunner {
    let device: String
    let model: StreamingModel
    let picker: PeakPicker.Configuration
    let request: CaptureRequest
    let jsonl: String?
    let frames: Int?
    let terminalView: Bool
    let sound: SoundOptions

    func run() throws {
        let session = try CaptureSession(device: device, request: request)
        // Live steps already come in real time: no pacing, and the audio thread asks for real-time priority.
        let sink = try sound.makeSonifier(realtime: true).map { SoundSink(sonifier: $0, pacer: nil) }
        defer { sink?.finish() }
        let stream = EnvelopeStream(model: model, picker: picker)
        let printer: StepPrinter? = terminalView && jsonl == nil ? nil : StepPrinter(format: .jsonl, out: try LineWriter(path: jsonl ?? "-"))
        let view = terminalView ? LiveView() : nil
        // Ctrl-C / SIGTERM: ask the session to stop; nextStep then returns nil and the loop ends normally.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { session.requestStop() }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }

        let f = session.format
        let rate = f.framesPerSecond.map { String(format: "%.2f fps", $0) } ?? "driver's rate"
        fputs("thud: live from \(device): \(f.fourcc) \(f.width)x\(f.height) at \(rate)\(f.emulated ? " (converted by libv4l2)" : ""), model input \(model.inputWidth)x\(model.inputHeight)\n", stderr)
        try session.start()
        defer { session.stop() }
        var latencies: [Double] = []
        latencies.reserveCapacity(frames ?? 4096)
        var served = 0
        while let captured = try session.nextStep() {
            // A delayed model (EnvelopeStream) describes nothing for its first frames.
            if let step = stream.process(frame: session.pixels, step: captured.index, time: captured.time) {
                printer?.write(step)
                sink?.submit(step)
                view?.draw(step: step, statistics: session.statistics, latency: captured.latency)
            }
            if latencies.count < 100_000 { latencies.append(captured.latency) }
            served += 1
            if let frames, served >= frames { break }
        }
        _ = stream.finish { step in
            printer?.write(step)
            sink?.submit(step)
        }
        view?.finish()
        let s = session.statistics
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))] * 1000 }
        fputs(String(format: "thud: %d steps; camera frames %d, dropped by driver %d, error frames %d, stale steps skipped %d; latency frame→step median %.1f ms, p99 %.1f ms\n",
                     served, s.framesCaptured, s.framesDroppedByDriver, s.errorFrames, s.skippedSteps, pct(0.5), pct(0.99)), stderr)
    }
}

/// A one-line live view redrawn in place: a scrolling envelope strip, a flash on hits, the figures.
final class LiveView {
    private var history = [Float](repeating: 0, count: 48)
    private var next = 0
    private var flash = 0
    private var lastFrames = 0
    private var lastTime = Date()
    private var fps = 0.0
    private static let bars = Array("▁▂▃▄▅▆▇█")

    func draw(step: DescribedStep, statistics s: CaptureStatistics, latency: Double) {
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

    func finish() { fputs("\n", stdout); fflush(stdout) }
}

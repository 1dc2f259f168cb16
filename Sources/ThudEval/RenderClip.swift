// `thud render`: a video a person can watch to judge a prediction. Two passes over the clip:
//  1. the model's gray frames and the first audio channel → the predicted envelope and hits (exactly what
//     `thud predict` computes), the target envelope, and the audio to put back;
//  2. the same 12 Hz steps in colour at display size → each frame composed on one preallocated canvas (picture on
//     top, a strip under it with the target and predicted envelopes scrolling past a cursor, hit markers that
//     flash when a hit is detected) and encoded with FFmpeg (MediaWriter), the audio written alongside in
//     1/12 s slices so the muxer interleaves without buffering the whole clip.
// The output runs at 12 frames a second: what the model saw.
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline

public struct RenderOptions: Sendable {
    /// Video file (container from the extension). A path ending in .gif writes only the GIF.
    public var output: String
    /// Also write an animated GIF (no sound) here.
    public var gifOutput: String?
    /// Mix a synthesized knock in at each detected hit.
    public var knock = false
    /// One knock at a sample rate for a hit strength (0…1): `thud render` passes ThudSound's voice; the default is
    /// ThudEval's placeholder.
    public var knockSound: @Sendable (Int, Float) -> [Float] = { PlaceholderKnock.defaultSound(sampleRate: $0, strength: $1) }
    public var picker = PeakPicker.Configuration()
    public var maxWidth = 640
    public var minWidth = 320
    public var stripHeight = 120
    /// Seconds of envelope visible in the strip, and where the cursor sits (fraction of the width).
    /// A GIF wider than this is written at half size, with a strip of `gifStripHeight`.
    public var gifMaxWidth = 400
    public var gifStripHeight = 80
    public var windowSeconds = 4.0
    public var cursorFraction = 0.75
    /// Polled between steps: once a signal has asked to stop, the render ends with RenderStopped and its temporary
    /// files are removed (nothing half-written beside the output).
    public var stop: StopRequest?

    public init(output: String, gifOutput: String? = nil, knock: Bool = false) {
        self.output = output; self.gifOutput = gifOutput; self.knock = knock
    }
}

/// A render ended by a signal before it was whole: nothing written (exit 130, as thud-train's interrupted run).
public struct RenderStopped: Error, OneLineError {
    public let output: String
    public let signal: Int32
    public var message: String { "\(output): render stopped by \(signalName(signal)) before the end; nothing written" }
    public var exitCode: Int32 { 130 }
}

/// A render whose output is its own clip (through any link): refused before anything is read (a usage error, 64).
public struct RenderOutputIsItsClip: Error, OneLineError {
    public let output: String
    public var message: String { "\(output): is the clip being rendered; refusing to overwrite it" }
    public var exitCode: Int32 { 64 }
}

/// SIGINT, SIGTERM, SIGHUP by name; others by number.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGHUP: return "SIGHUP"
    default: return "signal \(signal)"
    }
}

extension RenderSummary {
    /// `thud render`'s line: what was written.
    public func describe(outputs: [String], knock: Bool) -> String {
        "wrote \(outputs.joined(separator: " and ")): \(frames) frames at 12 fps, \(Format.fixed(seconds, 2)) s, \(width)x\(height), \(hasAudio ? "audio" : "no audio")\(knock ? " with knocks" : ""), \(hits.count) hits, r \(r.map { Format.fixed($0, 3) } ?? "n/a")"
    }
}

public struct RenderSummary: Sendable {
    public var frames: Int
    public var width: Int
    public var height: Int
    public var seconds: Double
    public var hits: [HitEvent]
    public var hasAudio: Bool
    /// Pearson r of the model against the target (nil without audio or for a constant series).
    public var r: Double?
}

/// What pass 1 finds.
struct RenderAnalysis {
    var predicted: [Float] = []
    var hits: [HitEvent] = []
    /// Steps from a hit's step to the frame whose output confirms it (EnvelopeStream.latencySteps).
    var latencySteps = 1
    var target: [Float]?
    var audio: [Float]?
    var sampleRate = 44100
}

public enum ClipRenderer {
    /// Writes the video (and the GIF) through AtomicFile: each is rendered into a temporary sibling and renamed into
    /// place only when whole, so a failed render leaves the old files (and never touches the clip).
    public static func render(clip path: String, model: StreamingModel, options: RenderOptions,
                              warn: @escaping (String) -> Void = { _ in }) throws -> RenderSummary {
        try checkOutputs(clip: path, options: options)
        var summary: RenderSummary?
        var temporary = options
        do {
            try AtomicFile.replace(options.output) { video in
                temporary.output = video
                if let gif = options.gifOutput {
                    try AtomicFile.replace(gif) { g in
                        temporary.gifOutput = g
                        summary = try renderFiles(clip: path, model: model, options: temporary, warn: warn)
                    }
                } else {
                    summary = try renderFiles(clip: path, model: model, options: temporary, warn: warn)
                }
            }
        } catch let e as MediaError where e.file == temporary.output || e.file == temporary.gifOutput {
            // The writer names the temporary file it was writing; the user named the output.
            throw MediaError(e.kind, file: e.file == temporary.output ? options.output : options.gifOutput ?? options.output, e.problem)
        } catch let e as RenderStopped {
            throw RenderStopped(output: options.output, signal: e.signal)
        }
        return summary!
    }

    /// Before the model and the clip are read: a render that could not be kept (74), or would replace its own input
    /// (64), is refused at once.
    public static func checkOutputs(clip path: String, options: RenderOptions) throws {
        for target in [options.output, options.gifOutput].compactMap({ $0 }) {
            if AtomicFile.sameFile(path, target) { throw RenderOutputIsItsClip(output: target) }
            try AtomicFile.checkWritable(target)
        }
    }

    private static func renderFiles(clip path: String, model: StreamingModel, options: RenderOptions,
                                    warn: @escaping (String) -> Void) throws -> RenderSummary {
        let analysis = try analyse(path: path, model: model, picker: options.picker, stop: options.stop, warn: warn)
        let input = try MediaInput(path: path)
        guard let v = input.info.video else { throw MediaError(.noVideo, file: input.name, "no video stream") }
        let (w, h) = displaySize(sourceWidth: v.displayWidth, sourceHeight: v.displayHeight, options: options)
        let strip = StripRenderer(width: w, top: h, height: options.stripHeight, analysis: analysis, options: options)
        let canvas = RenderCanvas(width: w, height: h + options.stripHeight, background: ChartPalette.stripBackground)

        var audio = analysis.audio
        if options.knock {
            // The knock plays when the causal picker *reports* the hit (peak + latency), as the live demo would.
            let latency = StepRate.time(ofStep: 1)
            if audio == nil { audio = [Float](repeating: 0, count: StepRate.sample(atStep: analysis.predicted.count, sampleRate: analysis.sampleRate)) }
            PlaceholderKnock.mix(into: &audio!, sampleRate: analysis.sampleRate,
                                 hits: analysis.hits.map { (time: $0.time + latency, strength: $0.strength) }, knock: options.knockSound)
        }
        let gifOnly = options.output.lowercased().hasSuffix(".gif")
        let videoWriter = gifOnly ? nil : try MediaWriter(
            path: options.output,
            video: VideoEncodeSettings(width: canvas.width, height: canvas.height, codec: .h264, nominalFrameRate: StepRate.hz, crf: 20),
            audio: audio.map { _ in AudioEncodeSettings(sampleRate: analysis.sampleRate, channels: 1) })
        let gifPath = gifOnly ? options.output : options.gifOutput
        // A wide GIF gets its picture at half size and a strip drawn at that size (downscaled 5×7 text would blur).
        var gifCanvas: RenderCanvas?, gifStrip: StripRenderer?, gifPictureRows = 0
        if gifPath != nil && canvas.width > options.gifMaxWidth {
            let gw = (w / 2) & ~1
            gifPictureRows = (h / 2) & ~1
            gifCanvas = RenderCanvas(width: gw, height: gifPictureRows + options.gifStripHeight, background: ChartPalette.stripBackground)
            gifStrip = StripRenderer(width: gw, top: gifPictureRows, height: options.gifStripHeight, analysis: analysis, options: options)
        }
        let gifSize = gifCanvas.map { ($0.width, $0.height) } ?? (canvas.width, canvas.height)
        let gifWriter = try gifPath.map {
            try MediaWriter(path: $0, video: VideoEncodeSettings(width: gifSize.0, height: gifSize.1, codec: .gif, nominalFrameRate: StepRate.hz), audio: nil)
        }

        var frames = 0, audioWritten = 0
        let request = VideoStepRequest(width: w, height: h, pixelFormat: .rgb24)
        let steps = analysis.predicted.count
        _ = try input.decode(video: request, audio: false, onStep: { step in
            // Pass 1 fixed the step count; a second decode of the same file gives the same steps.
            guard step.index < steps else { return false }
            if let signal = options.stop?.signal { throw RenderStopped(output: options.output, signal: signal) }
            canvas.blit(rgb: step.pixels, width: step.width, height: step.height, bytesPerRow: step.bytesPerRow, x: 0, y: 0)
            strip.draw(on: canvas, step: step.index)
            let frame = UnsafeBufferPointer(canvas.pixels)
            try videoWriter?.writeVideoFrame(rgb: frame, stride: canvas.bytesPerRow, time: step.time)
            if let gifWriter {
                if let small = gifCanvas, let smallStrip = gifStrip {
                    small.downsample2x(from: canvas, rows: gifPictureRows)
                    smallStrip.draw(on: small, step: step.index)
                    try gifWriter.writeVideoFrame(rgb: UnsafeBufferPointer(small.pixels), stride: small.bytesPerRow, time: step.time)
                } else {
                    try gifWriter.writeVideoFrame(rgb: frame, stride: canvas.bytesPerRow, time: step.time)
                }
            }
            if let videoWriter, let audio {
                let end = min(audio.count, StepRate.sample(atStep: step.index + 1, sampleRate: analysis.sampleRate))
                if end > audioWritten {
                    try audio.withUnsafeBufferPointer { try videoWriter.writeAudio(interleaved: UnsafeBufferPointer(rebasing: $0[audioWritten..<end])) }
                    audioWritten = end
                }
            }
            frames += 1
            return true
        })
        guard frames > 0 else { throw MediaError(.tooShort, file: input.name, "no frames to render") }
        // Audio beyond the last frame's slice (up to the end of the video's duration) goes in too.
        if let videoWriter, let audio {
            let end = min(audio.count, Int((StepRate.time(ofStep: frames) * Double(analysis.sampleRate)).rounded(.up)))
            if end > audioWritten {
                try audio.withUnsafeBufferPointer { try videoWriter.writeAudio(interleaved: UnsafeBufferPointer(rebasing: $0[audioWritten..<end])) }
            }
        }
        try videoWriter?.finish()
        try gifWriter?.finish()
        let r = analysis.target.flatMap { EnvelopeMetrics.pearson(Array(analysis.predicted.prefix($0.count)), Array($0.prefix(analysis.predicted.count))) }
        return RenderSummary(frames: frames, width: canvas.width, height: canvas.height, seconds: StepRate.time(ofStep: frames),
                             hits: analysis.hits, hasAudio: videoWriter != nil && audio != nil, r: r)
    }

    /// The clip's own width, kept between `minWidth` and `maxWidth`, the height scaled to match; both even
    /// (H.264 4:2:0 needs even sides).
    public static func displaySize(sourceWidth: Int, sourceHeight: Int, options: RenderOptions) -> (Int, Int) {
        let w = min(options.maxWidth, max(options.minWidth, sourceWidth)) & ~1
        let h = max(2, Int((Double(sourceHeight) * Double(w) / Double(sourceWidth) / 2).rounded()) * 2)
        return (w, h)
    }

    static func analyse(path: String, model: StreamingModel, picker configuration: PeakPicker.Configuration,
                        stop: StopRequest? = nil, warn: @escaping (String) -> Void) throws -> RenderAnalysis {
        let input = try MediaInput(path: path)
        let stream = EnvelopeStream(model: model, picker: configuration)
        var a = RenderAnalysis()
        a.latencySteps = stream.latencySteps
        // The model's pass is the pipeline's (as predict runs it), its steps collected; the audio comes with it.
        let source = FileSource(input, request: VideoStepRequest(width: model.inputWidth, height: model.inputHeight, pixelFormat: .gray8),
                                audio: input.info.audio != nil, warn: warn)
        source.failsOnEarlyEnd = false
        let collected = CollectingSink()
        let run = try Pipeline.run(source, stream: stream, sinks: [collected]) { _, _ in
            if let signal = stop?.signal { throw RenderStopped(output: path, signal: signal) }
        }
        a.predicted = collected.steps.map(\.envelope)
        a.hits = collected.steps.compactMap(\.hit) + (run.lastHit.map { [$0] } ?? [])
        guard let summary = source.summary else { throw MediaError(.tooShort, file: input.name, "no video frames") }
        if let error = summary.readError { throw MediaError(.truncated, file: input.name, "input ends early (\(error))") }
        guard !a.predicted.isEmpty else { throw MediaError(.tooShort, file: input.name, "no video frames") }
        if let audio = summary.audio, audio.decodedFrames > 0 {
            a.audio = audio.samples
            a.sampleRate = audio.sampleRate
            let env = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
            if env.peakDB >= AudioEnvelope.silenceDB { a.target = env.values }
            else { warn("\(input.name): audio is silent; the strip shows no target") }
        } else if input.info.audio != nil {
            warn("\(input.name): audio does not decode; rendering without it")
        } else {
            warn("\(input.name): no audio stream; rendering without sound or target")
        }
        return a
    }
}

/// Draws the strip under the picture for one step. Holds everything it needs (envelopes, hit lists, the plot
/// geometry), so `draw` only moves the window and paints: no arrays are built per frame.
final class StripRenderer {
    let width: Int, top: Int, height: Int
    let predicted: [Float]
    let target: [Float]?
    let hitPeaks: [Int]
    let hitDetections: [Int]
    let windowSteps: Double
    let cursorFraction: Double
    let plotTop: Int, plotHeight: Int
    let labelR: String
    let labelBehind: String, labelAhead: String

    init(width: Int, top: Int, height: Int, analysis: RenderAnalysis, options: RenderOptions) {
        self.width = width; self.top = top; self.height = height
        predicted = analysis.predicted
        target = analysis.target
        hitPeaks = analysis.hits.map(\.step)
        hitDetections = analysis.hits.map { $0.step + analysis.latencySteps }
        windowSteps = options.windowSeconds * StepRate.hz
        cursorFraction = options.cursorFraction
        labelBehind = "-\(Int((cursorFraction * windowSteps / StepRate.hz).rounded()))S"
        labelAhead = "+\(Int(((1 - cursorFraction) * windowSteps / StepRate.hz).rounded()))S"
        plotTop = top + 18
        plotHeight = height - 18 - 16
        if let t = analysis.target, let r = EnvelopeMetrics.pearson(Array(predicted.prefix(t.count)), Array(t.prefix(predicted.count))) {
            labelR = "R " + String(format: "%.2f", r)
        } else {
            labelR = analysis.target == nil ? "NO TARGET" : "R N/A"
        }
    }

    func draw(on c: RenderCanvas, step k: Int) {
        c.fillRect(x: 0, y: top, width: width, height: height, color: ChartPalette.stripBackground)
        let start = Double(k) - cursorFraction * windowSteps
        let area = PlotArea(x: 8, y: plotTop, width: width - 16, height: plotHeight, stepStart: start, stepEnd: start + windowSteps)

        // Flash: the strip and the picture's corner light up on the step a hit is reported and fade over two more.
        var age = Int.max
        for d in hitDetections where d <= k { age = min(age, k - d) }
        if age <= 2 {
            let alpha: Float = age == 0 ? 0.55 : age == 1 ? 0.3 : 0.12
            c.blendRect(x: 0, y: top, width: width, height: height, color: ChartPalette.predictedHit, alpha: alpha * 0.5)
            c.blendRect(x: width - 74, y: 8, width: 66, height: 26, color: ChartPalette.predictedHit, alpha: alpha + 0.3)
            c.text("HIT", x: width - 68, y: 13, color: .white, scale: 2)
        }

        // Seconds grid.
        var s = max(0, Int((start / StepRate.hz).rounded(.up)))
        while Double(s * StepRate.perSecond) <= area.stepEnd {
            let x = area.xOf(step: Double(s * StepRate.perSecond))
            c.fillRect(x: x, y: plotTop, width: 1, height: plotHeight, color: ChartPalette.stripGrid)
            s += 1
        }
        c.fillRect(x: 8, y: plotTop + plotHeight, width: width - 16, height: 1, color: ChartPalette.stripGrid)

        if let target {
            target.withUnsafeBufferPointer { t in
                c.plotArea(t, steps: 0..<t.count, in: area, color: ChartPalette.stripTargetFill)
                c.plotLine(t, steps: 0..<t.count, in: area, color: ChartPalette.target, thickness: 2)
            }
        }
        // The prediction only up to now: the model has not seen the future.
        predicted.withUnsafeBufferPointer { p in
            c.plotLine(p, steps: 0..<min(p.count, k + 1), in: area, color: ChartPalette.model, thickness: 2)
        }
        for (i, peak) in hitPeaks.enumerated() where hitDetections[i] <= k {
            let x = area.xOf(step: Double(peak))
            guard x >= area.x, x < area.x + area.width else { continue }
            c.triangle(x: x, y: plotTop - 1, size: 4, pointingDown: false, color: ChartPalette.predictedHit)
            c.fillRect(x: x, y: plotTop, width: 1, height: plotHeight, color: ChartPalette.predictedHit)
        }
        // Cursor: now.
        let cx = area.xOf(step: Double(k))
        c.fillRect(x: cx, y: plotTop - 2, width: 2, height: plotHeight + 4, color: .white)

        var x = c.text("TARGET", x: 8, y: top + 5, color: ChartPalette.target)
        x = c.text("PREDICTED", x: x + 12, y: top + 5, color: ChartPalette.model)
        x = c.text("HIT", x: x + 12, y: top + 5, color: ChartPalette.predictedHit)
        c.text(labelR, x: x + 12, y: top + 5, color: ChartPalette.stripText)
        let seconds = StepRate.time(ofStep: k)
        let whole = Int(seconds), hundredths = Int(((seconds - Double(whole)) * 100).rounded(.down))
        // Built from integers with a fixed-width tail: no Foundation formatting per frame.
        let time = "T \(whole).\(hundredths < 10 ? "0" : "")\(hundredths)S"
        c.text(time, x: width - 8 - BitmapFont.width(of: time), y: top + 5, color: ChartPalette.stripText)
        c.text(labelBehind, x: 8, y: top + height - 12, color: ChartPalette.stripGrid)
        c.text(labelAhead, x: width - 8 - BitmapFont.width(of: labelAhead), y: top + height - 12, color: ChartPalette.stripGrid)
    }
}

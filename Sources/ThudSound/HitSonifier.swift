import Glibc
import ThudBase

/// The library entry point for `--sonify`: plays a knock for every hit (or noise shaped by the
/// envelope) through ALSA on its own thread.
///
/// Threading: `submit…` must be called from one thread (the inference loop: the queue is
/// single-producer); it never blocks and never allocates. Stats may be read from any thread.
///
///     let sonifier = try HitSonifier(request: SonifyRequest(argument: "optional")!,
///                                    device: "default", voice: "wood",
///                                    warn: { fputs("thud: warning: \($0)\n", stderr) })  // sound off, and why
///     // per 12 Hz step, in the inference loop:
///     let envelope = model.step(frame: pixels)
///     if let hit = picker.process(envelope) { sonifier.submitHit(strength: hit.strength) }
///     sonifier.submitEnvelope(envelope)   // ignored unless mode is .envelope
///     // at the end:
///     sonifier.stop(drain: true)
///     fputs("thud: sound: \(sonifier.latencyStats), underruns \(sonifier.underruns)\n", stderr)
public final class HitSonifier {
    public struct Options: Equatable {
        public var sink = SinkSettings()
        public var voice = "wood"
        public var mode = SonifyMode.hits
        /// When true, a device that cannot be opened disables sound instead of throwing
        /// (`--sonify=optional`): the sonifier's `warning` says why, and the init's `warn` is called with it.
        public var optional = false
        /// Events in flight between the model and the audio thread; beyond this they are
        /// dropped (and counted) rather than making the model wait.
        public var queueCapacity = 256

        public init(sink: SinkSettings = SinkSettings(), voice: String = "wood", mode: SonifyMode = .hits,
                    optional: Bool = false, queueCapacity: Int = 256) {
            self.sink = sink
            self.voice = voice
            self.mode = mode
            self.optional = optional
            self.queueCapacity = queueCapacity
        }
    }

    public let options: Options
    private let sink: SoundSink?
    private var stopped = false
    /// Producer-side drop count (only the submitting thread writes it).
    public private(set) var dropped = 0

    /// Nil when sound is on; when `optional` turned it off, why ("sound disabled: audio
    /// device 'hw:9': cannot open for playback: No such file or directory").
    public let warning: String?
    public var isEnabled: Bool { sink != nil }

    /// Throws `SoundError` (exit code 40) for a missing/unusable device unless `optional`;
    /// an unknown voice name always throws (exit code 64: a usage error, not a device problem).
    /// `warn` gets `warning` when `optional` turned sound off; the library prints nothing itself (the CLI passes
    /// one that prints `thud: warning: …`).
    public convenience init(device: String = "default", voice: String = "wood", mode: SonifyMode = .hits,
                            optional: Bool = false, warn: ((String) -> Void)? = nil) throws {
        try self.init(options: Options(sink: SinkSettings(device: device), voice: voice, mode: mode, optional: optional),
                      warn: warn)
    }

    /// The CLI's form: `--sonify[=VALUE]` parsed by `SonifyRequest`, `--audio-device`, `--voice`.
    public convenience init(request: SonifyRequest, device: String = "default", voice: String = "wood",
                            realtimePriority: Int32 = 0, warn: ((String) -> Void)? = nil) throws {
        try self.init(options: Options(sink: SinkSettings(device: device, realtimePriority: realtimePriority),
                                       voice: voice, mode: request.mode, optional: request.optional), warn: warn)
    }

    public convenience init(options: Options, warn: ((String) -> Void)? = nil) throws {
        try self.init(options: options, warn: warn) { try AlsaDevice(settings: options.sink) }
    }

    /// `openDevice` lets tests hand in a PCM they built themselves (an in-process ioplug card).
    init(options: Options, warn: ((String) -> Void)? = nil, openDevice: () throws -> AlsaDevice) throws {
        self.options = options
        let spec = try VoiceSpec.named(options.voice)
        do {
            let device = try openDevice()
            let table = KnockTable(spec, sampleRate: device.sampleRate)
            let sink = SoundSink(device: device, table: table, mode: options.mode,
                                 queueCapacity: options.queueCapacity, pacing: options.sink.pacing,
                                 realtimePriority: options.sink.realtimePriority)
            try sink.start()
            self.sink = sink
            self.warning = nil
        } catch let error as SoundError where options.optional {
            self.sink = nil
            let warning = "sound disabled: \(error.message)"
            self.warning = warning
            warn?(warning)
        }
    }

    deinit { stop(drain: false) }

    /// Queues a knock for a detected hit; it starts in the next period the sink writes.
    /// Matches ThudModel's `HitEvent` (pass `hit.strength`); `strength` 0...1 sets the loudness.
    /// Returns false when the event was dropped (queue full, sound disabled, or envelope mode).
    @discardableResult
    public func submitHit(strength: Float) -> Bool {
        guard let sink, options.mode == .hits, !stopped else { return false }
        if sink.queue.push(SoundEvent(kind: .hit, value: strength, submitNanos: MonotonicClock.nanos())) { return true }
        dropped += 1
        return false
    }

    /// Queues the envelope value of one 12 Hz step (`--sonify envelope`); the noise level glides
    /// to it (15 ms smoothing). Ignored in hits mode.
    @discardableResult
    public func submitEnvelope(_ value: Float) -> Bool {
        guard let sink, options.mode == .envelope, !stopped else { return false }
        if sink.queue.push(SoundEvent(kind: .envelope, value: value, submitNanos: MonotonicClock.nanos())) { return true }
        dropped += 1
        return false
    }

    /// Stops the audio thread and closes the device. `drain` plays what was already submitted,
    /// lets sounding knocks finish (at most 2 s) and fades envelope noise, then `snd_pcm_drain`;
    /// otherwise `snd_pcm_drop` cuts at once. Call it from the submitting thread (it shares the
    /// producer's state). Idempotent; submissions after it are ignored.
    public func stop(drain: Bool = true) {
        guard !stopped else { return }
        stopped = true
        sink?.stop(drain: drain)
    }

    // MARK: what the device granted (read back from hw params), nil-safe when disabled

    public var sampleRate: Int { sink?.sampleRate ?? 0 }
    public var channels: Int { sink?.device.channels ?? 0 }
    public var periodFrames: Int { sink?.periodFrames ?? 0 }
    public var bufferFrames: Int { sink?.bufferFrames ?? 0 }
    public var periodSeconds: Double { sampleRate > 0 ? Double(periodFrames) / Double(sampleRate) : 0 }
    public var bufferSeconds: Double { sampleRate > 0 ? Double(bufferFrames) / Double(sampleRate) : 0 }
    /// True when the device consumed audio instantly (`null`) and the sink paces itself.
    public var isWallClockPaced: Bool { sink?.usingWallClock.load(ordering: .acquiring) ?? false }
    /// True when the audio thread runs SCHED_FIFO (asked for with `realtimePriority` and granted).
    public var isRealtime: Bool { sink?.isRealtime.load(ordering: .acquiring) ?? false }
    /// Frames handed to ALSA so far (the stream position of the next block).
    public var framesWritten: Int { sink?.framesWritten.load(ordering: .acquiring) ?? 0 }

    // MARK: health and latency

    /// Underruns recovered (ALSA -EPIPE, or the wall-clock playhead overtaking the writer).
    public var underruns: Int { sink?.underruns.load(ordering: .acquiring) ?? 0 }
    /// Suspends recovered (ALSA -ESTRPIPE).
    public var suspends: Int { sink?.suspends.load(ordering: .acquiring) ?? 0 }
    /// Non-nil when the device failed beyond recovery (e.g. unplugged); sound is then off but
    /// submitting stays harmless.
    public var failure: String? {
        guard let sink, sink.failed.load(ordering: .acquiring) else { return nil }
        return sink.failure
    }
    public var latencyStats: LatencyStats { sink?.latency.summary() ?? .empty }
    /// Every measured output latency (seconds; the last 4096), for percentiles in benchmarks.
    public var sinkOutputLatencies: [Double] { sink?.latency.outputSamples() ?? [] }

    /// Stream frames at which the knocks started, in order (diagnostics and tests).
    public var knockStartFrames: [Int] {
        guard let sink else { return [] }
        let n = sink.knockCount.load(ordering: .acquiring)
        return (max(0, n - 4096)..<n).map { sink.knockStarts[$0 % 4096] }
    }

    /// The rendered knock of the current voice (peak-normalized), for tests and docs.
    public var knockTable: KnockTable? { sink?.renderer.table }

    /// Test hook (internal: tests reach it with `@testable import`): stall the audio thread once for `seconds`
    /// before its next write.
    func stallWriterOnce(seconds: Double) {
        sink?.stallNanos.store(UInt64(seconds * 1e9), ordering: .releasing)
    }
}

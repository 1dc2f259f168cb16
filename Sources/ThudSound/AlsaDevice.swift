import CALSA
import Glibc

/// How the sink learns that the device has consumed audio.
public enum Pacing: String {
    /// Probe after the first full buffer: a device that swallowed it instantly (ALSA's `null`,
    /// or `file` over `null`) is paced by the wall clock, anything else by the device.
    case auto
    /// The device's own pointer (`snd_pcm_avail`/`snd_pcm_delay`) says when there is room.
    case device
    /// The sink's monotonic clock plays the device: `null` never blocks and never underruns,
    /// so without this the sink would spin writing silence as fast as the CPU allows.
    case wallClock
}

/// What to ask ALSA for. The defaults aim at low latency: 5 ms periods, two per buffer, so a
/// hit waits at most one period for its block and then at most one period of queued audio.
public struct SinkSettings: Equatable {
    public var device: String = "default"
    public var sampleRate: Int = 48_000
    public var periodMicros: Int = 5_000
    public var periodsPerBuffer: Int = 2
    public var pacing: Pacing = .auto
    /// SCHED_FIFO priority for the audio thread (1...99), 0 for normal scheduling. Best effort:
    /// without the privilege it stays at normal priority (`HitSonifier.isRealtime` says which).
    /// Worth it on a busy machine: at normal priority a 10 ms buffer underruns whenever the
    /// scheduler hands the cores to others for longer than that.
    public var realtimePriority: Int32 = 0

    public init(device: String = "default", sampleRate: Int = 48_000, periodMicros: Int = 5_000,
                periodsPerBuffer: Int = 2, pacing: Pacing = .auto, realtimePriority: Int32 = 0) {
        self.device = device
        self.sampleRate = sampleRate
        self.periodMicros = periodMicros
        self.periodsPerBuffer = periodsPerBuffer
        self.pacing = pacing
        self.realtimePriority = realtimePriority
    }
}

@inline(__always)
func alsaError(_ code: Int32) -> String { String(cString: snd_strerror(code)) }

/// An open, configured playback PCM: S16 interleaved, the channel count and rate the device
/// accepts nearest to mono/48 kHz, period and buffer negotiated and read back.
final class AlsaDevice {
    let pcm: OpaquePointer
    let name: String
    let sampleRate: Int
    let channels: Int
    let periodFrames: Int
    let bufferFrames: Int
    private var closed = false

    /// Opens `name` for playback. alsa-lib's own stderr chatter is muted during the probe so the
    /// user gets exactly one line naming the device and the problem.
    static func openPCM(_ name: String) throws -> OpaquePointer {
        var handle: OpaquePointer?
        thud_alsa_errors_silence(1)
        let err = snd_pcm_open(&handle, name, SND_PCM_STREAM_PLAYBACK, 0)
        thud_alsa_errors_silence(0)
        guard err >= 0, let pcm = handle else {
            throw SoundError("audio device '\(name)': cannot open for playback: \(alsaError(err))")
        }
        return pcm
    }

    convenience init(settings: SinkSettings) throws {
        let pcm = try AlsaDevice.openPCM(settings.device)
        try self.init(pcm: pcm, name: settings.device, settings: settings)
    }

    /// Takes ownership of `pcm` (closed on failure too).
    init(pcm: OpaquePointer, name: String, settings: SinkSettings) throws {
        self.pcm = pcm
        self.name = name
        func fail(_ what: String, _ err: Int32) -> SoundError {
            snd_pcm_close(pcm)
            return SoundError("audio device '\(name)': \(what): \(alsaError(err))")
        }
        // Read back what the device actually granted: everything downstream uses these.
        let granted = try AlsaHardware.negotiate(pcm, direction: "playback", channels: 1, sampleRate: settings.sampleRate,
                                                 period: { max(16, $0 * settings.periodMicros / 1_000_000) },
                                                 buffer: { _, period in period * max(2, settings.periodsPerBuffer) },
                                                 fail: fail)
        sampleRate = granted.sampleRate
        channels = granted.channels
        periodFrames = granted.periodFrames
        bufferFrames = granted.bufferFrames
        let gotPeriod = snd_pcm_uframes_t(granted.periodFrames), gotBuffer = snd_pcm_uframes_t(granted.bufferFrames)

        guard let sw = thud_sw_params_new() else { throw fail("out of memory for sw params", -ENOMEM) }
        defer { snd_pcm_sw_params_free(sw) }
        var err = snd_pcm_sw_params_current(pcm, sw)
        if err < 0 { throw fail("cannot read sw params", err) }
        // Start only once the whole buffer is primed (the first hit then has a full buffer of
        // silence ahead of it, same as in steady state); wake for each free period; stop (xrun)
        // when the buffer runs completely dry, the default and what recovery expects.
        snd_pcm_sw_params_set_start_threshold(pcm, sw, gotBuffer)
        snd_pcm_sw_params_set_avail_min(pcm, sw, gotPeriod)
        snd_pcm_sw_params_set_stop_threshold(pcm, sw, gotBuffer)
        err = snd_pcm_sw_params(pcm, sw)
        if err < 0 { throw fail("sw params rejected", err) }
        err = snd_pcm_prepare(pcm)
        if err < 0 { throw fail("cannot prepare", err) }
    }

    func close(drain: Bool) {
        guard !closed else { return }
        closed = true
        if drain { snd_pcm_drain(pcm) } else { snd_pcm_drop(pcm) }
        snd_pcm_close(pcm)
    }

    deinit { close(drain: false) }
}

import CALSA
import Glibc
import Synchronization
import ThudBase

/// What to ask ALSA for when recording. The rate and channel count are what the device grants nearest to these.
public struct CaptureAudioSettings: Equatable {
    public var device: String = "default"
    public var sampleRate: Int = 48_000
    public var channels: Int = 1
    /// One read per period: the capture thread wakes this often.
    public var periodMicros: Int = 10_000
    /// The device's buffer: how long the capture thread may be kept from reading before ALSA overruns.
    public var bufferMicros: Int = 250_000
    /// Blocks held between the capture thread and the consumer (each one period): 2 s at 10 ms periods.
    public var queueBlocks: Int = 200
    /// `auto`: a device that delivers a whole buffer at once (ALSA's `null`, `file` over `null`) is paced by the
    /// monotonic clock, anything else by the device.
    public var pacing: Pacing = .auto
    /// Streaming with no audio for this long is a lost device (exit 41), never a hang.
    public var stallTimeout: Double = 2

    public init(device: String = "default", sampleRate: Int = 48_000, channels: Int = 1, pacing: Pacing = .auto) {
        self.device = device
        self.sampleRate = sampleRate
        self.channels = channels
        self.pacing = pacing
    }
}

/// One period of captured audio: `frames` interleaved float frames in [-1, 1], the first of them heard at `time`
/// (CLOCK_MONOTONIC seconds, the clock V4L2 stamps frames with). `samples` stays valid until the next `nextBlock`.
public struct CapturedAudioBlock {
    public var time: Double
    public var frames: Int
    public var samples: UnsafeBufferPointer<Float>
}

/// Counters of one audio capture.
public struct AudioCaptureStatistics: Equatable, Sendable {
    public var frames = 0            // frames read from the device
    public var overruns = 0          // ALSA overruns (-EPIPE) recovered with snd_pcm_recover
    public var suspends = 0          // -ESTRPIPE recovered
    public var blocksDropped = 0     // blocks the consumer had no room for (it fell 2 s behind)
    public init(frames: Int = 0, overruns: Int = 0, suspends: Int = 0, blocksDropped: Int = 0) {
        self.frames = frames; self.overruns = overruns; self.suspends = suspends; self.blocksDropped = blocksDropped
    }
}

/// ALSA capture on its own thread: S16 interleaved from the device, converted to float into a fixed pool of
/// period-sized blocks, each stamped with CLOCK_MONOTONIC from ALSA's htstamp (`snd_pcm_htimestamp`: the time the
/// hardware pointer was last updated, so the block's first frame was heard `avail + frames` frames before it). The
/// blocks reach the consumer through a lock-free SPSC queue. Overruns are recovered and counted; a device that
/// fails for good (unplugged, ENODEV) or stops delivering ends the capture with one line naming it (exit 41).
/// Nothing is allocated per period.
public final class AlsaCapture {
    public let device: String
    public let sampleRate: Int
    public let channels: Int
    public let periodFrames: Int
    public let bufferFrames: Int
    public private(set) var pacedByWallClock = false

    private let pcm: OpaquePointer
    private let settings: CaptureAudioSettings
    private let queue: SPSCQueue<BlockInfo>
    private let pool: UnsafeMutablePointer<Float>
    private let poolBlocks: Int
    private let raw: UnsafeMutablePointer<Int16>
    private var thread: pthread_t?
    private let stopFlag = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)
    private let framesRead = Atomic<Int>(0)
    private let overrunCount = Atomic<Int>(0)
    private let suspendCount = Atomic<Int>(0)
    private let droppedBlocks = Atomic<Int>(0)
    // Written by the capture thread before `done` is set (release), read after (acquire).
    private var failure: SoundError?
    private var closed = false

    private struct BlockInfo { var slot: Int; var time: Double; var frames: Int }

    /// Opens and configures `settings.device` for capture (exit 41 on failure). Nothing runs yet.
    public init(settings: CaptureAudioSettings) throws {
        self.settings = settings
        device = settings.device
        var handle: OpaquePointer?
        thud_alsa_errors_silence(1)
        var err = snd_pcm_open(&handle, settings.device, SND_PCM_STREAM_CAPTURE, Int32(SND_PCM_NONBLOCK))
        thud_alsa_errors_silence(0)
        guard err >= 0, let pcm = handle else {
            throw SoundError("audio device '\(settings.device)': cannot open for capture: \(alsaError(err))", exitCode: 41)
        }
        self.pcm = pcm
        func fail(_ what: String, _ err: Int32) -> SoundError {
            snd_pcm_close(pcm)
            return SoundError("audio device '\(settings.device)': \(what): \(alsaError(err))", exitCode: 41)
        }
        let granted = try AlsaHardware.negotiate(pcm, direction: "capture", channels: settings.channels,
                                                 sampleRate: settings.sampleRate,
                                                 period: { max(32, $0 * settings.periodMicros / 1_000_000) },
                                                 buffer: { rate, period in max(period * 2, rate * settings.bufferMicros / 1_000_000) },
                                                 fail: fail)
        sampleRate = granted.sampleRate
        channels = granted.channels
        periodFrames = granted.periodFrames
        bufferFrames = granted.bufferFrames
        let gotPeriod = snd_pcm_uframes_t(granted.periodFrames)
        guard (8000...192_000).contains(sampleRate), (1...8).contains(channels), periodFrames > 0 else {
            throw fail("granted \(sampleRate) Hz x \(channels) ch, period \(periodFrames): not recordable", -EINVAL)
        }

        guard let sw = thud_sw_params_new() else { throw fail("out of memory for sw params", -ENOMEM) }
        defer { snd_pcm_sw_params_free(sw) }
        err = snd_pcm_sw_params_current(pcm, sw)
        if err < 0 { throw fail("cannot read sw params", err) }
        // Timestamps on every pointer update, from CLOCK_MONOTONIC: the clock of V4L2's buffer timestamps.
        snd_pcm_sw_params_set_tstamp_mode(pcm, sw, SND_PCM_TSTAMP_ENABLE)
        snd_pcm_sw_params_set_tstamp_type(pcm, sw, SND_PCM_TSTAMP_TYPE_MONOTONIC)
        snd_pcm_sw_params_set_avail_min(pcm, sw, gotPeriod)
        err = snd_pcm_sw_params(pcm, sw)
        if err < 0 { throw fail("sw params rejected", err) }
        err = snd_pcm_prepare(pcm)
        if err < 0 { throw fail("cannot prepare", err) }

        queue = SPSCQueue(capacity: max(16, settings.queueBlocks))
        // One block more than the queue holds, plus the one being read and the one being filled: a slot is never
        // written while the consumer reads it (see `run`).
        poolBlocks = queue.capacity + 2
        pool = .allocate(capacity: poolBlocks * periodFrames * channels)
        pool.initialize(repeating: 0, count: poolBlocks * periodFrames * channels)
        raw = .allocate(capacity: periodFrames * channels)
        raw.initialize(repeating: 0, count: periodFrames * channels)
    }

    deinit {
        stop()
        if !closed { snd_pcm_close(pcm) }
        pool.deallocate()
        raw.deallocate()
    }

    public var statistics: AudioCaptureStatistics {
        AudioCaptureStatistics(frames: framesRead.load(ordering: .relaxed), overruns: overrunCount.load(ordering: .relaxed),
                               suspends: suspendCount.load(ordering: .relaxed), blocksDropped: droppedBlocks.load(ordering: .relaxed))
    }

    /// Starts the device and the capture thread (exit 41 on failure).
    public func start() throws {
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let capture = Unmanaged<AlsaCapture>.fromOpaque(raw!).takeRetainedValue()
            thud_name_this_thread("thud-audio-in")
            capture.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<AlsaCapture>.fromOpaque(context).release()
            throw SoundError("audio device '\(device)': cannot start the capture thread (error \(rc))", exitCode: 41)
        }
        thread = tid
    }

    /// Ends the capture thread and closes the device. Idempotent; blocks already queued can still be taken.
    public func stop() {
        stopFlag.store(true, ordering: .releasing)
        if let t = thread { pthread_join(t, nil); thread = nil }
        if !closed { closed = true; snd_pcm_drop(pcm); snd_pcm_close(pcm) }
    }

    /// The next block, waiting up to `timeout` seconds; nil when none came in that time, or when the capture was
    /// stopped and every block has been taken. Throws the capture's error once the blocks before it are taken.
    /// Consumer side: one thread only.
    public func nextBlock(timeout: Double) throws -> CapturedAudioBlock? {
        let giveUp = MonotonicClock.seconds() + timeout
        while true {
            if let b = queue.pop() {
                let base = pool + b.slot * periodFrames * channels
                return CapturedAudioBlock(time: b.time, frames: b.frames, samples: UnsafeBufferPointer(start: base, count: b.frames * channels))
            }
            if done.load(ordering: .acquiring) {
                if queue.count > 0 { continue }
                if let failure { throw failure }
                return nil
            }
            if MonotonicClock.seconds() >= giveUp { return nil }
            usleep(2_000)
        }
    }

    // MARK: capture thread

    private func run() {
        defer { done.store(true, ordering: .releasing) }
        do { try capture() } catch let error as SoundError { failure = error } catch { failure = SoundError("audio device '\(device)': \(error)", exitCode: 41) }
    }

    private func capture() throws {
        let err = snd_pcm_start(pcm)
        if err < 0 { throw SoundError("audio device '\(device)': cannot start capture: \(alsaError(err))", exitCode: 41) }
        let rate = Double(sampleRate)
        var written = 0                  // blocks pushed so far; the next is filled in slot written % poolBlocks
        var total = 0                    // frames read since start (or since the last re-anchor)
        var anchor = MonotonicClock.seconds()
        var lastData = anchor
        var probing = settings.pacing == .auto
        pacedByWallClock = settings.pacing == .wallClock
        var probeStart = anchor
        let probeCapacity = 8
        var probe = [BlockInfo](repeating: BlockInfo(slot: 0, time: 0, frames: 0), count: probeCapacity)
        var probeBlocks = 0
        while !stopFlag.load(ordering: .acquiring) {
            if pacedByWallClock {
                // A device that never waits: hand out a period when its time has come, stamped by the clock.
                let due = anchor + Double(total + periodFrames) / rate
                let now = MonotonicClock.seconds()
                if due > now { usleep(UInt32(min(0.05, due - now) * 1e6)); continue }
            } else {
                let w = snd_pcm_wait(pcm, 100)
                if w < 0 { try recover(Int32(w)); total = 0; anchor = MonotonicClock.seconds(); continue }
                if w == 0 {
                    if MonotonicClock.seconds() - lastData > settings.stallTimeout {
                        throw SoundError("audio device '\(device)': no audio for \(Format.fixed(settings.stallTimeout, 1)) s while recording", exitCode: 41)
                    }
                    continue
                }
            }
            // While probing, blocks wait in the pool (slots written, written + 1, …) until the pacing is known.
            let slot = (written + probeBlocks) % poolBlocks
            let n = snd_pcm_readi(pcm, raw, snd_pcm_uframes_t(periodFrames))
            if n == -Int(EAGAIN) { continue }
            if n < 0 { try recover(Int32(n)); total = 0; anchor = MonotonicClock.seconds(); continue }
            if n == 0 { continue }
            let frames = Int(n)
            let now = MonotonicClock.seconds()
            lastData = now
            let base = pool + slot * periodFrames * channels
            for i in 0..<(frames * channels) { base[i] = Float(raw[i]) * (1.0 / 32768.0) }
            framesRead.add(frames, ordering: .relaxed)
            // When the first frame of this block was heard.
            var time: Double
            if pacedByWallClock {
                time = anchor + Double(total) / rate
            } else {
                var avail: snd_pcm_uframes_t = 0
                var ts = timespec()
                let hrc = snd_pcm_htimestamp(pcm, &avail, &ts)
                let stamp = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
                // A driver without timestamps reports 0; one far from now is not on our clock: the read time stands in.
                let reference = hrc == 0 && stamp > 0 && abs(stamp - now) < 1 ? stamp : now
                time = reference - Double(Int(avail) + frames) / rate
            }
            total += frames
            if probing {
                if probeBlocks == 0 { probeStart = now - Double(frames) / rate }
                probe[probeBlocks] = BlockInfo(slot: slot, time: time, frames: frames)
                probeBlocks += 1
                guard probeBlocks == probeCapacity else { continue }
                probing = false
                // Eight periods in under a quarter of their duration: nothing paces this device, the clock does
                // (the probe's blocks are restamped as if heard from the probe's start).
                if now - probeStart < 0.25 * Double(total) / rate {
                    pacedByWallClock = true
                    anchor = probeStart
                    var t = 0
                    for i in 0..<probeBlocks { probe[i].time = anchor + Double(t) / rate; t += probe[i].frames }
                }
                for i in 0..<probeBlocks { publish(probe[i], written: &written) }
                probeBlocks = 0
                continue
            }
            publish(BlockInfo(slot: slot, time: time, frames: frames), written: &written)
        }
    }

    @inline(__always) private func publish(_ block: BlockInfo, written: inout Int) {
        if queue.push(block) {
            written += 1
        } else {
            droppedBlocks.add(1, ordering: .relaxed)
        }
    }

    /// Overrun (-EPIPE) and suspend (-ESTRPIPE) are recovered, counted, and capture restarted; anything else ends it.
    private func recover(_ code: Int32) throws {
        if code == -thud_epipe() { overrunCount.add(1, ordering: .relaxed) }
        else if code == -thud_estrpipe() { suspendCount.add(1, ordering: .relaxed) }
        else {
            throw SoundError("audio device '\(device)': lost while recording: \(alsaError(code))", exitCode: 41)
        }
        var err = snd_pcm_recover(pcm, code, 1)
        if err >= 0, snd_pcm_state(pcm) != SND_PCM_STATE_RUNNING { err = snd_pcm_start(pcm) }
        if err < 0 { throw SoundError("audio device '\(device)': cannot recover from \(code == -thud_epipe() ? "an overrun" : "a suspend"): \(alsaError(err))", exitCode: 41) }
    }
}

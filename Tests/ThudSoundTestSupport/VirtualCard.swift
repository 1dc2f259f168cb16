import CALSA
import Glibc
import Synchronization
import ThudBase
import ThudSound

/// An in-process ALSA playback "card" built with alsa-lib's ioplug API: a real `snd_pcm_t`
/// whose hardware pointer advances with CLOCK_MONOTONIC at the nominal rate, like a DAC.
///
/// Why: ALSA's `null` plugin consumes instantly and never underruns, so it cannot show -EPIPE.
/// This card runs dry exactly like hardware (pointer returns -EPIPE once the playhead reaches
/// the application pointer, which alsa-lib turns into the XRUN state) and can be told to
/// suspend (state SUSPENDED, reported by alsa-lib as -ESTRPIPE), so the sink's snd_pcm_recover path runs through real
/// alsa-lib code. It also records every frame alsa-lib hands it, for content checks.
public final class VirtualCard {
    let io: UnsafeMutablePointer<snd_pcm_ioplug_t>
    private let callbacks: UnsafeMutablePointer<snd_pcm_ioplug_callback_t>
    private let nameCString: UnsafeMutablePointer<CChar>
    private var startNanos: UInt64 = 0
    private var startHw: UInt = 0
    private var running = false
    private let devNull: Int32
    /// Set by the test; the next pointer query reports a suspend.
    public let suspendNext = Atomic<Bool>(false)
    /// Channel 0 of every frame transferred to the card, in order.
    let recorded: UnsafeMutablePointer<Int16>
    let recordCapacity: Int
    private(set) var recordedCount = 0

    public var pcm: OpaquePointer { io.pointee.pcm }

    public init(seconds: Int = 10, channels: ClosedRange<UInt32> = 1...2) throws {
        recordCapacity = seconds * 48_000
        recorded = .allocate(capacity: recordCapacity)
        io = .allocate(capacity: 1)
        io.initialize(to: snd_pcm_ioplug_t())
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: snd_pcm_ioplug_callback_t())
        nameCString = strdup("thud-virtual-card")
        devNull = open("/dev/null", O_WRONLY)

        callbacks.pointee.start = { io in VirtualCard.of(io).start(); return 0 }
        callbacks.pointee.stop = { io in VirtualCard.of(io).running = false; return 0 }
        callbacks.pointee.prepare = { io in VirtualCard.of(io).running = false; return 0 }
        callbacks.pointee.pointer = { io in VirtualCard.of(io).pointer() }
        callbacks.pointee.transfer = { io, areas, offset, size in
            VirtualCard.of(io).transfer(areas!, offset: Int(offset), size: Int(size))
        }
        callbacks.pointee.resume = { io in
            // Back from suspend: the stream continues where it stopped, as on hardware that
            // supports resume (alsa-lib ignores this callback's return value).
            VirtualCard.of(io).start()
            return snd_pcm_ioplug_set_state(io, SND_PCM_STATE_RUNNING)
        }

        io.pointee.version = thud_ioplug_version()
        io.pointee.name = UnsafePointer(nameCString)
        io.pointee.callback = UnsafePointer(callbacks)
        io.pointee.poll_fd = devNull     // always writable: alsa-lib only polls it while draining
        io.pointee.poll_events = UInt32(POLLOUT)
        io.pointee.flags = 4             // SND_PCM_IOPLUG_FLAG_BOUNDARY_WA: pointer is a total count
        io.pointee.private_data = Unmanaged.passUnretained(self).toOpaque()
        let err = snd_pcm_ioplug_create(io, nameCString, SND_PCM_STREAM_PLAYBACK, 0)
        guard err >= 0 else { throw SoundError("virtual card: \(String(cString: snd_strerror(err)))") }

        var access = [UInt32(SND_PCM_ACCESS_RW_INTERLEAVED.rawValue)]
        var format = [UInt32(SND_PCM_FORMAT_S16_LE.rawValue)]
        snd_pcm_ioplug_set_param_list(io, Int32(SND_PCM_IOPLUG_HW_ACCESS), 1, &access)
        snd_pcm_ioplug_set_param_list(io, Int32(SND_PCM_IOPLUG_HW_FORMAT), 1, &format)
        snd_pcm_ioplug_set_param_minmax(io, Int32(SND_PCM_IOPLUG_HW_CHANNELS), channels.lowerBound, channels.upperBound)
        snd_pcm_ioplug_set_param_minmax(io, Int32(SND_PCM_IOPLUG_HW_RATE), 48_000, 48_000)
        snd_pcm_ioplug_set_param_minmax(io, Int32(SND_PCM_IOPLUG_HW_PERIOD_BYTES), 64, 1 << 20)
        snd_pcm_ioplug_set_param_minmax(io, Int32(SND_PCM_IOPLUG_HW_PERIODS), 2, 64)
        snd_pcm_ioplug_set_param_minmax(io, Int32(SND_PCM_IOPLUG_HW_BUFFER_BYTES), 128, 1 << 22)
    }

    /// Frees the card's memory. Call only after the PCM has been closed (the sink closes it).
    public func release() {
        callbacks.deallocate()
        io.deallocate()
        free(nameCString)
        close(devNull)
        recorded.deallocate()
    }

    private static func of(_ io: UnsafeMutablePointer<snd_pcm_ioplug_t>?) -> VirtualCard {
        Unmanaged<VirtualCard>.fromOpaque(io!.pointee.private_data).takeUnretainedValue()
    }

    /// How many times the card has (re)started; `firstStart*` describe the first run.
    public private(set) var starts = 0
    public private(set) var firstStartNanos: UInt64 = 0

    private func start() {
        startNanos = MonotonicClock.nanos()
        startHw = io.pointee.hw_ptr
        running = true
        if starts == 0 { firstStartNanos = startNanos }
        starts += 1
    }

    /// When stream frame `frame` (counted from the first write) reaches the DAC, by the card's
    /// own clock. Valid while the card has never restarted (no xrun, no suspend): the first
    /// start happens with exactly one buffer written, so frame 0 plays at the first start.
    public func playNanos(ofFrame frame: Int) -> UInt64? {
        guard starts == 1 else { return nil }
        return firstStartNanos + UInt64(frame) * 1_000_000_000 / UInt64(io.pointee.rate)
    }

    private func pointer() -> snd_pcm_sframes_t {
        if suspendNext.exchange(false, ordering: .acquiring) {
            // alsa-lib maps every pointer error to XRUN, so a plugin signals a suspend (system
            // sleep) by setting the state; alsa-lib then answers -ESTRPIPE like a kernel driver.
            // Done here because this callback runs on the audio thread under the PCM lock.
            running = false
            snd_pcm_ioplug_set_state(io, SND_PCM_STATE_SUSPENDED)
            return snd_pcm_sframes_t(io.pointee.hw_ptr)
        }
        guard running else { return snd_pcm_sframes_t(io.pointee.hw_ptr) }
        let elapsed = MonotonicClock.nanos() - startNanos
        let consumed = startHw + UInt(elapsed * UInt64(io.pointee.rate) / 1_000_000_000)
        if consumed >= io.pointee.appl_ptr {
            running = false  // ran dry: a DAC would now play garbage or stop; ALSA calls it XRUN
            return snd_pcm_sframes_t(-thud_epipe())
        }
        return snd_pcm_sframes_t(consumed)
    }

    private func transfer(_ areas: UnsafePointer<snd_pcm_channel_area_t>, offset: Int, size: Int) -> snd_pcm_sframes_t {
        let area = areas.pointee  // channel 0; the sink writes the same sample to every channel
        let base = area.addr.assumingMemoryBound(to: UInt8.self)
        for i in 0..<size where recordedCount < recordCapacity {
            let bit = Int(area.first) + (offset + i) * Int(area.step)
            recorded[recordedCount] = UnsafeRawPointer(base + bit / 8).loadUnaligned(as: Int16.self)
            recordedCount += 1
        }
        return snd_pcm_sframes_t(size)
    }

    public var samples: [Int16] { Array(UnsafeBufferPointer(start: recorded, count: recordedCount)) }
}

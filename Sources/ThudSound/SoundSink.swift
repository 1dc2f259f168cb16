import CALSA
import Glibc
import Synchronization
import ThudBase

/// One message from the inference loop to the audio thread. Trivial (no references) so that
/// the queue moves it without retain/release or allocation.
struct SoundEvent {
    enum Kind: UInt8 { case hit, envelope }
    var kind: Kind
    var value: Float          // hit strength or envelope value, 0...1
    var submitNanos: UInt64   // CLOCK_MONOTONIC at submission, for the latency figure
}

/// The ALSA playback thread: pops events, renders one period at a time, writes it, and writes
/// silence when there is nothing to play so the device never runs dry.
///
/// Loop (one clear loop, whisper.cpp-`stream` style): wait until a period of room is free →
/// drain the queue → render → write. Rendering only when room is free keeps a hit's wait at
/// most one period, and the audio queued ahead of it at most `buffer − period` frames.
final class SoundSink {
    let device: AlsaDevice
    let queue: SPSCQueue<SoundEvent>
    let renderer: SoundRenderer
    let latency = LatencyLog()

    var periodFrames: Int { device.periodFrames }
    var bufferFrames: Int { device.bufferFrames }
    var sampleRate: Int { device.sampleRate }

    // Counters the audio thread writes and other threads read.
    let underruns = Atomic<Int>(0)
    let suspends = Atomic<Int>(0)
    let framesWritten = Atomic<Int>(0)
    let usingWallClock = Atomic<Bool>(false)
    let failed = Atomic<Bool>(false)
    private(set) var failure: String?   // set once, before `failed` is published
    /// Stream frame at which each knock started (for tests and diagnostics), ring of 4096.
    let knockStarts = UnsafeMutablePointer<Int>.allocate(capacity: 4096)
    let knockCount = Atomic<Int>(0)

    // Control.
    private let stopRequested = Atomic<Bool>(false)
    private let drainOnStop = Atomic<Bool>(true)
    /// Test hook: the audio thread sleeps this many nanoseconds once, before its next write,
    /// which is how tests stall the writer and force underruns.
    let stallNanos = Atomic<UInt64>(0)

    private let pacing: Pacing
    private let block: UnsafeMutablePointer<Int16>
    private let pendingSubmits: UnsafeMutablePointer<UInt64>
    private let maxHitsPerBlock = 64
    private var thread: pthread_t = 0
    private var running = false

    // Wall-clock playhead (only in `.wallClock` pacing): frame `anchorFrames` was "played" at
    // `anchorNanos`, and the playhead advances at the nominal rate from there.
    private var anchorNanos: UInt64 = 0
    private var anchorFrames = 0

    private let realtimePriority: Int32
    let isRealtime = Atomic<Bool>(false)

    init(device: AlsaDevice, table: KnockTable, mode: SonifyMode, queueCapacity: Int, pacing: Pacing,
         realtimePriority: Int32 = 0) {
        self.realtimePriority = realtimePriority
        self.device = device
        self.queue = SPSCQueue(capacity: queueCapacity)
        self.renderer = SoundRenderer(table: table, mode: mode, maxFrames: device.periodFrames)
        self.pacing = pacing
        block = .allocate(capacity: device.periodFrames * device.channels)
        block.initialize(repeating: 0, count: device.periodFrames * device.channels)
        pendingSubmits = .allocate(capacity: maxHitsPerBlock)
        pendingSubmits.initialize(repeating: 0, count: maxHitsPerBlock)
        knockStarts.initialize(repeating: 0, count: 4096)
        usingWallClock.store(pacing == .wallClock, ordering: .relaxed)
    }

    deinit {
        stop(drain: false)
        block.deallocate()
        pendingSubmits.deallocate()
        knockStarts.deallocate()
    }

    func start() throws {
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let sink = Unmanaged<SoundSink>.fromOpaque(raw!).takeRetainedValue()
            sink.run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<SoundSink>.fromOpaque(context).release()
            throw SoundError("audio device '\(device.name)': cannot start the audio thread: \(String(cString: strerror(rc)))")
        }
        running = true
    }

    /// Asks the thread to finish and joins it. `drain`: let sounding knocks finish (at most
    /// 2 s), then `snd_pcm_drain`; otherwise cut at once with `snd_pcm_drop`.
    func stop(drain: Bool) {
        guard running else { return }
        running = false
        drainOnStop.store(drain, ordering: .relaxed)
        stopRequested.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        device.close(drain: drain)
    }

    @inline(__always)
    private func framesToNanos(_ frames: Int) -> UInt64 {
        UInt64(max(0, frames)) &* 1_000_000_000 / UInt64(sampleRate)
    }

    /// Frames the wall-clock playhead has consumed by `now`. Whole seconds and the remainder
    /// are scaled apart: nanoseconds × rate in one product would overflow 64 bits after about
    /// 100 hours without an underrun to re-anchor it.
    @inline(__always)
    private func playheadFrames(_ now: UInt64) -> Int {
        let elapsed = now &- anchorNanos
        let rate = UInt64(sampleRate)
        return anchorFrames + Int(elapsed / 1_000_000_000 * rate + elapsed % 1_000_000_000 * rate / 1_000_000_000)
    }

    /// Frames queued ahead of the next write, or a negative ALSA error.
    private func queuedFrames(now: UInt64) -> Int {
        if usingWallClock.load(ordering: .relaxed) {
            let queued = framesWritten.load(ordering: .relaxed) - playheadFrames(now)
            if queued < 0 {
                // The playhead overtook the writer: on a real device this is an xrun. Count it
                // and restart the playhead at the writer, as snd_pcm_prepare would.
                underruns.add(1, ordering: .relaxed)
                anchorNanos = now
                anchorFrames = framesWritten.load(ordering: .relaxed)
                return 0
            }
            return queued
        }
        // Plugins (ioplug-based ones such as bluealsa or pulse) may only flag XRUN/SUSPENDED in
        // the state while avail stays put; without this check a suspended device would leave
        // the sink sleeping forever waiting for room.
        // Raw values: `==` on the imported C enum instantiates its Equatable metadata on first
        // use, a heap allocation on this thread (seen by tools/bench/sound_alloc.sh).
        let state = snd_pcm_state(device.pcm).rawValue
        if state == SND_PCM_STATE_XRUN.rawValue { return -Int(thud_epipe()) }
        if state == SND_PCM_STATE_SUSPENDED.rawValue { return -Int(thud_estrpipe()) }
        if state == SND_PCM_STATE_DISCONNECTED.rawValue { return -Int(thud_enodev()) }
        let avail = snd_pcm_avail(device.pcm)
        if avail < 0 { return Int(avail) }
        return bufferFrames - Int(avail)
    }

    /// Recovers from an ALSA error; returns false when the device is gone for good.
    private func recover(_ err: Int32) -> Bool {
        if err == -thud_epipe() { underruns.add(1, ordering: .relaxed) }
        else if err == -thud_estrpipe() { suspends.add(1, ordering: .relaxed) }
        else if err == -thud_eagain() { sleepNanos(500_000); return true }
        let rc = snd_pcm_recover(device.pcm, err, 1)
        if rc < 0 {
            failure = "audio device '\(device.name)': playback failed: \(alsaError(err))"
            failed.store(true, ordering: .releasing)
            return false
        }
        if usingWallClock.load(ordering: .relaxed) {
            anchorNanos = MonotonicClock.nanos()
            anchorFrames = framesWritten.load(ordering: .relaxed)
        }
        return true
    }

    /// Writes one block, retrying after recovery. Returns false when the device failed.
    private func writeBlock(frames: Int) -> Bool {
        var offset = 0
        while offset < frames {
            let n = snd_pcm_writei(device.pcm, block + offset * device.channels, snd_pcm_uframes_t(frames - offset))
            if n > 0 { offset += Int(n); continue }
            if n == 0 { sleepNanos(200_000); continue }
            if !recover(Int32(n)) { return false }
        }
        framesWritten.add(frames, ordering: .releasing)
        return true
    }

    /// `null`-like devices report the whole buffer free right after we filled it.
    private func probePacing() {
        let avail = snd_pcm_avail(device.pcm)
        var delay: snd_pcm_sframes_t = 0
        let delayOK = snd_pcm_delay(device.pcm, &delay) >= 0
        if avail >= bufferFrames && delayOK && delay == 0 {
            anchorNanos = MonotonicClock.nanos()
            anchorFrames = framesWritten.load(ordering: .relaxed) - bufferFrames
            usingWallClock.store(true, ordering: .releasing)
        }
    }

    private func run() {
        // Named so `top -H`, gdb and tools/bench/sound_alloc.sh can tell the audio thread apart.
        thud_name_this_thread("thud-audio")
        if realtimePriority > 0 {
            var param = sched_param(sched_priority: min(realtimePriority, 99))
            if pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0 {
                isRealtime.store(true, ordering: .releasing)
            }
        }
        let period = periodFrames
        var probed = pacing != .auto
        var drainDeadline: UInt64 = 0
        anchorNanos = MonotonicClock.nanos()
        anchorFrames = 0
        while true {
            if stopRequested.load(ordering: .acquiring) {
                // Draining plays what was submitted before stop() too, so check the queue first;
                // then envelope noise fades out (15 ms) instead of holding its last level.
                if !drainOnStop.load(ordering: .relaxed) { break }
                if queue.count == 0 {
                    renderer.setEnvelope(0)
                    if renderer.isSilent { break }
                }
                let now = MonotonicClock.nanos()
                if drainDeadline == 0 { drainDeadline = now + 2_000_000_000 }
                if now > drainDeadline { break }
            }
            let stall = stallNanos.exchange(0, ordering: .acquiring)
            if stall > 0 { sleepNanos(stall) }

            let queued = queuedFrames(now: MonotonicClock.nanos())
            if queued < 0 {
                if !recover(Int32(queued)) { break }
                continue
            }
            let room = bufferFrames - queued
            if room < period {
                sleepNanos(framesToNanos(period - room))
                continue
            }

            // Take everything submitted so far; hits start at this block's first frame.
            let blockStart = framesWritten.load(ordering: .relaxed)
            var hits = 0
            while let event = queue.pop() {
                switch event.kind {
                case .hit:
                    renderer.trigger(strength: event.value)
                    if hits < maxHitsPerBlock { pendingSubmits[hits] = event.submitNanos; hits += 1 }
                    let k = knockCount.load(ordering: .relaxed)
                    knockStarts[k % 4096] = blockStart
                    knockCount.store(k + 1, ordering: .releasing)
                case .envelope:
                    renderer.setEnvelope(event.value)
                }
            }
            renderer.render(into: block, frames: period, channels: device.channels)
            let writeNanos = MonotonicClock.nanos()
            if !writeBlock(frames: period) { break }
            let aheadSeconds = Double(queued) / Double(sampleRate)
            for i in 0..<hits {
                let handoff = Double(writeNanos &- pendingSubmits[i]) * 1e-9
                latency.record(handoff: handoff, output: handoff + aheadSeconds)
            }
            if !probed && framesWritten.load(ordering: .relaxed) >= bufferFrames {
                probed = true
                probePacing()
            }
        }
    }
}

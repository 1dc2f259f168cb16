// thud-bench-sound: the sound sink's benchmarks, moved out of the test suite (they measure, they do not check).
//   thud-bench-sound latency   issue 8's latency figures (tools/bench/sound_latency.sh)
//   thud-bench-sound alloc     the audio-thread allocation workload that tools/bench/sound_alloc.sh runs under gdb
//   thud-bench-sound capture-alloc   the same for the capture thread (`tools/bench/sound_alloc.sh capture`)
// Debug builds only: the workloads open the virtual card through HitSonifier's internal device initializer and stall
// the writer through its internal test hook, which `@testable import` reaches only in a module built for testing.
import Foundation
import Glibc
import ThudBase
#if DEBUG
@testable import ThudSound
import ThudSoundTestSupport

// MARK: latency

/// A "model" thread submits hits at random 5–40 ms intervals. Reported per configuration:
/// - sink-reported output latency (submission → first knock sample leaving the device buffer,
///   from snd_pcm_avail on the card or the sink's wall-clock playhead on file→null);
/// - for the hardware-like VirtualCard also an independent figure from the card's own clock:
///   the instant the knock's first frame reaches its DAC minus the submission time;
/// - the bound from issue 8 (one period + 10 ms) and max/bound.
enum LatencyBench {
    static let hits = 300

    static func drive(_ s: HitSonifier) -> [UInt64] {
        var rng = SystemRandomNumberGenerator()
        while s.framesWritten < 4 * s.periodFrames { usleep(1_000) }
        var submits: [UInt64] = []
        for _ in 0..<hits {
            usleep(UInt32.random(in: 5_000...40_000, using: &rng))
            submits.append(MonotonicClock.nanos())
            s.submitHit(strength: 0.6)
        }
        usleep(50_000)
        return submits
    }

    static func report(_ label: String, _ s: HitSonifier, independent: [Double]?) {
        let stats = s.latencyStats
        let out = s.sinkOutputLatencies.sorted()
        let bound = s.periodSeconds + 0.010
        func ms(_ x: Double) -> String { String(format: "%6.2f", x * 1000) }
        var line = "sound_latency \(label)\(s.isRealtime ? " SCHED_FIFO" : ""): period \(s.periodFrames) fr (\(ms(s.periodSeconds)) ms) buffer \(s.bufferFrames) fr"
            + " | sink output median \(ms(stats.outputMedian)) p99 \(ms(Percentiles.nearestRank(out, 0.99))) max \(ms(stats.outputMax)) ms"
            + " | handoff median \(ms(stats.handoffMedian)) max \(ms(stats.handoffMax)) ms"
        if let independent, !independent.isEmpty {
            line += " | card clock median \(ms(Percentiles.nearestRank(independent.sorted(), 0.5))) max \(ms(independent.max()!)) ms"
        }
        line += " | bound \(ms(bound)) ms, max/bound \(String(format: "%.2f", stats.outputMax / bound))"
            + " | hits \(stats.count) underruns \(s.underruns) dropped \(s.dropped)"
        print(line)
    }

    static func fileOverNull() throws {
        for (periodMicros, rt) in [(5_000, Int32(0)), (5_000, Int32(20)), (10_000, Int32(0))] {
            let fixture = try AlsaFileFixture(name: "bench")
            defer { fixture.tearDown() }
            let settings = SinkSettings(periodMicros: periodMicros, realtimePriority: rt)
            let s = try HitSonifier(options: .init(sink: settings, voice: "click"))
            _ = drive(s)
            s.stop(drain: false)
            report("file>null (wall-clock paced)", s, independent: nil)
        }
    }

    static func hardwareLikeCard() throws {
        for (periodMicros, rt) in [(5_000, Int32(0)), (5_000, Int32(20)), (10_000, Int32(0))] {
            let card = try VirtualCard(seconds: 30)
            let settings = SinkSettings(device: "thud-virtual-card", periodMicros: periodMicros, realtimePriority: rt)
            let s = try HitSonifier(options: .init(sink: settings, voice: "click")) {
                try AlsaDevice(pcm: card.pcm, name: "thud-virtual-card", settings: settings)
            }
            let submits = drive(s)
            s.stop(drain: false)
            let starts = s.knockStartFrames
            var independent: [Double] = []
            if starts.count == submits.count {
                for (submit, frame) in zip(submits, starts) {
                    if let play = card.playNanos(ofFrame: frame) { independent.append(Double(Int64(play) - Int64(submit)) * 1e-9) }
                }
            }
            report("virtual card (device paced)", s, independent: independent)
            card.release()
        }
    }
}

// MARK: alloc

/// Two seconds of knocks (hits mode) and two of envelope noise, with an underrun in each, so the steady-state loop,
/// the mixer, the queue and the recovery path all run many times; then the device-paced path with real -EPIPE /
/// SUSPENDED through snd_pcm_recover. tools/bench/sound_alloc.sh counts the heap allocations made meanwhile on the
/// thread named "thud-audio".
func allocationWorkload() throws {
    let fixture = try AlsaFileFixture(name: "alloc")
    defer { fixture.tearDown() }
    for mode in SonifyMode.allCases {
        let s = try HitSonifier(options: .init(voice: "wood", mode: mode))
        for i in 0..<24 {  // 2 s at 12 Hz
            if mode == .hits { s.submitHit(strength: Float(i % 5) / 5 + 0.2) } else { s.submitEnvelope(Float(i % 4) / 4) }
            if i == 12 { s.stallWriterOnce(seconds: 0.03) }
            usleep(83_333)
        }
        s.stop(drain: true)
        print("sound_alloc workload \(mode.rawValue) file>null: \(s.framesWritten) frames, \(s.knockStartFrames.count) knocks, underruns \(s.underruns)")
    }
    let card = try VirtualCard(seconds: 5)
    let settings = SinkSettings(device: "thud-virtual-card")
    let s = try HitSonifier(options: .init(sink: settings, voice: "metal")) {
        try AlsaDevice(pcm: card.pcm, name: "thud-virtual-card", settings: settings)
    }
    for i in 0..<24 {
        s.submitHit(strength: 0.7)
        if i == 8 { s.stallWriterOnce(seconds: 0.03) }
        if i == 16 { card.suspendNext.store(true, ordering: .releasing) }
        usleep(83_333)
    }
    s.stop(drain: false)
    print("sound_alloc workload hits virtual card: \(s.framesWritten) frames, \(s.knockStartFrames.count) knocks, underruns \(s.underruns), suspends \(s.suspends)")
    card.release()
}

/// `thud record`'s microphone: AlsaCapture over the file plugin with an infile (clicks), 3 s of periods taken by a
/// consumer; tools/bench/sound_alloc.sh capture counts the heap allocations on the thread "thud-audio-in".
func captureAllocationWorkload() throws {
    var input = [Int16](repeating: 0, count: 48_000 * 4)
    for k in stride(from: 4_800, to: input.count, by: 12_000) { input[k] = 20_000 }
    let fixture = try AlsaFileFixture(name: "capture-alloc", captureInput: input)
    defer { fixture.tearDown() }
    let capture = try AlsaCapture(settings: CaptureAudioSettings(device: "default"))
    try capture.start()
    var frames = 0, blocks = 0
    while frames < 48_000 * 3, let block = try capture.nextBlock(timeout: 5) {
        frames += block.frames
        blocks += 1
    }
    capture.stop()
    print("sound_alloc workload capture file<infile: \(frames) frames in \(blocks) blocks, paced by the clock: \(capture.pacedByWallClock)")
}

let usage = "usage: thud-bench-sound latency|alloc|capture-alloc\n"
do {
    switch CommandLine.arguments.dropFirst().first {
    case "latency":
        try LatencyBench.fileOverNull()
        try LatencyBench.hardwareLikeCard()
    case "alloc":
        try allocationWorkload()
    case "capture-alloc":
        try captureAllocationWorkload()
    default:
        fputs(usage, stderr)
        exit(64)
    }
} catch {
    fputs("thud-bench-sound: \(error)\n", stderr)
    exit(1)
}
#else
fputs("thud-bench-sound: build it in debug (swift build --product thud-bench-sound): it reaches ThudSound's test hooks with @testable import\n", stderr)
exit(64)
#endif

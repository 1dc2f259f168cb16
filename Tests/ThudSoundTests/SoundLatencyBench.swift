import Foundation
import XCTest
@testable import ThudSound
import ThudBase

/// Latency benchmark, not a test: prints figures, asserts nothing about timing. Skipped unless
/// THUD_BENCH=1 (run it with tools/bench/sound_latency.sh).
///
/// A "model" thread submits hits at random 5–40 ms intervals. Reported per configuration:
/// - sink-reported output latency (submission → first knock sample leaving the device buffer,
///   from snd_pcm_avail on the card or the sink's wall-clock playhead on file→null);
/// - for the hardware-like VirtualCard also an independent figure from the card's own clock:
///   the instant the knock's first frame reaches its DAC minus the submission time;
/// - the bound from issue 8 (one period + 10 ms) and max/bound.
final class SoundLatencyBench: XCTestCase {
    private let hits = 300

    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["THUD_BENCH"] == "1", "set THUD_BENCH=1 to run")
    }

    private func percentile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        return s[min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
    }

    private func drive(_ s: HitSonifier) -> [UInt64] {
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

    private func report(_ label: String, _ s: HitSonifier, independent: [Double]?) {
        let stats = s.latencyStats
        let out = s.sinkOutputLatencies
        let bound = s.periodSeconds + 0.010
        func ms(_ x: Double) -> String { String(format: "%6.2f", x * 1000) }
        var line = "sound_latency \(label)\(s.isRealtime ? " SCHED_FIFO" : ""): period \(s.periodFrames) fr (\(ms(s.periodSeconds)) ms) buffer \(s.bufferFrames) fr"
            + " | sink output median \(ms(stats.outputMedian)) p99 \(ms(percentile(out, 0.99))) max \(ms(stats.outputMax)) ms"
            + " | handoff median \(ms(stats.handoffMedian)) max \(ms(stats.handoffMax)) ms"
        if let independent, !independent.isEmpty {
            line += " | card clock median \(ms(percentile(independent, 0.5))) max \(ms(independent.max()!)) ms"
        }
        line += " | bound \(ms(bound)) ms, max/bound \(String(format: "%.2f", stats.outputMax / bound))"
            + " | hits \(stats.count) underruns \(s.underruns) dropped \(s.dropped)"
        print(line)
    }

    func testLatencyFileOverNull() throws {
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

    func testLatencyHardwareLikeCard() throws {
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

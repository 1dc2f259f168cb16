import Foundation
import XCTest
@testable import ThudSound

/// Not a test: a workload for tools/bench/sound_alloc.sh, which runs it under gdb and counts
/// heap allocations made on the thread named "thud-audio". Skipped unless THUD_ALLOC_PROBE=1.
/// Two seconds of knocks (hits mode) and two of envelope noise, with an underrun in each, so
/// the steady-state loop, the mixer, the queue and the recovery path all run many times.
final class SoundAllocationProbe: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["THUD_ALLOC_PROBE"] == "1", "set THUD_ALLOC_PROBE=1")
    }

    func testWorkload() throws {
        let fixture = try AlsaFileFixture(name: "alloc")
        defer { fixture.tearDown() }
        for mode in SonifyMode.allCases {
            let s = try HitSonifier(options: .init(voice: "wood", mode: mode))
            for i in 0..<24 {  // 2 s at 12 Hz
                if mode == .hits { s.submitHit(strength: Float(i % 5) / 5 + 0.2) } else { s.submitEnvelope(Float(i % 4) / 4) }
                if i == 12 { s._stallWriterOnce(seconds: 0.03) }
                usleep(83_333)
            }
            s.stop(drain: true)
            print("sound_alloc workload \(mode.rawValue) file>null: \(s.framesWritten) frames, \(s.knockStartFrames.count) knocks, underruns \(s.underruns)")
        }
        // Device-paced path with real -EPIPE / SUSPENDED through snd_pcm_recover.
        let card = try VirtualCard(seconds: 5)
        let settings = SinkSettings(device: "thud-virtual-card")
        let s = try HitSonifier(options: .init(sink: settings, voice: "metal")) {
            try AlsaDevice(pcm: card.pcm, name: "thud-virtual-card", settings: settings)
        }
        for i in 0..<24 {
            s.submitHit(strength: 0.7)
            if i == 8 { s._stallWriterOnce(seconds: 0.03) }
            if i == 16 { card.suspendNext.store(true, ordering: .releasing) }
            usleep(83_333)
        }
        s.stop(drain: false)
        print("sound_alloc workload hits virtual card: \(s.framesWritten) frames, \(s.knockStartFrames.count) knocks, underruns \(s.underruns), suspends \(s.suspends)")
        card.release()
    }
}

import XCTest
@testable import ThudSound

final class KnockSynthTests: XCTestCase {
    func testEveryVoiceIsAShortDecayingImpactThatStartsAtOnceAndEndsInSilence() throws {
        XCTAssertEqual(VoiceSpec.names, ["wood", "metal", "glass", "drum", "click"])
        for spec in VoiceSpec.all {
            let t = KnockTable(spec, sampleRate: 48_000)
            XCTAssertEqual(t.frames, Int((spec.duration * 48_000).rounded()), spec.name)
            XCTAssertGreaterThanOrEqual(t.samples[0], 0.5, "\(spec.name): the strike is at frame 0")
            XCTAssertEqual(t.samples.last, 0, "\(spec.name): ends in exact silence")
            XCTAssertLessThanOrEqual(t.samples.map(abs).max()!, 1, spec.name)
            // Decay: the last quarter carries far less energy than the first quarter.
            let q = t.frames / 4
            let head = t.samples[..<q].reduce(0) { $0 + $1 * $1 }
            let tail = t.samples[(3 * q)...].reduce(0) { $0 + $1 * $1 }
            XCTAssertLessThan(tail, head * 0.2, "\(spec.name) decays")
        }
        XCTAssertEqual(try VoiceSpec.named("METAL").name, "metal")
        XCTAssertThrowsError(try VoiceSpec.named("kazoo"))
    }

    func testVoicesHaveTheirOwnPitch() {
        // Zero crossings from 40 to 80 ms approximate the dominant ringing frequency once the
        // noise burst has died away: glass must sit well above wood, and wood above drum.
        func crossings(_ spec: VoiceSpec) -> Int {
            let t = KnockTable(spec, sampleRate: 48_000)
            return (1921..<3840).filter { (t.samples[$0 - 1] < 0) != (t.samples[$0] < 0) }.count
        }
        XCTAssertGreaterThan(crossings(.glass), 2 * crossings(.wood))
        XCTAssertGreaterThan(crossings(.wood), crossings(.drum))
    }

    func testModesAboveNyquistAreLeftOutAtLowRates() {
        let t = KnockTable(.glass, sampleRate: 8_000)  // 4760 and 8930 Hz cannot exist at 8 kHz
        XCTAssertEqual(t.frames, 4_800)
        XCTAssertTrue(t.samples.allSatisfy { $0.isFinite && abs($0) <= 1 })
    }

    func testLoudnessRisesWithStrength() {
        let g = stride(from: Float(0), through: 1, by: 0.1).map { KnockTable.gain(forStrength: $0) }
        XCTAssertTrue(zip(g, g.dropFirst()).allSatisfy { $0 < $1 })
        XCTAssertEqual(g.last!, 0.8, accuracy: 1e-6)
        XCTAssertEqual(20 * log10(g.last! / g.first!), 30, accuracy: 0.01, "30 dB range")
        XCTAssertEqual(KnockTable.gain(forStrength: 7), KnockTable.gain(forStrength: 1), "clamped")
    }

    func testRendererMixesOverlappingKnocksAndFillsEveryChannel() {
        let table = KnockTable(.wood, sampleRate: 48_000)
        let r = SoundRenderer(table: table, mode: .hits, maxFrames: 240)
        let out = UnsafeMutablePointer<Int16>.allocate(capacity: 480)
        defer { out.deallocate() }
        r.render(into: out, frames: 240, channels: 2)
        XCTAssertTrue((0..<480).allSatisfy { out[$0] == 0 }, "idle renderer writes digital silence")
        XCTAssertTrue(r.isSilent)

        r.trigger(strength: 1)
        r.render(into: out, frames: 240, channels: 2)
        let g = KnockTable.gain(forStrength: 1)
        for i in 0..<240 {
            let expected = Int16((g * table.samples[i] * 32767).rounded())
            XCTAssertEqual(out[2 * i], expected)
            XCTAssertEqual(out[2 * i + 1], expected, "stereo device: same sample on both channels")
        }
        // A second knock 240 frames into the first adds to it.
        r.trigger(strength: 1)
        r.render(into: out, frames: 240, channels: 1)
        for i in 0..<240 {
            let sum = g * table.samples[240 + i] + g * table.samples[i]
            XCTAssertEqual(Int(out[i]), Int(max(-32768, min(32767, (sum * 32767).rounded()))), accuracy: 1)
        }
        XCTAssertFalse(r.isSilent)
        // Both end within the table length: render until silent.
        var blocks = 0
        while !r.isSilent && blocks < 1000 { r.render(into: out, frames: 240, channels: 1); blocks += 1 }
        XCTAssertEqual(blocks, (table.frames - 480 + 239) / 240 + 1, "the later knock ends one block after the first")
    }

    func testPolyphonyStealsTheOldestVoiceInsteadOfAllocating() {
        let table = KnockTable(.metal, sampleRate: 48_000)
        let r = SoundRenderer(table: table, mode: .hits, maxFrames: 64, voiceSlots: 4)
        let out = UnsafeMutablePointer<Int16>.allocate(capacity: 64)
        defer { out.deallocate() }
        for _ in 0..<10 {
            r.trigger(strength: 1)
            r.render(into: out, frames: 64, channels: 1)
        }
        // 4 slots, all busy: the mix never exceeds 4 × gain × peak, and the renderer still ends.
        var blocks = 0
        while !r.isSilent && blocks < 10_000 { r.render(into: out, frames: 64, channels: 1); blocks += 1 }
        XCTAssertLessThan(blocks, table.frames / 64 + 2)
    }
}

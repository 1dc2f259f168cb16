// A stand-in hit sound for `thud render --knock`: a modal knock — a few exponentially damped sine modes
// (inharmonic, like a struck wooden box) plus a 2 ms noise click for the contact. ThudEval does not link ThudSound
// (thud-train links ThudEval and must not pull in ALSA), so the renderer takes the knock as a function
// (`RenderOptions.knockSound`): `thud render` passes ThudSound's voices, and this one is the default for callers
// without ThudSound (the tests).
import Foundation

public enum PlaceholderKnock {
    /// (frequency Hz, amplitude, decay time constant s) of each mode.
    static let modes: [(Double, Double, Double)] = [(190, 1.0, 0.060), (455, 0.6, 0.035), (830, 0.35, 0.022), (1370, 0.2, 0.012)]
    public static let seconds = 0.25

    /// One knock at `sampleRate`, peak about `strength` (0…1).
    public static func modalKnock(sampleRate: Int, strength: Float) -> [Float] {
        let n = Int(seconds * Double(sampleRate))
        var out = [Float](repeating: 0, count: n)
        var peak: Float = 0
        var noise: UInt32 = 0x1234_5678
        let clickSamples = max(1, sampleRate / 500)
        for i in 0..<n {
            let t = Double(i) / Double(sampleRate)
            var v = 0.0
            for (f, a, tau) in modes { v += a * exp(-t / tau) * sin(2 * Double.pi * f * t) }
            if i < clickSamples {
                noise = noise &* 1_664_525 &+ 1_013_904_223
                v += 0.8 * (Double(Int32(bitPattern: noise)) / Double(Int32.max)) * (1 - Double(i) / Double(clickSamples))
            }
            out[i] = Float(v)
            peak = max(peak, abs(out[i]))
        }
        let gain = peak > 0 ? max(0, min(1, strength)) / peak : 0
        for i in 0..<n { out[i] *= gain }
        return out
    }

    /// The default `RenderOptions.knockSound`: this knock at 0.8 × strength (at least 0.3, so weak hits stay audible).
    public static func defaultSound(sampleRate: Int, strength: Float) -> [Float] {
        modalKnock(sampleRate: sampleRate, strength: 0.8 * max(0.3, strength))
    }

    /// Adds `knock(rate, strength)` at each hit's time (seconds) into `samples` (mono); the sum is clamped to
    /// [−1, 1] so a knock on a loud passage clips instead of wrapping.
    public static func mix(into samples: inout [Float], sampleRate: Int, hits: [(time: Double, strength: Float)],
                           knock: (Int, Float) -> [Float] = defaultSound) {
        for hit in hits {
            let sound = knock(sampleRate, hit.strength)
            let start = Int((hit.time * Double(sampleRate)).rounded())
            guard start >= 0, start < samples.count else { continue }
            for i in 0..<min(sound.count, samples.count - start) {
                samples[start + i] = max(-1, min(1, samples[start + i] + sound[i]))
            }
        }
    }
}

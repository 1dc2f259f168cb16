// The onset-strength target (AudioOnsets): against a literal, slow rendering of its definition, and on the
// signals it exists for.
import XCTest
@testable import ThudMedia

final class OnsetTests: XCTestCase {
    /// Decaying noise bursts (hits) at `times` with `amplitudes`, over faint noise.
    private func hits(_ times: [Double], _ amplitudes: [Float], seconds: Double = 2, rate: Int = 44100) -> [Float] {
        var state: UInt32 = 12345
        func noise() -> Float { state = state &* 1_664_525 &+ 1_013_904_223; return Float(state >> 8) / Float(1 << 24) * 2 - 1 }
        var x = (0..<Int(seconds * Double(rate))).map { _ in 0.001 * noise() }
        for (t, a) in zip(times, amplitudes) {
            let start = Int(t * Double(rate))
            for i in start..<x.count { x[i] += a * noise() * Float(exp(-Double(i - start) / (0.3 * Double(rate)))) }
        }
        return x
    }

    /// The definition, written out the slow way: three explicit centred means, the 10 ms rise, the max per step.
    private func literal(_ x: [Float], rate: Int, steps: Int, peak: Double) -> [Float] {
        let sigma = AudioEnvelope.sigma(sampleRate: rate)
        let half = Int(((4 * sigma * sigma + 1).squareRoot() - 1) / 2 + 0.5)
        var s = x.map { Double(abs($0)) }
        for _ in 0..<3 {
            s = (0..<s.count).map { i in
                var sum = 0.0
                for j in (i - half)...(i + half) where j >= 0 && j < s.count { sum += s[j] }
                return sum / Double(2 * half + 1)
            }
        }
        let lag = rate / 100
        return (0..<steps).map { k in
            let lo = k * rate / 12, hi = min(s.count, (k + 1) * rate / 12)
            var best = 0.0
            for i in lo..<hi { best = max(best, s[i] - (i >= lag ? s[i - lag] : 0)) }
            return Float(min(1, best / peak))
        }
    }

    func testMatchesTheDefinitionWrittenOutLiterally() {
        let rate = 8000   // short and slow-rate so the literal version stays quick
        let x = hits([0.3, 0.7], [0.8, 0.4], seconds: 1, rate: rate)
        let env = AudioEnvelope(samples: x, sampleRate: rate)
        let fast = AudioOnsets.steps(samples: x, sampleRate: rate, stepCount: env.count, peakLevel: env.peakLevel)
        let slow = literal(x, rate: rate, steps: env.count, peak: env.peakLevel)
        XCTAssertEqual(fast.count, 12)
        for k in fast.indices { XCTAssertEqual(fast[k], slow[k], accuracy: 1e-5, "step \(k)") }
    }

    func testAHitIsAPeakAtItsStepAndQuietElsewhere() {
        let x = hits([1.04], [0.8])   // mid-step: the centred smoothing starts a boundary hit in the step before
        let env = AudioEnvelope(samples: x, sampleRate: 44100)
        let o = AudioOnsets.steps(samples: x, sampleRate: 44100, stepCount: env.count, peakLevel: env.peakLevel)
        XCTAssertEqual(o.firstIndex(of: o.max()!), 12)   // [1.0, 1.083) s
        XCTAssertGreaterThan(o[12], 0.5)
        for k in o.indices where k != 12 { XCTAssertLessThan(o[k], 0.1, "step \(k)") }
        XCTAssertTrue(o.allSatisfy { (0...1).contains($0) })
    }

    /// What the onset target is for: a second hit inside the first one's ringing barely lifts the 12 Hz envelope,
    /// but its onset stands out.
    func testASecondHitInARingingTailStandsOutInOnsetsNotInTheEnvelope() {
        let x = hits([0.54, 0.79], [0.8, 0.5])
        let env = AudioEnvelope(samples: x, sampleRate: 44100)
        let o = AudioOnsets.steps(samples: x, sampleRate: 44100, stepCount: env.count, peakLevel: env.peakLevel)
        let second = 9   // [0.75, 0.833) s
        let envelopeRise = env.values[second] - env.values[second - 1]
        print("second hit: envelope rise \(envelopeRise), onset \(o[second]), neighbours \(o[second - 1]), \(o[second + 1])")
        XCTAssertLessThan(envelopeRise, 0.15, "the envelope's rise would miss it")
        XCTAssertGreaterThan(o[second], 0.25)
        XCTAssertGreaterThan(o[second], 4 * max(o[second - 1], o[second + 1]))
    }

    func testScaleFreeAndSilenceGivesZeros() {
        let x = hits([0.4], [0.5])
        let env = AudioEnvelope(samples: x, sampleRate: 44100)
        let o = AudioOnsets.steps(samples: x, sampleRate: 44100, stepCount: env.count, peakLevel: env.peakLevel)
        let louder = x.map { $0 * 2 }
        let env2 = AudioEnvelope(samples: louder, sampleRate: 44100)
        let o2 = AudioOnsets.steps(samples: louder, sampleRate: 44100, stepCount: env2.count, peakLevel: env2.peakLevel)
        for k in o.indices { XCTAssertEqual(o[k], o2[k], accuracy: 1e-5) }
        let silent = [Float](repeating: 0, count: 44100)
        XCTAssertEqual(AudioOnsets.steps(samples: silent, sampleRate: 44100, stepCount: 12, peakLevel: 0), [Float](repeating: 0, count: 12))
    }
}

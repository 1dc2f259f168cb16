import ThudBase
import Foundation

/// A second self-supervised teacher: where the clip's sound starts, per 12 Hz step.
///
/// A hit is an onset, and the 12 Hz envelope blurs onsets: a second bounce inside the first one's ringing tail
/// barely lifts its step's mean. At the audio's own rate the jump is plain. So:
/// 1. the first channel's magnitude |x| (as for `AudioEnvelope`);
/// 2. smoothed by three passes of a running mean of width 2·⌊√(σ²+1/4)⌋+1 ≈ 401 samples at 44.1 kHz (the
///    variance of three boxes equals the envelope's Gaussian σ = 200 samples; O(1) per sample);
/// 3. the rise over 10 ms: max(0, s[i] − s[i − rate/100]);
/// 4. step k's value is the largest rise over samples [⌊k·rate/12⌋, ⌊(k+1)·rate/12⌋);
/// 5. divided by the envelope's largest step level (`AudioEnvelope.peakLevel`), so an onset is measured against
///    the clip's loudness as the envelope is, and clamped to [0, 1].
public enum AudioOnsets {
    /// `stepCount` values in [0, 1]; `peakLevel` is the clip's `AudioEnvelope.peakLevel` (0 gives all zeros).
    public static func steps(samples: [Float], sampleRate: Int, stepCount: Int, peakLevel: Double) -> [Float] {
        var out = [Float](repeating: 0, count: stepCount)
        let n = samples.count
        guard n > 0, sampleRate > 0, peakLevel > 0 else { return out }
        let sigma = AudioEnvelope.sigma(sampleRate: sampleRate)
        // Three boxes of odd width w have variance 3·(w² − 1)/12 = σ²  ⇒  w = √(4σ² + 1).
        let half = max(0, Int(((4 * sigma * sigma + 1).squareRoot() - 1) / 2 + 0.5))
        var a = samples.map { Double(abs($0)) }
        var b = [Double](repeating: 0, count: n)
        for _ in 0..<3 {
            boxMean(a, into: &b, half: half)
            swap(&a, &b)
        }
        let lag = max(1, sampleRate / 100)
        a.withUnsafeBufferPointer { s in
            for k in 0..<stepCount {
                let start = StepRate.sample(atStep: k, sampleRate: sampleRate), end = min(n, StepRate.sample(atStep: k + 1, sampleRate: sampleRate))
                var best = 0.0
                if start < end {
                    for i in start..<end {
                        let rise = s[i] - (i >= lag ? s[i - lag] : 0)
                        if rise > best { best = rise }
                    }
                }
                out[k] = Float(min(1, best / peakLevel))
            }
        }
        return out
    }

    /// Centred running mean of width 2·half+1, zero outside the signal (like the envelope's Gaussian).
    static func boxMean(_ x: [Double], into y: inout [Double], half: Int) {
        let n = x.count, width = Double(2 * half + 1)
        var sum = 0.0
        for i in 0..<min(n, half) { sum += x[i] }
        for i in 0..<n {
            if i + half < n { sum += x[i + half] }
            if i - half - 1 >= 0 { sum -= x[i - half - 1] }
            y[i] = sum / width
        }
    }
}

import ThudBase
import Foundation

/// The self-supervised teacher: the loudness envelope of a clip's audio at 12 Hz.
///
/// 1. the first channel of the first audio stream as float in [-1, 1] (any format and rate);
/// 2. its magnitude |x|;
/// 3. smoothed with a sampled Gaussian, σ = 200 samples at 44.1 kHz (σ·rate/44100 at other rates),
///    truncated at radius round(4σ), normalised to sum 1, zero outside the clip (scipy's
///    `gaussian_filter1d(mode="constant")`);
/// 4. step k's level is the mean of the smoothed magnitude over samples [⌊k·rate/12⌋, ⌊(k+1)·rate/12⌋)
///    (the last step may be partial) — a mean, not a point sample, so a 5 ms click cannot fall between steps;
/// 5. scaled by the clip's largest step level to [0, 1]; the unscaled level is also kept, in dBFS
///    (20·log10, floored at −120 dB).
///
/// Steps 3 and 4 are computed together: the mean over a window of the smoothed signal equals a weighted
/// sum of |x| whose weights are differences of the kernel's cumulative sum, which costs about one
/// multiply-add per input sample instead of 2·4σ.
public struct AudioEnvelope: Sendable {
    public static let sigmaSamplesAt44100 = 200.0
    public static let floorDB: Float = -120
    /// Step levels below this peak level make a clip "silent" (see `ClipCheck`).
    public static let silenceDB: Float = -70

    public var values: [Float]
    public var levels: [Double]
    public var db: [Float]
    public var peakLevel: Double
    public var sampleRate: Int

    public var peakDB: Float { Self.decibels(peakLevel) }
    public var count: Int { values.count }

    public static func decibels(_ level: Double) -> Float {
        level > 0 ? max(floorDB, Float(20 * log10(level))) : floorDB
    }

    public static func sigma(sampleRate: Int) -> Double { sigmaSamplesAt44100 * Double(sampleRate) / 44100 }

    /// Number of steps for `sampleCount` samples: every k with k/12 < duration.
    public static func stepCount(sampleCount: Int, sampleRate: Int) -> Int {
        guard sampleCount > 0, sampleRate > 0 else { return 0 }
        return (StepRate.perSecond * sampleCount + sampleRate - 1) / sampleRate
    }

    public init(samples: [Float], sampleRate: Int) {
        let n = samples.count
        let steps = Self.stepCount(sampleCount: n, sampleRate: sampleRate)
        let sigma = Self.sigma(sampleRate: sampleRate)
        let radius = Int(4 * sigma + 0.5)
        // cumulative[i + radius + 1] = Σ_{j=-radius}^{i} g[j]; index 0 is the empty sum.
        var cumulative = [Double](repeating: 0, count: 2 * radius + 2)
        var total = 0.0
        for j in -radius...radius { total += exp(-0.5 * Double(j * j) / (sigma * sigma)) }
        var running = 0.0
        for j in -radius...radius {
            running += exp(-0.5 * Double(j * j) / (sigma * sigma)) / total
            cumulative[j + radius + 1] = running
        }
        @inline(__always) func cdf(_ i: Int) -> Double {
            if i < -radius { return 0 }
            if i >= radius { return 1 }
            return cumulative[i + radius + 1]
        }

        var levels = [Double](repeating: 0, count: steps)
        samples.withUnsafeBufferPointer { x in
            for k in 0..<steps {
                let start = StepRate.sample(atStep: k, sampleRate: sampleRate)
                let end = min(n, StepRate.sample(atStep: k + 1, sampleRate: sampleRate))
                guard end > start else { continue }
                var acc = 0.0
                let lo = max(0, start - radius), hi = min(n - 1, end - 1 + radius)
                if lo <= hi {
                    for m in lo...hi {
                        let w = cdf(end - 1 - m) - cdf(start - 1 - m)
                        acc += w * Double(abs(x[m]))
                    }
                }
                levels[k] = acc / Double(end - start)
            }
        }
        let peak = levels.max() ?? 0
        self.levels = levels
        self.peakLevel = peak
        self.sampleRate = sampleRate
        self.values = levels.map { peak > 0 ? Float($0 / peak) : 0 }
        self.db = levels.map(Self.decibels)
    }
}

import Foundation

/// How close a predicted envelope is to the target, per clip. Pure functions over equal-length series.
public enum EnvelopeMetrics {
    /// Pearson correlation; nil when either series is constant (the correlation is undefined).
    public static func pearson(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double? {
        let n = min(a.count, b.count)
        guard n >= 2 else { return nil }
        var ma = 0.0, mb = 0.0
        for (x, y) in zip(a, b) { ma += Double(x); mb += Double(y) }
        ma /= Double(n); mb /= Double(n)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) {
            let dx = Double(x) - ma, dy = Double(y) - mb
            sab += dx * dy; saa += dx * dx; sbb += dy * dy
        }
        guard saa > 1e-18, sbb > 1e-18 else { return nil }
        return sab / (saa * sbb).squareRoot()
    }

    public static func pearson(_ a: [Float], _ b: [Float]) -> Double? { pearson(a[...], b[...]) }

    /// The best r over lags −maxLag…maxLag (positive lag: the prediction comes `lag` steps late), and that lag.
    /// Ties go to the smallest |lag|.
    public static func bestLaggedPearson(prediction: [Float], target: [Float], maxLag: Int = 1) -> (r: Double, lag: Int)? {
        var best: (r: Double, lag: Int)?
        let n = min(prediction.count, target.count)
        for lag in [0] + (1...max(1, maxLag)).flatMap({ [-$0, $0] }) where abs(lag) <= maxLag {
            // prediction[k + lag] against target[k]
            let lo = max(0, -lag), hi = min(n, n - lag)
            guard hi - lo >= 2 else { continue }
            guard let r = pearson(prediction[(lo + lag)..<(hi + lag)], target[lo..<hi]) else { continue }
            if best == nil || r > best!.r + 1e-12 { best = (r, lag) }
        }
        return best
    }

    public static func meanAbsoluteError(_ prediction: [Float], _ target: [Float]) -> Double {
        let n = min(prediction.count, target.count)
        guard n > 0 else { return 0 }
        var s = 0.0
        for k in 0..<n { s += abs(Double(prediction[k]) - Double(target[k])) }
        return s / Double(n)
    }

    /// Binary cross-entropy of the prediction (probabilities, clamped to [ε, 1−ε]) against soft targets.
    public static func binaryCrossEntropy(_ prediction: [Float], _ target: [Float], epsilon: Double = 1e-7) -> Double {
        let n = min(prediction.count, target.count)
        guard n > 0 else { return 0 }
        var s = 0.0
        for k in 0..<n {
            let p = min(1 - epsilon, max(epsilon, Double(prediction[k])))
            let y = Double(target[k])
            s -= y * log(p) + (1 - y) * log(1 - p)
        }
        return s / Double(n)
    }

    /// Fisher's z average of correlations: mean of atanh(r) mapped back with tanh (r clamped to ±0.999999).
    public static func fisherMean(_ rs: [Double]) -> Double? {
        guard !rs.isEmpty else { return nil }
        let z = rs.map { atanh(min(0.999999, max(-0.999999, $0))) }
        return tanh(z.reduce(0, +) / Double(z.count))
    }
}

/// Hit scoring: predicted hit steps against true hit steps, one-to-one, within a tolerance in steps.
public struct HitMatch: Sendable, Equatable {
    public var truePositives = 0
    public var falsePositives = 0
    public var falseNegatives = 0
    /// predicted − true step, for each matched pair (positive: the prediction came late).
    public var delays: [Int] = []

    public init() {}

    public var precision: Double? { truePositives + falsePositives == 0 ? nil : Double(truePositives) / Double(truePositives + falsePositives) }
    public var recall: Double? { truePositives + falseNegatives == 0 ? nil : Double(truePositives) / Double(truePositives + falseNegatives) }
    /// F1; 1 when there was nothing to find and nothing was claimed.
    public var f1: Double {
        let denominator = 2 * truePositives + falsePositives + falseNegatives
        return denominator == 0 ? 1 : Double(2 * truePositives) / Double(denominator)
    }
    public var meanDelay: Double? { delays.isEmpty ? nil : Double(delays.reduce(0, +)) / Double(delays.count) }

    public static func + (a: HitMatch, b: HitMatch) -> HitMatch {
        var m = a
        m.truePositives += b.truePositives
        m.falsePositives += b.falsePositives
        m.falseNegatives += b.falseNegatives
        m.delays += b.delays
        return m
    }
}

public enum HitMetrics {
    public static let defaultTolerance = 1

    /// One-to-one matching within ±tolerance steps, as counts (and the delay of each matched pair).
    public static func match(predicted: [Int], truth: [Int], tolerance: Int = defaultTolerance) -> HitMatch {
        let pairs = matchedPairs(predicted: predicted, truth: truth, tolerance: tolerance)
        var m = HitMatch()
        m.truePositives = pairs.count
        m.falsePositives = predicted.count - pairs.count
        m.falseNegatives = truth.count - pairs.count
        m.delays = pairs.map { $0.predicted - $0.truth }
        return m
    }

    /// The matching itself, as (predicted step, true step) pairs in the true hits' time order: taking true hits in
    /// time order and giving each the earliest unmatched prediction in its window maximises the number of matches
    /// on a line. `thud-train match-hits` prints it for the Python scripts (tools/eval/thud_tools.py).
    public static func matchedPairs(predicted: [Int], truth: [Int], tolerance: Int = defaultTolerance)
        -> [(predicted: Int, truth: Int)] {
        let p = predicted.sorted(), t = truth.sorted()
        var used = [Bool](repeating: false, count: p.count)
        var pairs: [(predicted: Int, truth: Int)] = []
        var start = 0
        for hit in t {
            while start < p.count && p[start] < hit - tolerance { start += 1 }
            var j = start
            while j < p.count && p[j] <= hit + tolerance && used[j] { j += 1 }
            if j < p.count && p[j] <= hit + tolerance && !used[j] {
                used[j] = true
                pairs.append((p[j], hit))
            }
        }
        return pairs
    }

    /// Average precision of the predicted envelope's peaks ranked by height: walking down the ranking, a peak
    /// is correct when an unmatched true hit lies within the tolerance (the nearest is taken); AP is the mean
    /// of the precision at each correct peak over all true hits. nil when there are no true hits.
    public static func averagePrecision(peaks: [(step: Int, height: Float)], truth: [Int], tolerance: Int = defaultTolerance) -> Double? {
        guard !truth.isEmpty else { return nil }
        let ranked = peaks.sorted { $0.height > $1.height || ($0.height == $1.height && $0.step < $1.step) }
        var used = [Bool](repeating: false, count: truth.count)
        var correct = 0, sum = 0.0
        for (rank, peak) in ranked.enumerated() {
            var best: Int?
            for (i, t) in truth.enumerated() where !used[i] && abs(t - peak.step) <= tolerance {
                if best == nil || abs(t - peak.step) < abs(truth[best!] - peak.step) { best = i }
            }
            if let b = best {
                used[b] = true
                correct += 1
                sum += Double(correct) / Double(rank + 1)
            }
        }
        return sum / Double(truth.count)
    }
}

/// Where a clip has no ground-truth hit list, its true hits are the peaks of its target envelope:
/// a step is a hit when it is a local maximum (≥ the step before, > the step after), its value is at least
/// `minimumHeight`, and it rises at least `minimumRise` above — and to at least `minimumRiseRatio` times —
/// the lowest value of the `riseWindow` steps before it (an onset is a jump of 6 dB or more, so a running
/// engine's wobble is not a hit); of two such peaks closer than `minimumGap` steps the higher is kept.
public struct EnvelopePeakRule: Sendable {
    public var minimumHeight: Float = 0.25
    public var minimumRise: Float = 0.1
    public var minimumRiseRatio: Float = 2
    public var riseWindow = 3
    public var minimumGap = 3

    public init() {}

    public static let statement = "target hits are local maxima of the target envelope that reach at least 0.25 and rise at least 0.1 above, and to at least twice (6 dB), the lowest of the 3 steps before them; of two closer than 3 steps the higher is kept"

    public func peaks(_ v: [Float]) -> [Int] {
        var found: [Int] = []
        // From step 1: nothing comes before step 0 to rise from (as for the peak picker).
        for k in 1..<max(1, v.count) {
            let before = v[k - 1]
            let after = k + 1 < v.count ? v[k + 1] : 0
            guard v[k] >= before, v[k] > after, v[k] >= minimumHeight else { continue }
            let window = v[max(0, k - riseWindow)..<k]
            let low = window.min() ?? 0
            guard v[k] - low >= minimumRise, v[k] >= minimumRiseRatio * low else { continue }
            if let last = found.last, k - last < minimumGap {
                if v[k] > v[last] { found[found.count - 1] = k }
                continue
            }
            found.append(k)
        }
        return found
    }

    /// All local maxima with their heights (for ranking in average precision).
    public static func localMaxima(_ v: [Float]) -> [(step: Int, height: Float)] {
        var out: [(Int, Float)] = []
        for k in 0..<v.count {
            let before = k > 0 ? v[k - 1] : -.infinity
            let after = k + 1 < v.count ? v[k + 1] : -.infinity
            if v[k] >= before && v[k] > after { out.append((k, v[k])) }
        }
        return out
    }
}

import Foundation

/// Everything measured on one clip.
public struct ClipScore: Sendable {
    public var id: String
    public var className: String
    public var steps: Int
    public var r: Double?
    public var bestLagR: Double?
    public var bestLag: Int?
    public var meanAbsoluteError: Double
    public var bce: Double
    public var hits: HitMatch
    public var averagePrecision: Double?
    public var trueHits: Int { hits.truePositives + hits.falseNegatives }

    /// Scores a predicted envelope and predicted hit steps against the target envelope and true hit steps.
    public static func measure(id: String, className: String, prediction: [Float], predictedHits: [Int],
                               target: [Float], trueHits: [Int], tolerance: Int = HitMetrics.defaultTolerance) -> ClipScore {
        let n = min(prediction.count, target.count)
        let p = Array(prediction.prefix(n)), t = Array(target.prefix(n))
        let lagged = EnvelopeMetrics.bestLaggedPearson(prediction: p, target: t)
        return ClipScore(id: id, className: className, steps: n,
                         r: EnvelopeMetrics.pearson(p, t), bestLagR: lagged?.r, bestLag: lagged?.lag,
                         meanAbsoluteError: EnvelopeMetrics.meanAbsoluteError(p, t),
                         bce: EnvelopeMetrics.binaryCrossEntropy(p, t),
                         hits: HitMetrics.match(predicted: predictedHits.filter { $0 < n }, truth: trueHits.filter { $0 < n }, tolerance: tolerance),
                         averagePrecision: HitMetrics.averagePrecision(peaks: EnvelopePeakRule.localMaxima(p), truth: trueHits.filter { $0 < n }, tolerance: tolerance))
    }
}

/// The original experiment's by-eye verdict, made mechanical: +1 good, 0 not so good, −1 bad.
public enum OriginalVerdict: Int, Sendable {
    case bad = -1, notSoGood = 0, good = 1

    public static let rule = "good (+1): r ≥ 0.6 and every true hit found (±1 step); bad (−1): r < 0.3, or fewer than half the true hits found, or more false hits than true ones; otherwise not so good (0). A constant prediction has r = 0."

    public static func judge(_ s: ClipScore) -> OriginalVerdict {
        let r = s.r ?? 0
        let found = s.hits.truePositives, truth = s.trueHits
        if r < 0.3 || (truth > 0 && Double(found) < Double(truth) / 2) || s.hits.falsePositives > max(truth, 1) {
            return .bad
        }
        if r >= 0.6 && found == truth { return .good }
        return .notSoGood
    }
}

/// Pooled figures over many clips: r through Fisher's z, hit counts pooled, AP averaged.
public struct AggregateScore: Sendable {
    public var clips: Int
    public var meanR: Double?
    public var meanBestLagR: Double?
    public var meanAbsoluteError: Double
    public var bce: Double
    public var hits: HitMatch
    public var meanAveragePrecision: Double?
    /// Mean of the original verdicts (+1/0/−1), the original experiment's "score".
    public var originalScore: Double
    public var verdicts: [OriginalVerdict: Int]

    public init(_ scores: [ClipScore]) {
        clips = scores.count
        meanR = EnvelopeMetrics.fisherMean(scores.compactMap(\.r))
        meanBestLagR = EnvelopeMetrics.fisherMean(scores.compactMap(\.bestLagR))
        meanAbsoluteError = scores.isEmpty ? 0 : scores.map(\.meanAbsoluteError).reduce(0, +) / Double(scores.count)
        bce = scores.isEmpty ? 0 : scores.map(\.bce).reduce(0, +) / Double(scores.count)
        hits = scores.map(\.hits).reduce(HitMatch(), +)
        let aps = scores.compactMap(\.averagePrecision)
        meanAveragePrecision = aps.isEmpty ? nil : aps.reduce(0, +) / Double(aps.count)
        let v = scores.map(OriginalVerdict.judge)
        originalScore = v.isEmpty ? 0 : Double(v.map(\.rawValue).reduce(0, +)) / Double(v.count)
        verdicts = Dictionary(grouping: v, by: { $0 }).mapValues(\.count)
    }
}

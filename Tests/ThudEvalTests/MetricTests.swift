import XCTest
import ThudEval

/// Each metric on hand-computed cases: perfect, shifted by one step, inverted, constant, empty.
final class MetricTests: XCTestCase {
    let target: [Float] = [0, 0.1, 1, 0.4, 0.1, 0, 0, 0.8, 0.3, 0]

    func testPearson() {
        XCTAssertEqual(EnvelopeMetrics.pearson(target, target)!, 1, accuracy: 1e-12)
        XCTAssertEqual(EnvelopeMetrics.pearson(target, target.map { 1 - $0 })!, -1, accuracy: 1e-6)
        XCTAssertNil(EnvelopeMetrics.pearson(target, [Float](repeating: 0.5, count: target.count)))
        XCTAssertNil(EnvelopeMetrics.pearson([], []))
        // By hand: x = [1,2,3], y = [1,3,2] → cov 0.5, var 1, 1 → r = 0.5
        XCTAssertEqual(EnvelopeMetrics.pearson([1, 2, 3], [1, 3, 2])!, 0.5, accuracy: 1e-12)
    }

    func testLaggedPearsonFindsAOneStepDelay() {
        let late = [0] + target.dropLast()   // prediction one step late
        let best = EnvelopeMetrics.bestLaggedPearson(prediction: late, target: target)!
        XCTAssertEqual(best.lag, 1)
        XCTAssertEqual(best.r, 1, accuracy: 1e-6)
        XCTAssertLessThan(EnvelopeMetrics.pearson(late, target)!, 0.5)
        XCTAssertEqual(EnvelopeMetrics.bestLaggedPearson(prediction: target, target: target)!.lag, 0)
    }

    func testMAEAndBCE() {
        XCTAssertEqual(EnvelopeMetrics.meanAbsoluteError(target, target), 0)
        XCTAssertEqual(EnvelopeMetrics.meanAbsoluteError([0, 1], [1, 1]), 0.5)
        // BCE of p=0.5 against any target is ln 2.
        XCTAssertEqual(EnvelopeMetrics.binaryCrossEntropy([0.5, 0.5], [0, 1]), log(2), accuracy: 1e-9)
        // Against y: −y ln p − (1−y) ln(1−p) with p=0.8, y=1 → −ln 0.8
        XCTAssertEqual(EnvelopeMetrics.binaryCrossEntropy([0.8], [1]), -log(0.8), accuracy: 1e-6)
        XCTAssertEqual(EnvelopeMetrics.binaryCrossEntropy([], []), 0)
    }

    func testFisherMean() {
        XCTAssertEqual(EnvelopeMetrics.fisherMean([0.5, 0.5])!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(EnvelopeMetrics.fisherMean([0.9, 0])!, tanh(atanh(0.9) / 2), accuracy: 1e-12)
        XCTAssertNil(EnvelopeMetrics.fisherMean([]))
    }

    func testHitMatchingIsOneToOneWithinTolerance() {
        let perfect = HitMetrics.match(predicted: [2, 7], truth: [2, 7])
        XCTAssertEqual(perfect.truePositives, 2); XCTAssertEqual(perfect.f1, 1)
        let shifted = HitMetrics.match(predicted: [3, 8], truth: [2, 7])
        XCTAssertEqual(shifted.truePositives, 2); XCTAssertEqual(shifted.meanDelay, 1)
        let tooFar = HitMetrics.match(predicted: [4], truth: [2])
        XCTAssertEqual(tooFar, { var m = HitMatch(); m.falsePositives = 1; m.falseNegatives = 1; return m }())
        // Two predictions near one true hit: one matches, the other is a false positive.
        let double = HitMetrics.match(predicted: [1, 2], truth: [2])
        XCTAssertEqual(double.truePositives, 1); XCTAssertEqual(double.falsePositives, 1)
        XCTAssertEqual(double.precision, 0.5); XCTAssertEqual(double.recall, 1)
        XCTAssertEqual(double.f1, 2.0 / 3, accuracy: 1e-12)
        // Greedy must not steal: truth [1, 2], predictions [2, 3] → both match.
        XCTAssertEqual(HitMetrics.match(predicted: [2, 3], truth: [1, 2]).truePositives, 2)
        let empty = HitMetrics.match(predicted: [], truth: [])
        XCTAssertEqual(empty.f1, 1); XCTAssertNil(empty.precision)
        XCTAssertEqual(HitMetrics.match(predicted: [], truth: [3]).f1, 0)
        XCTAssertEqual(HitMetrics.match(predicted: [3], truth: []).f1, 0)
    }

    func testAveragePrecision() {
        // Perfect ranking: both true peaks rank first.
        XCTAssertEqual(HitMetrics.averagePrecision(peaks: [(2, 1), (7, 0.8), (5, 0.1)], truth: [2, 7]), 1)
        // A false peak ranked first: precisions 1/2 and 2/3 → AP = (0.5 + 0.6667) / 2
        XCTAssertEqual(HitMetrics.averagePrecision(peaks: [(5, 0.9), (2, 0.8), (7, 0.7)], truth: [2, 7])!, (0.5 + 2.0 / 3) / 2, accuracy: 1e-12)
        // One true hit never found → AP counts it as zero.
        XCTAssertEqual(HitMetrics.averagePrecision(peaks: [(2, 1)], truth: [2, 7]), 0.5)
        XCTAssertNil(HitMetrics.averagePrecision(peaks: [(2, 1)], truth: []))
    }

    func testTargetPeakRule() {
        XCTAssertEqual(EnvelopePeakRule().peaks(target), [2, 7])
        XCTAssertEqual(EnvelopePeakRule().peaks([Float](repeating: 0.7, count: 10)), [])   // flat: no rise
        XCTAssertEqual(EnvelopePeakRule().peaks([0, 0.2, 0.1, 0]), [])                     // too low
        XCTAssertEqual(EnvelopePeakRule().peaks([0, 0.6, 0.5, 0.9, 0]), [3])                 // closer than 3: higher kept
        XCTAssertEqual(EnvelopePeakRule().peaks([]), [])
        // An engine: loud and wobbling by ±20 %, no onsets.
        XCTAssertEqual(EnvelopePeakRule().peaks([0.8, 0.7, 0.9, 0.75, 1.0, 0.8, 0.85, 0.7, 0.95]), [])
        // A hit on top of it doubles the level.
        XCTAssertEqual(EnvelopePeakRule().peaks([0.3, 0.35, 0.3, 0.9, 0.4, 0.3]), [3])
    }

    func testClipScoreAndVerdicts() {
        let perfect = ClipScore.measure(id: "a", className: "c", prediction: target, predictedHits: [2, 7], target: target, trueHits: [2, 7])
        XCTAssertEqual(perfect.r!, 1, accuracy: 1e-9)
        XCTAssertEqual(perfect.hits.f1, 1)
        XCTAssertEqual(perfect.averagePrecision, 1)
        XCTAssertEqual(OriginalVerdict.judge(perfect), .good)

        let inverted = ClipScore.measure(id: "b", className: "c", prediction: target.map { 1 - $0 }, predictedHits: [], target: target, trueHits: [2, 7])
        XCTAssertEqual(OriginalVerdict.judge(inverted), .bad)

        let constant = ClipScore.measure(id: "c", className: "c", prediction: [Float](repeating: 0.2, count: 10), predictedHits: [], target: target, trueHits: [2, 7])
        XCTAssertNil(constant.r)
        XCTAssertEqual(OriginalVerdict.judge(constant), .bad)

        // Good correlation, one hit of two missed: not so good.
        let partial = ClipScore.measure(id: "d", className: "c", prediction: target, predictedHits: [2], target: target, trueHits: [2, 7])
        XCTAssertEqual(OriginalVerdict.judge(partial), .notSoGood)

        let all = AggregateScore([perfect, inverted, constant, partial])
        XCTAssertEqual(all.clips, 4)
        XCTAssertEqual(all.hits.truePositives, 3)
        XCTAssertEqual(all.hits.falseNegatives, 5)
        XCTAssertEqual(all.originalScore, (1 - 1 - 1 + 0) / 4)
        XCTAssertEqual(all.verdicts[.bad], 2)
    }
}

final class GroundTruthHitTests: XCTestCase {
    func testHitsCloserThanThreeStepsCountOnceAtTheStrongest() {
        // Steps 14, 14, 15, 16 (a collapsing stack), then 30 and 32, then 40.
        let hits: [(time: Double, strength: Double)] = [(1.21, 0.2), (1.22, 0.9), (1.28, 0.5), (1.37, 0.3), (2.5, 0.4), (2.7, 0.6), (3.34, 0.1)]
        XCTAssertEqual(GroundTruthHits.steps(hits), [14, 32, 40])
        XCTAssertEqual(GroundTruthHits.steps([]), [])
    }
}

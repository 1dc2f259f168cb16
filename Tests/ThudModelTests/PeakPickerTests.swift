// The causal peak picker on hand-made envelope sequences.
import XCTest
@testable import ThudModel

/// The level detector (peaks of the envelope itself), minimum strength 0.2 unless a test says otherwise.
final class PeakPickerTests: XCTestCase {
    /// Feeds a sequence; returns the hits and the step at which each was reported.
    private func run(_ values: [Float], _ config: PeakPicker.Configuration = .init(detection: .level, minStrength: 0.2))
        -> [(hit: HitEvent, reportedAt: Int)] {
        let picker = PeakPicker(configuration: config)
        var out: [(HitEvent, Int)] = []
        for (i, v) in values.enumerated() { if let h = picker.process(v) { out.append((h, i)) } }
        return out
    }

    func testSinglePeakIsReportedOneStepLateWithStepTimeAndStrength() {
        let hits = run([0.05, 0.05, 0.06, 0.05, 0.7, 0.3, 0.1, 0.05])
        XCTAssertEqual(hits.count, 1)
        XCTAssertEqual(hits[0].hit, HitEvent(step: 4, time: 4.0 / 12.0, strength: 0.7))
        XCTAssertEqual(hits[0].reportedAt - hits[0].hit.step, PeakPicker(configuration: .init(detection: .level)).latencySteps)
        XCTAssertEqual(PeakPicker().latencySteps, 1)
    }

    func testPeakBelowMinimumStrengthIsIgnored() {
        XCTAssertTrue(run([0.0, 0.0, 0.15, 0.0, 0.0]).isEmpty)   // minStrength 0.2
        XCTAssertEqual(run([0.0, 0.0, 0.15, 0.0, 0.0], .init(detection: .level, minStrength: 0.1)).map(\.hit.step), [2])
    }

    func testMinimumGapSuppressesTheSecondOfTwoCloseHits() {
        let seq: [Float] = [0, 0.8, 0.1, 0.9, 0.1, 0, 0, 0, 0, 0.8, 0]
        XCTAssertEqual(run(seq, .init(detection: .level, minStrength: 0.2, minGapSteps: 3)).map(\.hit.step), [1, 9])
        XCTAssertEqual(run(seq, .init(detection: .level, sensitivity: 0, minStrength: 0.2, minGapSteps: 1)).map(\.hit.step), [1, 3, 9])
    }

    func testAdaptiveThresholdIgnoresWigglesOnALoudBackgroundButCatchesARealPeak() {
        // A loud, noisy stretch (0.5 ± 0.1): its local maxima pass minStrength but not median + 3·MAD + margin.
        var seq: [Float] = []
        for i in 0..<24 { seq.append(0.5 + (i % 2 == 0 ? 0.1 : -0.1) * (i % 3 == 0 ? 0.5 : 1)) }
        XCTAssertTrue(run(seq, .init(detection: .level, minStrength: 0.2)).filter { $0.hit.step >= 12 }.isEmpty)
        // (Without the adaptive part those wiggles would fire, so the line above tests the threshold.)
        XCTAssertFalse(run(seq, .init(detection: .level, sensitivity: 0, margin: 0, minStrength: 0.2, minGapSteps: 1)).isEmpty)
        // With the same background, a clear spike fires.
        seq += [0.5, 0.98, 0.5, 0.5]
        let late = run(seq, .init(detection: .level, minStrength: 0.2)).filter { $0.hit.step >= 12 }
        XCTAssertEqual(late.map(\.hit.step), [25])
    }

    func testPlateauFiresOnceAtItsFirstStep() {
        XCTAssertEqual(run([0, 0, 0.6, 0.6, 0.6, 0, 0]).map(\.hit.step), [2])
    }

    func testRisingToTheEndIsNotAHitYetAndResetForgetsEverything() {
        let picker = PeakPicker(configuration: .init(detection: .level))
        for v: Float in [0, 0.2, 0.5, 0.9] { XCTAssertNil(picker.process(v)) }
        picker.reset()
        var hits: [HitEvent] = []
        for v: Float in [0, 0.9, 0] { if let h = picker.process(v) { hits.append(h) } }
        XCTAssertEqual(hits, [HitEvent(step: 1, time: 1.0 / 12.0, strength: 0.9)])
    }

    func testFinishReportsAPeakAtTheLastStep() {
        let picker = PeakPicker(configuration: .init(detection: .level))
        for v: Float in [0, 0.1, 0.8] { XCTAssertNil(picker.process(v)) }
        XCTAssertEqual(picker.finish(), HitEvent(step: 2, time: 2.0 / 12.0, strength: 0.8))
        let quiet = PeakPicker(configuration: .init(detection: .level))
        XCTAssertNil(quiet.finish())
        for v: Float in [0.8, 0.1] { _ = quiet.process(v) }
        XCTAssertNil(quiet.finish())   // the last value is a fall, not a peak
    }

    func testMedianHelper() {
        var v: [Float] = [5, 1, 4, 2, 3]
        XCTAssertEqual(v.withUnsafeMutableBufferPointer { PeakPicker.median($0.baseAddress!, 5) }, 3)
        var w: [Float] = [4, 1, 3, 2]
        XCTAssertEqual(w.withUnsafeMutableBufferPointer { PeakPicker.median($0.baseAddress!, 4) }, 2.5)
    }
}

final class PeakPickerStartTests: XCTestCase {
    /// A model at rest outputs a steady value; the start of a stream must not read as a hit.
    func testAConstantStreamHasNoHitsNotEvenAtTheStart() {
        let picker = PeakPicker()
        var hits = 0
        for _ in 0..<40 { if picker.process(0.47) != nil { hits += 1 } }
        if picker.finish() != nil { hits += 1 }
        XCTAssertEqual(hits, 0)
    }
}

/// The default rise detector: hits are where the envelope jumps up.
final class PeakPickerRiseTests: XCTestCase {
    private func hits(_ values: [Float], _ config: PeakPicker.Configuration = .init()) -> [(hit: HitEvent, reportedAt: Int)] {
        let picker = PeakPicker(configuration: config)
        var out: [(HitEvent, Int)] = []
        for (i, v) in values.enumerated() { if let h = picker.process(v) { out.append((h, i)) } }
        if let h = picker.finish() { out.append((h, values.count)) }
        return out
    }

    func testRiseIsTheDefault() {
        XCTAssertEqual(PeakPicker.Configuration().detection, .rise)
        XCTAssertEqual(PeakPicker().latencySteps, 1)
    }

    func testAHitSitsAtItsLargestJumpWithTheEnvelopeThereAsStrengthReportedOneStepLater() {
        // Rises 0, 0, 0, 0.55, 0.3, 0, 0: the onset is step 3, though the level peaks at step 4.
        let h = hits([0.05, 0.05, 0.05, 0.6, 0.9, 0.5, 0.2])
        XCTAssertEqual(h.count, 1)
        XCTAssertEqual(h[0].hit, HitEvent(step: 3, time: 3.0 / 12.0, strength: 0.6))
        XCTAssertEqual(h[0].reportedAt, 4)
    }

    func testASlowSwellIsNotAHitThoughItsPeakWouldBe() {
        let swell: [Float] = (1...18).map { Float($0) * 0.05 } + [0.3, 0.1]
        XCTAssertTrue(hits(swell).isEmpty)   // every rise is 0.05 < minRise 0.08
        XCTAssertEqual(hits(swell, .init(detection: .level, sensitivity: 0)).map(\.hit.step), [17])
    }

    func testASecondHitOnARingingTailIsFoundWhereItJumps() {
        // A hit, its tail falling, a second hit 3 steps later lifting the tail by 0.3.
        XCTAssertEqual(hits([0.05, 0.9, 0.6, 0.45, 0.75, 0.5, 0.3]).map(\.hit.step), [1, 4])
        // A bump of the tail smaller than minRise is not a hit.
        XCTAssertEqual(hits([0.05, 0.9, 0.6, 0.45, 0.5, 0.4, 0.3]).map(\.hit.step), [1])
    }

    func testTheEnvelopeMustStillReachTheThreshold() {
        let faint: [Float] = [0, 0.02, 0.22, 0.1, 0.05]   // a rise of 0.2 to a level of only 0.22
        XCTAssertTrue(hits(faint).isEmpty)                                    // threshold 0.3
        XCTAssertEqual(hits(faint, .init(minStrength: 0.2)).map(\.hit.step), [2])
        XCTAssertTrue(hits(faint, .init(minStrength: 0.2, minRise: 0.25)).isEmpty)
    }

    func testTheOnsetDetectorReadsTheOnsetOutputNotTheEnvelope() {
        let config = PeakPicker.Configuration.defaults(for: .onset)
        XCTAssertEqual(config.detection, .onset)
        let picker = PeakPicker(configuration: config)
        // A flat envelope (no rise, no level peak) with two onsets: 0.8 at step 2, 0.2 (< minRise 0.3) at step 6.
        let onsets: [Float] = [0, 0.05, 0.8, 0.1, 0, 0, 0.2, 0, 0]
        var hits: [HitEvent] = []
        for o in onsets { if let h = picker.process(0.4, onset: o) { hits.append(h) } }
        XCTAssertEqual(hits.map(\.step), [2])
        XCTAssertEqual(hits.first?.strength, 0.4)   // the envelope at the hit
    }

    /// onset+rise sums the onset output and the envelope's rise: an onset the envelope does not rise with, or a rise
    /// without an onset, each falls short of a threshold their sum clears.
    func testTheOnsetPlusRiseDetectorSumsTheTwo() {
        let config = PeakPicker.Configuration.defaults(for: .onsetPlusRise)
        XCTAssertEqual(config.minRise, 0.55)
        XCTAssertTrue(PeakPicker.Detection.onsetPlusRise.needsOnsetOutput)
        XCTAssertFalse(PeakPicker.Detection.rise.needsOnsetOutput)
        // Step 2: onset 0.4 with a rise of 0.3 (sum 0.7); step 6: onset 0.5 on a flat envelope; step 10: a rise of 0.5
        // without an onset.
        let envelope: [Float] = [0.3, 0.3, 0.6, 0.5, 0.4, 0.4, 0.4, 0.4, 0.3, 0.3, 0.8, 0.6, 0.5]
        let onsets: [Float] = [0, 0, 0.4, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0]
        let both = PeakPicker.hits(envelope: envelope, onsets: onsets, configuration: config)
        XCTAssertEqual(both.map(\.step), [2])
        XCTAssertEqual(both.first?.strength, 0.6)
        var onsetOnly = PeakPicker.Configuration.defaults(for: .onset)
        onsetOnly.minRise = 0.45
        XCTAssertEqual(PeakPicker.hits(envelope: envelope, onsets: onsets, configuration: onsetOnly).map(\.step), [6])
        var riseOnly = PeakPicker.Configuration()
        riseOnly.minRise = 0.45
        XCTAssertEqual(PeakPicker.hits(envelope: envelope, onsets: onsets, configuration: riseOnly).map(\.step), [10])
    }

    func testTheFirstStepHasNothingToRiseFrom() {
        XCTAssertTrue(hits([0.9, 0.2, 0.1, 0.1]).isEmpty)
        XCTAssertEqual(hits([0.0, 0.9, 0.2, 0.1]).map(\.hit.step), [1])
    }
    /// What the picker judged each step by (aubio's thresholded descriptor): the step before the value just given, its
    /// rise, and median + k·MAD + margin of the rises before it; a hit is a step whose rise beat that (and the gates).
    func testThePickerExposesEachJudgedStepsDetectionAndThreshold() {
        let picker = PeakPicker(configuration: .init(detection: .rise, sensitivity: 0, margin: 0.05, minStrength: 0, minRise: 0))
        let envelope: [Float] = [0.1, 0.1, 0.6, 0.2, 0.2, 0.25, 0.2]
        XCTAssertEqual(picker.judgedStep, -1)
        var judged: [(step: Int, detection: Float, threshold: Float, hit: Bool)] = []
        for v in envelope {
            let hit = picker.process(v)
            if picker.judgedStep >= 0 { judged.append((picker.judgedStep, picker.judgedDetection, picker.judgedThreshold, hit != nil)) }
        }
        XCTAssertEqual(judged.map(\.step), Array(0..<(envelope.count - 1)))
        XCTAssertEqual(judged[2].detection, 0.5, accuracy: 1e-6, "step 2 rose by 0.5")
        XCTAssertEqual(judged[2].threshold, 0.05, accuracy: 1e-6, "median 0 of the rises before it, + margin")
        XCTAssertTrue(judged[2].hit)
        XCTAssertEqual(judged[5].detection, 0.05, accuracy: 1e-6)
        XCTAssertFalse(judged[5].hit, "a rise of 0.05 does not beat a threshold of at least 0.05")
        XCTAssertGreaterThanOrEqual(judged[5].threshold, 0.05)
        picker.reset()
        XCTAssertEqual(picker.judgedStep, -1)
    }
}

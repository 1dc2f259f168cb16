// The causal peak picker on hand-made envelope sequences.
import XCTest
@testable import ThudModel

final class PeakPickerTests: XCTestCase {
    /// Feeds a sequence; returns the hits and the step at which each was reported.
    private func run(_ values: [Float], _ config: PeakPicker.Configuration = .init()) -> [(hit: HitEvent, reportedAt: Int)] {
        let picker = PeakPicker(configuration: config)
        var out: [(HitEvent, Int)] = []
        for (i, v) in values.enumerated() { if let h = picker.process(v) { out.append((h, i)) } }
        return out
    }

    func testSinglePeakIsReportedOneStepLateWithStepTimeAndStrength() {
        let hits = run([0.05, 0.05, 0.06, 0.05, 0.7, 0.3, 0.1, 0.05])
        XCTAssertEqual(hits.count, 1)
        XCTAssertEqual(hits[0].hit, HitEvent(step: 4, time: 4.0 / 12.0, strength: 0.7))
        XCTAssertEqual(hits[0].reportedAt - hits[0].hit.step, PeakPicker().latencySteps)
        XCTAssertEqual(PeakPicker().latencySteps, 1)
    }

    func testPeakBelowMinimumStrengthIsIgnored() {
        XCTAssertTrue(run([0.0, 0.0, 0.15, 0.0, 0.0]).isEmpty)   // minStrength 0.2
        XCTAssertEqual(run([0.0, 0.0, 0.15, 0.0, 0.0], .init(minStrength: 0.1)).map(\.hit.step), [2])
    }

    func testMinimumGapSuppressesTheSecondOfTwoCloseHits() {
        let seq: [Float] = [0, 0.8, 0.1, 0.9, 0.1, 0, 0, 0, 0, 0.8, 0]
        XCTAssertEqual(run(seq, .init(minGapSteps: 3)).map(\.hit.step), [1, 9])
        XCTAssertEqual(run(seq, .init(sensitivity: 0, minGapSteps: 1)).map(\.hit.step), [1, 3, 9])
    }

    func testAdaptiveThresholdIgnoresWigglesOnALoudBackgroundButCatchesARealPeak() {
        // A loud, noisy stretch (0.5 ± 0.1): its local maxima pass minStrength but not median + 3·MAD + margin.
        var seq: [Float] = []
        for i in 0..<24 { seq.append(0.5 + (i % 2 == 0 ? 0.1 : -0.1) * (i % 3 == 0 ? 0.5 : 1)) }
        XCTAssertTrue(run(seq, .init(minStrength: 0.2)).filter { $0.hit.step >= 12 }.isEmpty)
        // (Without the adaptive part those wiggles would fire, so the line above tests the threshold.)
        XCTAssertFalse(run(seq, .init(sensitivity: 0, margin: 0, minStrength: 0.2, minGapSteps: 1)).isEmpty)
        // With the same background, a clear spike fires.
        seq += [0.5, 0.98, 0.5, 0.5]
        let late = run(seq, .init(minStrength: 0.2)).filter { $0.hit.step >= 12 }
        XCTAssertEqual(late.map(\.hit.step), [25])
    }

    func testPlateauFiresOnceAtItsFirstStep() {
        XCTAssertEqual(run([0, 0, 0.6, 0.6, 0.6, 0, 0]).map(\.hit.step), [2])
    }

    func testRisingToTheEndIsNotAHitYetAndResetForgetsEverything() {
        let picker = PeakPicker()
        for v: Float in [0, 0.2, 0.5, 0.9] { XCTAssertNil(picker.process(v)) }
        picker.reset()
        var hits: [HitEvent] = []
        for v: Float in [0, 0.9, 0] { if let h = picker.process(v) { hits.append(h) } }
        XCTAssertEqual(hits, [HitEvent(step: 1, time: 1.0 / 12.0, strength: 0.9)])
    }

    func testFinishReportsAPeakAtTheLastStep() {
        let picker = PeakPicker()
        for v: Float in [0, 0.1, 0.8] { XCTAssertNil(picker.process(v)) }
        XCTAssertEqual(picker.finish(), HitEvent(step: 2, time: 2.0 / 12.0, strength: 0.8))
        let quiet = PeakPicker()
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

import XCTest
@testable import ThudEval
import ThudModel

/// thud-train tune-picker's grid: thud's own picker over settings, scored like thud eval.
final class PickerGridTests: XCTestCase {
    /// Clips whose true hits are tall, sudden steps and whose false ones are a slow swell: the rise with a high
    /// minimum finds every hit and nothing else, so the best setting scores F1 1 and is a rise detector.
    func clips() -> [PickerClip] {
        (0..<4).map { c in
            var e = [Float](repeating: 0.1, count: 60)
            var truth: [Int] = []
            for (k, hit) in [10 + c, 30, 48 - c].enumerated() {
                e[hit] = 0.9; e[hit + 1] = 0.5; e[hit + 2] = 0.3
                if k != 1 { truth.append(hit) } else { for j in 0..<6 { e[hit - 6 + j] = 0.1 + 0.12 * Float(j) } }   // a swell
            }
            return PickerClip(envelope: e, onsets: nil, trueHits: truth)
        }
    }

    func testScoreIsThePickersHitsMatchedLikeThudEval() {
        let c = clips()
        let configuration = PeakPicker.Configuration(detection: .level, minStrength: 0.2)
        var expected = HitMatch()
        for clip in c {
            expected = expected + HitMetrics.match(predicted: PeakPicker.hits(envelope: clip.envelope, configuration: configuration).map(\.step),
                                                   truth: clip.trueHits)
        }
        XCTAssertEqual(PickerGrid.score(configuration, clips: c), expected)
        XCTAssertGreaterThan(expected.falsePositives, 0, "the level detector flags the swell")
    }

    func testTheBestSettingFindsEveryHitAndNoSwellAndOnsetDetectorsNeedAnOnsetOutput() {
        let ranked = PickerGrid.ranked(clips: clips(), hasOnsetOutput: false)
        XCTAssertEqual(ranked.first?.hits.f1, 1)
        XCTAssertEqual(ranked.first?.configuration.detection, .rise)
        XCTAssertFalse(ranked.contains { $0.configuration.detection.needsOnsetOutput })
        XCTAssert(PickerGrid.candidates(hasOnsetOutput: true).contains { $0.detection == .onsetPlusRise })
        XCTAssertEqual(zip(ranked, ranked.dropFirst()).filter { $0.hits.f1 < $1.hits.f1 }.count, 0, "best first")
    }

    func testAReportsClipsAreReadWithTheirSplit() throws {
        let json = #"{"split": "validation", "clips": [{"predictors": {"model": {"envelope": [0.1, 0.9, 0.2], "onsets": null}}, "true_hits": [1]}]}"#
        let (split, clips) = try PickerGrid.clips(fromReport: Data(json.utf8))
        XCTAssertEqual(split, "validation")
        XCTAssertEqual(clips.first?.envelope, [0.1, 0.9, 0.2])
        XCTAssertEqual(clips.first?.trueHits, [1])
        XCTAssertThrowsError(try PickerGrid.clips(fromReport: Data("{}".utf8)))
    }
}

import XCTest
@testable import ThudEval
import ThudMedia
import ThudModel
@testable import ThudTrain
import ThudTestSupport

/// One rule for "is this clip usable" (ClipCheck.unusable): `thud probe` (ClipCheck.run), training's feature cache and
/// `thud eval` (ClipEvaluator) reject the same clips, for the same typed reason.
final class UsableClipRuleTests: XCTestCase {
    func testTheRuleOrdersItsReasons() {
        func rule(video: Bool = true, audio: Bool = true, early: String? = nil, good: Int = 10, corrupt: Int = 0,
                  peak: Float? = -20, steps: Int = 30) -> UnusableReason? {
            ClipCheck.unusable(hasVideo: video, hasAudio: audio, readError: early, audioDecodedFrames: good,
                               audioCorruptPackets: corrupt, audioPeakDB: peak, steps: steps)
        }
        XCTAssertNil(rule())
        XCTAssertEqual(rule(video: false, audio: false), .noVideo)
        XCTAssertEqual(rule(audio: false), .noAudio)
        XCTAssertEqual(rule(early: "cut", good: 0), .endsEarly("cut"))
        XCTAssertEqual(rule(good: 0, corrupt: 3), .audioUndecodable(corruptPackets: 3))
        XCTAssertEqual(rule(good: 2, corrupt: 3), .audioMostlyUndecodable(corruptPackets: 3, goodFrames: 2))
        XCTAssertEqual(rule(peak: -90), .audioSilent(peakDB: -90))
        XCTAssertEqual(rule(steps: 11), .tooShort(seconds: 11.0 / 12, minimumSeconds: 1))
        XCTAssertNil(rule(steps: 12), "one second of steps is enough")
        XCTAssertEqual(UnusableReason.audioSilent(peakDB: -90).kind, .audioUnusable)
    }

    func testProbeTrainingAndEvalRejectTheSameClipsForTheSameReason() throws {
        let dir = TemporaryDirectory("usable-rule")
        let audio = AudioEncodeSettings(sampleRate: 44100, channels: 1)
        let times = FrameCounterClip.times(fpsNumerator: 25, seconds: 2)
        let clips: [(name: String, expected: UnusableReason?)] = [
            (try FrameCounterClip.write(path: dir.path("good.mp4"), times: times, nominalFrameRate: 25, audio: audio, clicks: [0.5, 1.2]), nil),
            (try FrameCounterClip.write(path: dir.path("mute.mp4"), times: times, nominalFrameRate: 25), .noAudio),
            (try FrameCounterClip.write(path: dir.path("silent.mp4"), times: times, nominalFrameRate: 25, audio: audio, clicks: []), .audioSilent(peakDB: -120)),
            (try FrameCounterClip.write(path: dir.path("short.mp4"), times: FrameCounterClip.times(fpsNumerator: 25, seconds: 0.5),
                                        nominalFrameRate: 25, audio: audio, clicks: [0.2], audioSeconds: 0.5), .tooShort(seconds: 0, minimumSeconds: 1)),
        ]
        let cache = try FeatureCache(directory: dir.path("cache"), width: 32, height: 32)
        let evaluator = ClipEvaluator(model: try StreamingModel(file: ModelFile.random(architecture: .default, seed: 7)))
        for (path, expected) in clips {
            let name = (path as NSString).lastPathComponent
            let probe = ClipCheck.run(path: path)
            let clip = DatasetClip(id: name, path: path, template: "t", label: "t", split: .validation, hitsPath: nil)
            let training: String?
            switch cache.prepare(clip) {
            case .ready: training = nil
            case .faulty(_, let message): training = message
            }
            let eval: String?
            do { _ = try evaluator.evaluate(clip); eval = nil } catch let f as ClipFailure { eval = f.problem }
            if let expected {
                XCTAssertEqual(probe.problem?.kind, expected.kind, name)
                let lead = String(expected.problem.prefix(12))
                XCTAssertTrue(probe.problem?.problem.hasPrefix(lead) == true, "\(name): probe \(String(describing: probe.problem))")
                XCTAssertTrue(training?.contains(lead) == true, "\(name): training \(String(describing: training))")
                XCTAssertTrue(eval?.hasPrefix(lead) == true, "\(name): eval \(String(describing: eval))")
            } else {
                XCTAssertNil(probe.problem, name); XCTAssertNil(training, name); XCTAssertNil(eval, name)
            }
        }
    }
}

// `thud-train adapt`'s parts: frozen layers keep their weights, the held-out part comes last in recording order, and a
// run stops early after `patience` epochs without a better held-out score.
import Foundation
import XCTest
@testable import ThudEval
import ThudModel
import ThudBase
@testable import ThudTrain

final class AdaptationTests: XCTestCase {
    private func sequences(_ count: Int, steps: Int, seed: UInt64) -> [TrainingSequence] {
        (0..<count).map { i in
            let task = squareTask(width: 16, height: 16, steps: steps, hitSteps: [3 + i % 5], seed: seed &+ UInt64(i))
            return TrainingSequence(frames: task.frames, previousFrame: nil, targets: task.targets)
        }
    }

    func testFrozenLayersKeepTheirWeightsWhileTheOthersMove() {
        let trainer = ModelTrainer(architecture: tinyArchitecture, seed: 3)
        trainer.frozenPrefixes = Adaptation.Moving.lstmHead.frozenPrefixes
        XCTAssertLessThan(trainer.movingParameterCount, trainer.parameterCount)
        let before = Dictionary(uniqueKeysWithValues: trainer.parameterTensors().map { ($0.name, $0.values) })
        let batch = sequences(4, steps: 12, seed: 7)
        for _ in 0..<5 {
            _ = trainer.computeGradients(batch: batch)
            trainer.clipGradients(maxNorm: 1)
            trainer.adamStep(learningRate: 1e-2)
        }
        for t in trainer.parameterTensors() {
            if t.name.hasPrefix("encoder.") {
                XCTAssertEqual(t.values, before[t.name]!, "\(t.name) is frozen")
            } else {
                XCTAssertNotEqual(t.values, before[t.name]!, "\(t.name) moves")
            }
        }
        let headOnly = ModelTrainer(architecture: tinyArchitecture, seed: 3)
        headOnly.frozenPrefixes = Adaptation.Moving.head.frozenPrefixes
        let lstm = headOnly.parameterTensors().filter { $0.name.hasPrefix("lstm.") }
        _ = headOnly.computeGradients(batch: batch)
        headOnly.adamStep(learningRate: 1e-2)
        XCTAssertEqual(headOnly.parameterTensors().filter { $0.name.hasPrefix("lstm.") }.map(\.values), lstm.map(\.values), "--move head keeps the LSTM")
    }

    private func clip(_ id: String, steps: Int) -> PreparedClip {
        PreparedClip(clip: DatasetClip(id: id, path: id, template: "t", label: "t", split: .train, hitsPath: nil),
                     steps: steps, width: 2, height: 2, frames: (0..<(steps * 4)).map { UInt8($0 % 256) },
                     targets: (0..<steps).map { Float($0) / Float(steps) }, db: [Float](repeating: -20, count: steps),
                     onsets: [Float](repeating: 0, count: steps), trueHits: [1, steps - 2])
    }

    func testTheHeldOutPartIsTheLastInRecordingOrder() {
        // Names sort by time (thud record's rec-DATE-TIME-NNN.mkv), whatever order the folder listed them in.
        let clips = ["rec-b-003.mkv", "rec-a-001.mkv", "rec-b-001.mkv", "rec-a-002.mkv"].map { clip($0, steps: 60) }
        let (train, held) = Adaptation.heldOut(clips, share: 0.25)
        XCTAssertEqual(train.map(\.clip.id), ["rec-a-001.mkv", "rec-a-002.mkv", "rec-b-001.mkv"])
        XCTAssertEqual(held.map(\.clip.id), ["rec-b-003.mkv"])

        // Fewer than three clips: the last quarter of each clip's steps, cut with its targets and hits.
        let (train2, held2) = Adaptation.heldOut([clip("one.mkv", steps: 100)], share: 0.25)
        XCTAssertEqual(train2.map(\.steps), [75])
        XCTAssertEqual(held2.map(\.steps), [25])
        XCTAssertEqual(held2[0].targets.first, 0.75)
        XCTAssertEqual(held2[0].frames.count, 25 * 4)
        XCTAssertEqual(held2[0].frames.first, UInt8((75 * 4) % 256))
        XCTAssertEqual(held2[0].trueHits, [98 - 75])
        XCTAssertEqual(train2[0].trueHits, [1])
    }

    func testTheRunStopsAfterPatienceEpochsWithoutABetterHeldOutScore() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapt-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let task = squareTask(width: 16, height: 16, steps: 48, hitSteps: [10, 30], seed: 5)
        let prepared = PreparedClip(clip: DatasetClip(id: "c", path: "c", template: "t", label: "t", split: .train, hitsPath: nil),
                                    steps: 48, width: 16, height: 16, frames: task.frames, targets: task.targets,
                                    db: [Float](repeating: -20, count: 48), onsets: [Float](repeating: 0, count: 48), trueHits: nil)
        var settings = TrainingSettings(architecture: tinyArchitecture)
        settings.epochs = 50
        settings.batchSize = 1
        // Nothing moves: every epoch after the first ties with it, none beats it.
        settings.frozenLayers = ["encoder.", "lstm.", "head."]
        let run = TrainingRun(settings: settings, train: [prepared], validation: [prepared],
                              checkpointPath: dir.appendingPathComponent("m.checkpoint").path, outputPath: dir.appendingPathComponent("m.thud").path,
                              provenance: TrainingProvenance(command: "test", data: "test"))
        run.patience = 3
        XCTAssertEqual(try run.run(resume: false) { false }, .finished)
        XCTAssertEqual(run.state.bestEpoch, 1)
        XCTAssertEqual(run.state.epochsDone, 4, "epochs 2, 3 and 4 did not beat epoch 1: stop")
    }
}

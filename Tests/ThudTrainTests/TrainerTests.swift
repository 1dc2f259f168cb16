// ModelTrainer as the training loop uses it: Adam on a tiny synthetic task drives the loss down; same seed and
// batches give bit-identical weights (with one or two threads); a checkpoint resumes bit-exactly; predict equals
// StreamingModel on the exported file; clipping; bad checkpoints are refused.
import Foundation
import XCTest
@testable import ThudEval
import ThudModel
@testable import ThudTrain
import ThudBase

final class TrainerTests: XCTestCase {
    /// Sequences of the square task with 1–2 hits each at varying steps; odd ones start mid-clip (previous frame).
    private func taskBatch(count: Int, steps: Int, seed: UInt64) -> [TrainingSequence] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            var hits: Set<Int> = [Int(rng.next() % UInt64(steps - 1)) + 1]
            if rng.next() % 2 == 0 { hits.insert(Int(rng.next() % UInt64(steps))) }
            let task = squareTask(width: 16, height: 16, steps: steps + 1, hitSteps: hits.map { $0 + 1 } .reduce(into: Set<Int>()) { $0.insert($1) },
                                  seed: seed &* 31 &+ UInt64(i))
            let n = 16 * 16
            if i % 2 == 0 {
                return TrainingSequence(frames: Array(task.frames[n...]), previousFrame: Array(task.frames[0..<n]),
                                        targets: Array(task.targets[1...]))
            }
            return TrainingSequence(frames: Array(task.frames[0..<(steps * n)]), previousFrame: nil,
                                    targets: Array(task.targets[0..<steps]))
        }
    }

    /// BCE of the best constant prediction (the targets' mean) — what a model that ignores the frames can reach.
    private func constantBaselineLoss(_ batch: [TrainingSequence]) -> Float {
        let ys = batch.flatMap(\.targets)
        let p = ys.reduce(0, +) / Float(ys.count)
        return ys.reduce(0) { $0 - ($1 * log(p) + (1 - $1) * log(1 - p)) } / Float(ys.count)
    }

    func testAdamOnSquareTaskDrivesLossDown() {
        let trainer = ModelTrainer(architecture: tinyArchitecture, seed: 9)
        let train = taskBatch(count: 16, steps: 12, seed: 100)
        let heldOut = taskBatch(count: 8, steps: 12, seed: 200)
        let before = trainer.loss(batch: heldOut)
        var first: Float = 0, last: Float = 0
        // 3e-3: at 1e-2 both this trainer and PyTorch's Adam stay on the constant-prediction plateau for this model.
        for step in 0..<600 {
            let start = (step * 4) % train.count
            let loss = trainer.computeGradients(batch: Array(train[start..<(start + 4)]))
            trainer.clipGradients(maxNorm: 5)
            trainer.adamStep(learningRate: 3e-3)
            if step < 4 { first += loss / 4 }
            if step >= 596 { last += loss / 4 }
        }
        let after = trainer.loss(batch: heldOut)
        let baseline = constantBaselineLoss(heldOut)
        print("square task: training loss \(first) → \(last); held-out \(before) → \(after) "
              + "(best constant prediction \(baseline))")
        XCTAssertLessThan(last, first * 0.35)
        // It must have learned from the frames, not just the targets' mean.
        XCTAssertLessThan(after, baseline * 0.6)
        // The envelope rises on held-out hits.
        let s = heldOut[1]
        let env = trainer.predict(frames: s.frames, count: s.steps)
        let hitValues = zip(env, s.targets).filter { $0.1 == 1 }.map(\.0)
        let quietValues = zip(env, s.targets).filter { $0.1 < 0.1 }.map(\.0)
        XCTAssertGreaterThan(hitValues.min()!, quietValues.max()!)
    }

    private func trainSteps(_ trainer: ModelTrainer, batches: [[TrainingSequence]]) {
        for b in batches {
            _ = trainer.computeGradients(batch: b)
            trainer.clipGradients(maxNorm: 0.5)
            trainer.adamStep(learningRate: 3e-3, weightDecay: 1e-2)
        }
    }

    private var sixBatches: [[TrainingSequence]] {
        // Uneven batches (lengths and counts) so the two shards and the masks differ from step to step.
        (0..<6).map { i in
            var b = taskBatch(count: 3 + i % 2, steps: 6 + i, seed: UInt64(300 + i))
            b[0].targets.removeLast(2)
            b[0].frames.removeLast(2 * 256)
            b[0].weights = [Float](repeating: 2, count: b[0].targets.count)
            return b
        }
    }

    func testSameSeedAndBatchesGiveBitIdenticalWeightsWithOneOrTwoThreads() {
        let a = ModelTrainer(architecture: tinyArchitecture, seed: 4)
        let b = ModelTrainer(architecture: tinyArchitecture, seed: 4)
        let c = ModelTrainer(architecture: tinyArchitecture, seed: 4)
        c.threadCount = 1
        let batches = sixBatches
        trainSteps(a, batches: batches); trainSteps(b, batches: batches); trainSteps(c, batches: batches)
        XCTAssertEqual(a.parameterTensors(), b.parameterTensors())
        XCTAssertEqual(a.parameterTensors(), c.parameterTensors())
        XCTAssertNotEqual(a.parameterTensors(), ModelTrainer(architecture: tinyArchitecture, seed: 4).parameterTensors(),
                          "training must have moved the weights")
        XCTAssertNotEqual(ModelTrainer(architecture: tinyArchitecture, seed: 5).parameterTensors(),
                          ModelTrainer(architecture: tinyArchitecture, seed: 4).parameterTensors())
    }

    func testCheckpointResumesBitExactly() throws {
        let batches = sixBatches
        let uninterrupted = ModelTrainer(architecture: tinyArchitecture, seed: 8)
        trainSteps(uninterrupted, batches: batches)

        let first = ModelTrainer(architecture: tinyArchitecture, seed: 8)
        trainSteps(first, batches: Array(batches[0..<3]))
        let checkpoint = first.checkpointTensors()
        XCTAssertEqual(checkpoint.first { $0.name == "adam.step" }?.values, [3])
        // A fresh trainer from another seed, as after a restart: everything must come from the checkpoint.
        let resumed = ModelTrainer(architecture: tinyArchitecture, seed: 99)
        try resumed.restore(checkpointTensors: checkpoint)
        XCTAssertEqual(resumed.stepCount, 3)
        trainSteps(resumed, batches: Array(batches[3...]))
        XCTAssertEqual(resumed.parameterTensors(), uninterrupted.parameterTensors())
        XCTAssertEqual(resumed.checkpointTensors(), uninterrupted.checkpointTensors())
    }

    func testRestoreRefusesAnIncompleteOrMisshapenCheckpoint() {
        let trainer = ModelTrainer(architecture: tinyArchitecture, seed: 1)
        let before = trainer.checkpointTensors()
        var missing = before
        missing.removeAll { $0.name == "adam.v.lstm.weight_hh_l1" }
        XCTAssertThrowsError(try trainer.restore(checkpointTensors: missing)) { error in
            XCTAssert("\(error)".contains("adam.v.lstm.weight_hh_l1"), "\(error)")
        }
        let other = ModelTrainer(architecture: smallArchitecture(hidden: 8), seed: 1).checkpointTensors()
        XCTAssertThrowsError(try trainer.restore(checkpointTensors: other)) { error in
            XCTAssert("\(error)".contains("shape"), "\(error)")
        }
        var noStep = before
        noStep.removeAll { $0.name == "adam.step" }
        XCTAssertThrowsError(try trainer.restore(checkpointTensors: noStep))
        XCTAssertEqual(trainer.checkpointTensors(), before, "a refused restore changes nothing")
    }

    private func smallArchitecture(hidden: Int) -> ModelArchitecture {
        ModelArchitecture(input: InputSpec(width: 16, height: 16), encoder: .conv(channels: [4, 8]),
                          lstmHidden: hidden, lstmLayers: 2, headHidden: [8, 4])
    }

    func testClipGradientsScalesToMaxNormAndReportsTheNormBefore() {
        let trainer = ModelTrainer(architecture: tinyArchitecture, seed: 2)
        _ = trainer.computeGradients(batch: taskBatch(count: 2, steps: 5, seed: 7))
        let norm = { (ts: [NamedTensor]) in ts.reduce(0.0) { $0 + $1.values.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot() }
        let raw = norm(trainer.gradientTensors())
        XCTAssertEqual(Double(trainer.clipGradients(maxNorm: 1e6)), raw, accuracy: raw * 1e-6)
        XCTAssertEqual(norm(trainer.gradientTensors()), raw, accuracy: raw * 1e-6, "no clipping below maxNorm")
        let limit = Float(raw / 4)
        XCTAssertEqual(Double(trainer.clipGradients(maxNorm: limit)), raw, accuracy: raw * 1e-6)
        // maxNorm / (norm + 1e-6), as PyTorch: a hair under the limit.
        XCTAssertEqual(norm(trainer.gradientTensors()), Double(limit), accuracy: Double(limit) * 1e-3)
    }

    private func checkPredictMatchesStreamingModel(_ architecture: ModelArchitecture, count: Int) throws {
        let trainer = ModelTrainer(architecture: architecture, seed: 12)
        let w = architecture.input.width, h = architecture.input.height
        var rng = SplitMix64(seed: 5)
        // A few training steps first, so the exported weights are not just the initialisation.
        for _ in 0..<3 {
            let t = squareTask(width: w, height: h, steps: 8, hitSteps: [3], seed: rng.next())
            let onsets = architecture.hasOnsetOutput ? t.targets.map { $0 > 0.5 ? 1 : 0 } as [Float] : nil
            _ = trainer.computeGradients(batch: [TrainingSequence(frames: t.frames, previousFrame: nil, targets: t.targets,
                                                                  onsetTargets: onsets)])
            trainer.adamStep(learningRate: 3e-3)
        }
        let clip = squareTask(width: w, height: h, steps: count, hitSteps: [5, 40, 70, 71, 120], seed: 77)
        let header = ModelHeader(architecture: architecture, training: TrainingProvenance(command: "test", data: "square task"))
        // Through the bytes of a .thud file, as thud predict would load it.
        let file = try ModelFile.decode(trainer.modelFile(header: header).encoded(), path: "<test>")
        let model = try StreamingModel(file: file)
        var streamedOnsets: [Float] = []
        let streamed = clip.frames.withUnsafeBufferPointer { fp in
            (0..<count).map { t in
                let e = model.step(frame: UnsafeBufferPointer(rebasing: fp[(t * w * h)..<((t + 1) * w * h)]))
                streamedOnsets.append(model.lastOnset)
                return e
            }
        }
        let predicted = trainer.predictOutputs(frames: clip.frames, count: count)
        let diff = maxAbsDiff(predicted.envelope, streamed)
        print("\(architecture.encoder.kind): predict vs StreamingModel over \(count) steps: max |diff| \(diff)")
        XCTAssertLessThan(diff, 1e-5)
        let batched = clip.frames.withUnsafeBufferPointer { model.runBatchOutputs(frames: $0, count: count) }
        XCTAssertLessThan(maxAbsDiff(batched.envelope, streamed), 1e-5)
        if architecture.hasOnsetOutput {
            let onsets = try XCTUnwrap(predicted.onsets)
            XCTAssertLessThan(maxAbsDiff(onsets, streamedOnsets), 1e-5)
            XCTAssertLessThan(maxAbsDiff(try XCTUnwrap(batched.onsets), streamedOnsets), 1e-5)
            XCTAssertGreaterThan(streamedOnsets.max()! - streamedOnsets.min()!, 1e-4)
        } else {
            XCTAssertNil(predicted.onsets)
            XCTAssertNil(batched.onsets)
            XCTAssertEqual(Set(streamedOnsets), [0])
        }
        XCTAssertGreaterThan(streamed.max()! - streamed.min()!, 1e-4, "the envelope must move for this to mean much")
        XCTAssertEqual(try ModelTrainer(modelFile: file).parameterTensors(), trainer.parameterTensors())
    }

    func testPredictEqualsStreamingModelOnTheExportedFileAcrossChunks() throws {
        // 150 steps > the 64-step predict chunk: the LSTM state and previous frame carry across chunks.
        try checkPredictMatchesStreamingModel(
            ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .conv(channels: [4, 8, 8]),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [16, 8]), count: 150)
    }

    func testTheOnsetOutputPredictsLikeStreamingModelAndRunBatch() throws {
        try checkPredictMatchesStreamingModel(
            ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .conv(channels: [4, 8, 8]),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [16, 8], onsetOutput: true), count: 100)
    }

    /// A default model can start an onset model: every weight is copied, so the envelope is unchanged; the onset
    /// output keeps its fresh initialisation. Anything else that does not fit is refused, changing nothing.
    func testWarmStartKeepsTheEnvelopeAndStartsTheOnsetOutputFresh() throws {
        let source = ModelTrainer(architecture: tinyArchitecture, seed: 5)
        var onsetArchitecture = tinyArchitecture
        onsetArchitecture.onsetOutput = true
        let target = ModelTrainer(architecture: onsetArchitecture, seed: 6)
        let fresh = target.parameterTensors()
        let header = ModelHeader(architecture: tinyArchitecture, training: TrainingProvenance(command: "test", data: "none"))
        try target.warmStart(from: source.modelFile(header: header))
        let clip = squareTask(width: 16, height: 16, steps: 20, hitSteps: [4, 12], seed: 9)
        XCTAssertEqual(target.predict(frames: clip.frames, count: 20), source.predict(frames: clip.frames, count: 20))
        let last = "head.fc\(tinyArchitecture.headHidden.count).weight"
        let width = tinyArchitecture.headHidden.last!
        let warmed = try XCTUnwrap(target.parameterTensors().first { $0.name == last })
        let before = try XCTUnwrap(fresh.first { $0.name == last })
        XCTAssertEqual(Array(warmed.values[width...]), Array(before.values[width...]), "the onset row starts fresh")

        var other = tinyArchitecture
        other.lstmHidden = 8
        let mismatched = ModelTrainer(architecture: other, seed: 1)
        let kept = target.parameterTensors()
        XCTAssertThrowsError(try target.warmStart(from: mismatched.modelFile(header: header)))
        XCTAssertEqual(target.parameterTensors(), kept)
    }

    /// The data a checkpoint records: the same clips anywhere on disk match; another target value, the clips in
    /// another order, or a clip moved from train to validation do not.
    func testTheTrainingDataFingerprintFollowsTheClipsNotTheirPaths() {
        func clip(_ targets: [Float], path: String = "c.mp4") -> PreparedClip {
            var c = preparedClip(steps: targets.count, width: 2, height: 2, frames: [UInt8](repeating: 0, count: 4 * targets.count),
                                 targets: targets, onsets: targets.map { $0 / 2 })
            c.clip.path = path
            return c
        }
        let a = clip([0, 0.5, 1]), b = clip([0.2, 0.1, 0.9, 0.4])
        let data = TrainingData(train: [a, b], validation: [a])
        XCTAssertEqual(data, TrainingData(train: [clip([0, 0.5, 1], path: "/elsewhere/c.mp4"), b], validation: [a]))
        XCTAssertNotEqual(data.fingerprint, TrainingData(train: [b, a], validation: [a]).fingerprint)
        XCTAssertNotEqual(data.fingerprint, TrainingData(train: [clip([0, 0.5, 0.99]), b], validation: [a]).fingerprint)
        XCTAssertNotEqual(data.fingerprint, TrainingData(train: [a], validation: [b, a]).fingerprint)
        XCTAssertEqual(data.trainClips, 2)
        XCTAssertEqual(data.validationClips, 1)
    }

    /// --learning-rate-decay: epoch e runs at rate · decay^(e−1), so a decayed run has the constant run's weights
    /// after its first epoch and other ones after its second; without the setting the fingerprint is as before.
    func testTheLearningRateDecaysPerEpochFromTheSecond() throws {
        var settings = TrainingSettings(architecture: tinyArchitecture)
        settings.learningRate = 0.01
        XCTAssertEqual(settings.learningRate(epoch: 3), 0.01)
        let constant = settings.fingerprint
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(settings), as: UTF8.self).contains("learningRateDecay"))
        settings.learningRateDecay = 0.5
        XCTAssertNotEqual(settings.fingerprint, constant)
        XCTAssertEqual(settings.learningRate(epoch: 1), 0.01)
        XCTAssertEqual(settings.learningRate(epoch: 3), 0.0025, accuracy: 1e-9)

        let steps = 12, side = 16
        let clip = preparedClip(steps: steps, width: side, height: side,
                                frames: (0..<(steps * side * side)).map { UInt8(($0 * 7) % 253) },
                                targets: (0..<steps).map { Float($0 % 4) / 4 }, onsets: [Float](repeating: 0, count: steps))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thud-decay-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func weights(decay: Float?, epochs: Int) throws -> [NamedTensor] {
            var s = TrainingSettings(architecture: tinyArchitecture)
            s.learningRate = 0.01
            s.learningRateDecay = decay
            s.epochs = epochs
            s.sequenceLength = 6
            s.batchSize = 1
            let name = "\(dir)/\(decay ?? 1)-\(epochs)"
            let run = TrainingRun(settings: s, train: [clip], validation: [], checkpointPath: name + ".checkpoint", outputPath: name + ".thud",
                                  provenance: TrainingProvenance(command: "test", data: "one clip"))
            XCTAssertEqual(try run.run(resume: false, interrupted: { false }), .finished)
            return try Checkpoint.read(path: name + ".checkpoint").tensors
        }
        XCTAssertTrue(try weights(decay: 0.5, epochs: 1) == weights(decay: nil, epochs: 1), "the first epoch runs at the full rate")
        XCTAssertTrue(try weights(decay: 0.5, epochs: 2) != weights(decay: nil, epochs: 2), "the second epoch runs at half the rate")
    }

    /// A training clip made of the given pixels and targets (no file behind it), and a run over just that clip.
    private func preparedClip(steps: Int, width: Int, height: Int, frames: [UInt8], targets: [Float], onsets: [Float]) -> PreparedClip {
        PreparedClip(clip: DatasetClip(id: "c", path: "c.mp4", template: "t", label: "t", split: .train, hitsPath: nil),
                     steps: steps, width: width, height: height, frames: frames, targets: targets,
                     db: [Float](repeating: -20, count: steps), onsets: onsets, trueHits: nil)
    }

    private func trainingRun(_ settings: TrainingSettings, over clip: PreparedClip) -> TrainingRun {
        TrainingRun(settings: settings, train: [clip], validation: [], checkpointPath: "/nonexistent/c",
                    outputPath: "/nonexistent/m", provenance: TrainingProvenance(command: "test", data: "none"))
    }

    /// --onset-target-gain: the onset output learns min(1, gain × strength) in every training window (a window
    /// mid-clip included), the envelope target is untouched, and a run without the setting keeps the fingerprint
    /// it had before the setting existed (its key is absent), so older checkpoints still resume.
    func testTheOnsetTargetGainScalesAndClampsTheOnsetTargetOnly() throws {
        var onsetArchitecture = tinyArchitecture
        onsetArchitecture.onsetOutput = true
        let steps = 10, side = 16
        let onsets: [Float] = [0, 0.01, 0.1, 0.2, 0.3, 0.34, 0.5, 1, 0.05, 0]
        let targets: [Float] = (0..<steps).map { Float($0) / 10 }
        let clip = preparedClip(steps: steps, width: side, height: side, frames: [UInt8](repeating: 7, count: steps * side * side),
                                targets: targets, onsets: onsets)
        func run(_ gain: Float?) -> TrainingRun {
            var settings = TrainingSettings(architecture: onsetArchitecture)
            settings.onsetTargetGain = gain
            return trainingRun(settings, over: clip)
        }
        let window = TrainingRun.Window(clip: 0, start: 4, length: 6)
        let plain = run(nil).sequence(window), tripled = run(3).sequence(window)
        XCTAssertEqual(plain.onsetTargets, Array(onsets[4...]))
        let expected = onsets[4...].map { min(1, 3 * $0) }
        XCTAssertEqual(tripled.onsetTargets ?? [], expected)
        XCTAssertEqual(tripled.onsetTargets?.prefix(4).map { ($0 * 100).rounded() / 100 }, [0.9, 1, 1, 1])
        XCTAssertEqual(tripled.targets, plain.targets)
        XCTAssertEqual(tripled.targets, Array(targets[4...]))

        var settings = TrainingSettings(architecture: onsetArchitecture)
        let encoder = JSONEncoder()
        XCTAssertFalse(String(decoding: try encoder.encode(settings), as: UTF8.self).contains("onsetTargetGain"))
        let before = settings.fingerprint
        settings.onsetTargetGain = 3
        XCTAssertNotEqual(settings.fingerprint, before)
    }

    /// --output-delay 1: every training window asks the output after frame t for step t − 1's envelope and onset
    /// (0 before the clip), the onset weight follows the delayed envelope's rises, the frames are untouched; and the
    /// trained model's values land on their own steps again in training's validation, in the exported file's batch
    /// path and in EnvelopeStream, the three alike.
    func testAnOutputDelayShiftsTheTargetsAndValidationPutsThemBack() throws {
        var delayedArchitecture = tinyArchitecture
        delayedArchitecture.onsetOutput = true
        delayedArchitecture.outputDelaySteps = 1
        let steps = 10, side = 16
        let onsets: [Float] = [0.2, 0, 0.1, 0.2, 0.3, 0.34, 0.5, 1, 0.05, 0]
        let targets: [Float] = [0.5, 0.5, 0.1, 0.1, 0.9, 0.8, 0.3, 0.2, 0.1, 0.1]
        let clip = preparedClip(steps: steps, width: side, height: side, frames: (0..<(steps * side * side)).map { UInt8($0 % 251) },
                                targets: targets, onsets: onsets)
        var settings = TrainingSettings(architecture: delayedArchitecture)
        settings.onsetWeight = 4
        settings.onsetTargetGain = 2
        let run = trainingRun(settings, over: clip)
        let first = run.sequence(TrainingRun.Window(clip: 0, start: 0, length: 5))
        XCTAssertEqual(first.targets, [0, 0.5, 0.5, 0.1, 0.1])
        XCTAssertEqual(first.onsetTargets, [0, 0.4, 0, 0.2, 0.4])
        XCTAssertEqual(first.weights, [1, 5, 1, 1, 1])
        XCTAssertEqual(first.frames, Array(clip.frames[0..<(5 * side * side)]))
        let middle = run.sequence(TrainingRun.Window(clip: 0, start: 4, length: 6))
        XCTAssertEqual(middle.targets, Array(targets[3...8]))
        XCTAssertEqual(middle.weights, [1, 5, 1, 1, 1, 1])
        XCTAssertEqual(middle.frames, Array(clip.frames[(4 * side * side)...]))

        let trainer = ModelTrainer(architecture: delayedArchitecture, seed: 3)
        for _ in 0..<3 {
            _ = trainer.computeGradients(batch: [first, middle])
            trainer.adamStep(learningRate: 3e-3)
        }
        let predicted = trainer.predictOutputs(frames: clip.frames, count: steps)
        XCTAssertEqual(predicted.envelope.count, steps)
        let header = ModelHeader(architecture: delayedArchitecture, training: TrainingProvenance(command: "test", data: "none"))
        let model = try StreamingModel(file: ModelFile.decode(trainer.modelFile(header: header).encoded(), path: "<test>"))
        let batched = clip.frames.withUnsafeBufferPointer { model.runBatchOutputs(frames: $0, count: steps) }
        XCTAssertLessThan(maxAbsDiff(predicted.envelope, batched.envelope), 1e-5)
        XCTAssertLessThan(maxAbsDiff(try XCTUnwrap(predicted.onsets), try XCTUnwrap(batched.onsets)), 1e-5)
        let stream = EnvelopeStream(model: model, picker: PeakPicker.Configuration())
        var described: [DescribedStep] = []
        try clip.frames.withUnsafeBufferPointer { fp in
            for t in 0..<steps {
                if let d = try stream.process(frame: UnsafeBufferPointer(rebasing: fp[(t * side * side)..<((t + 1) * side * side)])) {
                    described.append(d)
                }
            }
        }
        _ = try stream.finish { described.append($0) }
        XCTAssertEqual(described.map(\.step), Array(0..<steps))
        XCTAssertLessThan(maxAbsDiff(predicted.envelope, described.map(\.envelope)), 1e-5)
        // Validation scores the values on their own steps: its loss is the BCE against the undelayed targets.
        var validating = settings
        validating.onsetWeight = 0
        let scored = TrainingRun(settings: validating, train: [clip], validation: [clip], checkpointPath: "/nonexistent/c",
                                 outputPath: "/nonexistent/m", provenance: TrainingProvenance(command: "test", data: "none"))
        try scored.trainer.restore(checkpointTensors: trainer.checkpointTensors())
        let result = try XCTUnwrap(scored.validate([clip]))
        XCTAssertEqual(result.loss, EnvelopeMetrics.binaryCrossEntropy(predicted.envelope, targets), accuracy: 1e-6)
    }

    /// --mirror: a mirrored window holds every frame (and the frame before it) reversed row by row, with the same
    /// targets; which windows are mirrored depends only on seed, epoch and window (so --resume repeats it), about
    /// half of them, differently each epoch; without the setting none is, and the fingerprint is as before.
    func testMirroredWindowsReverseEveryRowAndAreChosenBySeedEpochAndWindow() throws {
        let steps = 6, width = 5, height = 3
        let frames = (0..<(steps * width * height)).map { UInt8($0 % 251) }
        let clip = preparedClip(steps: steps, width: width, height: height, frames: frames,
                                targets: (0..<steps).map { Float($0) / 8 }, onsets: [Float](repeating: 0, count: steps))
        func run(mirror: Bool?, seed: UInt64 = 1) -> TrainingRun {
            var settings = TrainingSettings(architecture: tinyArchitecture)
            settings.mirror = mirror
            settings.seed = seed
            return trainingRun(settings, over: clip)
        }
        let on = run(mirror: true)
        let window = TrainingRun.Window(clip: 0, start: 2, length: 4)
        let plain = on.sequence(window), mirrored = on.sequence(window, mirrored: true)
        let frameBytes = width * height
        func mirroredByHand(_ pixels: ArraySlice<UInt8>) -> [UInt8] {
            let p = Array(pixels)
            return stride(from: 0, to: p.count, by: width).flatMap { p[$0..<($0 + width)].reversed() }
        }
        XCTAssertEqual(plain.frames, Array(frames[(2 * frameBytes)..<(6 * frameBytes)]))
        XCTAssertEqual(mirrored.frames, mirroredByHand(frames[(2 * frameBytes)..<(6 * frameBytes)]))
        XCTAssertEqual(mirrored.previousFrame, mirroredByHand(frames[frameBytes..<(2 * frameBytes)]))
        XCTAssertEqual(Array(mirrored.frames.prefix(width)), [14, 13, 12, 11, 10].map { UInt8($0 + 2 * frameBytes - 10) })
        XCTAssertEqual(mirrored.targets, plain.targets)

        let choices = (0..<400).map { on.isMirrored(window: $0, epoch: 1) }
        XCTAssertEqual(choices, (0..<400).map { run(mirror: true).isMirrored(window: $0, epoch: 1) }, "a pure function of seed, epoch, window")
        XCTAssert((160...240).contains(choices.filter { $0 }.count), "about half: \(choices.filter { $0 }.count) of 400")
        XCTAssertNotEqual(choices, (0..<400).map { on.isMirrored(window: $0, epoch: 2) })
        XCTAssertNotEqual(choices, (0..<400).map { run(mirror: true, seed: 2).isMirrored(window: $0, epoch: 1) })
        XCTAssertFalse((0..<400).contains { run(mirror: nil).isMirrored(window: $0, epoch: 1) })

        var settings = TrainingSettings(architecture: tinyArchitecture)
        let before = settings.fingerprint
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(settings), as: UTF8.self).contains("mirror"))
        settings.mirror = true
        XCTAssertNotEqual(settings.fingerprint, before)
    }

    /// The epoch count is not in the fingerprint (so --resume --epochs N extends a run); checkpoints written when it
    /// was still match for the same count, or finished at their own count; any other setting still refuses.
    func testTheFingerprintLeavesTheEpochCountOutAndOlderCheckpointsStillMatch() {
        var eight = TrainingSettings(architecture: tinyArchitecture)
        eight.epochs = 8
        var twelve = eight
        twelve.epochs = 12
        XCTAssertEqual(eight.fingerprint, twelve.fingerprint)
        let olderFinished = eight.fingerprintBeforeExtension(epochs: 8)
        XCTAssertNotEqual(olderFinished, eight.fingerprint)
        XCTAssertTrue(twelve.matches(fingerprint: twelve.fingerprint, epochsDone: 3))
        XCTAssertTrue(twelve.matches(fingerprint: olderFinished, epochsDone: 8), "an older finished run extends")
        XCTAssertTrue(eight.matches(fingerprint: olderFinished, epochsDone: 5), "an older interrupted run resumes")
        XCTAssertFalse(twelve.matches(fingerprint: olderFinished, epochsDone: 5), "an older run of 8 stopped at 5 is not a 12-epoch run's")
        var reseeded = twelve
        reseeded.seed = 2
        XCTAssertFalse(reseeded.matches(fingerprint: twelve.fingerprint, epochsDone: 8))
        XCTAssertFalse(reseeded.matches(fingerprint: olderFinished, epochsDone: 8))
    }

    func testADifferenceGainIsAppliedAlikeInTrainingAndAtRuntime() throws {
        try checkPredictMatchesStreamingModel(
            ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .conv(channels: [4, 8, 8], differenceGain: 8),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [16, 8]), count: 70)
    }

    /// The third plane in training (predict, in 64-step chunks that carry two frames over) and at runtime (step
    /// and runBatch) alike, across chunk borders.
    func testThePreviousDifferencePlaneIsAppliedAlikeInTrainingAndAtRuntime() throws {
        try checkPredictMatchesStreamingModel(
            ModelArchitecture(input: InputSpec(width: 32, height: 32),
                              encoder: .conv(channels: [4, 8, 8], differenceGain: 8, previousDifferencePlane: true),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [16, 8], onsetOutput: true), count: 150)
    }

    /// Per-frame normalisation in training (predict, in 64-step chunks) and at runtime (step and runBatch) alike, with
    /// the previous-difference plane and the onset output, across chunk borders; the exported file says "per-frame".
    func testPerFrameNormalisationIsAppliedAlikeInTrainingAndAtRuntime() throws {
        let a = ModelArchitecture(input: InputSpec(width: 32, height: 32, normalisation: InputSpec.perFrame),
                                  encoder: .conv(channels: [4, 8, 8], differenceGain: 8, previousDifferencePlane: true),
                                  lstmHidden: 16, lstmLayers: 2, headHidden: [16, 8], onsetOutput: true)
        try checkPredictMatchesStreamingModel(a, count: 150)
        var plain = a
        plain.encoder.previousDifferencePlane = nil
        plain.onsetOutput = nil
        try checkPredictMatchesStreamingModel(plain, count: 70)
    }

    /// A two-plane model can start one with the previous-difference plane: its filters keep their weights and start
    /// at zero on the new plane, so the new model predicts exactly what the old one did.
    func testATwoPlaneModelWarmStartsOneWithThePreviousDifferencePlane() throws {
        let source = ModelTrainer(architecture: tinyArchitecture, seed: 5)
        var threePlanes = tinyArchitecture
        threePlanes.encoder.previousDifferencePlane = true
        let target = ModelTrainer(architecture: threePlanes, seed: 6)
        let header = ModelHeader(architecture: tinyArchitecture, training: TrainingProvenance(command: "test", data: "none"))
        try target.warmStart(from: source.modelFile(header: header))
        let clip = squareTask(width: 16, height: 16, steps: 20, hitSteps: [4, 12], seed: 9)
        XCTAssertEqual(target.predict(frames: clip.frames, count: 20), source.predict(frames: clip.frames, count: 20))
        let conv0 = try XCTUnwrap(target.parameterTensors().first { $0.name == "encoder.conv0.weight" })
        let old = try XCTUnwrap(source.parameterTensors().first { $0.name == "encoder.conv0.weight" })
        XCTAssertEqual(conv0.shape, [old.shape[0], 3, 3, 3])
        for o in 0..<old.shape[0] {
            XCTAssertEqual(Array(conv0.values[(o * 27)..<(o * 27 + 18)]), Array(old.values[(o * 18)..<(o * 18 + 18)]))
            XCTAssertEqual(Array(conv0.values[(o * 27 + 18)..<(o * 27 + 27)]), [Float](repeating: 0, count: 9))
        }
        // The other way round does not fit.
        let back = ModelTrainer(architecture: tinyArchitecture, seed: 7)
        let threeHeader = ModelHeader(architecture: threePlanes, training: TrainingProvenance(command: "test", data: "none"))
        XCTAssertThrowsError(try back.warmStart(from: target.modelFile(header: threeHeader))) { error in
            XCTAssert("\(error)".contains("encoder.conv0.weight"), "\(error)")
        }
    }

    /// A model of smaller frames starts one of larger frames: the conv layers are copied, the first LSTM layer's input
    /// weights are resampled from the 3×3 grid to the 4×4 one (bilinear between cell centres, × 9/16).
    func testAModelOfAnotherInputSizeWarmStartsWithItsGridResampled() throws {
        var small = tinyArchitecture
        small.input = InputSpec(width: 12, height: 12)   // two stride-2 layers: a 3×3 grid, 16×16 gives 4×4
        XCTAssertEqual(small.convOutputSizes.last!.height, 3)
        XCTAssertEqual(tinyArchitecture.convOutputSizes.last!.height, 4)
        let channels = tinyArchitecture.encoder.convChannels!.last!
        let rows = 4 * tinyArchitecture.lstmHidden
        // Per row and channel a map linear in the cell: bilinear interpolation gives it back at the (clamped) centres.
        func linear(_ r: Int, _ c: Int, _ y: Double, _ x: Double) -> Double {
            Double(r % 7) * 0.01 - Double(c) * 0.02 + 0.03 * y - (0.05 + 0.001 * Double(r)) * x
        }
        var tensors = ModelTrainer(architecture: small, seed: 5).parameterTensors()
        let k = try XCTUnwrap(tensors.firstIndex { $0.name == "lstm.weight_ih_l0" })
        XCTAssertEqual(tensors[k].shape, [rows, channels * 9])
        for r in 0..<rows { for c in 0..<channels { for y in 0..<3 { for x in 0..<3 {
            tensors[k].values[r * channels * 9 + c * 9 + y * 3 + x] = Float(linear(r, c, Double(y), Double(x)))
        } } } }
        let header = ModelHeader(architecture: small, training: TrainingProvenance(command: "test", data: "none"))
        let target = ModelTrainer(architecture: tinyArchitecture, seed: 6)
        try target.warmStart(from: ModelFile(header: header, tensors: tensors))

        let warmed = target.parameterTensors()
        for t in warmed where t.name != "lstm.weight_ih_l0" {
            XCTAssertEqual(t, tensors.first { $0.name == t.name }, "\(t.name) is copied as it is")
        }
        let resampled = try XCTUnwrap(warmed.first { $0.name == "lstm.weight_ih_l0" })
        XCTAssertEqual(resampled.shape, [rows, channels * 16])
        let centres = [0, 0.625, 1.375, 2]   // (j + ½)·3/4 − ½, clamped to the source's cells
        for r in 0..<rows { for c in 0..<channels { for y in 0..<4 { for x in 0..<4 {
            XCTAssertEqual(Double(resampled.values[r * channels * 16 + c * 16 + y * 4 + x]),
                           linear(r, c, centres[y], centres[x]) * 9 / 16, accuracy: 1e-6, "row \(r) channel \(c) cell \(y),\(x)")
        } } } }

        // Another last conv width does not fit.
        var narrower = small
        narrower.encoder = .conv(channels: [4, 6])
        let kept = target.parameterTensors()
        let narrowHeader = ModelHeader(architecture: narrower, training: TrainingProvenance(command: "test", data: "none"))
        XCTAssertThrowsError(try target.warmStart(from: ModelTrainer(architecture: narrower, seed: 1).modelFile(header: narrowHeader)))
        XCTAssertEqual(target.parameterTensors(), kept)
    }

    func testMotionEnergyEncoderTrainsLSTMAndHeadAndPredictsLikeStreamingModel() throws {
        try checkPredictMatchesStreamingModel(
            ModelArchitecture(input: InputSpec(width: 16, height: 16), encoder: .motionEnergy(rows: 4, cols: 4),
                              lstmHidden: 8, lstmLayers: 1, headHidden: [4]), count: 80)
    }

    func testMotionFlowEncoderTrainsLSTMAndHeadAndPredictsLikeStreamingModel() throws {
        try checkPredictMatchesStreamingModel(
            ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .motionFlow(rows: 2, cols: 2, searchRadius: 2),
                              lstmHidden: 8, lstmLayers: 1, headHidden: [4]), count: 80)
    }

    /// The motion-flow encoder reads the frame before the previous one: predicting in chunks of
    /// ModelTrainer.predictChunk steps must hand both earlier frames over at each seam. A texture (drawn at half
    /// resolution and doubled, so the encoder's halves see it exactly) moves by a different shift every step.
    func testMotionFlowPredictionCarriesTwoFramesAcrossChunkSeams() throws {
        let a = ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .motionFlow(rows: 2, cols: 2, searchRadius: 2),
                                  lstmHidden: 8, lstmLayers: 1, headHidden: [4])
        var rng = SplitMix64(seed: 4)
        let texture = (0..<(16 * 40)).map { _ in UInt8(40 + rng.next() % 170) }
        let count = ModelTrainer.predictChunk + 8
        let shifts = (0..<count).map { [0, 2, 3, 1, 1, 3][$0 % 6] }
        var frames: [UInt8] = []
        for s in shifts { for y in 0..<32 { for x in 0..<32 { frames.append(texture[(y / 2) * 40 + x / 2 + 8 - s]) } } }
        let model = try StreamingModel(file: ModelFile.random(architecture: a, seed: 8))
        let trainer = try ModelTrainer(modelFile: ModelFile.random(architecture: a, seed: 8))
        let streamed = frames.withUnsafeBufferPointer { fp in
            (0..<count).map { t in model.step(frame: UnsafeBufferPointer(rebasing: fp[(t * 1024)..<((t + 1) * 1024)])) }
        }
        let predicted = trainer.predictOutputs(frames: frames, count: count).envelope
        let seam = ModelTrainer.predictChunk
        XCTAssertLessThan(maxAbsDiff(Array(predicted[(seam - 2)...]), Array(streamed[(seam - 2)...])), 1e-5, "across the seam at \(seam)")
        XCTAssertLessThan(maxAbsDiff(predicted, streamed), 1e-5)
    }

    func testModelFileInitRejectsMismatchedTensors() {
        var file = ModelFile.random(architecture: tinyArchitecture, seed: 1)
        file.tensors.removeLast()
        XCTAssertThrowsError(try ModelTrainer(modelFile: file)) { error in
            XCTAssert("\(error)".contains("head.fc2.bias"), "\(error)")
        }
    }
}

// The whole network's gradient against PyTorch's autograd (tools/reference/grad_fixtures.py, float64 from the same
// float32 weights): a batch of 3 sequences with one masked (shorter), one at a clip start (no previous frame) and
// per-step loss weights on another. Every parameter tensor must agree to 1e-4 relative. A second fixture does the
// same for the model with the previous-difference plane (grad_fixture_pd: one sequence also carries the frame before
// its previous frame).
import Foundation
import XCTest
import ThudModel
@testable import ThudTrain

private struct GradFixture: Decodable {
    struct Sequence: Decodable {
        var frames: [UInt8]
        var previousFrame: [UInt8]?
        var beforePreviousFrame: [UInt8]?
        var targets: [Float]
        var weights: [Float]?
    }
    var sequences: [Sequence]
    var loss: Double
    var logits: [[Double]]
    var gradients: [String: [Double]]
    var gradientNorms: [Double]
    var afterTwoAdamSteps: [String: [Double]]
}

final class PyTorchGradientTests: XCTestCase {
    /// `suffix` "" is the two-plane model (tinyArchitecture), "_pd" the one with the previous-difference plane.
    private func load(_ suffix: String = "") throws -> (GradFixture, ModelTrainer) {
        let fx = try JSONDecoder().decode(GradFixture.self,
                                          from: Data(contentsOf: TrainFixtures.url("grad_fixture\(suffix)", "json")))
        let model = try ModelFile.read(path: TrainFixtures.url("grad_model\(suffix)", "thud").path)
        let trainer = try ModelTrainer(modelFile: model)
        var expected = tinyArchitecture
        if suffix == "_pd" { expected.encoder = .conv(channels: [4, 8], differenceGain: 4, previousDifferencePlane: true) }
        XCTAssertEqual(trainer.architecture, expected)
        return (fx, trainer)
    }

    private func batch(_ fx: GradFixture) -> [TrainingSequence] {
        fx.sequences.map { TrainingSequence(frames: $0.frames, previousFrame: $0.previousFrame,
                                            beforePreviousFrame: $0.beforePreviousFrame, targets: $0.targets,
                                            weights: $0.weights) }
    }

    /// ‖swift − torch‖∞ / ‖torch‖∞ per tensor.
    private func checkGradients(_ trainer: ModelTrainer, _ fx: GradFixture, label: String) -> Double {
        var worst = 0.0
        for t in trainer.gradientTensors() {
            guard let ref = fx.gradients[t.name] else { XCTFail("fixture lacks \(t.name)"); continue }
            XCTAssertEqual(ref.count, t.values.count, t.name)
            let scale = ref.reduce(0) { max($0, abs($1)) }
            XCTAssertGreaterThan(scale, 0, "\(t.name): reference gradient is zero; the check would prove nothing")
            let err = zip(t.values, ref).reduce(0.0) { max($0, abs(Double($1.0) - $1.1)) } / scale
            XCTAssertLessThan(err, 1e-4, "\(label) \(t.name): relative error \(err)")
            worst = max(worst, err)
        }
        return worst
    }

    func testLossAndEveryGradientMatchAutograd() throws {
        let (fx, trainer) = try load()
        let loss = trainer.computeGradients(batch: batch(fx))
        XCTAssertEqual(Double(loss), fx.loss, accuracy: 1e-5 * fx.loss)
        let worst = checkGradients(trainer, fx, label: "2 threads")
        print("PyTorch agreement: loss \(loss) vs \(fx.loss); worst per-tensor relative gradient error \(worst)")
    }

    /// clipGradients + adamStep (weight decay on) as torch's clip_grad_norm_ + AdamW, two steps on the fixture batch.
    func testClippingAndAdamStepsMatchPyTorch() throws {
        let (fx, trainer) = try load()
        let before = trainer.parameterTensors()
        for step in 0..<2 {
            _ = trainer.computeGradients(batch: batch(fx))
            let norm = trainer.clipGradients(maxNorm: 0.1)
            XCTAssertEqual(Double(norm), fx.gradientNorms[step], accuracy: 1e-5 * fx.gradientNorms[step])
            trainer.adamStep(learningRate: 1e-2, weightDecay: 0.1)
        }
        var worst = 0.0
        for (t, start) in zip(trainer.parameterTensors(), before) {
            let ref = try XCTUnwrap(fx.afterTwoAdamSteps[t.name])
            // Adam moves every parameter by up to ~lr (1e-2) per step whatever its gradient's size; agreement to
            // 2e-5 means the update rule, bias correction, decay and clipping scale are all the same.
            let err = zip(t.values, ref).reduce(0.0) { max($0, abs(Double($1.0) - $1.1)) }
            XCTAssertLessThan(err, 2e-5, "\(t.name): parameters differ by \(err) after two steps")
            XCTAssertNotEqual(t.values, start.values, "\(t.name) did not move")
            worst = max(worst, err)
        }
        print("clip + AdamW vs PyTorch after two steps: worst |parameter difference| \(worst)")
    }

    func testThePreviousDifferencePlanesLossAndEveryGradientMatchAutograd() throws {
        let (fx, trainer) = try load("_pd")
        XCTAssertNotNil(fx.sequences[0].beforePreviousFrame)
        XCTAssertNil(fx.sequences[2].beforePreviousFrame)
        let loss = trainer.computeGradients(batch: batch(fx))
        XCTAssertEqual(Double(loss), fx.loss, accuracy: 1e-5 * fx.loss)
        let worst = checkGradients(trainer, fx, label: "previous-difference plane")
        print("PyTorch agreement (previous-difference plane): loss \(loss) vs \(fx.loss); worst relative error \(worst)")
        // The second sequence starts a clip: predict on it is the fixture's forward.
        let s = fx.sequences[1]
        XCTAssertNil(s.previousFrame)
        let env = trainer.predict(frames: s.frames, count: s.targets.count)
        XCTAssertLessThan(maxAbsDiff(env, fx.logits[1].map { Float(1 / (1 + exp(-$0))) }), 1e-5)
    }

    func testSingleThreadGivesTheSameGradientBits() throws {
        let (fx, trainer) = try load()
        trainer.threadCount = 2
        _ = trainer.computeGradients(batch: batch(fx))
        let two = trainer.gradientTensors()
        trainer.threadCount = 1
        _ = trainer.computeGradients(batch: batch(fx))
        XCTAssertEqual(trainer.gradientTensors(), two)
        _ = checkGradients(trainer, fx, label: "1 thread")
    }

    func testLogitsMatchAutogradForward() throws {
        let (fx, trainer) = try load()
        // A batch of one sequence that starts a clip is exactly `predict` on that clip.
        let s = fx.sequences[1]
        XCTAssertNil(s.previousFrame)
        let env = trainer.predict(frames: s.frames, count: s.targets.count)
        let ref = fx.logits[1].map { Float(1 / (1 + exp(-$0))) }
        XCTAssertLessThan(maxAbsDiff(env, ref), 1e-5)
    }

    func testGradientIsStableAcrossRepeatedCallsAndLargerWorkspaces() throws {
        let (fx, trainer) = try load()
        _ = trainer.computeGradients(batch: batch(fx))
        let first = trainer.gradientTensors()
        // A bigger batch grows the workspaces; the original batch must still give the same bits afterwards.
        _ = trainer.computeGradients(batch: batch(fx) + batch(fx) + batch(fx))
        _ = trainer.computeGradients(batch: batch(fx))
        XCTAssertEqual(trainer.gradientTensors(), first)
    }
}

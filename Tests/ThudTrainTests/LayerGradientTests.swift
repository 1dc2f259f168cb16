// Finite-difference checks of each hand-written backward pass on its own: conv layer, dense layer (with and without
// ReLU), LSTM layer over several steps and a batch, sigmoid + BCE, and the whole network through ModelTrainer.
// Each layer's scalar test loss is L = Σ r ⊙ output with fixed random r (summed in Double), so its gradient
// w.r.t. the output is exactly r. Central differences in Float: step `eps`, and a tolerance of
// abs + rel·|analytic| sized to Float rounding (noise ≈ 1e-7·√outputs / eps). Entries whose perturbation flips a
// ReLU (a kink, where the derivative is undefined) are skipped and counted.
import Foundation
import XCTest
import ThudModel
@testable import ThudTrain
import ThudBase

private struct FDReport {
    var checked = 0, skipped = 0
    var worst: Float = 0
}

final class LayerGradientTests: XCTestCase {
    /// Compares analytic[i] to (f(x + eps) − f(x − eps)) / 2eps for the chosen indices of `x`.
    /// `f` returns the loss and a fingerprint of the ReLU pattern (nil when the layer has no kink).
    private func check(_ label: String, x: UnsafeMutablePointer<Float>, indices: [Int], analytic: [Float],
                       eps: Float, abs absTol: Float, rel: Float,
                       _ f: () -> (Double, [Bool]?), file: StaticString = #filePath, line: UInt = #line) -> FDReport {
        var report = FDReport()
        let base = f().1
        for i in indices {
            let saved = x[i]
            x[i] = saved + eps; let (plus, maskPlus) = f()
            x[i] = saved - eps; let (minus, maskMinus) = f()
            x[i] = saved
            if let base, maskPlus != base || maskMinus != base { report.skipped += 1; continue }
            let fd = Float((plus - minus) / Double(2 * eps))
            let err = abs(fd - analytic[i])
            XCTAssertLessThanOrEqual(err, absTol + rel * abs(analytic[i]),
                                     "\(label)[\(i)]: finite difference \(fd) vs analytic \(analytic[i])",
                                     file: file, line: line)
            report.checked += 1
            report.worst = max(report.worst, err / max(abs(analytic[i]), 1e-3))
        }
        return report
    }

    private func sample(_ count: Int, _ n: Int, _ rng: inout SplitMix64) -> [Int] {
        n <= count ? Array(0..<n) : (0..<count).map { _ in Int(rng.next() % UInt64(n)) }
    }

    private static func dot(_ r: [Float], _ y: UnsafePointer<Float>) -> Double {
        var s = 0.0
        for i in r.indices { s += Double(r[i]) * Double(y[i]) }
        return s
    }

    func testConvLayerGradients() {
        var rng = SplitMix64(seed: 11)
        // Odd sizes so the padding edges of stride 2 are exercised on both sides.
        let s = ConvLayerShape(inChannels: 3, outChannels: 4, inHeight: 7, inWidth: 6)
        // FloatBuffers, not arrays: the forward closure reads them while `check` perturbs them through a pointer.
        let input = FloatBuffer(randomFloats(s.inputCount, &rng))
        let weight = FloatBuffer(randomFloats(s.outChannels * s.patchSize, &rng, -0.5, 0.5))
        let bias = FloatBuffer(randomFloats(s.outChannels, &rng, -0.2, 0.2))
        let r = randomFloats(s.outputCount, &rng)
        let output = FloatBuffer(count: s.outputCount)
        let columns = FloatBuffer(count: s.columnCount), dColumns = FloatBuffer(count: s.columnCount)
        let scratch = FloatBuffer(count: s.splitScratchCount)
        func forward() -> (Double, [Bool]?) {
            ConvKernel.forward(s, input: input.pointer, weight: weight.pointer, bias: bias.pointer,
                               columns: columns.pointer, scratch: scratch.pointer, output: output.pointer)
            return (Self.dot(r, output.pointer), output.array.map { $0 > 0 })
        }
        _ = forward()
        XCTAssert(output.array.contains { $0 > 0 } && output.array.contains { $0 == 0 }, "ReLU should be partly active")
        let dOutput = FloatBuffer(r)
        let dWeight = FloatBuffer(count: weight.count), dBias = FloatBuffer(count: bias.count)
        let dInput = FloatBuffer(count: input.count)
        ConvKernel.backward(s, input: input.pointer, weight: weight.pointer, output: output.pointer,
                            dOutput: dOutput.pointer, dWeight: dWeight.pointer, dBias: dBias.pointer,
                            columns: columns.pointer, dColumns: dColumns.pointer, scratch: scratch.pointer,
                            dInput: dInput.pointer)
        let eps: Float = 1e-3, absTol: Float = 2e-3, rel: Float = 1e-2
        var reports: [FDReport] = []
        reports.append(check("conv dW", x: weight.pointer, indices: sample(40, weight.count, &rng),
                             analytic: dWeight.array, eps: eps, abs: absTol, rel: rel, forward))
        reports.append(check("conv db", x: bias.pointer, indices: Array(0..<bias.count), analytic: dBias.array,
                             eps: eps, abs: absTol, rel: rel, forward))
        reports.append(check("conv dx", x: input.pointer, indices: Array(0..<input.count), analytic: dInput.array,
                             eps: eps, abs: absTol, rel: rel, forward))
        let checked = reports.reduce(0) { $0 + $1.checked }
        XCTAssertGreaterThan(checked, 100)
        print("conv FD: \(checked) checked, \(reports.reduce(0) { $0 + $1.skipped }) skipped at ReLU kinks, "
              + "worst relative error \(reports.map(\.worst).max()!)")
    }

    func testDenseLayerGradients() {
        for relu in [false, true] {
            var rng = SplitMix64(seed: relu ? 21 : 22)
            let rows = 5, inSize = 7, outSize = 4
            let input = FloatBuffer(randomFloats(rows * inSize, &rng))
            let weight = FloatBuffer(randomFloats(outSize * inSize, &rng))
            let bias = FloatBuffer(randomFloats(outSize, &rng, -0.3, 0.3))
            let r = randomFloats(rows * outSize, &rng)
            let output = FloatBuffer(count: rows * outSize)
            func forward() -> (Double, [Bool]?) {
                DenseKernel.forward(rows: rows, inSize: inSize, outSize: outSize, relu: relu, input: input.pointer,
                                    weight: weight.pointer, bias: bias.pointer, output: output.pointer)
                return (Self.dot(r, output.pointer), relu ? output.array.map { $0 > 0 } : nil)
            }
            _ = forward()
            let dOutput = FloatBuffer(r)
            let dWeight = FloatBuffer(count: weight.count), dBias = FloatBuffer(count: outSize)
            let dInput = FloatBuffer(count: input.count)
            DenseKernel.backward(rows: rows, inSize: inSize, outSize: outSize, relu: relu, input: input.pointer,
                                 weight: weight.pointer, output: output.pointer, dOutput: dOutput.pointer,
                                 dWeight: dWeight.pointer, dBias: dBias.pointer, dInput: dInput.pointer)
            let eps: Float = 1e-3, absTol: Float = 1e-3, rel: Float = 1e-2
            let a = check("dense(relu \(relu)) dW", x: weight.pointer, indices: Array(0..<weight.count),
                          analytic: dWeight.array, eps: eps, abs: absTol, rel: rel, forward)
            let b = check("dense(relu \(relu)) db", x: bias.pointer, indices: Array(0..<bias.count),
                          analytic: dBias.array, eps: eps, abs: absTol, rel: rel, forward)
            let c = check("dense(relu \(relu)) dx", x: input.pointer, indices: Array(0..<input.count),
                          analytic: dInput.array, eps: eps, abs: absTol, rel: rel, forward)
            XCTAssertGreaterThan(a.checked + b.checked + c.checked, 50)
            print("dense(relu \(relu)) FD: \(a.checked + b.checked + c.checked) checked, "
                  + "\(a.skipped + b.skipped + c.skipped) skipped, worst relative error \(max(a.worst, b.worst, c.worst))")
        }
    }

    func testLSTMLayerGradientsOverSeveralSteps() {
        var rng = SplitMix64(seed: 31)
        let steps = 5, batch = 3, inSize = 6, h = 4, rows = steps * batch
        let input = FloatBuffer(randomFloats(rows * inSize, &rng))
        // Weights large enough that the gates are not all near 0.5 (a near-linear cell would hide mistakes).
        let wih = FloatBuffer(randomFloats(4 * h * inSize, &rng, -0.8, 0.8))
        let whh = FloatBuffer(randomFloats(4 * h * h, &rng, -0.8, 0.8))
        let bih = FloatBuffer(randomFloats(4 * h, &rng, -0.5, 0.5)), bhh = FloatBuffer(randomFloats(4 * h, &rng, -0.5, 0.5))
        let r = randomFloats(rows * h, &rng)
        let gates = FloatBuffer(count: rows * 4 * h), hidden = FloatBuffer(count: (rows + batch) * h)
        let cells = FloatBuffer(count: (rows + batch) * h), tanhCells = FloatBuffer(count: rows * h)
        let buffers = LSTMBuffers(gates: gates.pointer, hidden: hidden.pointer, cells: cells.pointer,
                                  tanhCells: tanhCells.pointer)
        func forward() -> (Double, [Bool]?) {
            LSTMKernel.forward(steps: steps, batch: batch, inSize: inSize, hiddenSize: h, input: input.pointer,
                               weightIH: wih.pointer, weightHH: whh.pointer, biasIH: bih.pointer, biasHH: bhh.pointer,
                               buffers: buffers)
            // The loss reads every step's h, so gradients flow through the recurrence and the cell state.
            return (Self.dot(r, hidden.pointer + batch * h), nil)
        }
        _ = forward()
        let dWih = FloatBuffer(count: wih.count), dWhh = FloatBuffer(count: whh.count)
        let dBih = FloatBuffer(count: 4 * h), dBhh = FloatBuffer(count: 4 * h)
        let dInput = FloatBuffer(count: input.count)
        let dGates = FloatBuffer(count: rows * 4 * h), dhCarry = FloatBuffer(count: batch * h)
        let dcCarry = FloatBuffer(count: batch * h)
        LSTMKernel.backward(steps: steps, batch: batch, inSize: inSize, hiddenSize: h, input: input.pointer,
                            weightIH: wih.pointer, weightHH: whh.pointer, buffers: buffers, dHidden: r,
                            dWeightIH: dWih.pointer, dWeightHH: dWhh.pointer, dBiasIH: dBih.pointer,
                            dBiasHH: dBhh.pointer, dInput: dInput.pointer,
                            dGates: dGates.pointer, dhCarry: dhCarry.pointer, dcCarry: dcCarry.pointer)
        let eps: Float = 2e-3, absTol: Float = 1e-3, rel: Float = 1e-2
        let reports = [
            check("lstm dW_ih", x: wih.pointer, indices: sample(40, wih.count, &rng), analytic: dWih.array,
                  eps: eps, abs: absTol, rel: rel, forward),
            check("lstm dW_hh", x: whh.pointer, indices: sample(40, whh.count, &rng), analytic: dWhh.array,
                  eps: eps, abs: absTol, rel: rel, forward),
            check("lstm db_ih", x: bih.pointer, indices: Array(0..<bih.count), analytic: dBih.array,
                  eps: eps, abs: absTol, rel: rel, forward),
            check("lstm db_hh", x: bhh.pointer, indices: Array(0..<bhh.count), analytic: dBhh.array,
                  eps: eps, abs: absTol, rel: rel, forward),
            check("lstm dx", x: input.pointer, indices: Array(0..<input.count), analytic: dInput.array,
                  eps: eps, abs: absTol, rel: rel, forward),
        ]
        // The first step's input must matter to the last step's output (the recurrence is really differentiated).
        XCTAssertGreaterThan(dInput.array[0..<inSize].map(abs).max()!, 1e-3)
        print("LSTM FD: \(reports.reduce(0) { $0 + $1.checked }) checked over \(steps) steps × batch \(batch), "
              + "worst relative error \(reports.map(\.worst).max()!)")
    }

    func testSigmoidBCEGradient() {
        var worst: Float = 0
        for z in [-12, -3.5, -0.7, 0, 0.3, 2.2, 9] as [Float] {
            for y in [0, 0.25, 1] as [Float] {
                let eps: Float = 1e-2
                // In Double for the difference: the formula is the same, so this checks the derivative, not rounding.
                func lossD(_ z: Double) -> Double { max(z, 0) - z * Double(y) + log1p(exp(-abs(z))) }
                let fd = Float((lossD(Double(z + eps)) - lossD(Double(z - eps))) / Double(2 * eps))
                let analytic = BCEKernel.gradient(logit: z, target: y)
                XCTAssertEqual(analytic, fd, accuracy: 1e-4, "z \(z) y \(y)")
                worst = max(worst, abs(analytic - fd))
                // The Float loss equals −y log σ − (1−y) log(1−σ) where that is computable.
                let p = 1 / (1 + exp(-Double(z)))
                if p > 1e-6 && p < 1 - 1e-6 {
                    let direct = -Double(y) * log(p) - Double(1 - y) * log(1 - p)
                    XCTAssertEqual(Double(BCEKernel.loss(logit: z, target: y)), direct, accuracy: 1e-5)
                }
                // Float-precision central difference of the Float loss itself.
                let fdF = (BCEKernel.loss(logit: z + 1e-2, target: y) - BCEKernel.loss(logit: z - 1e-2, target: y)) / 2e-2
                XCTAssertEqual(fdF, analytic, accuracy: 2e-3)
            }
        }
        print("sigmoid+BCE FD: worst |error| \(worst)")
    }

    func testWholeNetworkGradientByFiniteDifferences() {
        checkWholeNetworkByFiniteDifferences(tinyArchitecture, onsetTargets: nil)
    }

    /// The same with the onset output: two logits per step, the second's BCE against its own target (weight 2 here).
    func testWholeNetworkWithOnsetOutputGradientByFiniteDifferences() {
        var a = tinyArchitecture
        a.onsetOutput = true
        checkWholeNetworkByFiniteDifferences(a, onsetTargets: ([0, 0.1, 1, 0.2, 0], [0.05, 0.9, 0]), onsetWeight: 2)
    }

    /// With the previous-difference plane: one sequence has a previous frame and the one before it, one only a
    /// previous frame, one neither (each missing difference is zero). Every weight of the first layer is checked,
    /// the new plane's included.
    func testWholeNetworkWithThePreviousDifferencePlaneGradientByFiniteDifferences() {
        var a = tinyArchitecture
        a.encoder.previousDifferencePlane = true
        checkWholeNetworkByFiniteDifferences(a, onsetTargets: nil, beforePrevious: true)
    }

    /// With per-frame normalisation (the planes are constants of the frames, so the same backward pass) and the
    /// previous-difference plane.
    func testWholeNetworkWithPerFrameNormalisationGradientByFiniteDifferences() {
        var a = tinyArchitecture
        a.input.normalisation = InputSpec.perFrame
        a.encoder.previousDifferencePlane = true
        checkWholeNetworkByFiniteDifferences(a, onsetTargets: nil, beforePrevious: true)
    }

    private func checkWholeNetworkByFiniteDifferences(_ architecture: ModelArchitecture, onsetTargets: ([Float], [Float])?,
                                                      onsetWeight: Float = 1, beforePrevious: Bool = false) {
        let trainer = ModelTrainer(architecture: architecture, seed: 3)
        trainer.onsetLossWeight = onsetWeight
        var rng = SplitMix64(seed: 41)
        let n = 16 * 16
        let a = squareTask(width: 16, height: 16, steps: 5, hitSteps: [2], seed: 1)
        let b = squareTask(width: 16, height: 16, steps: 3, hitSteps: [1], seed: 2)
        var batch = [TrainingSequence(frames: a.frames, previousFrame: Array(b.frames[0..<n]),
                                      beforePreviousFrame: beforePrevious ? Array(b.frames[n..<(2 * n)]) : nil,
                                      targets: a.targets, onsetTargets: onsetTargets?.0),
                     TrainingSequence(frames: b.frames, previousFrame: nil, targets: b.targets, weights: [1, 3, 0.5],
                                      onsetTargets: onsetTargets?.1)]
        if beforePrevious {
            batch.append(TrainingSequence(frames: Array(a.frames[(2 * n)...]), previousFrame: Array(a.frames[n..<(2 * n)]),
                                          targets: Array(a.targets[2...])))
        }
        _ = trainer.computeGradients(batch: batch)
        let grad = trainer.gradientTensors()
        let layout = trainer.plan.layout
        var checked = 0, worst: Float = 0
        for (ti, t) in grad.enumerated() {
            let everyOne = beforePrevious && t.name == "encoder.conv0.weight"
            for k in 0..<(everyOne ? t.values.count : 4) {
                let i = everyOne ? k : Int(rng.next() % UInt64(t.values.count))
                let p = trainer.parameters.pointer + layout.offsets[ti] + i
                let saved = p.pointee, eps: Float = 2e-3
                p.pointee = saved + eps; let plus = Double(trainer.loss(batch: batch))
                p.pointee = saved - eps; let minus = Double(trainer.loss(batch: batch))
                p.pointee = saved
                let fd = Float((plus - minus) / Double(2 * eps))
                // Float loss noise ≈ 1e-7 / 2eps ≈ 3e-5; ReLU kinks are rare enough at this eps to ignore here.
                XCTAssertEqual(fd, t.values[i], accuracy: 3e-4 + 2e-2 * abs(t.values[i]), "\(t.name)[\(i)]")
                checked += 1
                worst = max(worst, abs(fd - t.values[i]))
            }
        }
        print("whole network FD (\(architecture.outputCount) outputs): \(checked) parameters checked, worst |error| \(worst)")
    }
}

final class ConvColumnsTests: XCTestCase {
    /// ThudModel's split-row im2col equals a plain strided gather bit for bit (odd and even sizes), and col2im is its
    /// adjoint: ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.
    func testIm2colMatchesThudModelAndCol2imIsItsAdjoint() {
        var rng = SplitMix64(seed: 51)
        for (c, h, w) in [(1, 4, 4), (2, 7, 6), (3, 5, 9), (2, 1, 3), (1, 3, 1), (2, 2, 2), (2, 16, 16)] {
            let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
            let x = FloatBuffer(randomFloats(c * h * w, &rng))
            let ours = FloatBuffer(count: c * 9 * oh * ow), reference = FloatBuffer(count: c * 9 * oh * ow)
            let scratch = FloatBuffer(count: Kernels.im2colScratchCount(height: h, width: w))
            Kernels.im2col3x3(input: x.pointer, channels: c, height: h, width: w, columns: ours.pointer,
                              scratch: scratch.pointer)
            // The gather by definition: row ci·9 + ky·3 + kx, column oy·ow + ox reads x[ci, 2oy − 1 + ky, 2ox − 1 + kx].
            for ci in 0..<c { for ky in 0..<3 { for kx in 0..<3 { for oy in 0..<oh { for ox in 0..<ow {
                let iy = 2 * oy - 1 + ky, ix = 2 * ox - 1 + kx
                reference.pointer[((ci * 9 + ky * 3 + kx) * oh + oy) * ow + ox] =
                    iy >= 0 && iy < h && ix >= 0 && ix < w ? x.pointer[(ci * h + iy) * w + ix] : 0
            } } } } }
            XCTAssertEqual(ours.array, reference.array, "\(c)×\(h)×\(w)")
            let y = FloatBuffer(randomFloats(ours.count, &rng)), back = FloatBuffer(count: x.count)
            ConvKernel.col2im3x3(columns: y.pointer, channels: c, height: h, width: w, outHeight: oh, outWidth: ow,
                                 input: back.pointer, scratch: scratch.pointer)
            let lhs = zip(ours.array, y.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x.array, back.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "\(c)×\(h)×\(w)")
        }
    }
}

final class ConvChunkTests: XCTestCase {
    /// Several frames per sgemm gives what one frame at a time gives (the single-frame kernels are the ones checked
    /// by finite differences above): outputs, input gradients, and weight/bias gradients summed over the frames.
    /// The reference both chunked paths are checked against: ConvKernel.forward and .backward (im2col, sgemm,
    /// col2im) one frame at a time; the weight and bias gradients summed over the frames.
    private func frameByFrame(_ s: ConvLayerShape, weight: FloatBuffer, bias: FloatBuffer, inputs: [FloatBuffer],
                              dOut: [[Float]]) -> (outputs: [FloatBuffer], dInputs: [FloatBuffer], dWeight: FloatBuffer,
                                                   dBias: FloatBuffer) {
        let scratch = FloatBuffer(count: s.splitScratchCount)
        let columns = FloatBuffer(count: s.columnCount), dColumns = FloatBuffer(count: s.columnCount)
        let outputs = inputs.map { _ in FloatBuffer(count: s.outputCount) }
        let dInputs = inputs.map { _ in FloatBuffer(count: s.inputCount) }
        let dW = FloatBuffer(count: weight.count), dB = FloatBuffer(count: bias.count)
        for j in inputs.indices {
            ConvKernel.forward(s, input: inputs[j].pointer, weight: weight.pointer, bias: bias.pointer,
                               columns: columns.pointer, scratch: scratch.pointer, output: outputs[j].pointer)
            let d = FloatBuffer(dOut[j])
            ConvKernel.backward(s, input: inputs[j].pointer, weight: weight.pointer, output: outputs[j].pointer,
                                dOutput: d.pointer, dWeight: dW.pointer, dBias: dB.pointer, columns: columns.pointer,
                                dColumns: dColumns.pointer, scratch: scratch.pointer, dInput: dInputs[j].pointer)
        }
        return (outputs, dInputs, dW, dB)
    }

    func testChunkedConvMatchesFrameByFrame() {
        var rng = SplitMix64(seed: 61)
        let s = ConvLayerShape(inChannels: 3, outChannels: 5, inHeight: 9, inWidth: 8)
        let count = 3
        let weight = FloatBuffer(randomFloats(s.outChannels * s.patchSize, &rng, -0.5, 0.5))
        let bias = FloatBuffer(randomFloats(s.outChannels, &rng, -0.2, 0.2))
        let inputs = (0..<count).map { _ in FloatBuffer(randomFloats(s.inputCount, &rng)) }
        let dOut = (0..<count).map { _ in randomFloats(s.outputCount, &rng) }
        let scratch = FloatBuffer(count: s.splitScratchCount)
        let columns = FloatBuffer(count: count * s.columnCount), dColumns = FloatBuffer(count: count * s.columnCount)
        let (outputs1, dInputs1, dW1, dB1) = frameByFrame(s, weight: weight, bias: bias, inputs: inputs, dOut: dOut)

        // One chunk.
        let outputs2 = (0..<count).map { _ in FloatBuffer(count: s.outputCount) }
        let dInputs2 = (0..<count).map { _ in FloatBuffer(count: s.inputCount) }
        let dOut2 = dOut.map { FloatBuffer($0) }
        let dW2 = FloatBuffer(count: weight.count), dB2 = FloatBuffer(count: bias.count)
        let product = FloatBuffer(count: count * s.outputCount)
        let inPtrs = inputs.map { UnsafePointer($0.pointer) }, outPtrs = outputs2.map(\.pointer)
        let dOutPtrs = dOut2.map(\.pointer), dInPtrs = dInputs2.map(\.pointer)
        ConvKernel.forwardChunk(s, count: count, inputs: inPtrs, outputs: outPtrs, weight: weight.pointer,
                                bias: bias.pointer, columns: columns.pointer, product: product.pointer,
                                scratch: scratch.pointer)
        ConvKernel.backwardChunk(s, count: count, inputs: inPtrs, outputs: outPtrs, dOutputs: dOutPtrs,
                                 weight: weight.pointer, dWeight: dW2.pointer, dBias: dB2.pointer,
                                 columns: columns.pointer, dColumns: dColumns.pointer, product: product.pointer,
                                 scratch: scratch.pointer, dInputs: dInPtrs)
        for j in 0..<count {
            XCTAssertLessThan(maxAbsDiff(outputs1[j].array, outputs2[j].array), 1e-6, "output \(j)")
            XCTAssertLessThan(maxAbsDiff(dInputs1[j].array, dInputs2[j].array), 1e-5, "dInput \(j)")
        }
        XCTAssertLessThan(maxAbsDiff(dW1.array, dW2.array), 1e-5)
        XCTAssertLessThan(maxAbsDiff(dB1.array, dB2.array), 1e-5)
        XCTAssertGreaterThan(dW2.array.map(abs).max()!, 0.1)
    }

    /// backwardChunkHWC (CKernels' channels-last weight gradient over a chunk of frames and the transposed
    /// convolution, Kernels.hasAVX2FMA) against the frame-by-frame backward (im2col, dY·colsᵀ, Wᵀ·dY and col2im), on
    /// odd sizes, input channels that are and are not multiples of 8 (stored rounded up), output channels below 8,
    /// between 8 and 16 and above, and rows with block tails; also the direct forward (DirectConvStack's kernel)
    /// against ConvKernel's.
    func testDirectGradientsMatchIm2colAndCol2im() throws {
        try XCTSkipUnless(Kernels.hasAVX2FMA, "no AVX2 + FMA: training keeps im2col, sgemm and col2im")
        var rng = SplitMix64(seed: 62)
        for (cin, cout, h, w) in [(3, 5, 9, 8), (8, 16, 13, 27), (16, 32, 24, 24), (5, 8, 7, 31), (32, 32, 6, 6),
                                  (24, 12, 11, 50), (2, 20, 96, 96)] {
            let s = ConvLayerShape(inChannels: cin, outChannels: cout, inHeight: h, inWidth: w)
            let count = 3
            let weight = FloatBuffer(randomFloats(s.outChannels * s.patchSize, &rng, -0.5, 0.5))
            let bias = FloatBuffer(randomFloats(s.outChannels, &rng, -0.2, 0.2))
            let inputs = (0..<count).map { _ in FloatBuffer(randomFloats(s.inputCount, &rng)) }
            let dOut = (0..<count).map { _ in randomFloats(s.outputCount, &rng) }
            let (outputs, dInputs1, dW1, dB1) = frameByFrame(s, weight: weight, bias: bias, inputs: inputs, dOut: dOut)
            // The layouts training keeps on the direct path: padded HWC inputs (stored channels: the layer below's
            // rounded up to 8, or the planes as they are), masked output gradients HWC frame after frame.
            let inStored = cin % 8 == 0 || cin > 3 ? Kernels.directStoredChannels(cin) : cin
            let outStored = Kernels.directStoredChannels(cout), p = s.positions
            let paddedCount = Kernels.paddedHWCCount(channels: inStored, height: h, width: w)
            let paddedInputs = (0..<count).map { j in
                let buffer = FloatBuffer(count: paddedCount)
                for c in 0..<cin {
                    for y in 0..<h {
                        for x in 0..<w {
                            buffer.pointer[((y + 1) * (w + 2) + x + 1) * inStored + c] = inputs[j].pointer[(c * h + y) * w + x]
                        }
                    }
                }
                return buffer
            }
            let masked = FloatBuffer([Float](repeating: 0, count: count * p * outStored))
            for j in 0..<count {
                for q in 0..<p {
                    for c in 0..<cout where outputs[j].pointer[c * p + q] > 0 {
                        masked.pointer[(j * p + q) * outStored + c] = dOut[j][c * p + q]
                    }
                }
            }
            let packedT = FloatBuffer(count: 9 * cout * inStored)
            Kernels.packConvWeightTransposed(weight.pointer, outChannels: cout, inChannels: cin, packedIn: inStored,
                                             into: packedT.pointer)
            let dPadded = (0..<count).map { _ in FloatBuffer([Float](repeating: 7, count: paddedCount)) }
            let dW2 = FloatBuffer(count: weight.count), dB2 = FloatBuffer(count: bias.count)
            let sums = FloatBuffer(count: outStored)
            let inPtrs = paddedInputs.map { UnsafePointer($0.pointer) }, dInPtrs = dPadded.map(\.pointer)
            ConvKernel.backwardChunkHWC(s, count: count, inputs: inPtrs, inPixelStride: inStored,
                                        maskedDOutput: masked.pointer, dOutputPixelStride: outStored,
                                        dWeight: dW2.pointer, dBias: dB2.pointer, channelSums: sums.pointer,
                                        packedWeightT: inStored % 8 == 0 ? packedT.pointer : nil,
                                        dInputs: inStored % 8 == 0 ? dInPtrs : nil)
            if inStored % 8 == 0 {
                for j in 0..<count {
                    let chw = FloatBuffer(count: s.inputCount), rowStride = (w + 2) * inStored
                    Kernels.hwcToCHW(dPadded[j].pointer + rowStride + inStored, channels: cin, height: h, width: w,
                                     pixelStride: inStored, rowStride: rowStride, into: chw.pointer)
                    XCTAssertLessThan(maxAbsDiff(dInputs1[j].array, chw.array), 1e-5, "\(cin)->\(cout) \(h)x\(w): dInput \(j)")
                }
                XCTAssertGreaterThan(dInputs1[0].array.map(abs).max()!, 0.1)
            }
            // The AVX-512 variant (output channels stored in sixteens) sums the same products in the same order.
            if Kernels.hasAVX512F && outStored % 16 == 0 {
                let dW3 = FloatBuffer(count: weight.count)
                Kernels.conv3x3s2WeightGradientHWC(inputs: inPtrs, count: count, inChannels: cin, inPixelStride: inStored,
                                                   height: h, width: w, dOutput: masked.pointer, outChannels: cout,
                                                   dOutputPixelStride: outStored, dWeight: dW3.pointer, avx512: false)
                XCTAssertEqual(dW3.array, dW2.array, "\(cin)->\(cout): AVX2 and AVX-512 weight gradients differ")
            }
            // Sums over up to 3 · 48 · 48 products: compared relative to the largest.
            let scale = max(1, dW1.array.map(abs).max()!)
            XCTAssertLessThan(maxAbsDiff(dW1.array, dW2.array) / scale, 1e-5, "\(cin)->\(cout) \(h)x\(w): dWeight")
            XCTAssertGreaterThan(dW2.array.map(abs).max()!, 0.1)
            XCTAssertLessThan(maxAbsDiff(dB1.array, dB2.array) / max(1, dB1.array.map(abs).max()!), 1e-5)

            // The direct forward of the same layer, as training runs it (DirectConvStack from CHW planes is not its
            // input path, so the layer is compared through the kernel itself).
            let stored = Kernels.directStoredChannels(cout)
            let padded = FloatBuffer(count: Kernels.paddedHWCCount(channels: cin, height: h, width: w))
            let packed = FloatBuffer(count: 9 * cin * stored), paddedBias = FloatBuffer(count: stored)
            paddedBias.pointer.update(from: bias.pointer, count: cout)
            Kernels.chwToPaddedHWC(inputs[0].pointer, channels: cin, height: h, width: w, into: padded.pointer)
            Kernels.packConvWeight(weight.pointer, outChannels: cout, inChannels: cin, packedOut: stored, packedIn: cin,
                                   into: packed.pointer)
            let hwc = FloatBuffer(count: stored * s.positions), chw = FloatBuffer(count: s.outputCount)
            Kernels.conv3x3s2ReLUDirect(input: padded.pointer, inChannels: cin, height: h, width: w,
                                        packedWeight: packed.pointer, bias: paddedBias.pointer, outChannels: stored,
                                        output: hwc.pointer, outputRowStride: s.outWidth * stored)
            Kernels.hwcToCHW(hwc.pointer, channels: cout, height: s.outHeight, width: s.outWidth, pixelStride: stored,
                             into: chw.pointer)
            XCTAssertLessThan(maxAbsDiff(chw.array, outputs[0].array), 1e-5, "\(cin)->\(cout) \(h)x\(w): forward")
        }
    }
}

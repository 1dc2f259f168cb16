// Training kernels in the style of llm.c: each layer's forward and backward written by hand over flat Float
// buffers, matrix work through OpenBLAS. Every function here is checked on its own against finite differences in
// Tests/ThudTrainTests/LayerGradientTests.swift, and the whole network against PyTorch's autograd
// (Tests/ThudTrainTests/PyTorchGradientTests.swift). Layouts are PyTorch's for the same parameter names, so the
// weights move to and from .thud files and the reference without reshuffling.
//
// Batched layout: a mini-batch of B sequences of T steps is a matrix of T·B rows, row t·B + b = step t of sequence
// b (time-major), so each LSTM step works on a contiguous B × H block and the input projections and the head see all
// T·B rows in one sgemm.
import COpenBLAS
import Foundation
import ThudModel


// MARK: - Conv layer (3×3, stride 2, padding 1, + bias, ReLU)

/// One conv layer's sizes. Weight [Cout × Cin·9] (PyTorch's [Cout, Cin, 3, 3] as stored), input CHW, output
/// [Cout × outH·outW]; im2col turns the convolution into one sgemm (as ConvEncoder's portable path runs it; with
/// AVX2 + FMA training runs DirectConvStack forward and backwardChunkHWC's direct gradients instead, channels-last).
struct ConvLayerShape: Equatable {
    let inChannels, outChannels, inHeight, inWidth, outHeight, outWidth: Int
    var inputCount: Int { inChannels * inHeight * inWidth }
    var outputCount: Int { outChannels * outHeight * outWidth }
    /// Rows of the im2col matrix (= weight columns).
    var patchSize: Int { inChannels * 9 }
    var positions: Int { outHeight * outWidth }
    var columnCount: Int { patchSize * positions }
    var splitScratchCount: Int { Kernels.im2colScratchCount(height: inHeight, width: inWidth) }

    init(inChannels: Int, outChannels: Int, inHeight: Int, inWidth: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.inHeight = inHeight; self.inWidth = inWidth
        outHeight = Kernels.convOutputSize(inHeight, stride: 2); outWidth = Kernels.convOutputSize(inWidth, stride: 2)
    }
}

/// `forward`/`backward` handle one frame: the plain form, checked by finite differences. Training runs
/// `forwardChunk`/`backwardChunk` (several frames per sgemm), checked against the plain form in ConvChunkTests.
enum ConvKernel {
    /// output = ReLU(W ∗ input + b). `columns` is im2col scratch of `shape.columnCount`, `scratch` of
    /// `shape.splitScratchCount`.
    static func forward(_ s: ConvLayerShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        Kernels.im2col3x3(input: input, channels: s.inChannels, height: s.inHeight, width: s.inWidth, columns: columns,
                  scratch: scratch)
        Kernels.gemm(m: s.outChannels, n: s.positions, k: s.patchSize, a: weight, lda: s.patchSize,
                  b: columns, ldb: s.positions, beta: 0, c: output, ldc: s.positions)
        Kernels.addRowBiasReLU(output, rows: s.outChannels, cols: s.positions, bias: bias)
    }

    /// Backward of `forward`. `dOutput` (gradient w.r.t. the post-ReLU output) is masked in place by the ReLU;
    /// weight and bias gradients are accumulated (+=); `dInput`, when given, is overwritten. `columns` is recomputed
    /// from `input` here rather than cached: im2col is cheap next to the sgemms and caching it for every frame of a
    /// batch would cost ~200 KB per frame.
    static func backward(_ s: ConvLayerShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         output: UnsafePointer<Float>, dOutput: UnsafeMutablePointer<Float>,
                         dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                         columns: UnsafeMutablePointer<Float>, dColumns: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>, dInput: UnsafeMutablePointer<Float>?) {
        let p = s.positions
        for i in 0..<s.outputCount where !(output[i] > 0) { dOutput[i] = 0 }
        for c in 0..<s.outChannels {
            var sum: Float = 0
            let row = dOutput + c * p
            for j in 0..<p { sum += row[j] }
            dBias[c] += sum
        }
        Kernels.im2col3x3(input: input, channels: s.inChannels, height: s.inHeight, width: s.inWidth, columns: columns,
                  scratch: scratch)
        // dW[Cout × K] += dY[Cout × P] · colsᵀ
        Kernels.gemm(transposeB: true, m: s.outChannels, n: s.patchSize, k: p, alpha: 1, a: dOutput, lda: p, b: columns, ldb: p,
                  beta: 1, c: dWeight, ldc: s.patchSize)
        guard let dInput else { return }
        // dCols[K × P] = Wᵀ · dY, then scatter back (col2im).
        Kernels.gemm(transposeA: true, m: s.patchSize, n: p, k: s.outChannels, alpha: 1, a: weight, lda: s.patchSize,
                  b: dOutput, ldb: p, beta: 0, c: dColumns, ldc: p)
        col2im3x3(columns: dColumns, channels: s.inChannels, height: s.inHeight, width: s.inWidth,
                  outHeight: s.outHeight, outWidth: s.outWidth, input: dInput, scratch: scratch)
    }


    /// Adjoint of im2col3x3 (stride 2, padding 1): input = Σ of every column entry that read it. Accumulates into
    /// even/odd split rows (contiguous adds), then interleaves them into the input plane.
    static func col2im3x3(columns: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                          outHeight: Int, outWidth: Int, input: UnsafeMutablePointer<Float>,
                          scratch: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
        let outW = outWidth, even = scratch, odd = scratch + height * outW
        let stride = rowStride ?? outHeight * outWidth
        let oddCount = width / 2
        var row = columns
        for c in 0..<channels {
            scratch.update(repeating: 0, count: 2 * height * outW)
            for ky in 0..<3 {
                for kx in 0..<3 {
                    var src = row
                    for oy in 0..<outHeight {
                        let iy = oy * 2 - 1 + ky
                        if iy >= 0 && iy < height {
                            if kx == 1 {
                                let e = even + iy * outW
                                for j in 0..<outW { e[j] += src[j] }
                            } else if kx == 2 {
                                let o = odd + iy * outW
                                for j in 0..<outW { o[j] += src[j] }
                            } else {
                                let o = odd + iy * outW - 1
                                for j in 1..<max(outW, 1) { o[j] += src[j] }
                            }
                        }
                        src += outW
                    }
                    row += stride
                }
            }
            let plane = input + c * height * width
            for y in 0..<height {
                let dst = plane + y * width, e = even + y * outW, o = odd + y * outW
                for j in 0..<outW { dst[2 * j] = e[j] }
                for j in 0..<oddCount { dst[2 * j + 1] = o[j] }
            }
        }
    }

    // MARK: Several frames per sgemm

    /// `forward` for `count` frames at once: their im2col matrices side by side ([K × count·P]) so each layer is one
    /// sgemm with count·P columns instead of `count` thin ones (the deeper layers have only 16–64 positions per
    /// frame, far too few for OpenBLAS to run efficiently). `columns` holds count·columnCount floats and `product`
    /// count·outputCount; outputs[j] gets frame j's [Cout × P] block.
    static func forwardChunk(_ s: ConvLayerShape, count: Int, inputs: UnsafePointer<UnsafePointer<Float>>,
                             outputs: UnsafePointer<UnsafeMutablePointer<Float>>, weight: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>,
                             product: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let p = s.positions, ld = count * p
        for j in 0..<count {
            Kernels.im2col3x3(input: inputs[j], channels: s.inChannels, height: s.inHeight, width: s.inWidth,
                      columns: columns + j * p, scratch: scratch, rowStride: ld)
        }
        Kernels.gemm(m: s.outChannels, n: ld, k: s.patchSize, a: weight, lda: s.patchSize, b: columns, ldb: ld,
                  beta: 0, c: product, ldc: ld)
        for j in 0..<count {
            let out = outputs[j]
            for c in 0..<s.outChannels {
                let src = product + c * ld + j * p, dst = out + c * p, b = bias[c]
                for i in 0..<p { dst[i] = max(src[i] + b, 0) }
            }
        }
    }

    /// `backward` for `count` frames at once (the layout of forwardChunk). dOutputs[j] is read (the masked copy lives
    /// in `product`); weight and bias gradients accumulate; dInputs[j], when given, are overwritten. `product` holds
    /// count·outputCount floats, `columns` and `dColumns` count·columnCount. (The portable path; with AVX2 + FMA
    /// training runs backwardChunkHWC.)
    static func backwardChunk(_ s: ConvLayerShape, count: Int, inputs: UnsafePointer<UnsafePointer<Float>>,
                              outputs: UnsafePointer<UnsafeMutablePointer<Float>>,
                              dOutputs: UnsafePointer<UnsafeMutablePointer<Float>>, weight: UnsafePointer<Float>,
                              dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                              columns: UnsafeMutablePointer<Float>, dColumns: UnsafeMutablePointer<Float>,
                              product: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                              dInputs: UnsafePointer<UnsafeMutablePointer<Float>>?) {
        let p = s.positions, ld = count * p
        for j in 0..<count {
            let out = outputs[j], dOut = dOutputs[j]
            for c in 0..<s.outChannels {
                Kernels.reluMask(output: out + c * p, dOutput: dOut + c * p, into: product + c * ld + j * p, count: p)
            }
            Kernels.im2col3x3(input: inputs[j], channels: s.inChannels, height: s.inHeight, width: s.inWidth,
                              columns: columns + j * p, scratch: scratch, rowStride: ld)
        }
        for c in 0..<s.outChannels { dBias[c] += laneSum(product + c * ld, count: ld) }
        Kernels.gemm(transposeB: true, m: s.outChannels, n: s.patchSize, k: ld, alpha: 1, a: product, lda: ld,
                     b: columns, ldb: ld, beta: 1, c: dWeight, ldc: s.patchSize)
        guard let dInputs else { return }
        Kernels.gemm(transposeA: true, m: s.patchSize, n: ld, k: s.outChannels, alpha: 1, a: weight, lda: s.patchSize,
                  b: product, ldb: ld, beta: 0, c: dColumns, ldc: ld)
        for j in 0..<count {
            col2im3x3(columns: dColumns + j * p, channels: s.inChannels, height: s.inHeight, width: s.inWidth,
                      outHeight: s.outHeight, outWidth: s.outWidth, input: dInputs[j], scratch: scratch, rowStride: ld)
        }
    }

    /// The gradients of one layer for `count` frames, channels-last, as training runs them with AVX2 + FMA (the
    /// layout DirectConvStack's forward leaves, so nothing is transposed): `inputs[j]` is frame j's zero-padded HWC
    /// input (pixels `inPixelStride` floats, Kernels.paddedHWCCount), `maskedDOutput` the frames' output gradients
    /// one after another, outH·outW pixels of `dOutputPixelStride` floats each (a multiple of 8, the ReLU mask
    /// applied, stored channels past Cout zero). Weight and bias gradients accumulate (the weight directly,
    /// Kernels.conv3x3s2WeightGradientHWC; the bias through `channelSums`, dOutputPixelStride floats). With
    /// `dInputs` (zero-padded HWC buffers of inPixelStride channels, a multiple of 8, overwritten) also the input
    /// gradient, a transposed convolution with `packedWeightT` (Kernels.packConvWeightTransposed, packedIn =
    /// inPixelStride); their borders get the padding taps' terms, to be ignored.
    static func backwardChunkHWC(_ s: ConvLayerShape, count: Int, inputs: UnsafePointer<UnsafePointer<Float>>,
                                 inPixelStride: Int, maskedDOutput: UnsafePointer<Float>, dOutputPixelStride: Int,
                                 dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                                 channelSums: UnsafeMutablePointer<Float>, packedWeightT: UnsafePointer<Float>?,
                                 dInputs: UnsafePointer<UnsafeMutablePointer<Float>>?) {
        let p = s.positions, stride = dOutputPixelStride
        // Per channel in pixel order: each channel's sum is its own chain, so the loop vectorizes across channels.
        channelSums.update(repeating: 0, count: stride)
        for n in 0..<(count * p) {
            let pixel = maskedDOutput + n * stride
            for c in 0..<stride { channelSums[c] += pixel[c] }
        }
        for c in 0..<s.outChannels { dBias[c] += channelSums[c] }
        Kernels.conv3x3s2WeightGradientHWC(inputs: inputs, count: count, inChannels: s.inChannels,
                                           inPixelStride: inPixelStride, height: s.inHeight, width: s.inWidth,
                                           dOutput: maskedDOutput, outChannels: s.outChannels,
                                           dOutputPixelStride: stride, dWeight: dWeight)
        guard let dInputs, let packedWeightT else { return }
        let padded = Kernels.paddedHWCCount(channels: inPixelStride, height: s.inHeight, width: s.inWidth)
        for j in 0..<count {
            dInputs[j].update(repeating: 0, count: padded)
            Kernels.conv3x3s2BackwardInputDirect(dOutput: maskedDOutput + j * p * stride, outChannels: s.outChannels,
                                                 dOutputChannelStride: 1, dOutputPixelStride: stride,
                                                 height: s.inHeight, width: s.inWidth, packedWeightT: packedWeightT,
                                                 storedInChannels: inPixelStride, dInputPadded: dInputs[j])
        }
    }
}

/// Σ x[0..<count] with 8 interleaved partial sums, so the loop vectorizes (a single running Float sum cannot be
/// reordered by the compiler); the order is fixed, so results stay bit-reproducible.
@inline(__always)
func laneSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
        lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var sum = lanes.sum()
    while i < count { sum += x[i]; i += 1 }
    return sum
}

// MARK: - Dense layer (Linear, optional ReLU)

enum DenseKernel {
    /// Y[rows × out] = X[rows × in] · Wᵀ + b, then ReLU when `relu`. W is PyTorch's Linear weight [out × in].
    static func forward(rows: Int, inSize: Int, outSize: Int, relu: Bool, input: UnsafePointer<Float>,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        output: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { (output + r * outSize).update(from: bias, count: outSize) }
        Kernels.gemm(transposeB: true, m: rows, n: outSize, k: inSize, alpha: 1, a: input, lda: inSize, b: weight, ldb: inSize,
                  beta: 1, c: output, ldc: outSize)
        if relu { for i in 0..<(rows * outSize) { output[i] = max(output[i], 0) } }
    }

    /// Backward of `forward`: masks `dOutput` in place by the ReLU, accumulates dW and db, overwrites dInput.
    static func backward(rows: Int, inSize: Int, outSize: Int, relu: Bool, input: UnsafePointer<Float>,
                         weight: UnsafePointer<Float>, output: UnsafePointer<Float>,
                         dOutput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                         dBias: UnsafeMutablePointer<Float>, dInput: UnsafeMutablePointer<Float>?) {
        if relu { for i in 0..<(rows * outSize) where !(output[i] > 0) { dOutput[i] = 0 } }
        columnSums(dOutput, rows: rows, cols: outSize, into: dBias)
        // dW[out × in] += dYᵀ · X
        Kernels.gemm(transposeA: true, m: outSize, n: inSize, k: rows, alpha: 1, a: dOutput, lda: outSize, b: input, ldb: inSize,
                  beta: 1, c: dWeight, ldc: inSize)
        if let dInput {
            Kernels.gemm(m: rows, n: inSize, k: outSize, a: dOutput, lda: outSize, b: weight, ldb: inSize,
                      beta: 0, c: dInput, ldc: inSize)
        }
    }

    /// into[j] += Σ_r m[r, j], rows in order (a fixed order keeps results bit-reproducible).
    static func columnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = m + r * cols
            for j in 0..<cols { into[j] += row[j] }
        }
    }
}

// MARK: - LSTM layer (PyTorch gate order i, f, g, o), T steps over a B × H block per step

/// Buffers of one LSTM layer for a batch of `batch` sequences × `steps`. Row blocks are time-major; `hidden` and
/// `cells` have an extra first block holding the initial state (h₀, c₀), so step t reads block t and writes t + 1.
struct LSTMBuffers {
    /// [T·B × 4H]: pre-activations, replaced in place by the activations (i, f, g, o) that backward needs.
    var gates: UnsafeMutablePointer<Float>
    /// [(T + 1)·B × H]
    var hidden: UnsafeMutablePointer<Float>
    var cells: UnsafeMutablePointer<Float>
    /// [T·B × H]: tanh(c_t), kept for backward.
    var tanhCells: UnsafeMutablePointer<Float>
}

enum LSTMKernel {
    /// Runs T steps from the state in block 0 of `hidden`/`cells`. `input` is [T·B × inSize].
    /// Bias is b_ih + b_hh per gate, as StackedLSTM adds it.
    static func forward(steps: Int, batch: Int, inSize: Int, hiddenSize h: Int, input: UnsafePointer<Float>,
                        weightIH: UnsafePointer<Float>, weightHH: UnsafePointer<Float>,
                        biasIH: UnsafePointer<Float>, biasHH: UnsafePointer<Float>, buffers s: LSTMBuffers) {
        let g4 = 4 * h, rows = steps * batch
        for r in 0..<rows {
            let g = s.gates + r * g4
            for j in 0..<g4 { g[j] = biasIH[j] + biasHH[j] }
        }
        // Input projections of every step at once: G[T·B × 4H] += X · W_ihᵀ.
        Kernels.gemm(transposeB: true, m: rows, n: g4, k: inSize, alpha: 1, a: input, lda: inSize, b: weightIH, ldb: inSize,
                  beta: 1, c: s.gates, ldc: g4)
        for t in 0..<steps {
            let gates = s.gates + t * batch * g4
            let hPrev = s.hidden + t * batch * h, cPrev = s.cells + t * batch * h
            let hNext = s.hidden + (t + 1) * batch * h, cNext = s.cells + (t + 1) * batch * h
            let tanhC = s.tanhCells + t * batch * h
            Kernels.gemm(transposeB: true, m: batch, n: g4, k: h, alpha: 1, a: hPrev, lda: h, b: weightHH, ldb: h,
                      beta: 1, c: gates, ldc: g4)
            for b in 0..<batch {
                // The same cell as the streaming Kernels.lstmPointwise, so training and streaming agree closely.
                Kernels.lstmCellForTraining(gates: gates + b * g4, hidden: h, cPrevious: cPrev + b * h,
                                            cNext: cNext + b * h, tanhC: tanhC + b * h, hNext: hNext + b * h)
            }
        }
    }

    /// Backward through T steps. `dHidden` [T·B × H] is the loss gradient w.r.t. each step's output h (from the
    /// layer above or the head). Accumulates weight/bias gradients, overwrites `dInput` [T·B × inSize] when given.
    /// Scratch: `dGates` [T·B × 4H], `dhCarry` and `dcCarry` [B × H]. The initial state gets no gradient (it is zero
    /// in training).
    static func backward(steps: Int, batch: Int, inSize: Int, hiddenSize h: Int, input: UnsafePointer<Float>,
                         weightIH: UnsafePointer<Float>, weightHH: UnsafePointer<Float>, buffers s: LSTMBuffers,
                         dHidden: UnsafePointer<Float>, dWeightIH: UnsafeMutablePointer<Float>,
                         dWeightHH: UnsafeMutablePointer<Float>, dBiasIH: UnsafeMutablePointer<Float>,
                         dBiasHH: UnsafeMutablePointer<Float>, dInput: UnsafeMutablePointer<Float>?,
                         dGates: UnsafeMutablePointer<Float>, dhCarry: UnsafeMutablePointer<Float>,
                         dcCarry: UnsafeMutablePointer<Float>) {
        let g4 = 4 * h, rows = steps * batch
        dhCarry.update(repeating: 0, count: batch * h)
        dcCarry.update(repeating: 0, count: batch * h)
        var t = steps - 1
        while t >= 0 {
            // Recurrent gradient into h_t from step t + 1's gates: dh += dG_{t+1} · W_hh.
            if t < steps - 1 {
                Kernels.gemm(m: batch, n: h, k: g4, a: dGates + (t + 1) * batch * g4, lda: g4, b: weightHH, ldb: h,
                          beta: 0, c: dhCarry, ldc: h)
            }
            let gates = s.gates + t * batch * g4, dG = dGates + t * batch * g4
            let cPrev = s.cells + t * batch * h, tanhC = s.tanhCells + t * batch * h
            let dOut = dHidden + t * batch * h
            for b in 0..<batch {
                let gi = gates + b * g4, gf = gi + h, gg = gi + 2 * h, go = gi + 3 * h
                let di = dG + b * g4, df = di + h, dg = di + 2 * h, dO = di + 3 * h
                let cp = cPrev + b * h, tc = tanhC + b * h, dOutB = dOut + b * h
                let dhB = dhCarry + b * h, dcB = dcCarry + b * h
                for j in 0..<h {
                    let i = gi[j], f = gf[j], g = gg[j], o = go[j], tcj = tc[j]
                    let dh = dOutB[j] + dhB[j]
                    let dc = dcB[j] + dh * o * (1 - tcj * tcj)
                    di[j] = dc * g * i * (1 - i)
                    df[j] = dc * cp[j] * f * (1 - f)
                    dg[j] = dc * i * (1 - g * g)
                    dO[j] = dh * tcj * o * (1 - o)
                    dcB[j] = dc * f
                }
            }
            t -= 1
        }
        // Weight gradients over all steps at once: dW_ih += dGᵀ · X, dW_hh += dGᵀ · H_{t−1} (blocks 0…T−1).
        Kernels.gemm(transposeA: true, m: g4, n: inSize, k: rows, alpha: 1, a: dGates, lda: g4, b: input, ldb: inSize,
                  beta: 1, c: dWeightIH, ldc: inSize)
        Kernels.gemm(transposeA: true, m: g4, n: h, k: rows, alpha: 1, a: dGates, lda: g4, b: s.hidden, ldb: h,
                  beta: 1, c: dWeightHH, ldc: h)
        DenseKernel.columnSums(dGates, rows: rows, cols: g4, into: dBiasIH)
        DenseKernel.columnSums(dGates, rows: rows, cols: g4, into: dBiasHH)
        if let dInput {
            Kernels.gemm(m: rows, n: inSize, k: g4, a: dGates, lda: g4, b: weightIH, ldb: inSize,
                      beta: 0, c: dInput, ldc: inSize)
        }
    }
}

// MARK: - Sigmoid + binary cross-entropy on logits

enum BCEKernel {
    /// Loss of one step on the logit z (the head's output before the sigmoid) against target y ∈ [0, 1]:
    /// −y·log σ(z) − (1−y)·log(1−σ(z)), in the stable form max(z,0) − z·y + log(1 + e^−|z|) (PyTorch's
    /// binary_cross_entropy_with_logits). Its gradient w.r.t. z is σ(z) − y.
    @inline(__always)
    static func loss(logit z: Float, target y: Float) -> Float {
        max(z, 0) - z * y + log1pf(expf(-abs(z)))
    }

    @inline(__always)
    static func gradient(logit z: Float, target y: Float) -> Float { Kernels.sigmoid(z) - y }
}

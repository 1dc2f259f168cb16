// Each kernel against a naive loop written the obvious way.
import XCTest
@testable import ThudModel
import ThudBase

final class KernelsTests: XCTestCase {
    private func randomValues(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    func testGemvWithLeadingDimensionAndBeta() {
        var rng = SplitMix64(seed: 1)
        let rows = 7, cols = 5, lda = 9
        let a = FloatBuffer(randomValues(rows * lda, &rng)), x = FloatBuffer(randomValues(cols, &rng))
        let y0 = randomValues(rows, &rng), y = FloatBuffer(y0)
        Kernels.gemv(rows: rows, cols: cols, a: a.pointer, lda: lda, x: x.pointer, beta: 1, y: y.pointer)
        for r in 0..<rows {
            var s = y0[r]
            for c in 0..<cols { s += a.pointer[r * lda + c] * x.pointer[c] }
            XCTAssertEqual(y.pointer[r], s, accuracy: 1e-5)
        }
    }

    /// gemvHalf (F16C where the CPU has it) against the obvious loop over the halves widened, on sizes with a row
    /// block tail (rows not a multiple of 8) and a column tail (cols not a multiple of 8), adding into y.
    func testHalfPrecisionGemvEqualsTheLoopOverWidenedWeights() {
        var rng = SplitMix64(seed: 16)
        for (rows, cols) in [(512, 416), (13, 37), (8, 8), (3, 5), (17, 256)] {
            let weights = randomValues(rows * cols, &rng), half = HalfBuffer(weights)
            let x = FloatBuffer(randomValues(cols, &rng)), y0 = randomValues(rows, &rng), y = FloatBuffer(y0)
            Kernels.gemvHalf(rows: rows, cols: cols, a: half.pointer, x: x.pointer, y: y.pointer)
            for r in 0..<rows {
                var s = Double(y0[r])
                for c in 0..<cols { s += Double(Float(Float16(weights[r * cols + c]))) * Double(x.pointer[c]) }
                XCTAssertEqual(Double(y.pointer[r]), s, accuracy: 1e-4 * Double(cols).squareRoot(), "\(rows)x\(cols) row \(r)")
            }
        }
    }

    /// The products split so that OpenBLAS's small-matrix kernel does not allocate (Kernels.gemm): which ones, and
    /// that the split product is still alpha·A·B + beta·C, with leading dimensions wider than the matrices, for the
    /// shapes the bundled model meets (36 and 72 positions, k = 288), a tail-only product (n < 16) and one left whole.
    func testGemmSplitWhereOpenBLASWouldAllocateGivesTheSameProduct() {
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: false, m: 32, n: 36, k: 288), 4)
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: false, m: 32, n: 72, k: 288), 8)
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: false, m: 32, n: 4, k: 288), 4)
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: false, m: 32, n: 9, k: 288), 0, "remainder 9: masked path")
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: false, m: 32, n: 36, k: 31), 0, "k < 32")
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: true, m: 32, n: 36, k: 288), 0, "transposed")
        XCTAssertEqual(Kernels.allocatingTailColumns(transposeA: false, transposeB: false, m: 512, n: 36, k: 288), 0, "past 100³")
        var rng = SplitMix64(seed: 7)
        for (m, n, k, alpha, beta) in [(32, 36, 288, Float(1), Float(0)), (32, 72, 288, 1, 0), (5, 4, 40, 0.5, 1),
                                       (32, 9, 288, 1, 0), (3, 21, 33, -2, 0.25)] {
            let lda = k + 3, ldb = n + 5, ldc = n + 2
            let a = FloatBuffer(randomValues(m * lda, &rng)), b = FloatBuffer(randomValues(k * ldb, &rng))
            let c0 = randomValues(m * ldc, &rng), c = FloatBuffer(c0)
            Kernels.gemm(m: m, n: n, k: k, alpha: alpha, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb, beta: beta,
                         c: c.pointer, ldc: ldc)
            for i in 0..<m {
                for j in 0..<ldc {
                    guard j < n else {
                        XCTAssertEqual(c.pointer[i * ldc + j], c0[i * ldc + j], "column \(j) past n = \(n) untouched")
                        continue
                    }
                    var s: Float = 0
                    for p in 0..<k { s += a.pointer[i * lda + p] * b.pointer[p * ldb + j] }
                    XCTAssertEqual(c.pointer[i * ldc + j], alpha * s + beta * c0[i * ldc + j], accuracy: 1e-4,
                                   "m \(m) n \(n) k \(k): C[\(i), \(j)]")
                }
            }
        }
    }

    func testGemmPlainAndTransposedB() {
        var rng = SplitMix64(seed: 2)
        let m = 4, n = 6, k = 3
        let a = FloatBuffer(randomValues(m * k, &rng))
        let b = FloatBuffer(randomValues(k * n, &rng))      // [k × n]
        let bt = FloatBuffer(randomValues(n * k, &rng))     // [n × k]
        let c = FloatBuffer(count: m * n), ct = FloatBuffer(count: m * n)
        Kernels.gemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, beta: 0, c: c.pointer, ldc: n)
        Kernels.gemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: bt.pointer, ldb: k, transposeB: true,
                     beta: 0, c: ct.pointer, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0, st: Float = 0
                for p in 0..<k {
                    s += a.pointer[i * k + p] * b.pointer[p * n + j]
                    st += a.pointer[i * k + p] * bt.pointer[j * k + p]
                }
                XCTAssertEqual(c.pointer[i * n + j], s, accuracy: 1e-5)
                XCTAssertEqual(ct.pointer[i * n + j], st, accuracy: 1e-5)
            }
        }
    }

    /// im2col + gemm + bias + ReLU equals a direct stride-2, padding-1 3×3 convolution, on odd and even sizes.
    func testIm2colConvolutionEqualsDirectConvolution() {
        var rng = SplitMix64(seed: 3)
        for (h, w) in [(7, 5), (8, 8), (3, 4)] {
            let cin = 2, cout = 3
            let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
            let input = FloatBuffer(randomValues(cin * h * w, &rng))
            let weight = FloatBuffer(randomValues(cout * cin * 9, &rng)), bias = FloatBuffer(randomValues(cout, &rng))
            let cols = FloatBuffer(count: cin * 9 * oh * ow), out = FloatBuffer(count: cout * oh * ow)
            let split = FloatBuffer(count: Kernels.im2colScratchCount(height: h, width: w))
            Kernels.im2col3x3(input: input.pointer, channels: cin, height: h, width: w, columns: cols.pointer, scratch: split.pointer)
            Kernels.gemm(m: cout, n: oh * ow, k: cin * 9, a: weight.pointer, lda: cin * 9, b: cols.pointer,
                         ldb: oh * ow, beta: 0, c: out.pointer, ldc: oh * ow)
            Kernels.addRowBiasReLU(out.pointer, rows: cout, cols: oh * ow, bias: bias.pointer)
            for co in 0..<cout {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s = bias.pointer[co]
                        for ci in 0..<cin {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    s += weight.pointer[((co * cin + ci) * 3 + ky) * 3 + kx]
                                        * input.pointer[(ci * h + iy) * w + ix]
                                }
                            }
                        }
                        XCTAssertEqual(out.pointer[(co * oh + oy) * ow + ox], max(s, 0), accuracy: 1e-5,
                                       "\(h)x\(w) c\(co) (\(oy),\(ox))")
                    }
                }
            }
        }
    }

    func testLSTMPointwiseMatchesFormula() {
        let hidden = 3
        let gates: [Float] = [0.5, -1, 2,  1, 0, -2,  0.3, -0.7, 1.5,  -0.2, 0.9, 0]
        let c = FloatBuffer([0.1, -0.4, 2]), h = FloatBuffer(count: hidden)
        let c0 = c.array
        gates.withUnsafeBufferPointer {
            Kernels.lstmPointwise(gates: $0.baseAddress!, hidden: hidden, c: c.pointer, h: h.pointer)
        }
        func sig(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
        for j in 0..<hidden {
            let cNew = sig(gates[hidden + j]) * c0[j] + sig(gates[j]) * tanh(gates[2 * hidden + j])
            XCTAssertEqual(c.pointer[j], cNew, accuracy: 1e-6)
            XCTAssertEqual(h.pointer[j], sig(gates[3 * hidden + j]) * tanh(cNew), accuracy: 1e-6)
        }
    }

    /// The vectorised cell (AVX2 + FMA, its own exp) against libm's, over the range the gates take and far past it
    /// (±100: saturation, no inf or NaN), zeros, tiny values, and a hidden size with a scalar tail (8·k + 5).
    func testVectorisedLSTMPointwiseMatchesTheScalarOne() throws {
        try XCTSkipUnless(Kernels.hasAVX2FMA, "no AVX2 + FMA: lstmPointwise is the scalar one")
        var rng = SplitMix64(seed: 12)
        for hidden in [128, 21, 8, 3] {
            var gates = (0..<(4 * hidden)).map { _ in (rng.nextUnitFloat() * 2 - 1) * 12 }
            for (k, v) in [Float(100), -100, 0, 1e-7, -1e-7, 88.5, -88.5, 30, -30, 1e-30].enumerated() where k < gates.count {
                gates[(k * 7) % gates.count] = v
            }
            let c0 = (0..<hidden).map { _ in (rng.nextUnitFloat() * 2 - 1) * 5 }
            let c1 = FloatBuffer(c0), h1 = FloatBuffer(count: hidden), c2 = FloatBuffer(c0), h2 = FloatBuffer(count: hidden)
            gates.withUnsafeBufferPointer {
                Kernels.lstmPointwise(gates: $0.baseAddress!, hidden: hidden, c: c1.pointer, h: h1.pointer)
                Kernels.lstmPointwiseScalar(gates: $0.baseAddress!, hidden: hidden, c: c2.pointer, h: h2.pointer)
            }
            XCTAssertTrue(c1.array.allSatisfy(\.isFinite) && h1.array.allSatisfy(\.isFinite))
            // Training's form of the cell: the same c and h, and the activations it keeps for backward.
            var trainGates = gates
            let cNext = FloatBuffer(count: hidden), tanhC = FloatBuffer(count: hidden), hNext = FloatBuffer(count: hidden)
            c0.withUnsafeBufferPointer { cp in
                trainGates.withUnsafeMutableBufferPointer {
                    Kernels.lstmCellForTraining(gates: $0.baseAddress!, hidden: hidden, cPrevious: cp.baseAddress!,
                                                cNext: cNext.pointer, tanhC: tanhC.pointer, hNext: hNext.pointer)
                }
            }
            XCTAssertEqual(cNext.array, c1.array, "hidden \(hidden): training's c")
            XCTAssertEqual(hNext.array, h1.array, "hidden \(hidden): training's h")
            for j in 0..<hidden {
                XCTAssertEqual(tanhC.pointer[j], tanh(c2.pointer[j]), accuracy: 3e-7)
                XCTAssertEqual(trainGates[j], Kernels.sigmoid(gates[j]), accuracy: 3e-7)
                XCTAssertEqual(trainGates[2 * hidden + j], tanh(gates[2 * hidden + j]), accuracy: 3e-7)
            }
            XCTAssertLessThan(maxAbsDiff(c1.array, c2.array), 1e-6, "hidden \(hidden): c")
            XCTAssertLessThan(maxAbsDiff(h1.array, h2.array), 3e-7, "hidden \(hidden): h")
        }
    }

    func testReLUMaskKeepsTheGradientWhereTheOutputIsPositive() {
        var rng = SplitMix64(seed: 14)
        for n in [1, 5, 8, 37] {
            var output = randomValues(n, &rng)
            if n > 3 { output[0] = 0; output[1] = .nan; output[2] = -0.0; output[3] = .leastNonzeroMagnitude }
            let d = randomValues(n, &rng), dst = FloatBuffer([Float](repeating: 9, count: max(n, 1)))
            output.withUnsafeBufferPointer { o in d.withUnsafeBufferPointer { dp in
                Kernels.reluMask(output: o.baseAddress!, dOutput: dp.baseAddress!, into: dst.pointer, count: n)
            } }
            for i in 0..<n { XCTAssertEqual(dst.pointer[i], output[i] > 0 ? d[i] : 0, "n \(n) i \(i)") }
        }
    }

    func testSigmoidAndOutputSize() {
        XCTAssertEqual(Kernels.sigmoid(0), 0.5)
        XCTAssertEqual(Kernels.sigmoid(100), 1, accuracy: 1e-7)
        XCTAssertEqual(Kernels.sigmoid(-100), 0, accuracy: 1e-7)
        XCTAssertEqual(Kernels.convOutputSize(64, stride: 2), 32)
        XCTAssertEqual(Kernels.convOutputSize(5, stride: 2), 3)
    }
}

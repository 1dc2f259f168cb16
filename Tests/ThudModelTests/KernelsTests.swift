// Each kernel against a naive loop written the obvious way.
import XCTest
@testable import ThudModel

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
            Kernels.im2col3x3(input: input.pointer, channels: cin, height: h, width: w, stride: 2, columns: cols.pointer)
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

    func testSigmoidAndOutputSize() {
        XCTAssertEqual(Kernels.sigmoid(0), 0.5)
        XCTAssertEqual(Kernels.sigmoid(100), 1, accuracy: 1e-7)
        XCTAssertEqual(Kernels.sigmoid(-100), 0, accuracy: 1e-7)
        XCTAssertEqual(Kernels.convOutputSize(64, stride: 2), 32)
        XCTAssertEqual(Kernels.convOutputSize(5, stride: 2), 3)
        XCTAssertEqual(ModelArchitecture.default.featureCount, 512)
    }
}

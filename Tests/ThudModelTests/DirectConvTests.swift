// The direct convolution (CKernels' AVX2 kernel behind Kernels.conv3x3s2ReLUDirect) against the obvious loop, and
// ConvEncoder's direct path against its im2col + sgemm path, on odd sizes and channel counts that are not multiples
// of 8. Skipped on a CPU without AVX2 + FMA (the direct path is then never taken).
import XCTest
@testable import ThudModel
import ThudBase

final class DirectConvTests: XCTestCase {
    private func randomValues(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    private func requireAVX2() throws {
        try XCTSkipUnless(Kernels.hasAVX2FMA, "this CPU has no AVX2 + FMA: ConvEncoder keeps im2col + sgemm")
    }

    /// ReLU(conv + bias) written the obvious way, CHW in, CHW out.
    private func naiveConv(_ input: [Float], cin: Int, h: Int, w: Int, weight: [Float], bias: [Float], cout: Int) -> [Float] {
        let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
        var out = [Float](repeating: 0, count: cout * oh * ow)
        for co in 0..<cout { for oy in 0..<oh { for ox in 0..<ow {
            var s = bias[co]
            for ci in 0..<cin { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                s += weight[((co * cin + ci) * 3 + ky) * 3 + kx] * input[(ci * h + iy) * w + ix]
            } } }
            out[(co * oh + oy) * ow + ox] = max(s, 0)
        } } }
        return out
    }

    func testDirectConvolutionEqualsTheObviousLoopOnOddSizesAndChannelCounts() throws {
        try requireAVX2()
        var rng = SplitMix64(seed: 11)
        // Odd and even sizes, rows that are not a multiple of the 6- or 12-pixel blocks (tails of 3 and 1), the
        // channel counts the kernel specialises (3, 8, 16, 32) and ones it does not (5, 7), one and two vectors of
        // output channels.
        let cases: [(h: Int, w: Int, cin: Int, cout: Int)] = [
            (7, 5, 3, 8), (96, 96, 3, 8), (13, 27, 5, 16), (9, 31, 8, 24), (24, 24, 16, 32), (6, 6, 32, 32),
            (3, 3, 7, 40), (1, 1, 2, 8), (2, 50, 32, 16), (11, 17, 16, 8), (40, 40, 8, 48), (31, 61, 3, 64),
        ]
        for (h, w, cin, cout) in cases {
            let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
            let input = randomValues(cin * h * w, &rng), weight = randomValues(cout * cin * 9, &rng)
            let bias = randomValues(cout, &rng)
            let expected = naiveConv(input, cin: cin, h: h, w: w, weight: weight, bias: bias, cout: cout)

            let planes = FloatBuffer(input), padded = FloatBuffer(count: Kernels.paddedHWCCount(channels: cin, height: h, width: w))
            Kernels.chwToPaddedHWC(planes.pointer, channels: cin, height: h, width: w, into: padded.pointer)
            let packed = FloatBuffer(count: 9 * cin * cout), b = FloatBuffer(bias)
            weight.withUnsafeBufferPointer {
                Kernels.packConvWeight($0.baseAddress!, outChannels: cout, inChannels: cin, packedOut: cout, packedIn: cin,
                                       into: packed.pointer)
            }
            // Both kernels: AVX2, and AVX-512 where the CPU has it (it takes multiples of 16 output channels).
            for avx512 in [false, true] where !avx512 || Kernels.hasAVX512F {
                // Into the interior of a padded buffer whose border holds a sentinel: the kernel must write the interior only.
                let outPadded = FloatBuffer([Float](repeating: -7, count: Kernels.paddedHWCCount(channels: cout, height: oh, width: ow)))
                let rowStride = (ow + 2) * cout
                Kernels.conv3x3s2ReLUDirect(input: padded.pointer, inChannels: cin, height: h, width: w,
                                            packedWeight: packed.pointer, bias: b.pointer, outChannels: cout,
                                            output: outPadded.pointer + rowStride + cout, outputRowStride: rowStride, avx512: avx512)
                var worst: Float = 0
                for py in 0..<(oh + 2) { for px in 0..<(ow + 2) { for co in 0..<cout {
                    let v = outPadded.pointer[py * rowStride + px * cout + co]
                    if py == 0 || px == 0 || py == oh + 1 || px == ow + 1 {
                        XCTAssertEqual(v, -7, "\(h)x\(w) cin \(cin) cout \(cout) avx512 \(avx512): border (\(py), \(px)) written")
                    } else {
                        worst = max(worst, abs(v - expected[(co * oh + py - 1) * ow + px - 1]))
                    }
                } } }
                XCTAssertLessThan(worst, 1e-5, "\(h)x\(w) cin \(cin) cout \(cout) avx512 \(avx512)")

                // And as a plain HWC block, turned back into CHW.
                let plain = FloatBuffer(count: oh * ow * cout), chw = FloatBuffer(count: oh * ow * cout)
                Kernels.conv3x3s2ReLUDirect(input: padded.pointer, inChannels: cin, height: h, width: w,
                                            packedWeight: packed.pointer, bias: b.pointer, outChannels: cout,
                                            output: plain.pointer, outputRowStride: ow * cout, avx512: avx512)
                Kernels.hwcToCHW(plain.pointer, channels: cout, height: oh, width: ow, pixelStride: cout, into: chw.pointer)
                XCTAssertLessThan(maxAbsDiff(chw.array, expected), 1e-5, "\(h)x\(w) cin \(cin) cout \(cout) avx512 \(avx512): plain HWC")
            }
        }
    }

    /// The fused input (gray8 frames → padded HWC) holds encoderInputPlanes' floats to the bit, border untouched, for
    /// 2 and 3 planes and widths with a scalar tail, with x/255 and with per-frame normalisation.
    func testEncoderInputPaddedHWCHoldsEncoderInputPlanesBitForBit() throws {
        try requireAVX2()
        for (w, h) in [(96, 96), (37, 5), (3, 4), (17, 9)] {
            let n = w * h
            let frames = syntheticFrames(width: w, height: h, count: 3, seed: 21)
            for withPrevious in [false, true] { for perFrame in [false, true] {
                let planes = withPrevious ? 3 : 2, gain: Float = 3.7
                let chw = FloatBuffer(count: planes * n)
                let padded = FloatBuffer([Float](repeating: -9, count: Kernels.paddedHWCCount(channels: planes, height: h, width: w)))
                frames.withUnsafeBufferPointer { fp in
                    let c = fp.baseAddress! + 2 * n, p = fp.baseAddress! + n, b = fp.baseAddress!
                    Kernels.encoderInputPlanes(current: c, previous: p, beforePrevious: b, count: n, differenceGain: gain,
                                               withPreviousDifference: withPrevious, perFrame: perFrame, into: chw.pointer)
                    Kernels.encoderInputPaddedHWC(current: c, previous: p, beforePrevious: b, height: h, width: w,
                                                  differenceGain: gain, withPreviousDifference: withPrevious,
                                                  perFrame: perFrame, into: padded.pointer)
                }
                let rowStride = (w + 2) * planes
                for py in 0..<(h + 2) { for px in 0..<(w + 2) { for c in 0..<planes {
                    let v = padded.pointer[py * rowStride + px * planes + c]
                    if py == 0 || px == 0 || py == h + 1 || px == w + 1 {
                        XCTAssertEqual(v, -9, "\(w)x\(h): border written")
                    } else {
                        XCTAssertEqual(v.bitPattern, chw.pointer[(c * h + py - 1) * w + px - 1].bitPattern,
                                       "\(w)x\(h) planes \(planes) perFrame \(perFrame): (\(py - 1), \(px - 1)) channel \(c)")
                    }
                } } }
            } }
        }
    }

    /// Per-frame normalisation: the frame plane has mean 0 and standard deviation √(var/(var + 4²)) (1 but for the
    /// floor), each difference plane mean 0; an exposure and contrast change (x → a·x + b, no clipping) of all three
    /// frames leaves every plane as it was but for the floor's share; a flat frame gives zeros, not noise.
    func testPerFrameNormalisationStandardisesEachStepAndIgnoresExposureAndContrast() {
        let w = 40, h = 30, n = w * h, gain: Float = 8
        let frames = syntheticFrames(width: w, height: h, count: 3, seed: 9)   // values 30…69 and a 220 square
        func planes(_ f: [UInt8]) -> [Float] {
            let out = FloatBuffer(count: 3 * n)
            f.withUnsafeBufferPointer { fp in
                Kernels.encoderInputPlanes(current: fp.baseAddress! + 2 * n, previous: fp.baseAddress! + n,
                                           beforePrevious: fp.baseAddress!, count: n, differenceGain: gain,
                                           withPreviousDifference: true, perFrame: true, into: out.pointer)
            }
            return out.array
        }
        let base = planes(frames)
        let frame = Array(base[0..<n]), difference = Array(base[n..<(2 * n)]), previous = Array(base[(2 * n)...])
        func mean(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) } / Double(v.count) }
        func std(_ v: [Float]) -> Double { let m = mean(v); return (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot() }
        XCTAssertEqual(mean(frame), 0, accuracy: 1e-5)
        XCTAssertEqual(mean(difference), 0, accuracy: 1e-5)
        XCTAssertEqual(mean(previous), 0, accuracy: 1e-5)
        let current = frames[(2 * n)...].map { Double($0) }
        let m = current.reduce(0, +) / Double(n)
        let variance = current.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n)
        XCTAssertEqual(std(frame), (variance / (variance + 16)).squareRoot(), accuracy: 1e-5)
        XCTAssertGreaterThan(difference.map(abs).max()!, 1, "the square moved: the difference plane must show it")
        // Half the contrast and a brighter exposure: x → x/2 + 60 (even values: the halves are exact).
        let even = frames.map { $0 & ~1 }, changed = even.map { $0 / 2 + 60 }
        let a = planes(even), b = planes(changed)
        // Only the floor of 4 levels under s differs (about 3 % of s at the halved contrast, under 1 % at the full one).
        let scale = a.map(abs).max()!
        XCTAssertLessThan(maxAbsDiff(a, b) / scale, 0.05, "exposure and contrast must not change the planes")
        XCTAssertLessThan(maxAbsDiff(planes(even.map { $0 + 20 }), a), 1e-5, "a brightness shift changes nothing")
        // A flat frame after a flat frame: all zero.
        XCTAssertEqual(Set(planes([UInt8](repeating: 77, count: 3 * n))), [0])
    }

    /// HWC → CHW (8×8 register transposes with AVX2) against the obvious loop: channel counts below, at and past a
    /// multiple of 8, pixels stored wider than the channels, rows wider than the pixels, widths with a tail.
    func testHWCToCHWMatchesTheObviousLoop() {
        var rng = SplitMix64(seed: 13)
        for (channels, pixelStride, height, width, rowPad) in [(13, 16, 5, 11, 3), (8, 8, 3, 8, 0), (5, 8, 4, 17, 8),
                                                              (32, 32, 6, 6, 64), (1, 1, 2, 9, 0), (40, 48, 3, 24, 5)] {
            let rowStride = width * pixelStride + rowPad
            let hwc = FloatBuffer(randomValues(height * rowStride, &rng)), chw = FloatBuffer(count: channels * height * width)
            Kernels.hwcToCHW(hwc.pointer, channels: channels, height: height, width: width, pixelStride: pixelStride,
                             rowStride: rowStride, into: chw.pointer)
            for c in 0..<channels { for y in 0..<height { for x in 0..<width {
                XCTAssertEqual(chw.pointer[(c * height + y) * width + x], hwc.pointer[y * rowStride + x * pixelStride + c],
                               "\(channels) channels, \(width)x\(height): (\(y), \(x)) channel \(c)")
            } } }
        }
    }

    func testPackedWeightsPadTheStoredChannelsWithZeros() {
        let cout = 3, cin = 2, packedOut = 8, packedIn = 5
        let weight = (0..<(cout * cin * 9)).map { Float($0 + 1) }
        let packed = FloatBuffer([Float](repeating: 99, count: 9 * packedIn * packedOut))
        weight.withUnsafeBufferPointer {
            Kernels.packConvWeight($0.baseAddress!, outChannels: cout, inChannels: cin, packedOut: packedOut,
                                   packedIn: packedIn, into: packed.pointer)
        }
        for k in 0..<9 { for ci in 0..<packedIn { for co in 0..<packedOut {
            let v = packed.pointer[(k * packedIn + ci) * packedOut + co]
            XCTAssertEqual(v, ci < cin && co < cout ? weight[(co * cin + ci) * 9 + k] : 0, "k \(k) ci \(ci) co \(co)")
        } } }
    }

    /// The whole encoder both ways, with random weights: the bundled model's shape (96×96, 3 planes, 8-16-32-32-32),
    /// one whose channels are not multiples of 8 (stored rounded up) and an odd frame size.
    func testConvEncoderDirectPathEqualsIm2colPath() throws {
        try requireAVX2()
        let architectures = [
            ModelArchitecture(input: InputSpec(width: 96, height: 96),
                              encoder: .conv(channels: [8, 16, 32, 32, 32], previousDifferencePlane: true),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [8]),
            ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .conv(channels: [4, 8, 12, 8]),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [8]),
            ModelArchitecture(input: InputSpec(width: 37, height: 23), encoder: .conv(channels: [8, 5, 16]),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [8]),
            ModelArchitecture(input: InputSpec(width: 37, height: 23, normalisation: InputSpec.perFrame),
                              encoder: .conv(channels: [8, 5, 16], differenceGain: 8, previousDifferencePlane: true),
                              lstmHidden: 16, lstmLayers: 2, headHidden: [8]),
        ]
        for a in architectures {
            let file = ModelFile.random(architecture: a, seed: 5,
                                        training: TrainingProvenance(command: "test", data: "none"))
            var byName: [String: NamedTensor] = [:]
            for t in file.tensors { byName[t.name] = t }
            let direct = ConvEncoder(architecture: a, parameters: byName)
            let im2col = ConvEncoder(architecture: a, parameters: byName, direct: false)
            XCTAssertTrue(direct.usesDirectKernels)
            XCTAssertFalse(im2col.usesDirectKernels)
            let n = a.input.width * a.input.height
            let frames = syntheticFrames(width: a.input.width, height: a.input.height, count: 3, seed: 4)
            let f1 = FloatBuffer(count: direct.featureCount), f2 = FloatBuffer(count: direct.featureCount)
            frames.withUnsafeBufferPointer { fp in
                let cur = UnsafeBufferPointer(rebasing: fp[(2 * n)..<(3 * n)])
                let prev = UnsafeBufferPointer(rebasing: fp[n..<(2 * n)]), before = UnsafeBufferPointer(rebasing: fp[0..<n])
                for _ in 0..<2 {   // twice: the padded buffers' borders must still be zero on the second step
                    direct.encode(current: cur, previous: prev, beforePrevious: before, into: f1.pointer)
                    im2col.encode(current: cur, previous: prev, beforePrevious: before, into: f2.pointer)
                }
            }
            let scale = f2.array.map(abs).max() ?? 0
            XCTAssertGreaterThan(scale, 0, "\(a.encoder.convChannels!): features all zero, the check would prove nothing")
            XCTAssertLessThan(maxAbsDiff(f1.array, f2.array), 1e-5, "\(a.encoder.convChannels!) on \(a.input.width)x\(a.input.height)")
        }
    }
}

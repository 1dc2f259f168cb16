// Kernels: the only place in ThudModel that touches raw pointers for arithmetic. Each function is small,
// allocation-free and checked against a naive loop in KernelsTests, so the layers above can stay readable.
import CKernels
import COpenBLAS
import Foundation

/// A fixed-size, 64-byte-aligned Float buffer owned by a model object. Allocated once at load (so the per-frame
/// path never touches the heap) and freed in `deinit`; `pointer` is handed to the kernels below.
public final class FloatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        // Aligned so OpenBLAS's vector loads never straddle cache lines; at least one element so pointer is valid.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy as an Array (tests and the batch path only; allocates).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// HalfBuffer: FloatBuffer's twin for weights kept in IEEE half precision (a float16 model's LSTM), as bit patterns.
public final class HalfBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<UInt16>

    /// `values` rounded to the nearest half (they are already halves when read from a float16 file).
    public init(_ values: [Float]) {
        count = values.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 2, alignment: 64)
        pointer = raw.bindMemory(to: UInt16.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        for (i, v) in values.enumerated() { pointer[i] = Float16(v).bitPattern }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

public enum Kernels {
    /// Pins OpenBLAS to one thread. The per-frame matrices are small: waking a thread pool costs more than it saves,
    /// and the other cores belong to decode and audio.
    public static func pinBLASToOneThread() {
        if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
    }

    /// y = A·x + beta·y with A row-major [rows × cols] and leading dimension `lda` (≥ cols).
    @inline(__always)
    public static func gemv(rows: Int, cols: Int, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(cols), 1, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// y += A·x with A [rows × cols] of half-precision weights (contiguous rows), converted on the fly, float32
    /// products and sums (CKernels with F16C; a plain loop otherwise).
    public static func gemvHalf(rows: Int, cols: Int, a: UnsafePointer<UInt16>, x: UnsafePointer<Float>,
                                y: UnsafeMutablePointer<Float>) {
        if hasF16C {
            ck_gemv_f16_avx2(Int32(rows), Int32(cols), a, x, y)
            return
        }
        for r in 0..<rows {
            var sum: Float = 0
            for j in 0..<cols { sum += Float(Float16(bitPattern: a[r * cols + j])) * x[j] }
            y[r] += sum
        }
    }

    /// C[m × n] = A[m × k] · B[k × n] + beta·C, all row-major and contiguous unless lda/ldb/ldc say otherwise.
    /// `transposeB` reads B as [n × k] (a PyTorch Linear weight) instead.
    @inline(__always)
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        gemm(transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// C[m × n] = alpha · op(A) · op(B) + beta · C, row-major; op transposes when asked; A and B as stored. Every
    /// sgemm of ThudModel and ThudTrain goes through here.
    ///
    /// It never hands OpenBLAS a product that makes it allocate. OpenBLAS's small-matrix kernel for AVX-512 CPUs
    /// (sgemm_small_kernel_nn_skylakex.c, which 0.3.21 also runs on the AMD EPYC of our build machine as
    /// "Cooperlake"; cblas_sgemm takes it for an untransposed row-major product with m·n·k ≤ 100³) mallocs a
    /// scratch buffer on every call when n % 16 is 1…8 and k ≥ 32, to take the last few columns as dot products.
    /// The bundled model's fourth conv layer (6×6 = 36 output positions, k = 288) met that on every frame: one heap
    /// allocation per step on the streaming path. Such a product is split instead: the first n − n % 16 columns in
    /// one sgemm, the rest one sgemv each (columns of C depend only on the same column of B).
    @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let tail = allocatingTailColumns(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k)
        let head = n - tail
        if head > 0 {
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(head), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        // Only untransposed products get here: column j of C is A · (column j of B), strided by ldb and ldc.
        for j in head..<n {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda), b + j, Int32(ldb),
                        beta, c + j, Int32(ldc))
        }
    }

    /// How many trailing columns of this product gemm computes by sgemv rather than let OpenBLAS's small-matrix
    /// kernel allocate for them (see gemm): n % 16 when that is 1…8 for an untransposed product with k ≥ 32 and
    /// m·n·k ≤ 100³, else 0. (The limit is OpenBLAS's own, sgemm_small_kernel_permit_skylakex.c; on CPUs without the
    /// kernel the split costs a few sgemv calls and changes nothing else.)
    public static func allocatingTailColumns(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int) -> Int {
        guard !transposeA, !transposeB, k >= 32, Double(m) * Double(n) * Double(k) <= 1_000_000 else { return 0 }
        let remainder = n % 16
        return (1...8).contains(remainder) ? remainder : 0
    }

    /// Output size of a 3×3 convolution with padding 1 along one axis.
    @inline(__always)
    public static func convOutputSize(_ input: Int, stride: Int) -> Int { (input - 1) / stride + 1 }

    /// im2col for a 3×3 kernel, stride 2, padding 1 (the only convolution the encoder has): input CHW
    /// [channels × height × width] → columns [(channels·9) × (outH·outW)], row index c·9 + ky·3 + kx, which is
    /// PyTorch's [Cout, Cin, 3, 3] weight order, so the convolution becomes one sgemm with the weight as stored.
    /// Built from each input row split into its even and odd columns: with stride 2, kernel column kx = 1 reads the even
    /// columns and kx = 0, 2 the odd ones (shifted by one), so every im2col row becomes contiguous copies instead of
    /// a strided gather with a bounds check per element (which was the largest single cost of an epoch).
    /// `scratch` holds im2colScratchCount(height:width:) floats.
    /// `rowStride` (default outH·outW) places the frame's columns inside a wider matrix holding several frames side by
    /// side (training's forwardChunk).
    public static func im2col3x3(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                          columns: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                          rowStride: Int? = nil) {
        let outH = convOutputSize(height, stride: 2), outW = convOutputSize(width, stride: 2)
        let stride = rowStride ?? outH * outW
        let even = scratch, odd = scratch + height * outW
        let oddCount = width / 2
        var row = columns
        for c in 0..<channels {
            let plane = input + c * height * width
            for y in 0..<height {
                let src = plane + y * width, e = even + y * outW, o = odd + y * outW
                for j in 0..<outW { e[j] = src[2 * j] }
                for j in 0..<oddCount { o[j] = src[2 * j + 1] }
                // Odd width: the last odd slot is the right padding.
                if oddCount < outW { o[outW - 1] = 0 }
            }
            for ky in 0..<3 {
                for kx in 0..<3 {
                    var dst = row
                    for oy in 0..<outH {
                        let iy = oy * 2 - 1 + ky
                        if iy < 0 || iy >= height {
                            dst.update(repeating: 0, count: outW)
                        } else if kx == 1 {
                            dst.update(from: even + iy * outW, count: outW)
                        } else if kx == 2 {
                            dst.update(from: odd + iy * outW, count: outW)
                        } else {
                            // kx = 0 reads column 2·ox − 1: left padding, then the odd columns shifted by one.
                            dst[0] = 0
                            (dst + 1).update(from: odd + iy * outW, count: outW - 1)
                        }
                        dst += outW
                    }
                    row += stride
                }
            }
        }
    }

    /// Floats of scratch im2col3x3 (and training's col2im) needs: one plane split into even and odd columns.
    public static func im2colScratchCount(height: Int, width: Int) -> Int {
        2 * height * convOutputSize(width, stride: 2)
    }

    /// The conv encoder's input planes from gray8 frames of `count` pixels: [x/255, (x − previous)/255 × gain] and,
    /// when `planes` has room for three (withPreviousDifference), (previous − beforePrevious)/255 × gain. One place
    /// for streaming (ConvEncoder) and training (TrainingWorker), so both see the same floats bit for bit.
    /// With `perFrame` (InputSpec.perFrame) the planes are standardised by the step's own statistics instead
    /// (perFrameStatistics, perFramePlanes).
    @inline(__always)
    public static func encoderInputPlanes(current: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>,
                                          beforePrevious: UnsafePointer<UInt8>, count n: Int, differenceGain gain: Float,
                                          withPreviousDifference: Bool, perFrame: Bool = false,
                                          into planes: UnsafeMutablePointer<Float>) {
        if perFrame {
            let stats = perFrameStatistics(current: current, previous: previous, beforePrevious: beforePrevious,
                                           count: n, withPreviousDifference: withPreviousDifference)
            let frame = planes, diff = planes + n, previousDiff = planes + 2 * n
            for i in 0..<n {
                let v = perFramePlanes(current[i], previous[i], beforePrevious[i], stats, gain: gain)
                frame[i] = v.frame
                diff[i] = v.difference
                if withPreviousDifference { previousDiff[i] = v.previousDifference }
            }
            return
        }
        let frame = planes, diff = planes + n
        let scale: Float = 1.0 / 255.0
        for i in 0..<n {
            let x = Float(current[i]) * scale
            frame[i] = x
            diff[i] = (x - Float(previous[i]) * scale) * gain
        }
        guard withPreviousDifference else { return }
        let previousDiff = diff + n
        for i in 0..<n { previousDiff[i] = (Float(previous[i]) * scale - Float(beforePrevious[i]) * scale) * gain }
    }

    /// What per-frame normalisation (InputSpec.perFrame) standardises one step's planes with: the means of the frame
    /// and of its differences and the frame's inverse scale 1/√(var + floor²), all in gray levels, from exact integer
    /// sums over the step's frames (so every path that computes them gets the same floats).
    public struct PerFrameStatistics: Equatable {
        public var frameMean: Float
        public var differenceMean: Float
        public var previousDifferenceMean: Float
        public var inverseScale: Float
        /// The floor under the frame's standard deviation, in gray levels: a flat frame is not blown up into noise.
        public static let floorLevels = 4.0
    }

    /// PerFrameStatistics of one step (the previous difference's mean only when `withPreviousDifference`, else 0).
    public static func perFrameStatistics(current: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>,
                                          beforePrevious: UnsafePointer<UInt8>, count n: Int,
                                          withPreviousDifference: Bool) -> PerFrameStatistics {
        var sum = 0, squares = 0, difference = 0, previousDifference = 0
        for i in 0..<n {
            let c = Int(current[i]), p = Int(previous[i])
            sum += c; squares += c * c; difference += c - p
        }
        if withPreviousDifference {
            for i in 0..<n { previousDifference += Int(previous[i]) - Int(beforePrevious[i]) }
        }
        let count = Double(max(n, 1)), mean = Double(sum) / count
        let variance = max(0, Double(squares) / count - mean * mean)
        let floor = PerFrameStatistics.floorLevels
        return PerFrameStatistics(frameMean: Float(mean), differenceMean: Float(Double(difference) / count),
                                  previousDifferenceMean: Float(Double(previousDifference) / count),
                                  inverseScale: Float(1 / (variance + floor * floor).squareRoot()))
    }

    /// One pixel's per-frame planes: (x − mean)/s, (d − mean d)/s × gain, (d' − mean d')/s × gain, with d = x −
    /// previous and d' = previous − beforePrevious in gray levels. The one expression of every path (CHW planes,
    /// padded HWC), so they agree to the bit.
    @inline(__always)
    public static func perFramePlanes(_ current: UInt8, _ previous: UInt8, _ beforePrevious: UInt8,
                                      _ s: PerFrameStatistics, gain: Float)
        -> (frame: Float, difference: Float, previousDifference: Float) {
        let c = Int(current), p = Int(previous), b = Int(beforePrevious)
        return ((Float(c) - s.frameMean) * s.inverseScale,
                (Float(c - p) - s.differenceMean) * s.inverseScale * gain,
                (Float(p - b) - s.previousDifferenceMean) * s.inverseScale * gain)
    }

    // MARK: Direct convolution (CKernels, AVX2 + FMA)

    /// Whether this CPU runs CKernels' AVX2 + FMA kernels (cpuid and the OS's saved state, asked once). Without them
    /// ConvEncoder keeps im2col3x3 + sgemm.
    public static let hasAVX2FMA: Bool = ck_has_avx2_fma() != 0
    /// Whether it also runs the AVX-512F variant of the direct convolution (layers with a multiple of 16 output
    /// channels take it).
    /// Whether half-precision weights are converted by the CPU (F16C, with AVX2 + FMA): gemvHalf's fast path.
    public static let hasF16C: Bool = ck_has_f16c() != 0
    public static let hasAVX512F: Bool = hasAVX2FMA && ck_has_avx512f() != 0

    /// Floats of a zero-padded channels-last ("HWC") activation of height × width × channels: (height + 2) rows of
    /// (width + 2) pixels. Pixel (y, x) is at ((y + 1)·(width + 2) + x + 1)·channels.
    public static func paddedHWCCount(channels: Int, height: Int, width: Int) -> Int {
        (height + 2) * (width + 2) * channels
    }

    /// Channels a direct-convolution layer stores per pixel for `channels` output channels: the next multiple of 8
    /// (the kernel computes 8 at a time; the extra ones have zero weights and bias, so they hold ReLU(0) = 0).
    public static func directStoredChannels(_ channels: Int) -> Int { (channels + 7) / 8 * 8 }

    /// PyTorch's conv weight [Cout][Cin][3][3] → [ky][kx][packedIn][packedOut], the order conv3x3s2ReLUDirect reads,
    /// with zeros for the stored channels beyond Cin and Cout. `packed` holds 9·packedIn·packedOut floats.
    public static func packConvWeight(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                      packedOut: Int, packedIn: Int, into packed: UnsafeMutablePointer<Float>) {
        precondition(packedOut >= outChannels && packedIn >= inChannels)
        packed.update(repeating: 0, count: 9 * packedIn * packedOut)
        ck_pack_conv_weight(weight, Int32(outChannels), Int32(inChannels), Int32(packedOut), Int32(packedIn), packed)
    }

    /// ReLU(3×3 conv, stride 2, padding 1, + bias) computed directly — no im2col — on channels-last activations, with
    /// the bias and ReLU in the same pass (CKernels' ck_conv3x3s2_hwc_relu_avx2: 12 accumulators of 8 output
    /// channels × 6 or 12 pixels in registers). `input` is a zero-padded HWC buffer (paddedHWCCount) of the layer's
    /// input; the output pixel (oy, ox) is written at output[oy·outputRowStride + ox·outChannels] — the interior
    /// of the next layer's padded buffer, or a plain HWC block. `outChannels` must be a multiple of 8 and
    /// hasAVX2FMA true. With `avx512` (default: where the CPU has it) a multiple of 16 output channels takes the
    /// 16-lane variant (24 accumulators of 16 or 32 channels × 24 or 12 pixels).
    @inline(__always)
    public static func conv3x3s2ReLUDirect(input: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int,
                                           packedWeight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                           outChannels: Int, output: UnsafeMutablePointer<Float>,
                                           outputRowStride: Int, avx512: Bool = hasAVX512F) {
        precondition(hasAVX2FMA && outChannels % 8 == 0)
        let oh = Int32(convOutputSize(height, stride: 2)), ow = Int32(convOutputSize(width, stride: 2))
        if avx512 && hasAVX512F && outChannels % 16 == 0 {
            ck_conv3x3s2_hwc_relu_avx512(input, Int32(inChannels), Int32((width + 2) * inChannels), packedWeight, bias,
                                         Int32(outChannels), oh, ow, output, Int32(outputRowStride))
        } else {
            ck_conv3x3s2_hwc_relu_avx2(input, Int32(inChannels), Int32((width + 2) * inChannels), packedWeight, bias,
                                       Int32(outChannels), oh, ow, output, Int32(outputRowStride))
        }
    }

    /// PyTorch's conv weight [Cout][Cin][3][3] → [ky][kx][Cout][packedIn], the order conv3x3s2BackwardInputDirect
    /// reads, zeros for the stored input channels past Cin. `packed` holds 9·Cout·packedIn floats.
    public static func packConvWeightTransposed(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                packedIn: Int, into packed: UnsafeMutablePointer<Float>) {
        precondition(packedIn >= inChannels)
        packed.update(repeating: 0, count: 9 * outChannels * packedIn)
        ck_pack_conv_weight_transposed(weight, Int32(outChannels), Int32(inChannels), Int32(packedIn), packed)
    }

    /// The input gradient of a 3×3 stride-2 conv (padding 1) directly, without Wᵀ·dY and col2im: adds
    /// Σ_co W[co][ci][ky][kx] · dOutput(co, oy, ox) into dInput at input pixel (2·oy − 1 + ky, 2·ox − 1 + kx) for every
    /// output pixel and tap. dOutput(co, oy, ox) = dOutput[co·dOutputChannelStride + (oy·outW + ox)·dOutputPixelStride]
    /// (already masked by the ReLU): CHW planes (pixel stride 1) or channels-last (channel stride 1). `packedWeightT`
    /// from packConvWeightTransposed with packedIn = `storedInChannels` (a multiple of 8). `dInputPadded`: a zeroed
    /// padded HWC buffer (paddedHWCCount(storedInChannels, height, width)): its interior receives the gradient, its
    /// border the padding taps' terms (ignore them). Needs hasAVX2FMA.
    public static func conv3x3s2BackwardInputDirect(dOutput: UnsafePointer<Float>, outChannels: Int,
                                                    dOutputChannelStride: Int, dOutputPixelStride: Int = 1,
                                                    height: Int, width: Int,
                                                    packedWeightT: UnsafePointer<Float>, storedInChannels: Int,
                                                    dInputPadded: UnsafeMutablePointer<Float>) {
        precondition(hasAVX2FMA && storedInChannels % 8 == 0)
        ck_conv3x3s2_backward_input_avx2(dOutput, Int32(outChannels), Int32(dOutputChannelStride),
                                         Int32(dOutputPixelStride), Int32(convOutputSize(height, stride: 2)),
                                         Int32(convOutputSize(width, stride: 2)), packedWeightT,
                                         Int32(storedInChannels), dInputPadded, Int32((width + 2) * storedInChannels))
    }

    /// The weight gradient of a 3×3 stride-2 conv (padding 1) over `count` frames, channels-last, without im2col and
    /// sgemm: dWeight[co][ci][ky][kx] += Σ over frames and output pixels of dOutput[frame][oy][ox][co] · input[frame]
    /// [2·oy − 1 + ky][2·ox − 1 + kx][ci]. inputs[j]: frame j's zero-padded HWC input (paddedHWCCount(
    /// inPixelStride, height, width) floats, as the forward kernel reads it); `dOutput`: the frames' gradients one
    /// after another, each outH·outW pixels of `dOutputPixelStride` floats (a multiple of 8, ReLU mask applied);
    /// `dWeight` PyTorch's [Cout][Cin][3][3]. With `avx512` (default: where the CPU has it) a stride in sixteens takes
    /// the AVX-512 variant, the same sums to the bit. Needs hasAVX2FMA.
    public static func conv3x3s2WeightGradientHWC(inputs: UnsafePointer<UnsafePointer<Float>>, count: Int,
                                                  inChannels: Int, inPixelStride: Int, height: Int, width: Int,
                                                  dOutput: UnsafePointer<Float>, outChannels: Int,
                                                  dOutputPixelStride: Int, dWeight: UnsafeMutablePointer<Float>,
                                                  avx512: Bool = hasAVX512F) {
        precondition(hasAVX2FMA && dOutputPixelStride % 8 == 0 && dOutputPixelStride >= outChannels
                     && inPixelStride >= inChannels)
        // The C side takes `const float *const *`: the pointers' memory as Optional pointers (same layout).
        let kernel = avx512 && hasAVX512F && dOutputPixelStride % 16 == 0
            ? ck_conv3x3s2_weight_grad_hwc_avx512 : ck_conv3x3s2_weight_grad_hwc_avx2
        inputs.withMemoryRebound(to: Optional<UnsafePointer<Float>>.self, capacity: count) { pointers in
            kernel(pointers, Int32(count), Int32(inChannels), Int32(inPixelStride), Int32((width + 2) * inPixelStride),
                   dOutput, Int32(outChannels), Int32(dOutputPixelStride), Int32(convOutputSize(height, stride: 2)),
                   Int32(convOutputSize(width, stride: 2)), dWeight)
        }
    }

    /// encoderInputPlanes straight into the interior of a padded HWC buffer of 2 or 3 channels (the direct path's
    /// first layer input): the same floats to the bit (DirectConvTests), without the CHW planes in between.
    public static func encoderInputPaddedHWC(current: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>,
                                             beforePrevious: UnsafePointer<UInt8>, height: Int, width: Int,
                                             differenceGain gain: Float, withPreviousDifference: Bool,
                                             perFrame: Bool = false, into padded: UnsafeMutablePointer<Float>) {
        let planes = withPreviousDifference ? 3 : 2
        if perFrame {
            let stats = perFrameStatistics(current: current, previous: previous, beforePrevious: beforePrevious,
                                           count: height * width, withPreviousDifference: withPreviousDifference)
            let rowStride = (width + 2) * planes
            for y in 0..<height {
                let row = padded + (y + 1) * rowStride + planes
                for x in 0..<width {
                    let i = y * width + x, v = perFramePlanes(current[i], previous[i], beforePrevious[i], stats, gain: gain)
                    let pixel = row + x * planes
                    pixel[0] = v.frame
                    pixel[1] = v.difference
                    if withPreviousDifference { pixel[2] = v.previousDifference }
                }
            }
            return
        }
        precondition(hasAVX2FMA)
        ck_encoder_input_hwc_avx2(current, previous, beforePrevious, Int32(height), Int32(width), gain, Int32(planes),
                                  padded, Int32((width + 2) * planes))
    }

    /// CHW planes → the interior of a padded HWC buffer (its border untouched).
    public static func chwToPaddedHWC(_ planes: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                                      into padded: UnsafeMutablePointer<Float>) {
        ck_chw_to_padded_hwc(planes, Int32(channels), Int32(height), Int32(width), padded, Int32((width + 2) * channels))
    }

    /// HWC of `pixelStride` floats per pixel, rows `rowStride` apart (default: a plain block) → CHW of its first
    /// `channels`, PyTorch's flatten order.
    public static func hwcToCHW(_ hwc: UnsafePointer<Float>, channels: Int, height: Int, width: Int, pixelStride: Int,
                                rowStride: Int? = nil, into chw: UnsafeMutablePointer<Float>) {
        let rs = Int32(rowStride ?? width * pixelStride)
        if hasAVX2FMA {
            ck_hwc_to_chw_avx2(hwc, Int32(channels), Int32(height), Int32(width), Int32(pixelStride), rs, chw)
        } else {
            ck_hwc_to_chw(hwc, Int32(channels), Int32(height), Int32(width), Int32(pixelStride), rs, chw)
        }
    }

    /// The ReLU's backward mask: dst[i] = output[i] > 0 ? dOutput[i] : 0 (0 where output is NaN); AVX2 where the
    /// CPU has it. `dst` may be `dOutput`.
    @inline(__always)
    public static func reluMask(output: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                                into dst: UnsafeMutablePointer<Float>, count: Int) {
        if hasAVX2FMA {
            ck_relu_mask_avx2(output, dOutput, dst, Int32(count))
        } else {
            for i in 0..<count { dst[i] = output[i] > 0 ? dOutput[i] : 0 }
        }
    }

    /// Per-row bias then ReLU on a [rows × cols] block (conv output: one row per output channel).
    public static func addRowBiasReLU(_ data: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                                      bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let b = bias[r], p = data + r * cols
            for i in 0..<cols { p[i] = max(p[i] + b, 0) }
        }
    }

    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// The LSTM cell after the fused gate matmul. gates = [i | f | g | o] pre-activations (PyTorch order), each
    /// `hidden` long; updates c in place and writes h. With AVX2 + FMA: CKernels' vectorised cell (its own exp, within
    /// about 1e-7 of libm's; KernelsTests), else lstmPointwiseScalar.
    @inline(__always)
    public static func lstmPointwise(gates: UnsafePointer<Float>, hidden: Int,
                                     c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        if hasAVX2FMA {
            ck_lstm_pointwise_avx2(gates, Int32(hidden), c, h)
        } else {
            lstmPointwiseScalar(gates: gates, hidden: hidden, c: c, h: h)
        }
    }

    /// lstmPointwise as training runs it, keeping what backward needs: the gates' pre-activations are replaced by
    /// σ(i), σ(f), tanh(g), σ(o); writes cNext, tanh(cNext) and hNext. With AVX2 + FMA the same vectorised functions
    /// as lstmPointwise, else libm's.
    @inline(__always)
    public static func lstmCellForTraining(gates: UnsafeMutablePointer<Float>, hidden: Int, cPrevious: UnsafePointer<Float>,
                                           cNext: UnsafeMutablePointer<Float>, tanhC: UnsafeMutablePointer<Float>,
                                           hNext: UnsafeMutablePointer<Float>) {
        if hasAVX2FMA {
            ck_lstm_cell_train_avx2(gates, Int32(hidden), cPrevious, cNext, tanhC, hNext)
            return
        }
        let gi = gates, gf = gates + hidden, gg = gates + 2 * hidden, go = gates + 3 * hidden
        for j in 0..<hidden {
            let i = sigmoid(gi[j]), f = sigmoid(gf[j]), g = tanhf(gg[j]), o = sigmoid(go[j])
            let c = f * cPrevious[j] + i * g
            let t = tanhf(c)
            gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o
            cNext[j] = c; tanhC[j] = t; hNext[j] = o * t
        }
    }

    /// lstmPointwise with libm's expf and tanhf, one unit at a time.
    public static func lstmPointwiseScalar(gates: UnsafePointer<Float>, hidden: Int,
                                           c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        let gi = gates, gf = gates + hidden, gg = gates + 2 * hidden, go = gates + 3 * hidden
        for j in 0..<hidden {
            let i = sigmoid(gi[j]), f = sigmoid(gf[j]), g = tanhf(gg[j]), o = sigmoid(go[j])
            let cNew = f * c[j] + i * g
            c[j] = cNew
            h[j] = o * tanhf(cNew)
        }
    }
}

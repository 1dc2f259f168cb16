// Per-frame visual encoders. Both see the current frame and the ones before it (causal: never a future frame) and
// write a fixed-length feature vector for the LSTM. Motion is what predicts a hit, hence the frame difference.
import Foundation

public protocol FrameEncoder: AnyObject {
    var inputWidth: Int { get }
    var inputHeight: Int { get }
    /// Length of the feature vector `encode` writes (= the LSTM's input size).
    var featureCount: Int { get }
    /// Encodes one step. `current`, `previous` and `beforePrevious` (the frame before `previous`) are gray8 frames
    /// of inputWidth × inputHeight. A frame the stream does not have yet is replaced by the one after it: on the
    /// first step after a reset `previous` and `beforePrevious` are the current frame, on the second
    /// `beforePrevious` is `previous` (each missing difference is zero). Must not allocate.
    func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>)
    /// Another encoder of the same model: the same weights (shared, read-only), its own scratch buffers, so that the
    /// two may run on different threads (`thud watch`: one model state per feed, one copy of the weights).
    func replica() -> FrameEncoder
}

/// Learned encoder: a stack of stride-2 3×3 conv layers (padding 1) + ReLU over two channels,
/// [x/255, (x − previous)/255 × differenceGain], or three with `previousDifferencePlane`
/// (+ (previous − beforePrevious)/255 × differenceGain), flattened channel-major (as PyTorch's `flatten(1)` of NCHW);
/// with per-frame normalisation (InputSpec.perFrame) the same planes standardised by the step's own statistics.
/// On a CPU with AVX2 + FMA each layer is one direct convolution with bias and ReLU fused
/// (Kernels.conv3x3s2ReLUDirect) on channels-last activations kept in zero-padded buffers, each layer writing into
/// the next one's (channel counts stored rounded up to 8, the extra ones zero); otherwise (or with `direct: false`) each layer is
/// im2col + one sgemm with the weight as stored ([Cout, Cin, 3, 3]). Both give the same features to float rounding
/// (DirectConvTests).
public final class ConvEncoder: FrameEncoder {
    public let inputWidth: Int
    public let inputHeight: Int
    public let featureCount: Int

    struct Layer {
        let inChannels, outChannels, inHeight, inWidth, outHeight, outWidth: Int
        let weight: FloatBuffer   // [Cout × Cin·9]
        let bias: FloatBuffer     // [Cout]
        let output: FloatBuffer   // [Cout × outH·outW]
    }

    let layers: [Layer]
    /// Input planes [2 or 3 × H × W]: normalised frame, difference, and the previous difference if the model has it.
    let inputPlanes: FloatBuffer
    let hasPreviousDifference: Bool
    /// Scales the difference plane (EncoderSpec.differenceGain).
    let differenceGain: Float
    /// Planes standardised per frame (InputSpec.perFrame) instead of x/255.
    let perFrame: Bool
    /// Shared im2col scratch, sized for the largest layer, and the split rows im2col builds it from.
    let columns: FloatBuffer
    let splitRows: FloatBuffer

    /// The direct path (weights packed at init), nil on the im2col path.
    let direct: DirectConvStack?
    /// Whether encode runs the direct convolutions (CKernels) rather than im2col + sgemm.
    public var usesDirectKernels: Bool { direct != nil }

    /// `direct` picks the direct convolutions where the CPU has AVX2 + FMA (the default); false keeps im2col + sgemm
    /// (tests compare the two).
    public init(architecture a: ModelArchitecture, parameters: [String: NamedTensor],
                direct wantsDirect: Bool = Kernels.hasAVX2FMA) {
        precondition(a.encoder.kind == .conv)
        inputWidth = a.input.width; inputHeight = a.input.height
        var layers: [Layer] = []
        var cin = a.encoder.inputPlaneCount, h = a.input.height, w = a.input.width, maxColumns = 0, maxSplit = 0
        for (i, cout) in (a.encoder.convChannels ?? []).enumerated() {
            let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
            layers.append(Layer(inChannels: cin, outChannels: cout, inHeight: h, inWidth: w,
                                outHeight: oh, outWidth: ow,
                                weight: FloatBuffer(parameters["encoder.conv\(i).weight"]!.values),
                                bias: FloatBuffer(parameters["encoder.conv\(i).bias"]!.values),
                                output: FloatBuffer(count: cout * oh * ow)))
            maxColumns = max(maxColumns, cin * 9 * oh * ow)
            maxSplit = max(maxSplit, Kernels.im2colScratchCount(height: h, width: w))
            cin = cout; h = oh; w = ow
        }
        self.layers = layers
        differenceGain = a.encoder.effectiveDifferenceGain
        perFrame = a.input.isPerFrame
        featureCount = cin * h * w
        hasPreviousDifference = a.encoder.hasPreviousDifferencePlane
        inputPlanes = FloatBuffer(count: a.encoder.inputPlaneCount * a.input.width * a.input.height)
        columns = FloatBuffer(count: maxColumns)
        splitRows = FloatBuffer(count: maxSplit)
        if wantsDirect, Kernels.hasAVX2FMA, !layers.isEmpty {
            let stack = DirectConvStack(inputPlanes: a.encoder.inputPlaneCount, height: a.input.height,
                                        width: a.input.width, channels: layers.map(\.outChannels))
            for (l, layer) in layers.enumerated() {
                stack.setWeights(layer: l, weight: layer.weight.pointer, bias: layer.bias.pointer)
            }
            direct = stack
        } else {
            direct = nil
        }
    }

    private init(sharingWeightsOf other: ConvEncoder) {
        inputWidth = other.inputWidth; inputHeight = other.inputHeight; featureCount = other.featureCount
        layers = other.layers.map { l in
            Layer(inChannels: l.inChannels, outChannels: l.outChannels, inHeight: l.inHeight, inWidth: l.inWidth,
                  outHeight: l.outHeight, outWidth: l.outWidth, weight: l.weight, bias: l.bias,
                  output: FloatBuffer(count: l.output.count))
        }
        hasPreviousDifference = other.hasPreviousDifference
        differenceGain = other.differenceGain
        perFrame = other.perFrame
        inputPlanes = FloatBuffer(count: other.inputPlanes.count)
        columns = FloatBuffer(count: other.columns.count)
        splitRows = FloatBuffer(count: other.splitRows.count)
        direct = other.direct?.replica()
    }

    public func replica() -> FrameEncoder { ConvEncoder(sharingWeightsOf: self) }

    /// The weights' storage (tests check that replicas share it).
    public var firstWeight: UnsafeMutablePointer<Float>? { layers.first?.weight.pointer }

    public func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                       beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>) {
        let n = inputWidth * inputHeight
        precondition(current.count == n && previous.count == n && beforePrevious.count == n,
                     "frame must be \(inputWidth)x\(inputHeight) gray8")
        if let direct {
            direct.setInput(current: current.baseAddress!, previous: previous.baseAddress!,
                            beforePrevious: beforePrevious.baseAddress!, differenceGain: differenceGain,
                            perFrame: perFrame)
            direct.run()
            direct.copyFeaturesCHW(into: features)
            return
        }
        Kernels.encoderInputPlanes(current: current.baseAddress!, previous: previous.baseAddress!,
                                   beforePrevious: beforePrevious.baseAddress!, count: n, differenceGain: differenceGain,
                                   withPreviousDifference: hasPreviousDifference, perFrame: perFrame,
                                   into: inputPlanes.pointer)
        var input = UnsafePointer(inputPlanes.pointer)
        for layer in layers {
            Kernels.im2col3x3(input: input, channels: layer.inChannels, height: layer.inHeight, width: layer.inWidth,
                              columns: columns.pointer, scratch: splitRows.pointer)
            let k = layer.inChannels * 9, cols = layer.outHeight * layer.outWidth
            Kernels.gemm(m: layer.outChannels, n: cols, k: k, a: layer.weight.pointer, lda: k,
                         b: columns.pointer, ldb: cols, beta: 0, c: layer.output.pointer, ldc: cols)
            Kernels.addRowBiasReLU(layer.output.pointer, rows: layer.outChannels, cols: cols, bias: layer.bias.pointer)
            input = UnsafePointer(layer.output.pointer)
        }
        features.update(from: input, count: featureCount)
    }
}

/// Weight-free encoder: mean |frame difference| (in 0...1) over each cell of a rows × cols grid, then four global
/// statistics: mean |difference|, mean brightness, fraction of "moving" pixels (|difference| > threshold levels),
/// and the largest cell energy. Integer sums keep it exact and identical to the reference.
public final class MotionEnergyEncoder: FrameEncoder {
    public static let globalFeatureCount = 4

    public let inputWidth: Int
    public let inputHeight: Int
    public let featureCount: Int
    public let gridRows: Int
    public let gridCols: Int
    public let activeThresholdLevels: Int

    public init(architecture a: ModelArchitecture) {
        precondition(a.encoder.kind == .motionEnergy)
        inputWidth = a.input.width; inputHeight = a.input.height
        gridRows = a.encoder.gridRows ?? 8; gridCols = a.encoder.gridCols ?? 8
        activeThresholdLevels = a.encoder.activeThresholdLevels ?? 10
        featureCount = gridRows * gridCols + MotionEnergyEncoder.globalFeatureCount
    }

    private init(copying other: MotionEnergyEncoder) {
        inputWidth = other.inputWidth; inputHeight = other.inputHeight; featureCount = other.featureCount
        gridRows = other.gridRows; gridCols = other.gridCols; activeThresholdLevels = other.activeThresholdLevels
    }

    /// No weights and no state: a copy of the settings.
    public func replica() -> FrameEncoder { MotionEnergyEncoder(copying: self) }

    /// Reads the current and previous frames only.
    public func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                       beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>) {
        let w = inputWidth, h = inputHeight
        precondition(current.count == w * h && previous.count == w * h, "frame must be \(w)x\(h) gray8")
        var totalDiff = 0, totalBright = 0, active = 0
        var maxCell: Float = 0
        for gr in 0..<gridRows {
            // Cell edges at floor(k·H/rows): every pixel belongs to exactly one cell.
            let y0 = gr * h / gridRows, y1 = (gr + 1) * h / gridRows
            for gc in 0..<gridCols {
                let x0 = gc * w / gridCols, x1 = (gc + 1) * w / gridCols
                var cellDiff = 0
                for y in y0..<y1 {
                    let row = y * w
                    for x in x0..<x1 {
                        let c = Int(current[row + x]), d = abs(c - Int(previous[row + x]))
                        cellDiff += d
                        totalBright += c
                        if d > activeThresholdLevels { active += 1 }
                    }
                }
                totalDiff += cellDiff
                let cellCount = (y1 - y0) * (x1 - x0)
                let energy = cellCount > 0 ? Float(cellDiff) / Float(cellCount * 255) : 0
                features[gr * gridCols + gc] = energy
                maxCell = max(maxCell, energy)
            }
        }
        let n = Float(w * h), g = features + gridRows * gridCols
        g[0] = Float(totalDiff) / (n * 255)
        g[1] = Float(totalBright) / (n * 255)
        g[2] = Float(active) / n
        g[3] = maxCell
    }
}

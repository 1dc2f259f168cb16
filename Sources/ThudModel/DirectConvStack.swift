// The conv encoder's layers as direct convolutions (CKernels, AVX2 + FMA / AVX-512): the one forward path of the
// streaming encoder (ConvEncoder) and of training (TrainingWorker), so both run the same kernels on the same floats.
import Foundation

/// A stack of 3×3 stride-2 conv + bias + ReLU layers run directly on channels-last activations kept in zero-padded
/// buffers, each layer writing into the next one's interior (the borders stay zero: nothing writes them). Channel
/// counts are stored rounded up to 8 (Kernels.directStoredChannels), the extra channels with zero weights and bias,
/// so they hold ReLU(0) = 0. Everything is allocated in init; setWeights, setInput, run and the copies allocate
/// nothing. Needs Kernels.hasAVX2FMA.
public final class DirectConvStack {
    public struct Shape: Equatable {
        public let inChannels, outChannels, inHeight, inWidth, outHeight, outWidth: Int
    }
    public let shapes: [Shape]
    /// Channels stored per pixel: [input planes, each layer's output rounded up to 8].
    public let storedChannels: [Int]
    /// Per layer: the weight as [ky][kx][stored Cin][stored Cout] and the bias [stored Cout], zeros past the real ones.
    let packedWeights: [FloatBuffer]
    let paddedBiases: [FloatBuffer]
    /// Per layer its input as a zero-padded HWC buffer (the first holds the input planes); then the last layer's
    /// output as a plain HWC block.
    let paddedInputs: [FloatBuffer]
    let lastOutput: FloatBuffer

    /// `inputPlanes` (2 or 3) planes of height × width, then one layer per entry of `channels`.
    public init(inputPlanes: Int, height: Int, width: Int, channels: [Int]) {
        precondition(Kernels.hasAVX2FMA && !channels.isEmpty)
        var shapes: [Shape] = [], cin = inputPlanes, h = height, w = width
        for cout in channels {
            let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
            shapes.append(Shape(inChannels: cin, outChannels: cout, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow))
            cin = cout; h = oh; w = ow
        }
        self.shapes = shapes
        let stored = [inputPlanes] + channels.map(Kernels.directStoredChannels)
        storedChannels = stored
        packedWeights = shapes.indices.map { FloatBuffer(count: 9 * stored[$0] * stored[$0 + 1]) }
        paddedBiases = shapes.indices.map { FloatBuffer(count: stored[$0 + 1]) }
        paddedInputs = shapes.enumerated().map { i, s in
            FloatBuffer(count: Kernels.paddedHWCCount(channels: stored[i], height: s.inHeight, width: s.inWidth))
        }
        let last = shapes[shapes.count - 1]
        lastOutput = FloatBuffer(count: stored[shapes.count] * last.outHeight * last.outWidth)
    }

    /// Another stack over the same packed weights (read-only, shared) with activation buffers of its own: one per
    /// feed when several feeds run one model (StreamingModel(sharingWeightsOf:)).
    public func replica() -> DirectConvStack { DirectConvStack(sharingWeightsOf: self) }

    private init(sharingWeightsOf other: DirectConvStack) {
        shapes = other.shapes
        storedChannels = other.storedChannels
        packedWeights = other.packedWeights
        paddedBiases = other.paddedBiases
        paddedInputs = other.paddedInputs.map { FloatBuffer(count: $0.count) }
        lastOutput = FloatBuffer(count: other.lastOutput.count)
    }

    /// Layer l's weight [Cout, Cin, 3, 3] (PyTorch's, as stored) and bias, packed for the kernel. Allocates nothing.
    public func setWeights(layer l: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        let s = shapes[l]
        Kernels.packConvWeight(weight, outChannels: s.outChannels, inChannels: s.inChannels,
                               packedOut: storedChannels[l + 1], packedIn: storedChannels[l],
                               into: packedWeights[l].pointer)
        paddedBiases[l].pointer.update(from: bias, count: s.outChannels)
    }

    /// The input planes from gray8 frames (Kernels.encoderInputPlanes' floats, bit for bit; `perFrame`: standardised
    /// per frame, InputSpec.perFrame).
    public func setInput(current: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>,
                         beforePrevious: UnsafePointer<UInt8>, differenceGain: Float, perFrame: Bool = false) {
        let s = shapes[0]
        Kernels.encoderInputPaddedHWC(current: current, previous: previous, beforePrevious: beforePrevious,
                                      height: s.inHeight, width: s.inWidth, differenceGain: differenceGain,
                                      withPreviousDifference: storedChannels[0] == 3, perFrame: perFrame,
                                      into: paddedInputs[0].pointer)
    }

    /// Every layer on the input set last.
    public func run() {
        let last = shapes.count - 1
        for l in 0...last {
            let s = shapes[l], cout = storedChannels[l + 1]
            let output: UnsafeMutablePointer<Float>, rowStride: Int
            if l < last {
                // Pixel (0, 0) of the next padded buffer: one padded row and one padded pixel in.
                rowStride = (s.outWidth + 2) * cout
                output = paddedInputs[l + 1].pointer + rowStride + cout
            } else {
                rowStride = s.outWidth * cout
                output = lastOutput.pointer
            }
            Kernels.conv3x3s2ReLUDirect(input: paddedInputs[l].pointer, inChannels: storedChannels[l],
                                        height: s.inHeight, width: s.inWidth, packedWeight: packedWeights[l].pointer,
                                        bias: paddedBiases[l].pointer, outChannels: cout, output: output,
                                        outputRowStride: rowStride)
        }
    }

    /// Floats of layer l's output as the next layer reads it (l below the last layer): a zero-padded HWC buffer of
    /// storedChannels[l + 1] channels (Kernels.paddedHWCCount).
    public func paddedOutputCount(layer l: Int) -> Int { paddedInputs[l + 1].count }

    /// Layer l's output of the last run (l below the last layer) as the next layer reads it, border and all
    /// (paddedOutputCount(layer: l) floats): training keeps it for the direct gradients.
    public func copyPaddedOutput(layer l: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(l < shapes.count - 1)
        dst.update(from: paddedInputs[l + 1].pointer, count: paddedInputs[l + 1].count)
    }

    /// The last layer's output of the last run as CHW [Cout × outH·outW]: PyTorch's flatten order, the encoder's
    /// features.
    public func copyFeaturesCHW(into chw: UnsafeMutablePointer<Float>) {
        let s = shapes[shapes.count - 1], stored = storedChannels[shapes.count]
        Kernels.hwcToCHW(lastOutput.pointer, channels: s.outChannels, height: s.outHeight, width: s.outWidth,
                         pixelStride: stored, rowStride: s.outWidth * stored, into: chw)
    }
}

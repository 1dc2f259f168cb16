// One shard of a mini-batch: the whole network's forward pass with the activations backward needs, the loss, and
// the backward pass into the worker's own gradient buffer. ModelTrainer runs two workers on two threads and adds
// their gradients in a fixed order, so results do not depend on scheduling.
import Foundation
import ThudModel

/// Every per-batch buffer of a worker, sized for `rows` = T·B and `batch` = B. Replaced by a larger one when a bigger
/// batch arrives (never shrunk), so steady-state training allocates nothing.
final class TrainingWorkspace {
    let rowCapacity: Int
    let batchCapacity: Int

    /// Frames, time-major [rows × W·H], the frame before each sequence's first step and the one before that
    /// [B × W·H] each.
    let frames: UnsafeMutablePointer<UInt8>
    let firstPrevious: UnsafeMutablePointer<UInt8>
    let firstBeforePrevious: UnsafeMutablePointer<UInt8>
    /// Per row: target and loss weight (0 on padded steps: the mask), and the onset target (onset output only).
    let targets: FloatBuffer
    let weights: FloatBuffer
    let onsetTargets: FloatBuffer
    /// Conv outputs of every layer but the last, `convOutputCounts[l]` floats per row (CHW [Cout·P], or with the
    /// direct kernels the zero-padded HWC buffer the next layer reads); the last layer writes `features` directly.
    let convOutputs: [FloatBuffer]
    /// Encoder features [rows × F] (the LSTM's input) and their gradient.
    let features: FloatBuffer
    let dFeatures: FloatBuffer
    let lstm: [LSTMBuffers]
    let lstmStorage: [FloatBuffer]
    /// Gradient w.r.t. each LSTM layer's output h [rows × H].
    let dLSTMOutput: [FloatBuffer]
    let dGates: FloatBuffer
    let dhCarry: FloatBuffer
    let dcCarry: FloatBuffer
    /// Head outputs per layer [rows × width] (the last is the logit) and their gradients.
    let headOutputs: [FloatBuffer]
    let dHeadOutputs: [FloatBuffer]

    init(plan: NetworkPlan, convOutputCounts: [Int], rows: Int, batch: Int) {
        rowCapacity = rows; batchCapacity = batch
        frames = .allocate(capacity: max(rows * plan.frameSize, 1))
        frames.initialize(repeating: 0, count: max(rows * plan.frameSize, 1))
        firstPrevious = .allocate(capacity: max(batch * plan.frameSize, 1))
        firstPrevious.initialize(repeating: 0, count: max(batch * plan.frameSize, 1))
        firstBeforePrevious = .allocate(capacity: max(batch * plan.frameSize, 1))
        firstBeforePrevious.initialize(repeating: 0, count: max(batch * plan.frameSize, 1))
        targets = FloatBuffer(count: rows); weights = FloatBuffer(count: rows); onsetTargets = FloatBuffer(count: rows)
        convOutputs = convOutputCounts.map { FloatBuffer(count: rows * $0) }
        features = FloatBuffer(count: rows * plan.featureCount)
        dFeatures = FloatBuffer(count: rows * plan.featureCount)
        let h = plan.hidden
        var storage: [FloatBuffer] = [], lstm: [LSTMBuffers] = []
        for _ in plan.lstm {
            let gates = FloatBuffer(count: rows * 4 * h), hidden = FloatBuffer(count: (rows + batch) * h)
            let cells = FloatBuffer(count: (rows + batch) * h), tanhCells = FloatBuffer(count: rows * h)
            storage += [gates, hidden, cells, tanhCells]
            lstm.append(LSTMBuffers(gates: gates.pointer, hidden: hidden.pointer, cells: cells.pointer,
                                    tanhCells: tanhCells.pointer))
        }
        self.lstm = lstm; lstmStorage = storage
        dLSTMOutput = plan.lstm.map { _ in FloatBuffer(count: rows * h) }
        dGates = FloatBuffer(count: rows * 4 * h)
        dhCarry = FloatBuffer(count: batch * h); dcCarry = FloatBuffer(count: batch * h)
        headOutputs = plan.head.map { FloatBuffer(count: rows * $0.outSize) }
        dHeadOutputs = plan.head.map { FloatBuffer(count: rows * $0.outSize) }
    }

    deinit {
        frames.deallocate()
        firstPrevious.deallocate()
        firstBeforePrevious.deallocate()
    }
}

final class TrainingWorker {
    let plan: NetworkPlan
    /// This worker's gradient, same layout as the parameters.
    let gradients: FloatBuffer
    private(set) var workspace: TrainingWorkspace
    /// Frames per conv sgemm (see ConvKernel.forwardChunk). 8 frames of the default 64×64 model keep the largest
    /// im2col matrix at ~600 KB, inside L2 on most machines.
    static let convChunk = 8
    /// Per-chunk scratch (independent of batch size) of the portable path: input planes, im2col matrices and the
    /// sgemm product of `convChunk` frames.
    private let inputPlanes: FloatBuffer
    private let columns: FloatBuffer
    private let dColumns: FloatBuffer
    private let product: FloatBuffer
    private let splitScratch: FloatBuffer
    /// Gradient w.r.t. each conv layer's output but the last, for the frames of a chunk.
    private let dConvOutputs: [FloatBuffer]
    /// The chunk's rows and per-frame pointers handed to the chunk kernels (allocated once).
    private let chunkRows: UnsafeMutablePointer<Int>
    private let chunkInputs: UnsafeMutablePointer<UnsafePointer<Float>>
    private let chunkOutputs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    private let chunkDOutputs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    private let chunkDInputs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    /// The weight-free encoder (motion energy or motion flow), nil for conv.
    private let weightFreeEncoder: FrameEncoder?
    /// The conv forward as the streaming encoder runs it (direct convolutions, weights packed per forward), where the
    /// CPU has AVX2 + FMA, and then the gradients channels-last (ConvKernel.backwardChunkHWC); nil: im2col + sgemm
    /// over chunks of frames (ConvKernel.forwardChunk, backwardChunk).
    private let directConv: DirectConvStack?
    /// Floats per row of each convOutputs buffer (see TrainingWorkspace).
    private let convOutputCounts: [Int]
    /// The direct path's per-chunk scratch: the chunk's padded HWC input planes (layer 0's input, rebuilt in
    /// backward), its masked output gradients (HWC, frame after frame), per layer above the first its padded HWC
    /// input gradients and the weight packed transposed (once per backward), and the bias sums.
    private let hwcInputPlanes: FloatBuffer?
    private let hwcMaskedDOutput: FloatBuffer?
    private let hwcDInputs: [FloatBuffer?]
    private let hwcPackedWeightsT: [FloatBuffer?]
    private let hwcChannelSums: FloatBuffer?
    /// Valid steps of each sequence in the current shard (capacity kept between calls).
    private var lengths: [Int] = []
    private(set) var batch = 0
    private(set) var steps = 0

    init(plan: NetworkPlan) {
        self.plan = plan
        gradients = FloatBuffer(count: plan.layout.total)
        let g = TrainingWorker.convChunk
        inputPlanes = FloatBuffer(count: g * plan.inputPlaneCount * plan.frameSize)
        columns = FloatBuffer(count: g * plan.maxColumns)
        dColumns = FloatBuffer(count: g * plan.maxColumns)
        product = FloatBuffer(count: g * (plan.conv.map(\.shape.outputCount).max() ?? 0))
        splitScratch = FloatBuffer(count: plan.maxSplitScratch)
        dConvOutputs = plan.conv.dropLast().map { FloatBuffer(count: g * $0.shape.outputCount) }
        chunkRows = .allocate(capacity: g)
        chunkInputs = .allocate(capacity: g)
        chunkOutputs = .allocate(capacity: g)
        chunkDOutputs = .allocate(capacity: g)
        chunkDInputs = .allocate(capacity: g)
        switch plan.encoderKind {
        case .conv: weightFreeEncoder = nil
        case .motionEnergy: weightFreeEncoder = MotionEnergyEncoder(architecture: plan.architecture)
        case .motionFlow: weightFreeEncoder = MotionFlowEncoder(architecture: plan.architecture)
        }
        directConv = plan.encoderKind == .conv && Kernels.hasAVX2FMA
            ? DirectConvStack(inputPlanes: plan.inputPlaneCount, height: plan.architecture.input.height,
                              width: plan.architecture.input.width, channels: plan.conv.map(\.shape.outChannels))
            : nil
        if let direct = directConv {
            let stored = direct.storedChannels, shapes = plan.conv.map(\.shape)
            convOutputCounts = shapes.indices.dropLast().map { direct.paddedOutputCount(layer: $0) }
            hwcInputPlanes = FloatBuffer(count: g * Kernels.paddedHWCCount(channels: stored[0], height: shapes[0].inHeight,
                                                                           width: shapes[0].inWidth))
            hwcMaskedDOutput = FloatBuffer(count: g * shapes.indices.map { shapes[$0].positions * stored[$0 + 1] }.max()!)
            hwcDInputs = shapes.indices.map { l in
                l == 0 ? nil : FloatBuffer(count: g * Kernels.paddedHWCCount(channels: stored[l], height: shapes[l].inHeight,
                                                                             width: shapes[l].inWidth))
            }
            hwcPackedWeightsT = shapes.indices.map { l in l == 0 ? nil : FloatBuffer(count: 9 * shapes[l].outChannels * stored[l]) }
            hwcChannelSums = FloatBuffer(count: stored.max()!)
        } else {
            convOutputCounts = plan.conv.dropLast().map(\.shape.outputCount)
            hwcInputPlanes = nil; hwcMaskedDOutput = nil; hwcChannelSums = nil
            hwcDInputs = plan.conv.map { _ in nil }; hwcPackedWeightsT = plan.conv.map { _ in nil }
        }
        workspace = TrainingWorkspace(plan: plan, convOutputCounts: convOutputCounts, rows: 0, batch: 0)
        lengths.reserveCapacity(64)
    }

    deinit {
        chunkRows.deallocate(); chunkInputs.deallocate(); chunkOutputs.deallocate()
        chunkDOutputs.deallocate(); chunkDInputs.deallocate()
    }

    private func ensureCapacity(rows: Int, batch: Int) {
        if rows > workspace.rowCapacity || batch > workspace.batchCapacity {
            workspace = TrainingWorkspace(plan: plan, convOutputCounts: convOutputCounts, rows: max(rows, workspace.rowCapacity),
                                          batch: max(batch, workspace.batchCapacity))
        }
    }

    // MARK: Loading a shard

    /// Copies a shard of sequences into the workspace (time-major), with targets and weights; padded steps of
    /// shorter sequences get weight 0 and zero features.
    func load(_ sequences: ArraySlice<TrainingSequence>) {
        let b = sequences.count
        let t = sequences.reduce(0) { max($0, $1.targets.count) }
        ensureCapacity(rows: t * b, batch: b)
        batch = b; steps = t
        lengths.removeAll(keepingCapacity: true)
        let ws = workspace, n = plan.frameSize
        for (bi, seq) in sequences.enumerated() {
            let len = seq.targets.count
            lengths.append(len)
            seq.frames.withUnsafeBufferPointer { src in
                for s in 0..<len { (ws.frames + (s * b + bi) * n).update(from: src.baseAddress! + s * n, count: n) }
                // No frame before the window: the first step's difference is zero, as in StreamingModel.step; no
                // frame before that one: the previous frame stands in (FrameEncoder.encode).
                let previous = ws.firstPrevious.advanced(by: bi * n)
                if let prev = seq.previousFrame {
                    prev.withUnsafeBufferPointer { previous.update(from: $0.baseAddress!, count: n) }
                } else if len > 0 {
                    previous.update(from: src.baseAddress!, count: n)
                }
                // Only the third plane and the motion-flow encoder read the frame before that; others skip the copy.
                if plan.readsFrameBeforePrevious {
                    let beforePrevious = ws.firstBeforePrevious.advanced(by: bi * n)
                    if let before = seq.beforePreviousFrame {
                        before.withUnsafeBufferPointer { beforePrevious.update(from: $0.baseAddress!, count: n) }
                    } else {
                        beforePrevious.update(from: previous, count: n)
                    }
                }
            }
            for s in 0..<t {
                let r = s * b + bi
                ws.targets.pointer[r] = s < len ? seq.targets[s] : 0
                ws.weights.pointer[r] = s < len ? (seq.weights?[s] ?? 1) : 0
                ws.onsetTargets.pointer[r] = s < len ? (seq.onsetTargets?[s] ?? 0) : 0
            }
        }
    }

    /// Loads one chunk of a single clip for inference (B = 1). `previous` nil: first chunk of the clip;
    /// `beforePrevious` nil: the clip has no frame before `previous`.
    func loadClipChunk(frames: UnsafePointer<UInt8>, count: Int, previous: UnsafePointer<UInt8>?,
                       beforePrevious: UnsafePointer<UInt8>?) {
        ensureCapacity(rows: count, batch: 1)
        batch = 1; steps = count
        lengths.removeAll(keepingCapacity: true)
        lengths.append(count)
        let ws = workspace, n = plan.frameSize
        ws.frames.update(from: frames, count: count * n)
        ws.firstPrevious.update(from: previous ?? frames, count: n)
        if plan.readsFrameBeforePrevious { ws.firstBeforePrevious.update(from: beforePrevious ?? previous ?? frames, count: n) }
        for r in 0..<count { ws.targets.pointer[r] = 0; ws.weights.pointer[r] = 0; ws.onsetTargets.pointer[r] = 0 }
    }

    // MARK: Forward

    @inline(__always) private func isValid(row r: Int) -> Bool { r / batch < lengths[r % batch] }

    /// Row r's frame, the one before it and the one before that (rows are time-major: r − batch is the same
    /// sequence one step earlier).
    private func framePointers(row r: Int)
        -> (current: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>, beforePrevious: UnsafePointer<UInt8>) {
        let n = plan.frameSize, ws = workspace
        let current = UnsafePointer(ws.frames + r * n)
        let previous = r < batch ? UnsafePointer(ws.firstPrevious + r * n) : UnsafePointer(ws.frames + (r - batch) * n)
        let beforePrevious = r < batch ? UnsafePointer(ws.firstBeforePrevious + r * n)
            : r < 2 * batch ? UnsafePointer(ws.firstPrevious + (r - batch) * n)
            : UnsafePointer(ws.frames + (r - 2 * batch) * n)
        return (current, previous, beforePrevious)
    }

    /// Kernels.encoderInputPlanes of row r's frames (the same floats ConvEncoder.encode streams).
    private func fillInputPlanes(row r: Int, into planes: UnsafeMutablePointer<Float>) {
        let (current, previous, beforePrevious) = framePointers(row: r)
        Kernels.encoderInputPlanes(current: current, previous: previous, beforePrevious: beforePrevious, count: plan.frameSize,
                                   differenceGain: plan.architecture.encoder.effectiveDifferenceGain,
                                   withPreviousDifference: plan.inputPlaneCount == 3,
                                   perFrame: plan.architecture.input.isPerFrame, into: planes)
    }

    /// Forward over the loaded shard. `resetState`: start from zero (h, c); otherwise from block 0 as left by
    /// `carryStateForward()`. Leaves logits in the last head output.
    func forward(parameters p: UnsafePointer<Float>, resetState: Bool = true) {
        let ws = workspace, rows = steps * batch, f = plan.featureCount, h = plan.hidden
        // Encoder: a weight-free one frame by frame; conv in chunks of frames. Padded rows get zero features.
        if let direct = directConv {
            for (l, layer) in plan.conv.enumerated() { direct.setWeights(layer: l, weight: p + layer.weight, bias: p + layer.bias) }
        }
        var pendingFrames = 0
        for r in 0..<rows {
            let out = ws.features.pointer + r * f
            guard isValid(row: r) else { out.update(repeating: 0, count: f); continue }
            if let weightFree = weightFreeEncoder {
                let (current, previous, beforePrevious) = framePointers(row: r)
                weightFree.encode(current: UnsafeBufferPointer(start: current, count: plan.frameSize),
                                  previous: UnsafeBufferPointer(start: previous, count: plan.frameSize),
                                  beforePrevious: UnsafeBufferPointer(start: beforePrevious, count: plan.frameSize), into: out)
                continue
            }
            chunkRows[pendingFrames] = r
            pendingFrames += 1
            if pendingFrames == TrainingWorker.convChunk { convForward(count: pendingFrames, parameters: p); pendingFrames = 0 }
        }
        if pendingFrames > 0 { convForward(count: pendingFrames, parameters: p) }
        // LSTM layers.
        var input = UnsafePointer(ws.features.pointer)
        for (l, layer) in plan.lstm.enumerated() {
            let s = ws.lstm[l]
            if resetState {
                s.hidden.update(repeating: 0, count: batch * h)
                s.cells.update(repeating: 0, count: batch * h)
            }
            LSTMKernel.forward(steps: steps, batch: batch, inSize: layer.inSize, hiddenSize: h, input: input,
                               weightIH: p + layer.weightIH, weightHH: p + layer.weightHH,
                               biasIH: p + layer.biasIH, biasHH: p + layer.biasHH, buffers: s)
            input = UnsafePointer(s.hidden + batch * h)
        }
        // Head.
        for (i, layer) in plan.head.enumerated() {
            let out = ws.headOutputs[i].pointer
            DenseKernel.forward(rows: rows, inSize: layer.inSize, outSize: layer.outSize,
                                relu: i < plan.head.count - 1, input: input, weight: p + layer.weight,
                                bias: p + layer.bias, output: out)
            input = UnsafePointer(out)
        }
    }

    /// Moves the final LSTM state into block 0, so the next chunk's forward (resetState: false) continues from it.
    func carryStateForward() {
        let h = plan.hidden, end = steps * batch * h
        for s in workspace.lstm {
            s.hidden.update(from: s.hidden + end, count: batch * h)
            s.cells.update(from: s.cells + end, count: batch * h)
        }
    }

    /// Logits of the loaded shard, row r = t·B + b, `plan.outputCount` per row (the envelope's first).
    var logits: UnsafePointer<Float> { UnsafePointer(workspace.headOutputs[plan.head.count - 1].pointer) }

    // MARK: Loss and backward

    /// Σ weight · BCE over the shard's valid steps (Double, summed in row order): the envelope's, plus
    /// `onsetWeight` · BCE of the onset output on every valid step when there is one. With `gradientScale` set,
    /// also writes dLoss/dlogit · gradientScale into the last head gradient buffer.
    func loss(gradientScale: Float?, onsetWeight: Float = 1) -> Double {
        let ws = workspace, rows = steps * batch, z = logits, o = plan.outputCount
        let dz = ws.dHeadOutputs[plan.head.count - 1].pointer
        var sum: Double = 0
        for r in 0..<rows {
            let w = ws.weights.pointer[r], y = ws.targets.pointer[r]
            if w != 0 { sum += Double(w * BCEKernel.loss(logit: z[r * o], target: y)) }
            if let scale = gradientScale {
                dz[r * o] = w == 0 ? 0 : w * BCEKernel.gradient(logit: z[r * o], target: y) * scale
            }
            guard o == 2 else { continue }
            // The onset output: the mask of the envelope's weights, without its extra weight on onset steps.
            let wo: Float = w == 0 ? 0 : onsetWeight, yo = ws.onsetTargets.pointer[r]
            if wo != 0 { sum += Double(wo * BCEKernel.loss(logit: z[r * o + 1], target: yo)) }
            if let scale = gradientScale {
                dz[r * o + 1] = wo == 0 ? 0 : wo * BCEKernel.gradient(logit: z[r * o + 1], target: yo) * scale
            }
        }
        return sum
    }

    /// Backward over the shard after `forward` and `loss(gradientScale:)`; accumulates into `gradients`
    /// (the caller zeroes them).
    func backward(parameters p: UnsafePointer<Float>) {
        let ws = workspace, rows = steps * batch, h = plan.hidden, g = gradients.pointer
        // Head, top down; the last dInput is the gradient w.r.t. the top LSTM layer's outputs.
        let top = plan.lstm.count - 1
        for i in stride(from: plan.head.count - 1, through: 0, by: -1) {
            let layer = plan.head[i]
            let input = i > 0 ? UnsafePointer(ws.headOutputs[i - 1].pointer) : UnsafePointer(ws.lstm[top].hidden + batch * h)
            let dInput = i > 0 ? ws.dHeadOutputs[i - 1].pointer : ws.dLSTMOutput[top].pointer
            DenseKernel.backward(rows: rows, inSize: layer.inSize, outSize: layer.outSize,
                                 relu: i < plan.head.count - 1, input: input, weight: p + layer.weight,
                                 output: ws.headOutputs[i].pointer, dOutput: ws.dHeadOutputs[i].pointer,
                                 dWeight: g + layer.weight, dBias: g + layer.bias, dInput: dInput)
        }
        // LSTM layers, top down.
        let needFeatureGradient = plan.encoderKind == .conv
        for l in stride(from: top, through: 0, by: -1) {
            let layer = plan.lstm[l]
            let input = l > 0 ? UnsafePointer(ws.lstm[l - 1].hidden + batch * h) : UnsafePointer(ws.features.pointer)
            let dInput: UnsafeMutablePointer<Float>? = l > 0 ? ws.dLSTMOutput[l - 1].pointer
                : (needFeatureGradient ? ws.dFeatures.pointer : nil)
            LSTMKernel.backward(steps: steps, batch: batch, inSize: layer.inSize, hiddenSize: h, input: input,
                                weightIH: p + layer.weightIH, weightHH: p + layer.weightHH, buffers: ws.lstm[l],
                                dHidden: ws.dLSTMOutput[l].pointer, dWeightIH: g + layer.weightIH,
                                dWeightHH: g + layer.weightHH, dBiasIH: g + layer.biasIH,
                                dBiasHH: g + layer.biasHH, dInput: dInput, dGates: ws.dGates.pointer,
                                dhCarry: ws.dhCarry.pointer, dcCarry: ws.dcCarry.pointer)
        }
        guard needFeatureGradient else { return }
        if directConv != nil {
            for (l, layer) in plan.conv.enumerated() {
                guard let packed = hwcPackedWeightsT[l] else { continue }
                Kernels.packConvWeightTransposed(p + layer.weight, outChannels: layer.shape.outChannels,
                                                 inChannels: layer.shape.inChannels, packedIn: directConv!.storedChannels[l],
                                                 into: packed.pointer)
            }
        }
        // Conv encoder in chunks of frames, top layer down; layer 0 needs no input gradient (pixels are data).
        var pendingFrames = 0
        for r in 0..<rows where isValid(row: r) {
            chunkRows[pendingFrames] = r
            pendingFrames += 1
            if pendingFrames == TrainingWorker.convChunk { convBackward(count: pendingFrames, parameters: p); pendingFrames = 0 }
        }
        if pendingFrames > 0 { convBackward(count: pendingFrames, parameters: p) }
    }

    /// Frame j of the chunk: layer l's input (layer 0: the input planes) and output (the last: the feature row).
    private func setChunkPointers(layer l: Int, count: Int) {
        let ws = workspace, f = plan.featureCount, last = plan.conv.count - 1
        for j in 0..<count {
            let r = chunkRows[j]
            chunkInputs[j] = l == 0 ? UnsafePointer(inputPlanes.pointer + j * plan.inputPlaneCount * plan.frameSize)
                : UnsafePointer(ws.convOutputs[l - 1].pointer + r * convOutputCounts[l - 1])
            chunkOutputs[j] = l == last ? ws.features.pointer + r * f
                : ws.convOutputs[l].pointer + r * convOutputCounts[l]
        }
    }

    /// Conv forward of the `count` frames listed in chunkRows.
    private func convForward(count: Int, parameters p: UnsafePointer<Float>) {
        if let direct = directConv {
            // Frame by frame, as ConvEncoder streams it; each layer's output kept as the padded HWC buffer the next
            // layer read (backward's layout), the last one's as the CHW features.
            let last = plan.conv.count - 1
            for j in 0..<count {
                let r = chunkRows[j]
                let (current, previous, beforePrevious) = framePointers(row: r)
                direct.setInput(current: current, previous: previous, beforePrevious: beforePrevious,
                                differenceGain: plan.architecture.encoder.effectiveDifferenceGain,
                                perFrame: plan.architecture.input.isPerFrame)
                direct.run()
                for l in 0..<last { direct.copyPaddedOutput(layer: l, into: workspace.convOutputs[l].pointer + r * convOutputCounts[l]) }
                direct.copyFeaturesCHW(into: workspace.features.pointer + r * plan.featureCount)
            }
            return
        }
        for j in 0..<count { fillInputPlanes(row: chunkRows[j], into: inputPlanes.pointer + j * plan.inputPlaneCount * plan.frameSize) }
        for (l, layer) in plan.conv.enumerated() {
            setChunkPointers(layer: l, count: count)
            ConvKernel.forwardChunk(layer.shape, count: count, inputs: chunkInputs, outputs: chunkOutputs,
                                    weight: p + layer.weight, bias: p + layer.bias, columns: columns.pointer,
                                    product: product.pointer, scratch: splitScratch.pointer)
        }
    }

    /// Conv backward of the `count` frames listed in chunkRows, from the feature gradient down.
    private func convBackward(count: Int, parameters p: UnsafePointer<Float>) {
        if let direct = directConv { convBackwardHWC(count: count, direct: direct); return }
        let ws = workspace, f = plan.featureCount, last = plan.conv.count - 1, g = gradients.pointer
        for j in 0..<count { fillInputPlanes(row: chunkRows[j], into: inputPlanes.pointer + j * plan.inputPlaneCount * plan.frameSize) }
        for l in stride(from: last, through: 0, by: -1) {
            let layer = plan.conv[l]
            setChunkPointers(layer: l, count: count)
            for j in 0..<count {
                chunkDOutputs[j] = l == last ? ws.dFeatures.pointer + chunkRows[j] * f
                    : dConvOutputs[l].pointer + j * layer.shape.outputCount
                if l > 0 { chunkDInputs[j] = dConvOutputs[l - 1].pointer + j * plan.conv[l - 1].shape.outputCount }
            }
            ConvKernel.backwardChunk(layer.shape, count: count, inputs: chunkInputs, outputs: chunkOutputs,
                                     dOutputs: chunkDOutputs, weight: p + layer.weight, dWeight: g + layer.weight,
                                     dBias: g + layer.bias, columns: columns.pointer, dColumns: dColumns.pointer,
                                     product: product.pointer, scratch: splitScratch.pointer,
                                     dInputs: l > 0 ? UnsafePointer(chunkDInputs) : nil)
        }
    }

    /// convBackward on the direct path, channels-last: each layer's output gradient masked by its ReLU into
    /// hwcMaskedDOutput (the top layer's from the CHW feature gradient, the others from the padded input gradient
    /// the layer above wrote), then ConvKernel.backwardChunkHWC.
    private func convBackwardHWC(count: Int, direct: DirectConvStack) {
        let ws = workspace, f = plan.featureCount, last = plan.conv.count - 1, g = gradients.pointer
        let stored = direct.storedChannels, masked = hwcMaskedDOutput!.pointer
        let planeCount = Kernels.paddedHWCCount(channels: stored[0], height: plan.conv[0].shape.inHeight,
                                                width: plan.conv[0].shape.inWidth)
        for l in stride(from: last, through: 0, by: -1) {
            let layer = plan.conv[l], s = layer.shape, p = s.positions, so = stored[l + 1]
            if l == last {
                // The features are CHW (PyTorch's flatten order); stored channels past Cout stay zero.
                for j in 0..<count {
                    let out = ws.features.pointer + chunkRows[j] * f, dOut = ws.dFeatures.pointer + chunkRows[j] * f
                    let dst = masked + j * p * so
                    for q in 0..<p {
                        for c in 0..<so { dst[q * so + c] = c < s.outChannels && out[c * p + q] > 0 ? dOut[c * p + q] : 0 }
                    }
                }
            } else {
                // Both the stored output and the gradient the layer above wrote are padded HWC of `so` channels.
                let rowStride = (s.outWidth + 2) * so, dInputCount = convOutputCounts[l]
                for j in 0..<count {
                    let out = ws.convOutputs[l].pointer + chunkRows[j] * convOutputCounts[l] + rowStride + so
                    let dOut = hwcDInputs[l + 1]!.pointer + j * dInputCount + rowStride + so
                    for oy in 0..<s.outHeight {
                        Kernels.reluMask(output: out + oy * rowStride, dOutput: dOut + oy * rowStride,
                                         into: masked + (j * p + oy * s.outWidth) * so, count: s.outWidth * so)
                    }
                }
            }
            for j in 0..<count {
                if l == 0 {
                    let planes = hwcInputPlanes!.pointer + j * planeCount
                    let (current, previous, beforePrevious) = framePointers(row: chunkRows[j])
                    Kernels.encoderInputPaddedHWC(current: current, previous: previous, beforePrevious: beforePrevious,
                                                  height: s.inHeight, width: s.inWidth,
                                                  differenceGain: plan.architecture.encoder.effectiveDifferenceGain,
                                                  withPreviousDifference: stored[0] == 3,
                                                  perFrame: plan.architecture.input.isPerFrame, into: planes)
                    chunkInputs[j] = UnsafePointer(planes)
                } else {
                    chunkInputs[j] = UnsafePointer(ws.convOutputs[l - 1].pointer + chunkRows[j] * convOutputCounts[l - 1])
                    chunkDInputs[j] = hwcDInputs[l]!.pointer + j * convOutputCounts[l - 1]
                }
            }
            ConvKernel.backwardChunkHWC(s, count: count, inputs: chunkInputs, inPixelStride: stored[l],
                                        maskedDOutput: masked, dOutputPixelStride: so, dWeight: g + layer.weight,
                                        dBias: g + layer.bias, channelSums: hwcChannelSums!.pointer,
                                        packedWeightT: hwcPackedWeightsT[l].map { UnsafePointer($0.pointer) },
                                        dInputs: l > 0 ? UnsafePointer(chunkDInputs) : nil)
        }
    }
}

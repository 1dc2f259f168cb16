// The numerical core of training: parameters, gradients and Adam state of one model in flat buffers, mini-batch
// forward + backward on two threads, gradient clipping, Adam, export to a .thud file, and checkpoint state.
//
//   let trainer = ModelTrainer(architecture: .default, seed: 1)
//   for batch in batches {
//       let loss = trainer.computeGradients(batch: batch)   // mean BCE per step
//       _ = trainer.clipGradients(maxNorm: 1)
//       trainer.adamStep(learningRate: 1e-3)
//   }
//   try trainer.modelFile(header: header).write(to: "models/default.thud")
import Foundation
import ThudModel
import ThudBase

/// One window of a clip: T consecutive 12 Hz steps.
public struct TrainingSequence {
    /// T frames, gray8, W×H each (W×H from the architecture's input), packed one after another.
    public var frames: [UInt8]
    /// The frame before the window; nil at the clip's start (the first difference is then zero, as in
    /// StreamingModel's first step after a reset).
    public var previousFrame: [UInt8]?
    /// The frame before `previousFrame`, read only by a model with the previous-difference plane; nil where the clip
    /// has none (or the model does not need it): the previous frame stands in, so that difference is zero.
    public var beforePreviousFrame: [UInt8]?
    /// T envelope targets in [0, 1].
    public var targets: [Float]
    /// Optional per-step loss weights (e.g. extra weight on onset steps); nil = all 1.
    public var weights: [Float]?
    /// T onset-strength targets in [0, 1] for a model with the onset output (nil = 0).
    public var onsetTargets: [Float]?

    public init(frames: [UInt8], previousFrame: [UInt8]?, beforePreviousFrame: [UInt8]? = nil, targets: [Float],
                weights: [Float]? = nil, onsetTargets: [Float]? = nil) {
        self.frames = frames; self.previousFrame = previousFrame; self.beforePreviousFrame = beforePreviousFrame
        self.targets = targets; self.weights = weights; self.onsetTargets = onsetTargets
    }

    public var steps: Int { targets.count }
}

/// A checkpoint or model that does not fit the trainer (missing tensor, wrong shape, bad step counter), or a
/// model that cannot be averaged with another (ModelAverage).
public struct TrainerStateError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    /// Same class of failure as an invalid model file (README.md, "Exit codes": 20).
    public var exitCode: Int32 { 20 }
    public var description: String { message }
    public var errorDescription: String? { message }
}

public final class ModelTrainer {
    public let architecture: ModelArchitecture
    let plan: NetworkPlan
    /// Parameters, gradient and Adam moments, all in ParameterLayout order.
    let parameters: FloatBuffer
    let gradients: FloatBuffer
    let adamM: FloatBuffer
    let adamV: FloatBuffer
    /// Adam steps taken (bias correction uses it).
    public private(set) var stepCount = 0
    /// Threads computeGradients uses (1 or 2). The batch is always split into the same two shards whatever this is,
    /// and their gradients are added in a fixed order, so results are bit-identical for 1 and 2 threads.
    public var threadCount = 2
    /// Loss weight of the onset output's BCE (models with an onset output).
    public var onsetLossWeight: Float = 1
    /// Shard workers: the first part of a batch (about half its steps) goes to workers[0], the rest to workers[1].
    let workers: [TrainingWorker]

    public init(architecture: ModelArchitecture, seed: UInt64) {
        precondition(architecture.validationProblem() == nil, architecture.validationProblem() ?? "")
        self.architecture = architecture
        plan = NetworkPlan(architecture: architecture)
        parameters = FloatBuffer(count: plan.layout.total)
        gradients = FloatBuffer(count: plan.layout.total)
        adamM = FloatBuffer(count: plan.layout.total)
        adamV = FloatBuffer(count: plan.layout.total)
        workers = [TrainingWorker(plan: plan), TrainingWorker(plan: plan)]
        setParameters(architecture.randomParameters(seed: seed))
    }

    // Stops the helper thread (ModelTrainer's second shard), if one was started.
    deinit { helper?.stop() }

    /// Continues from the weights of a model file (fresh Adam state).
    public convenience init(modelFile: ModelFile) throws {
        let a = modelFile.header.architecture
        if let problem = a.validationProblem() { throw TrainerStateError("model: bad architecture (\(problem))") }
        if let problem = modelFile.shapeProblem() { throw TrainerStateError("model: \(problem)") }
        self.init(architecture: a, seed: 0)
        setParameters(modelFile.tensors)
    }

    public var parameterCount: Int { plan.layout.counts.reduce(0, +) }

    /// Starts from another model's weights (a warm start): every tensor of the same name and shape is copied. A
    /// model without the onset output can start one with it: the final layer's envelope row (and bias) is copied,
    /// the onset row keeps its fresh initialisation. A two-plane model can start one with the previous-difference
    /// plane: the first layer's weights on the new plane start at zero. A conv model of another input size with the
    /// same conv layers can start one: the first LSTM layer's input weights are resampled onto the new grid
    /// (resampledGridWeights). Throws, changing nothing, when anything else does not fit.
    public func warmStart(from file: ModelFile) throws {
        let l = plan.layout
        let finalLayer = "head.fc\(architecture.headHidden.count)."
        var copies: [(offset: Int, values: [Float])] = []
        for i in l.names.indices {
            let name = l.names[i], shape = l.shapes[i]
            guard let t = file.tensor(named: name) else { throw TrainerStateError("warm start: the model has no tensor \(name)") }
            if t.shape == shape {
                copies.append((l.offsets[i], t.values))
            } else if name.hasPrefix(finalLayer), t.shape.first == 1, shape.first == 2, Array(t.shape.dropFirst()) == Array(shape.dropFirst()) {
                copies.append((l.offsets[i], t.values))   // row 0, the envelope's
            } else if name == "encoder.conv0.weight", t.shape.count == 4, shape.count == 4, t.shape[0] == shape[0],
                      t.shape[1] == 2, shape[1] == 3, t.shape[2...] == shape[2...] {
                // A two-plane model starting a model with the previous-difference plane: each filter keeps its weights
                // on the frame and the difference, and starts at zero on the new plane, so the model starts out
                // computing exactly what the warm start computed and learns what the new plane adds.
                let perPlane = shape[2] * shape[3]
                var values = [Float](repeating: 0, count: shape.reduce(1, *))
                for o in 0..<shape[0] {
                    for k in 0..<(2 * perPlane) { values[o * 3 * perPlane + k] = t.values[o * 2 * perPlane + k] }
                }
                copies.append((l.offsets[i], values))
            } else if name == "lstm.weight_ih_l0", let values = Self.resampledGridWeights(t, from: file.header.architecture,
                                                                                         to: architecture) {
                copies.append((l.offsets[i], values))
            } else {
                throw TrainerStateError("warm start: tensor \(name) has shape \(t.shape), this model needs \(shape)")
            }
        }
        for c in copies {
            c.values.withUnsafeBufferPointer { (parameters.pointer + c.offset).update(from: $0.baseAddress!, count: c.values.count) }
        }
    }

    /// The first LSTM layer's input weights of a conv model of another input size, resampled onto this model's last
    /// conv grid: each row's map over a channel's grid cells (features are channel-major, row-major within a channel)
    /// is interpolated bilinearly between cell centres and scaled by the ratio of the cell counts, so each gate's
    /// input from a feature map that is about the same over neighbouring cells stays about what it was (exactly, for a
    /// row whose weights are the same in every cell). The conv layers themselves do not depend on the frame size, so
    /// with this a model trained on smaller frames starts one on larger frames close to where it was (how close:
    /// models/README.md).
    /// nil when the two are not conv models with the same last conv channel count and LSTM size.
    static func resampledGridWeights(_ t: NamedTensor, from source: ModelArchitecture, to target: ModelArchitecture) -> [Float]? {
        guard source.encoder.kind == .conv, target.encoder.kind == .conv,
              let channels = source.encoder.convChannels?.last, channels == target.encoder.convChannels?.last,
              let from = source.convOutputSizes.last, let to = target.convOutputSizes.last,
              t.shape.count == 2, t.shape[0] == 4 * target.lstmHidden, t.shape[1] == channels * from.height * from.width
        else { return nil }
        // Source cell and weight of each target cell, along one axis: cell centres (j + ½)/to in the source's cells.
        func taps(_ from: Int, _ to: Int) -> [(Int, Int, Float)] {
            (0..<to).map { j in
                let s = min(max((Double(j) + 0.5) * Double(from) / Double(to) - 0.5, 0), Double(from - 1))
                let i0 = Int(s.rounded(.down)), i1 = min(i0 + 1, from - 1)
                return (i0, i1, Float(s - Double(i0)))
            }
        }
        let rowTaps = taps(from.height, to.height), colTaps = taps(from.width, to.width)
        let scale = Float(from.height * from.width) / Float(to.height * to.width)
        let inCells = from.height * from.width, outCells = to.height * to.width
        let rows = t.shape[0]
        var out = [Float](repeating: 0, count: rows * channels * outCells)
        for r in 0..<rows {
            for c in 0..<channels {
                let src = r * channels * inCells + c * inCells, dst = r * channels * outCells + c * outCells
                for (y, (y0, y1, fy)) in rowTaps.enumerated() {
                    for (x, (x0, x1, fx)) in colTaps.enumerated() {
                        let top = t.values[src + y0 * from.width + x0] * (1 - fx) + t.values[src + y0 * from.width + x1] * fx
                        let bottom = t.values[src + y1 * from.width + x0] * (1 - fx) + t.values[src + y1 * from.width + x1] * fx
                        out[dst + y * to.width + x] = (top * (1 - fy) + bottom * fy) * scale
                    }
                }
            }
        }
        return out
    }

    private func setParameters(_ tensors: [NamedTensor]) {
        for t in tensors {
            let o = plan.layout.offset(of: t.name)
            t.values.withUnsafeBufferPointer { (parameters.pointer + o).update(from: $0.baseAddress!, count: t.values.count) }
        }
    }

    private func tensors(of buffer: FloatBuffer, prefix: String = "") -> [NamedTensor] {
        let l = plan.layout
        return l.names.indices.map { i in
            NamedTensor(name: prefix + l.names[i], shape: l.shapes[i],
                        values: Array(UnsafeBufferPointer(start: buffer.pointer + l.offsets[i], count: l.counts[i])))
        }
    }

    /// Current parameters as named tensors (file order).
    public func parameterTensors() -> [NamedTensor] { tensors(of: parameters) }
    /// The gradient of the last computeGradients (after any clipping), named like the parameters.
    public func gradientTensors() -> [NamedTensor] { tensors(of: gradients) }

    // MARK: Gradients

    /// The batch being worked on, where the helper thread finds its shard. Set and cleared by computeGradients.
    private struct PendingBatch {
        var batch: [TrainingSequence]
        /// The first part of the batch (about half its steps) goes to workers[0], the rest (possibly empty) to
        /// workers[1].
        var shards: (Range<Int>, Range<Int>)
        var scale: Float
    }
    private var pending: PendingBatch?
    /// Loss sum of the helper thread's shard (written by it before it signals).
    private var helperLoss = 0.0
    /// A persistent second thread: waking it through semaphores allocates nothing (GCD's concurrentPerform did).
    /// Started on the first two-shard batch, stopped in deinit.
    private var helper: ShardThread?

    /// Forward, loss and backward of shard `i` of the pending batch into workers[i].gradients.
    private func runShard(_ i: Int) -> Double {
        let job = pending!, w = workers[i]
        w.gradients.zero()
        w.load(job.batch[i == 0 ? job.shards.0 : job.shards.1])
        w.forward(parameters: parameters.pointer)
        let sum = w.loss(gradientScale: job.scale, onsetWeight: onsetLossWeight)
        w.backward(parameters: parameters.pointer)
        return sum
    }

    private func validate(_ s: TrainingSequence, index: Int) {
        let n = plan.frameSize
        precondition(s.frames.count == s.targets.count * n,
                     "sequence \(index): \(s.frames.count) frame bytes for \(s.targets.count) steps of \(n)")
        precondition(s.previousFrame == nil || s.previousFrame!.count == n, "sequence \(index): previous frame size")
        precondition(s.beforePreviousFrame == nil || (s.previousFrame != nil && s.beforePreviousFrame!.count == n),
                     "sequence \(index): frame before the previous one without a previous frame, or its size")
        precondition(s.weights == nil || s.weights!.count == s.targets.count, "sequence \(index): weights count")
        precondition(s.onsetTargets == nil || s.onsetTargets!.count == s.targets.count, "sequence \(index): onset targets count")
    }

    /// Zeroes gradients, runs forward + backward over the batch (sequences may differ in length: shorter ones are
    /// masked), and returns the mean loss per step: Σ weight · BCE / (number of steps). The gradient is that of
    /// the returned loss. Uses `threadCount` threads; bit-identical results for any thread count.
    public func computeGradients(batch: [TrainingSequence]) -> Float {
        precondition(!batch.isEmpty, "empty batch")
        for (i, s) in batch.enumerated() { validate(s, index: i) }
        let stepTotal = batch.reduce(0) { $0 + $1.steps }
        guard stepTotal > 0 else { gradients.zero(); return 0 }
        // Our own two threads do the parallel work; OpenBLAS threads inside them would only fight over the 2 cores.
        Kernels.pinBLASToOneThread()
        // Split where the first shard reaches half the steps (not half the sequences), so the two threads get equal
        // work when clip ends make sequences shorter. It depends only on the batch, never on the thread count.
        var split = 1, firstSteps = batch[0].steps
        while split < batch.count - 1 && 2 * firstSteps < stepTotal { firstSteps += batch[split].steps; split += 1 }
        let twoShards = batch.count >= 2
        pending = PendingBatch(batch: batch, shards: twoShards ? (0..<split, split..<batch.count) : (0..<batch.count, 0..<0),
                               scale: 1 / Float(stepTotal))
        defer { pending = nil }
        var losses = (0.0, 0.0)
        if twoShards && threadCount >= 2 {
            // The second shard runs on the helper thread while this one runs the first.
            if helper == nil { helper = ShardThread { [unowned self] in self.helperLoss = self.runShard(1) } }
            helper!.start()
            losses.0 = runShard(0)
            helper!.wait()
            losses.1 = helperLoss
        } else {
            losses.0 = runShard(0)
            if twoShards { losses.1 = runShard(1) }
        }
        let g = gradients.pointer, g0 = workers[0].gradients.pointer, g1 = workers[1].gradients.pointer
        if twoShards {
            for i in 0..<plan.layout.total { g[i] = g0[i] + g1[i] }
        } else {
            g.update(from: g0, count: plan.layout.total)
        }
        return Float((losses.0 + losses.1) / Double(stepTotal))
    }

    /// Mean loss per step of a batch without gradients (validation). Same definition as computeGradients.
    public func loss(batch: [TrainingSequence]) -> Float {
        precondition(!batch.isEmpty, "empty batch")
        for (i, s) in batch.enumerated() { validate(s, index: i) }
        let stepTotal = batch.reduce(0) { $0 + $1.steps }
        guard stepTotal > 0 else { return 0 }
        Kernels.pinBLASToOneThread()
        let w = workers[0]
        w.load(batch[...])
        w.forward(parameters: parameters.pointer)
        return Float(w.loss(gradientScale: nil, onsetWeight: onsetLossWeight) / Double(stepTotal))
    }

    /// Global L2 norm of the gradient (summed in Double, in a fixed order); when above `maxNorm`, scales the gradient
    /// by maxNorm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        let g = gradients.pointer
        var sum: Double = 0
        for i in 0..<plan.layout.total { sum += Double(g[i]) * Double(g[i]) }
        let norm = Float(sum.squareRoot())
        if norm > maxNorm {
            let s = maxNorm / (norm + 1e-6)
            for i in 0..<plan.layout.total { g[i] *= s }
        }
        return norm
    }

    /// One Adam step on the current gradient (torch.optim.Adam's update with bias correction). A non-zero
    /// `weightDecay` is decoupled, as in AdamW: p ← p − lr·wd·p before the Adam update.
    public func adamStep(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                         weightDecay: Float = 0) {
        stepCount += 1
        let bc1 = Float(1 - pow(Double(beta1), Double(stepCount)))
        let bc2Root = Float((1 - pow(Double(beta2), Double(stepCount))).squareRoot())
        let stepSize = learningRate / bc1, decay = learningRate * weightDecay
        let p = parameters.pointer, g = gradients.pointer, m = adamM.pointer, v = adamV.pointer
        for i in 0..<plan.layout.total {
            if decay != 0 { p[i] -= decay * p[i] }
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Root + epsilon)
        }
    }

    // MARK: Inference and export

    /// Steps per chunk in `predict`: bounds the activation memory for long clips; state carries across chunks.
    static let predictChunk = 64

    /// The envelope for one whole clip (`count` packed gray8 frames) from zero state, one value per step in
    /// [0, 1] — what StreamingModel gives on the exported file, step by step after a reset.
    public func predict(frames: [UInt8], count: Int) -> [Float] { predictOutputs(frames: frames, count: count).envelope }

    /// The envelope and, for a model with the onset output, the onset strength, for one whole clip from zero state,
    /// one value per step at the step it describes. A model with an output delay d describes step k after frame
    /// k + d: the last d steps are described after holding the last frame d steps more, as a stream does at its end.
    public func predictOutputs(frames: [UInt8], count: Int) -> (envelope: [Float], onsets: [Float]?) {
        let d = architecture.outputDelay
        guard d > 0, count > 0 else { return rawOutputs(frames: frames, count: count) }
        let held = frames.withUnsafeBufferPointer {
            DelayedOutputs.holdingLastFrame($0, count: count, frameBytes: plan.frameSize, delay: d)
        }
        return DelayedOutputs.onTheirSteps(rawOutputs(frames: held, count: count + d), delay: d)
    }

    /// The outputs step by step as the network gives them (output t after frame t, whatever it describes).
    func rawOutputs(frames: [UInt8], count: Int) -> (envelope: [Float], onsets: [Float]?) {
        let n = plan.frameSize, o = plan.outputCount
        precondition(frames.count == count * n, "need \(count) frames of \(n) bytes")
        Kernels.pinBLASToOneThread()
        var out = [Float](repeating: 0, count: count)
        var onsets = [Float](repeating: 0, count: o == 2 ? count : 0)
        let w = workers[0]
        frames.withUnsafeBufferPointer { fp in
            var start = 0
            while start < count {
                let len = min(ModelTrainer.predictChunk, count - start)
                let base = fp.baseAddress! + start * n
                w.loadClipChunk(frames: base, count: len, previous: start == 0 ? nil : base - n,
                                beforePrevious: start < 2 ? nil : base - 2 * n)
                w.forward(parameters: parameters.pointer, resetState: start == 0)
                let z = w.logits
                for t in 0..<len {
                    out[start + t] = Kernels.sigmoid(z[t * o])
                    if o == 2 { onsets[start + t] = Kernels.sigmoid(z[t * o + 1]) }
                }
                w.carryStateForward()
                start += len
            }
        }
        return (out, o == 2 ? onsets : nil)
    }

    /// The current weights in ThudModel's format, so StreamingModel loads them. The header's architecture is set
    /// to the trainer's, so the file always matches its tensors.
    public func modelFile(header: ModelHeader) -> ModelFile {
        var h = header
        h.architecture = architecture
        return ModelFile(header: h, tensors: parameterTensors())
    }

    // MARK: Checkpoints

    static let momentPrefix = "adam.m."
    static let variancePrefix = "adam.v."
    static let stepTensorName = "adam.step"

    /// Everything needed to resume bit-exactly: parameters (named as in the model file), Adam's first and second
    /// moments ("adam.m.<name>", "adam.v.<name>") and the step counter ("adam.step", one float, exact below 2²⁴).
    public func checkpointTensors() -> [NamedTensor] {
        tensors(of: parameters) + tensors(of: adamM, prefix: ModelTrainer.momentPrefix)
            + tensors(of: adamV, prefix: ModelTrainer.variancePrefix)
            + [NamedTensor(name: ModelTrainer.stepTensorName, shape: [1], values: [Float(stepCount)])]
    }

    /// Restores the state written by checkpointTensors(). Throws (changing nothing) when a tensor is missing or
    /// has the wrong shape.
    public func restore(checkpointTensors: [NamedTensor]) throws {
        var byName: [String: NamedTensor] = [:]
        for t in checkpointTensors { byName[t.name] = t }
        let l = plan.layout
        for prefix in ["", ModelTrainer.momentPrefix, ModelTrainer.variancePrefix] {
            for i in l.names.indices {
                guard let t = byName[prefix + l.names[i]] else {
                    throw TrainerStateError("checkpoint: missing tensor \(prefix + l.names[i])")
                }
                guard t.shape == l.shapes[i] else {
                    throw TrainerStateError("checkpoint: tensor \(t.name) has shape \(t.shape), model needs \(l.shapes[i])")
                }
            }
        }
        guard let step = byName[ModelTrainer.stepTensorName], step.values.count == 1,
              let stepValue = Int(exactly: step.values[0]), stepValue >= 0 else {
            throw TrainerStateError("checkpoint: missing or bad \(ModelTrainer.stepTensorName)")
        }
        for (prefix, buffer) in [("", parameters), (ModelTrainer.momentPrefix, adamM), (ModelTrainer.variancePrefix, adamV)] {
            for i in l.names.indices {
                byName[prefix + l.names[i]]!.values.withUnsafeBufferPointer {
                    (buffer.pointer + l.offsets[i]).update(from: $0.baseAddress!, count: l.counts[i])
                }
            }
        }
        stepCount = stepValue
    }
}

/// A thread that runs one fixed job each time it is started, for the second shard of a batch.
final class ShardThread {
    private let startSignal = DispatchSemaphore(value: 0)
    private let doneSignal = DispatchSemaphore(value: 0)
    private let job: () -> Void
    /// Read by the thread after each wake-up; set only before the final signal.
    private var stopping = false
    private var thread: Thread?

    init(job: @escaping () -> Void) {
        self.job = job
        let thread = Thread { [startSignal, doneSignal, job, unowned self] in
            while true {
                startSignal.wait()
                if self.stopping { break }
                job()
                doneSignal.signal()
            }
            doneSignal.signal()
        }
        thread.name = "thud-train shard"
        thread.start()
        self.thread = thread
    }

    func start() { startSignal.signal() }
    func wait() { doneSignal.wait() }

    /// Ends the thread and waits for it (called from the trainer's deinit).
    func stop() {
        stopping = true
        startSignal.signal()
        doneSignal.wait()
        thread = nil
    }
}

extension TrainerStateError: OneLineError {}

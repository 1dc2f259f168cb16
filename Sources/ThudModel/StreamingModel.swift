// The streaming model: encoder → stacked LSTM → head, one step per 12 Hz frame. Everything is allocated in init;
// `step` only reads the frame, runs the kernels on preallocated buffers and returns the envelope.
import Foundation
import ThudBase

/// Per-layer time of the last step, in seconds (recorded only when `recordsTimings` is on; used by the benchmark).
public struct StepTimings: Equatable {
    public var encoder: Double = 0
    public var lstm: Double = 0
    public var head: Double = 0
    public var total: Double { encoder + lstm + head }
}

public final class StreamingModel {
    /// The file the model came from, as errors name it ("<in memory>" for one fresh from training).
    public let path: String
    public let header: ModelHeader
    public let architecture: ModelArchitecture
    public let encoder: FrameEncoder
    public let lstm: StackedLSTM
    public let head: DenseHead

    public var inputWidth: Int { architecture.input.width }
    public var inputHeight: Int { architecture.input.height }
    /// Bytes per frame `step` expects: width × height gray8.
    public let frameByteCount: Int
    /// Steps taken since init or the last reset().
    public private(set) var stepIndex = 0
    /// Whether the model has the onset output (`--detection onset` picks its peaks).
    public var hasOnsetOutput: Bool { architecture.hasOnsetOutput }
    /// The onset strength in [0, 1] of the last `step` (0 without an onset output).
    public var lastOnset: Float { head.lastOnset }

    public var recordsTimings = false
    public private(set) var lastTimings = StepTimings()

    /// The previous frame and the one before it, kept for the difference planes (copies: the caller's buffer is
    /// reused by the ring). Two buffers that trade roles each step, so a step copies one frame.
    private var previousFrame: UnsafeMutableBufferPointer<UInt8>
    private var beforePreviousFrame: UnsafeMutableBufferPointer<UInt8>
    private var hasPrevious = false
    private var hasBeforePrevious = false

    /// Loads and validates a .thud file (errors: ModelFileError, exit code 20).
    public convenience init(path: String) throws {
        try self.init(file: ModelFile.read(path: path), path: path)
    }

    /// Builds the model from an in-memory file (e.g. fresh from training). `path` only names it in errors.
    public init(file: ModelFile, path: String = "<in memory>") throws {
        if let problem = file.header.architecture.validationProblem() {
            throw ModelFileError(path: path, problem: .badHeader(problem))
        }
        if let problem = file.shapeProblem() { throw ModelFileError(path: path, problem: .shapeMismatch(problem)) }
        Kernels.pinBLASToOneThread()
        self.path = path
        header = file.header
        let a = file.header.architecture
        architecture = a
        var byName: [String: NamedTensor] = [:]
        for t in file.tensors { byName[t.name] = t }
        switch a.encoder.kind {
        case .conv: encoder = ConvEncoder(architecture: a, parameters: byName)
        case .motionEnergy: encoder = MotionEnergyEncoder(architecture: a)
        case .motionFlow: encoder = MotionFlowEncoder(architecture: a)
        }
        // A float16 file's LSTM steps on its half-precision weights; its other weights are small and widened.
        lstm = StackedLSTM(inputSize: a.featureCount, hidden: a.lstmHidden, layers: a.lstmLayers, parameters: byName,
                           halfWeights: file.header.weightStorage == .float16)
        head = DenseHead(inputSize: a.lstmHidden, hidden: a.headHidden, outputCount: a.outputCount, parameters: byName)
        frameByteCount = a.input.width * a.input.height
        previousFrame = .allocate(capacity: frameByteCount)
        previousFrame.initialize(repeating: 0)
        beforePreviousFrame = .allocate(capacity: frameByteCount)
        beforePreviousFrame.initialize(repeating: 0)
        if let when = firstNonFiniteOutputOnProbeFrames() { throw ModelFileError(path: path, problem: .nonFiniteOutput(when)) }
    }

    /// A few steps on fixed frames (black, then noise, then black again) from a reset state: a model whose weights
    /// overflow float arithmetic shows it here, before it has written a line, instead of printing NaN as an envelope.
    /// Returns where the first non-finite output came, nil when all were numbers. The state is reset afterwards.
    /// (EnvelopeStream checks every step as well: no fixed probe can stand for every frame.)
    private func firstNonFiniteOutputOnProbeFrames() -> String? {
        defer { reset() }
        var noise = [UInt8](repeating: 0, count: frameByteCount)
        var rng = SplitMix64(seed: 0x7487_0D5E)
        for i in noise.indices { noise[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let black = [UInt8](repeating: 0, count: frameByteCount)
        for (k, frame) in [black, noise, noise, black].enumerated() {
            let envelope = frame.withUnsafeBufferPointer { step(frame: $0) }
            if !envelope.isFinite || !lastOnset.isFinite { return "on a test frame (step \(k + 1) of 4 on load)" }
        }
        return nil
    }

    /// A second stream of the same model: the weights shared read-only with `other` (one copy however many feeds),
    /// its own LSTM state, previous frames and scratch, so the two may step on different threads at once.
    public init(sharingWeightsOf other: StreamingModel) {
        path = other.path
        header = other.header
        architecture = other.architecture
        encoder = other.encoder.replica()
        lstm = StackedLSTM(sharingWeightsOf: other.lstm)
        head = DenseHead(sharingWeightsOf: other.head)
        frameByteCount = other.frameByteCount
        previousFrame = .allocate(capacity: frameByteCount)
        previousFrame.initialize(repeating: 0)
        beforePreviousFrame = .allocate(capacity: frameByteCount)
        beforePreviousFrame.initialize(repeating: 0)
    }

    deinit {
        previousFrame.deallocate()
        beforePreviousFrame.deallocate()
    }

    /// Advances one 12 Hz step on a gray8 frame of `frameByteCount` bytes and returns the envelope in [0, 1].
    /// Allocates nothing (checked by tools/bench/model_bench.sh).
    public func step(frame: UnsafeBufferPointer<UInt8>) -> Float {
        precondition(frame.count == frameByteCount, "frame must be \(inputWidth)x\(inputHeight) gray8")
        // The thread count is process-global and someone else (training, another model) may have raised it; checking
        // is one load, setting only happens when it changed.
        Kernels.pinBLASToOneThread()
        // After a reset there is no previous frame: use the current one, so the first difference is zero; likewise
        // the frame before the previous one (FrameEncoder.encode).
        let previous = hasPrevious ? UnsafeBufferPointer(previousFrame) : frame
        let beforePrevious = hasBeforePrevious ? UnsafeBufferPointer(beforePreviousFrame) : previous
        let t0 = recordsTimings ? MonotonicClock.seconds() : 0
        encoder.encode(current: frame, previous: previous, beforePrevious: beforePrevious, into: lstm.input)
        let t1 = recordsTimings ? MonotonicClock.seconds() : 0
        lstm.step()
        let t2 = recordsTimings ? MonotonicClock.seconds() : 0
        let envelope = head.forward(lstm.h(layer: lstm.layerCount - 1))
        if recordsTimings {
            let t3 = MonotonicClock.seconds()
            lastTimings = StepTimings(encoder: t1 - t0, lstm: t2 - t1, head: t3 - t2)
        }
        // The previous frame becomes the one before it and the other buffer takes this frame. `frame` may be the
        // old previousFrame (stepOnLastFrame): after the swap it is the source, never the destination.
        swap(&previousFrame, &beforePreviousFrame)
        hasBeforePrevious = hasPrevious
        _ = previousFrame.update(fromContentsOf: frame)
        hasPrevious = true
        stepIndex += 1
        return envelope
    }

    /// Steps the output lags the step it describes (ModelArchitecture.outputDelaySteps): the output after the frame of
    /// step k describes step k − outputDelaySteps. EnvelopeStream puts outputs back on their steps.
    public var outputDelaySteps: Int { architecture.outputDelay }

    /// One more step on the last frame again, held still (difference zero): how a delayed model describes the last
    /// steps of a stream once no frame follows them. Allocates nothing.
    public func stepOnLastFrame() -> Float {
        precondition(hasPrevious, "stepOnLastFrame needs a frame first")
        return step(frame: UnsafeBufferPointer(previousFrame))
    }

    /// Back to the start of a stream: zero LSTM state, no previous frame.
    public func reset() {
        lstm.reset()
        hasPrevious = false
        hasBeforePrevious = false
        stepIndex = 0
    }

    /// Runs `count` frames (packed one after another) as one batch from a fresh state — input projections and the
    /// head as sgemm over all steps — and returns every step's envelope. Does not touch the streaming state.
    /// Used to check streaming == batch, and by training/evaluation over whole clips. Allocates.
    public func runBatch(frames: UnsafeBufferPointer<UInt8>, count: Int) -> [Float] {
        runBatchOutputs(frames: frames, count: count).envelope
    }

    /// `runBatch`'s envelope and, with an onset output, every step's onset strength, each on the step it describes:
    /// a delayed model's last steps are described from the last frame held still, as EnvelopeStream does.
    public func runBatchOutputs(frames: UnsafeBufferPointer<UInt8>, count: Int) -> (envelope: [Float], onsets: [Float]?) {
        precondition(frames.count == count * frameByteCount, "need \(count) frames of \(frameByteCount) bytes")
        let d = outputDelaySteps
        guard d > 0, count > 0 else { return rawBatchOutputs(frames: frames, count: count) }
        let held = DelayedOutputs.holdingLastFrame(frames, count: count, frameBytes: frameByteCount, delay: d)
        return DelayedOutputs.onTheirSteps(held.withUnsafeBufferPointer { rawBatchOutputs(frames: $0, count: count + d) }, delay: d)
    }

    /// The outputs frame by frame, whatever step they describe.
    func rawBatchOutputs(frames: UnsafeBufferPointer<UInt8>, count: Int) -> (envelope: [Float], onsets: [Float]?) {
        let f = architecture.featureCount
        var features = [Float](repeating: 0, count: count * f)
        features.withUnsafeMutableBufferPointer { fp in
            for t in 0..<count {
                let current = UnsafeBufferPointer(rebasing: frames[(t * frameByteCount)..<((t + 1) * frameByteCount)])
                let previous = t == 0 ? current
                    : UnsafeBufferPointer(rebasing: frames[((t - 1) * frameByteCount)..<(t * frameByteCount)])
                let beforePrevious = t < 2 ? previous
                    : UnsafeBufferPointer(rebasing: frames[((t - 2) * frameByteCount)..<((t - 1) * frameByteCount)])
                encoder.encode(current: current, previous: previous, beforePrevious: beforePrevious,
                               into: fp.baseAddress! + t * f)
            }
        }
        let hidden = lstm.runBatch(inputs: features, steps: count)
        let outputs = head.forwardBatch(hidden, count: count), o = head.outputCount
        let envelope = (0..<count).map { outputs[$0 * o] }
        return (envelope, o == 2 ? (0..<count).map { outputs[$0 * o + 1] } : nil)
    }

    // MARK: Inspection (tests, debugging; these allocate)

    public func hiddenState(layer: Int) -> [Float] { Array(UnsafeBufferPointer(start: lstm.h(layer: layer), count: lstm.hidden)) }
    public func cellState(layer: Int) -> [Float] { Array(UnsafeBufferPointer(start: lstm.c(layer: layer), count: lstm.hidden)) }
    /// The encoder's features of the last step.
    public func lastFeatures() -> [Float] { Array(UnsafeBufferPointer(start: lstm.input, count: lstm.inputSize)) }
}


extension ModelFile {
    /// Why the tensors do not fit the header's architecture (missing, extra, wrong shape, wrong count), or nil.
    public func shapeProblem() -> String? {
        let expected = header.architecture.parameterShapes
        for (name, shape) in expected {
            guard let t = tensor(named: name) else { return "missing tensor \(name)" }
            if t.shape != shape { return "tensor \(name) has shape \(t.shape), architecture needs \(shape)" }
            if t.values.count != shape.reduce(1, *) { return "tensor \(name) holds \(t.values.count) values" }
        }
        if let extra = tensors.first(where: { t in !expected.contains { $0.name == t.name } }) {
            return "unexpected tensor \(extra.name)"
        }
        return nil
    }
}

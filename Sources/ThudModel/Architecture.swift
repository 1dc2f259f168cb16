// The model's architecture as written in the JSON header of a .thud file, the list of parameter tensors it implies
// (names follow PyTorch's state_dict of tools/reference/thud_model.py, so both sides read the same file), and a seeded
// random initialisation for training to start from.
import Foundation
import ThudBase

/// Which per-frame encoder turns [frame, frame − previous] into the LSTM's input vector.
public enum EncoderKind: String, Codable, Sendable {
    /// Small learned 2D conv net (stride-2 3×3 layers + ReLU) over 2 channels: x/255 and (x − previous)/255.
    case conv
    /// Weight-free: mean |frame difference| per grid cell plus global statistics. Baseline and fallback.
    case motionEnergy
    /// Weight-free: per grid cell, the motion energy, the cell's displacement since the previous frame (block
    /// matching), how much that displacement changed since the step before (a hit stops or turns a motion) and what
    /// the displacement leaves unexplained; plus global statistics (MotionFlowEncoder). Issue 40's lever 3: motion
    /// measured the same way on synthetic and real video. An older build refuses such a file (unknown kind).
    case motionFlow
}

public struct InputSpec: Codable, Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// Pixel format the model expects: 8-bit luma, row-major, tightly packed (README.md, "The streaming model").
    public var pixelFormat: String
    /// How pixels become floats: "x/255" (every model before issue 40) or "per-frame" (conv encoder only: each step's
    /// planes standardised by the frame's own statistics, Kernels.PerFrameStatistics).
    public var normalisation: String

    public init(width: Int, height: Int, pixelFormat: String = "gray8", normalisation: String = InputSpec.fixedScale) {
        self.width = width; self.height = height; self.pixelFormat = pixelFormat; self.normalisation = normalisation
    }

    /// x/255 and (x − previous)/255 × gain: the normalisation of every model file before "per-frame".
    public static let fixedScale = "x/255"
    /// Per-frame standardisation: the frame plane is (x − mean x)/s and each difference plane (d − mean d)/s × gain,
    /// with mean x, mean d and s = √(var x + 4²) measured on this step's own frames (in gray levels). An exposure or
    /// contrast change (x → a·x + b) leaves every plane as it was (up to rounding and the floor of 4 levels under
    /// s), so the encoder sees synthetic and real video alike however each camera exposes; the differences keep
    /// their size relative to the picture's own contrast, so how much moves still shows. An older build refuses
    /// such a file ("unsupported normalisation"), never misreads it.
    public static let perFrame = "per-frame"
    /// Whether the conv encoder's planes are standardised per frame (`normalisation == "per-frame"`).
    public var isPerFrame: Bool { normalisation == InputSpec.perFrame }
}

public struct EncoderSpec: Codable, Equatable, Sendable {
    public var kind: EncoderKind
    /// conv: output channels of each stride-2 3×3 layer (padding 1, ReLU).
    public var convChannels: [Int]?
    /// motionEnergy, motionFlow: grid of cells.
    public var gridRows: Int?
    public var gridCols: Int?
    /// motionEnergy: a pixel counts as "moving" when |difference| exceeds this many gray levels. motionFlow: a cell
    /// whose mean |difference| is at most half this stands still (no displacement searched).
    public var activeThresholdLevels: Int?
    /// motionFlow: displacements up to ± this many pixels of the half-resolution frame are searched, per axis.
    public var flowSearchRadius: Int?
    /// conv: the difference plane is (x − previous)/255 × this gain. Motion is what predicts a hit, but a
    /// frame-to-frame difference is small next to the picture itself; without a gain the picture's
    /// appearance swamps it and training learns a clip-independent prior. Absent in a file = 1.
    public var differenceGain: Float?
    /// conv: a third input plane, the previous step's difference (previous − the frame before it)/255 × the same
    /// gain. A bounce is a change of motion; one difference shows where things move, two side by side let the
    /// first layer see the motion turn. Absent in a file = false (two planes).
    public var previousDifferencePlane: Bool?

    public var effectiveDifferenceGain: Float { differenceGain ?? 1 }
    /// Whether the conv encoder reads the third plane (`previousDifferencePlane`).
    public var hasPreviousDifferencePlane: Bool { kind == .conv && (previousDifferencePlane ?? false) }
    /// Whether the encoder reads the frame before the previous one (the conv's third plane, the motion-flow
    /// encoder's earlier displacement); training copies that frame in for a window's first step only then.
    public var readsFrameBeforePrevious: Bool { hasPreviousDifferencePlane || kind == .motionFlow }
    /// Input planes of the first conv layer: the frame and its difference, then the previous difference if any.
    public var inputPlaneCount: Int { hasPreviousDifferencePlane ? 3 : 2 }

    public static func conv(channels: [Int], differenceGain: Float? = nil, previousDifferencePlane: Bool? = nil) -> EncoderSpec {
        EncoderSpec(kind: .conv, convChannels: channels, gridRows: nil, gridCols: nil, activeThresholdLevels: nil,
                    differenceGain: differenceGain, previousDifferencePlane: previousDifferencePlane)
    }

    public static func motionEnergy(rows: Int = 8, cols: Int = 8, activeThresholdLevels: Int = 10) -> EncoderSpec {
        EncoderSpec(kind: .motionEnergy, convChannels: nil, gridRows: rows, gridCols: cols,
                    activeThresholdLevels: activeThresholdLevels, differenceGain: nil, previousDifferencePlane: nil)
    }

    public static func motionFlow(rows: Int = 8, cols: Int = 8, activeThresholdLevels: Int = 10, searchRadius: Int = 3) -> EncoderSpec {
        EncoderSpec(kind: .motionFlow, convChannels: nil, gridRows: rows, gridCols: cols,
                    activeThresholdLevels: activeThresholdLevels, flowSearchRadius: searchRadius,
                    differenceGain: nil, previousDifferencePlane: nil)
    }
}

public struct ModelArchitecture: Codable, Equatable, Sendable {
    public var input: InputSpec
    public var encoder: EncoderSpec
    /// LSTM hidden size; the LSTM has `lstmLayers` layers (PyTorch gate order i, f, g, o).
    public var lstmHidden: Int
    public var lstmLayers: Int
    /// Hidden widths of the fully connected head; a final Linear(→outputCount) + sigmoid follows.
    public var headHidden: [Int]
    /// A second output beside the envelope, trained on the audio's onset strength (AudioOnsets); PeakPicker's
    /// `.onset` detector reads it. Absent in a file = false (one output).
    public var onsetOutput: Bool?
    /// The output at step t describes step t − d: the sound of the 1/12 s window that *starts* at step t − d's frame.
    /// Step k's frame is the last one at or before k/12, and its target the audio of [k/12, (k+1)/12), so with d = 0
    /// the model must foresee an impact from the frame before it; with d = 1 it has seen the frame after the window
    /// (the bounce itself, the object at rest or on its way back up) when it describes it. The cost is d steps of
    /// latency. Absent in a file = 0.
    public var outputDelaySteps: Int?

    public init(input: InputSpec, encoder: EncoderSpec, lstmHidden: Int, lstmLayers: Int = 2, headHidden: [Int],
                onsetOutput: Bool? = nil, outputDelaySteps: Int? = nil) {
        self.input = input; self.encoder = encoder; self.lstmHidden = lstmHidden
        self.lstmLayers = lstmLayers; self.headHidden = headHidden; self.onsetOutput = onsetOutput
        self.outputDelaySteps = outputDelaySteps
    }

    public var hasOnsetOutput: Bool { onsetOutput ?? false }
    /// `outputDelaySteps`, 0 when absent.
    public var outputDelay: Int { outputDelaySteps ?? 0 }
    /// Sigmoid outputs per step: the envelope, then the onset strength when there is one.
    public var outputCount: Int { hasOnsetOutput ? 2 : 1 }

    /// The default runtime size: 64×64 input, conv 8-16-32-32 (→ 4×4×32 = 512 features), LSTM 2×128, head 64-32-1.
    /// Sized so a whole step stays well under 0.5 ms on one core (see tools/bench/model_bench.sh).
    public static let `default` = ModelArchitecture(
        input: InputSpec(width: 64, height: 64), encoder: .conv(channels: [8, 16, 32, 32], differenceGain: 8),
        lstmHidden: 128, lstmLayers: 2, headHidden: [64, 32])

    /// The default with the onset output: the same network, a head 64-32-2.
    public static let defaultWithOnsets: ModelArchitecture = {
        var a = ModelArchitecture.default
        a.onsetOutput = true
        return a
    }()

    /// The weight-free baseline: motion energy on an 8×8 grid, same LSTM and head.
    public static let motionEnergyDefault = ModelArchitecture(
        input: InputSpec(width: 64, height: 64), encoder: .motionEnergy(),
        lstmHidden: 128, lstmLayers: 2, headHidden: [64, 32])

    /// Block-matching motion on an 8×8 grid of a 96×96 frame (searched at 48×48, ±3 pixels there: ±6 of the frame
    /// per 1/12 s), same LSTM and head.
    public static let motionFlowDefault = ModelArchitecture(
        input: InputSpec(width: 96, height: 96), encoder: .motionFlow(),
        lstmHidden: 128, lstmLayers: 2, headHidden: [64, 32])

    /// Spatial sizes (height, width) after each conv layer.
    public var convOutputSizes: [(height: Int, width: Int)] {
        var h = input.height, w = input.width
        return (encoder.convChannels ?? []).map { _ in
            h = Kernels.convOutputSize(h, stride: 2); w = Kernels.convOutputSize(w, stride: 2)
            return (h, w)
        }
    }

    /// Length of the encoder's feature vector (= LSTM input size).
    public var featureCount: Int {
        switch encoder.kind {
        case .conv:
            guard let last = encoder.convChannels?.last, let size = convOutputSizes.last else { return 0 }
            return last * size.height * size.width
        case .motionEnergy:
            return (encoder.gridRows ?? 0) * (encoder.gridCols ?? 0) + MotionEnergyEncoder.globalFeatureCount
        case .motionFlow:
            return (encoder.gridRows ?? 0) * (encoder.gridCols ?? 0) * MotionFlowEncoder.cellFeatureCount
                + MotionFlowEncoder.globalFeatureCount
        }
    }

    /// Floating-point operations of one streaming step, counted as 2 per multiply-add of each layer's product (conv:
    /// Cout·Cin·9 per output pixel, padding taps included, as im2col + sgemm would do them; LSTM: 4H·(in + H) per
    /// layer; head: in·out per layer); biases, activations and the motion-energy encoder's sums are not counted.
    /// The benchmark's roofline line divides it by the step time.
    public var stepFLOPs: (encoder: Int, lstm: Int, head: Int) {
        var encoderMACs = 0
        if encoder.kind == .conv {
            var cin = encoder.inputPlaneCount
            for (cout, size) in zip(encoder.convChannels ?? [], convOutputSizes) {
                encoderMACs += cout * cin * 9 * size.height * size.width
                cin = cout
            }
        }
        var lstmMACs = 0, inSize = featureCount
        for _ in 0..<lstmLayers { lstmMACs += 4 * lstmHidden * (inSize + lstmHidden); inSize = lstmHidden }
        var headMACs = 0, fin = lstmHidden
        for width in headHidden + [outputCount] { headMACs += fin * width; fin = width }
        return (2 * encoderMACs, 2 * lstmMACs, 2 * headMACs)
    }

    /// Returns a reason when the architecture is unusable (nonsense sizes, missing encoder fields), else nil.
    public func validationProblem() -> String? {
        if input.width < 4 || input.height < 4 || input.width > 1024 || input.height > 1024 {
            return "input size \(input.width)x\(input.height) out of range 4...1024"
        }
        if input.pixelFormat != "gray8" { return "unsupported pixel format \"\(input.pixelFormat)\" (want gray8)" }
        if input.normalisation != InputSpec.fixedScale && input.normalisation != InputSpec.perFrame {
            return "unsupported normalisation \"\(input.normalisation)\" (want x/255 or per-frame)"
        }
        if input.isPerFrame && encoder.kind != .conv { return "per-frame normalisation needs the conv encoder" }
        switch encoder.kind {
        case .conv:
            guard let ch = encoder.convChannels, !ch.isEmpty, ch.count <= 8, ch.allSatisfy({ $0 >= 1 && $0 <= 1024 })
            else { return "conv encoder needs 1...8 layers of 1...1024 channels" }
            guard encoder.effectiveDifferenceGain > 0, encoder.effectiveDifferenceGain <= 1000 else {
                return "conv encoder differenceGain must be in (0, 1000]"
            }
        case .motionEnergy:
            if encoder.previousDifferencePlane == true { return "previousDifferencePlane needs the conv encoder" }
            guard let r = encoder.gridRows, let c = encoder.gridCols, r >= 1, c >= 1,
                  r <= input.height, c <= input.width else { return "motion-energy grid must fit the input" }
            guard let t = encoder.activeThresholdLevels, t >= 0, t < 255 else {
                return "motion-energy activeThresholdLevels must be 0...254"
            }
        case .motionFlow:
            if encoder.previousDifferencePlane == true { return "previousDifferencePlane needs the conv encoder" }
            // The search runs on the half-resolution frame: every cell must have a pixel there.
            guard let r = encoder.gridRows, let c = encoder.gridCols, r >= 1, c >= 1,
                  r <= input.height / 2, c <= input.width / 2 else { return "motion-flow grid must fit the half-resolution input" }
            guard let t = encoder.activeThresholdLevels, t >= 0, t < 255 else {
                return "motion-flow activeThresholdLevels must be 0...254"
            }
            guard let radius = encoder.flowSearchRadius, radius >= 1, radius <= 16 else {
                return "motion-flow flowSearchRadius must be 1...16"
            }
        }
        if outputDelay < 0 || outputDelay > 4 { return "outputDelaySteps \(outputDelay) out of range 0...4" }
        if lstmHidden < 1 || lstmHidden > 4096 { return "lstmHidden \(lstmHidden) out of range 1...4096" }
        if lstmLayers < 1 || lstmLayers > 4 { return "lstmLayers \(lstmLayers) out of range 1...4" }
        if headHidden.count > 4 || !headHidden.allSatisfy({ $0 >= 1 && $0 <= 4096 }) {
            return "headHidden must be at most 4 widths of 1...4096"
        }
        return nil
    }

    /// Every parameter tensor this architecture needs, in file order, with PyTorch state_dict names and shapes.
    public var parameterShapes: [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        if encoder.kind == .conv, let channels = encoder.convChannels {
            var cin = encoder.inputPlaneCount
            for (i, cout) in channels.enumerated() {
                out.append(("encoder.conv\(i).weight", [cout, cin, 3, 3]))
                out.append(("encoder.conv\(i).bias", [cout]))
                cin = cout
            }
        }
        var lstmIn = featureCount
        for l in 0..<lstmLayers {
            out.append(("lstm.weight_ih_l\(l)", [4 * lstmHidden, lstmIn]))
            out.append(("lstm.weight_hh_l\(l)", [4 * lstmHidden, lstmHidden]))
            out.append(("lstm.bias_ih_l\(l)", [4 * lstmHidden]))
            out.append(("lstm.bias_hh_l\(l)", [4 * lstmHidden]))
            lstmIn = lstmHidden
        }
        var fin = lstmHidden
        for (i, width) in (headHidden + [outputCount]).enumerated() {
            out.append(("head.fc\(i).weight", [width, fin]))
            out.append(("head.fc\(i).bias", [width]))
            fin = width
        }
        return out
    }

    /// Fresh parameters with PyTorch's default initialisation (uniform ±1/√fan_in; LSTM ±1/√hidden), reproducible from
    /// `seed`. Training starts here; tests and the benchmark use it for models of any size.
    public func randomParameters(seed: UInt64) -> [NamedTensor] {
        var rng = SplitMix64(seed: seed)
        return parameterShapes.map { name, shape in
            let fanIn: Int
            if name.hasPrefix("lstm.") { fanIn = lstmHidden }
            else if name.hasPrefix("encoder.conv") {
                let w = parameterShapes.first { $0.name == name.replacingOccurrences(of: ".bias", with: ".weight") }!
                fanIn = w.shape[1] * 9
            } else {
                let w = parameterShapes.first { $0.name == name.replacingOccurrences(of: ".bias", with: ".weight") }!
                fanIn = w.shape[1]
            }
            let bound = 1 / Float(fanIn).squareRoot()
            let count = shape.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count { values[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
            return NamedTensor(name: name, shape: shape, values: values)
        }
    }
}

/// One named parameter tensor, float32, row-major (PyTorch's layout for the same name).
public struct NamedTensor: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor \(name): shape \(shape) vs \(values.count) values")
        self.name = name; self.shape = shape; self.values = values
    }
}

/// Where the weights came from: the command and data that trained them, plus free-form notes.
public struct TrainingProvenance: Codable, Equatable, Sendable {
    public var command: String
    public var data: String
    public var notes: String

    public init(command: String, data: String, notes: String = "") {
        self.command = command; self.data = data; self.notes = notes
    }

    // "notes" may be absent: writers other than ours (a training script) should not have to invent one.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode(String.self, forKey: .command)
        data = try c.decode(String.self, forKey: .data)
        notes = try c.decodeIfPresent(String.self, forKey: .notes) ?? ""
    }
}

/// The JSON header of a .thud file.
public struct ModelHeader: Codable, Equatable, Sendable {
    public var architecture: ModelArchitecture
    /// Steps per second the model was trained for, as the file states it. Always ThudBase's StepRate.hz: a file that
    /// says another rate is refused when read (nothing in Thud could run it).
    public var stepRateHz: Double
    public var training: TrainingProvenance
    /// Anything else worth keeping (date, git commit, metrics).
    public var provenance: [String: String]
    /// The peak picker chosen for this model on validation clips (`thud-train set-picker`): `thud`'s default for it.
    /// Absent = the rise detector's defaults, as for every model before it existed.
    public var picker: PeakPicker.Configuration?
    /// How the file stores the weights: float32 (the default, absent from the header) or float16, half the size, the
    /// LSTM's weights kept in half precision in memory too (`thud-train fp16`); computing is float32 either way.
    public var weightStorage: WeightStorage = .float32
    /// The `requires` list as read from a file (what its writer said a reader must know); empty for a header made
    /// here. Written from `requiredFeatures`, never from this, so it cannot go stale.
    public private(set) var requires: [String] = []

    /// The features a reader of this build understands (ModelFile refuses a version-3 file requiring another).
    public static let knownFeatures: Set<String> = ["outputDelay", "float16Weights"]

    /// What a reader must understand to run this model right: an output delay puts each value on an earlier step
    /// than the frame that made it, and a reader that ignores it would be wrong without a word; float16 weights
    /// read as float32 would be garbage.
    public var requiredFeatures: [String] {
        (architecture.outputDelay > 0 ? ["outputDelay"] : []) + (weightStorage == .float16 ? ["float16Weights"] : [])
    }

    public init(architecture: ModelArchitecture, training: TrainingProvenance,
                provenance: [String: String] = [:], picker: PeakPicker.Configuration? = nil) {
        self.architecture = architecture; self.stepRateHz = StepRate.hz
        self.training = training; self.provenance = provenance; self.picker = picker
    }

    private enum CodingKeys: String, CodingKey {
        case architecture, stepRateHz, training, provenance, picker, weightStorage, requires
    }

    // Architecture and training are required; stepRateHz defaults to Thud's one rate, provenance to empty.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(ModelArchitecture.self, forKey: .architecture)
        stepRateHz = try c.decodeIfPresent(Double.self, forKey: .stepRateHz) ?? StepRate.hz
        training = try c.decode(TrainingProvenance.self, forKey: .training)
        provenance = try c.decodeIfPresent([String: String].self, forKey: .provenance) ?? [:]
        picker = try c.decodeIfPresent(PeakPicker.Configuration.self, forKey: .picker)
        weightStorage = try c.decodeIfPresent(WeightStorage.self, forKey: .weightStorage) ?? .float32
        requires = try c.decodeIfPresent([String].self, forKey: .requires) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(stepRateHz, forKey: .stepRateHz)
        try c.encode(training, forKey: .training)
        try c.encode(provenance, forKey: .provenance)
        try c.encodeIfPresent(picker, forKey: .picker)
        if weightStorage != .float32 { try c.encode(weightStorage, forKey: .weightStorage) }
        let required = requiredFeatures
        if !required.isEmpty { try c.encode(required, forKey: .requires) }
    }

    /// Equal in what they say; `requires` is derived on writing, so a header read back equals the one written.
    public static func == (a: ModelHeader, b: ModelHeader) -> Bool {
        a.architecture == b.architecture && a.stepRateHz == b.stepRateHz && a.training == b.training
            && a.provenance == b.provenance && a.picker == b.picker && a.weightStorage == b.weightStorage
    }
}

/// How a .thud file stores its weights (ModelHeader.weightStorage).
public enum WeightStorage: String, Codable, Sendable {
    case float32
    /// IEEE half precision: 11 significant bits, magnitudes up to 65504.
    case float16

    /// Bytes per value in the data block.
    public var byteCount: Int { self == .float16 ? 2 : 4 }
}


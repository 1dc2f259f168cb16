// Causal peak picker over the 12 Hz envelope stream, in the manner of aubio's onset detector: a detection function
// (by default the envelope's rise from one step to the next, aubio's "energy" onset function; or the envelope
// itself, the model's onset output, or that output plus the rise), an adaptive threshold from a short history of it
// (median + k·MAD), a minimum gap between hits and a minimum envelope level. A value is confirmed as a peak when the next value is not higher, so every hit is reported
// exactly one step after its peak (`latencySteps` = 1). `process` allocates nothing: the history and the sort
// scratch are allocated in init.
//
// Why the rise: a hit is an onset. Peaks of the level also fire on the bumps of a ringing tail and on the slow
// swell before a hit the model half expects; the rise ignores both, and places the hit where the sound starts.
// The defaults below (a rise of 0.08 to an envelope of 0.3, sensitivity 3) apply to a model file that records no
// picker. A model file may record its own (`thud-train set-picker`): the bundled model records a rise of at least
// 0.06 at an envelope of at least 0.25, sensitivity 3, chosen on real validation clips (models/README.md,
// "Real video"; what each detection gave there and on the synthetic corpus is in models/README.md, "Figures").
import Foundation
import ThudBase

/// One detected hit (README.md, "Commands": `thud predict`'s `hit` and `strength`): the step of the peak, its time in seconds (step / step rate), its strength
/// (the envelope value at the peak, 0...1).
public struct HitEvent: Equatable, Sendable {
    public var step: Int
    public var time: Double
    public var strength: Float

    public init(step: Int, time: Double, strength: Float) {
        self.step = step; self.time = time; self.strength = strength
    }
}

public final class PeakPicker {
    /// The series whose peaks are hits.
    public enum Detection: String, Codable, Equatable, Sendable, CaseIterable {
        /// max(0, envelope − previous envelope): a hit is where the sound jumps up (the default).
        case rise
        /// The envelope itself: a hit is where the sound is loudest.
        case level
        /// The model's onset output (models trained with one): a hit is where the model expects the sound to start.
        case onset
        /// The onset output plus the envelope's rise (models trained with one): the two outputs are trained on
        /// different teachers (the audio's onset strength, its loudness), and a hit both agree on is the surest.
        case onsetPlusRise = "onset+rise"

        /// Whether the detector reads the model's onset output.
        public var needsOnsetOutput: Bool { self == .onset || self == .onsetPlusRise }
    }

    public struct Configuration: Codable, Equatable, Sendable {
        public var detection: Detection = .rise
        /// Steps of history behind the candidate used for the adaptive threshold (12 = one second at 12 Hz).
        public var historyLength: Int = StepRate.perSecond
        /// Threshold on the detection series = median(history) + sensitivity · MAD(history) + margin.
        public var sensitivity: Float = 3
        /// Keeps a flat, quiet history (MAD ≈ 0) from turning every wiggle into a hit.
        public var margin: Float = 0.05
        /// A hit's envelope value must reach this (the CLI's --threshold).
        public var minStrength: Float = 0.3
        /// `.rise`: the envelope must jump by at least this much in one step; `.onset`: the onset output must reach
        /// this; `.onsetPlusRise`: their sum (the CLI's --min-rise).
        public var minRise: Float = 0.08
        /// Steps that must separate two hits (3 = 250 ms at 12 Hz).
        public var minGapSteps: Int = 3

        /// The defaults for a detector: `.onset` reads the model's onset output, whose scale differs from a rise.
        public static func defaults(for detection: Detection) -> Configuration {
            switch detection {
            case .rise: return Configuration()
            case .level: return Configuration(detection: .level, minStrength: 0.2)
            case .onset: return Configuration(detection: .onset, minStrength: 0, minRise: 0.3)
            case .onsetPlusRise: return Configuration(detection: .onsetPlusRise, minStrength: 0, minRise: 0.55)
            }
        }

        /// Why these settings cannot run (a model file's recorded picker is checked before use), else nil.
        public func validationProblem(hasOnsetOutput: Bool) -> String? {
            if detection.needsOnsetOutput && !hasOnsetOutput { return "\(detection.rawValue) detection needs a model with an onset output" }
            if !(1...1000).contains(historyLength) { return "historyLength \(historyLength) out of range 1...1000" }
            if !(1...1000).contains(minGapSteps) { return "minGapSteps \(minGapSteps) out of range 1...1000" }
            for (name, v) in [("sensitivity", sensitivity), ("margin", margin), ("minStrength", minStrength), ("minRise", minRise)]
            where !v.isFinite || v < 0 || v > 100 {
                return "\(name) \(v) out of range 0...100"
            }
            return nil
        }

        /// These settings with the command line's overrides (--threshold, --min-rise, --sensitivity) applied: the
        /// one place "defaults, or the model's recorded picker, plus overrides" is written.
        public func overriding(threshold: Float?, minRise: Float?, sensitivity: Float?) -> Configuration {
            var c = self
            if let threshold { c.minStrength = threshold }
            if let minRise { c.minRise = minRise }
            if let sensitivity { c.sensitivity = sensitivity }
            return c
        }

        private enum CodingKeys: String, CodingKey {
            case detection, historyLength, sensitivity, margin, minStrength, minRise, minGapSteps
        }

        /// A model file records its picker in its JSON header: a key missing there (a setting added after the file
        /// was written) takes the default, so a new setting never makes an older file unreadable. (A synthesized
        /// decoder would throw keyNotFound for every model that records a picker, the bundled one included.)
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Configuration.defaults(for: try c.decodeIfPresent(Detection.self, forKey: .detection) ?? .rise)
            self.init(detection: d.detection,
                      historyLength: try c.decodeIfPresent(Int.self, forKey: .historyLength) ?? d.historyLength,
                      sensitivity: try c.decodeIfPresent(Float.self, forKey: .sensitivity) ?? d.sensitivity,
                      margin: try c.decodeIfPresent(Float.self, forKey: .margin) ?? d.margin,
                      minStrength: try c.decodeIfPresent(Float.self, forKey: .minStrength) ?? d.minStrength,
                      minRise: try c.decodeIfPresent(Float.self, forKey: .minRise) ?? d.minRise,
                      minGapSteps: try c.decodeIfPresent(Int.self, forKey: .minGapSteps) ?? d.minGapSteps)
        }

        // Defaults chosen on the generator's validation split (the grid `thud-train tune-picker` runs), never on test clips.
        public init(detection: Detection = .rise, historyLength: Int = StepRate.perSecond, sensitivity: Float = 3, margin: Float = 0.05,
                    minStrength: Float = 0.3, minRise: Float = 0.08, minGapSteps: Int = 3) {
            self.detection = detection; self.historyLength = historyLength; self.sensitivity = sensitivity
            self.margin = margin; self.minStrength = minStrength; self.minRise = minRise
            self.minGapSteps = minGapSteps
        }
    }

    public let configuration: Configuration
    /// How many steps after its peak a hit is reported: the peak is only known once the next value arrives.
    public let latencySteps = 1

    /// Ring of the last `historyLength` detection values before the candidate.
    private let history: UnsafeMutableBufferPointer<Float>
    private let scratch: UnsafeMutableBufferPointer<Float>
    private var historyCount = 0
    private var historyNext = 0
    /// The detection value before the candidate and the candidate itself (the last step seen).
    private var beforeCandidate: Float = 0
    private var candidate: Float = 0
    /// The envelope at the candidate step (its strength).
    private var candidateLevel: Float = 0
    private var seen = 0
    private var lastHitStep = Int.min / 2
    /// The step the last `process` call judged (the one before the value it was given; −1 before the second call),
    /// its detection value and the adaptive threshold it had to beat: what the picker saw, for miss analysis
    /// (aubio's get_thresholded_descriptor). A hit also needs a local maximum, the strength and rise gates and the gap.
    public private(set) var judgedStep = -1
    public private(set) var judgedDetection: Float = 0
    public private(set) var judgedThreshold: Float = 0

    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.historyLength >= 1 && configuration.minGapSteps >= 1)
        self.configuration = configuration
        history = .allocate(capacity: configuration.historyLength)
        history.initialize(repeating: 0)
        scratch = .allocate(capacity: configuration.historyLength)
        scratch.initialize(repeating: 0)
    }

    deinit { history.deallocate(); scratch.deallocate() }

    /// Feeds the envelope (and, for `.onset`, the model's onset output) of step `seen` (steps count from 0 since
    /// init/reset). Returns the hit whose peak was the previous step, if any.
    public func process(_ value: Float, onset: Float = 0) -> HitEvent? {
        let step = seen
        seen += 1
        // The stream's first step has nothing to rise from: its rise is 0.
        let detected: Float
        switch configuration.detection {
        case .level: detected = value
        case .rise: detected = step == 0 ? 0 : max(0, value - candidateLevel)
        case .onset: detected = onset
        case .onsetPlusRise: detected = onset + (step == 0 ? 0 : max(0, value - candidateLevel))
        }
        var hit: HitEvent?
        if step >= 1 {
            let peakStep = step - 1
            // Rising into the candidate (strictly, so a plateau fires once, at its first step), not rising after it.
            // The stream's first step is never a hit: there is nothing before it to rise from, and a model's
            // output at rest (zero state) would otherwise fire at every start.
            let isLocalMax = peakStep >= 1 && candidate > beforeCandidate && candidate >= detected
            let strongEnough = candidateLevel >= configuration.minStrength
                && (configuration.detection == .level || candidate >= configuration.minRise)
            let adaptive = threshold()
            judgedStep = peakStep; judgedDetection = candidate; judgedThreshold = adaptive
            if isLocalMax, strongEnough, peakStep - lastHitStep >= configuration.minGapSteps, candidate > adaptive {
                hit = HitEvent(step: peakStep, time: StepRate.time(ofStep: peakStep), strength: candidateLevel)
                lastHitStep = peakStep
            }
            // The candidate leaves the window and joins the history.
            history[historyNext] = candidate
            historyNext = (historyNext + 1) % history.count
            historyCount = min(historyCount + 1, history.count)
            beforeCandidate = candidate
        }
        candidate = detected
        candidateLevel = value
        return hit
    }

    /// A fresh picker over a whole series (with the model's onset output for `.onset`), `finish()` included: every
    /// hit in order. Allocates; for scoring finished clips (evaluation, training's validation), not for streams.
    public static func hits(envelope: [Float], onsets: [Float]? = nil, configuration: Configuration) -> [HitEvent] {
        precondition(onsets == nil || onsets!.count == envelope.count, "one onset value per envelope value")
        let picker = PeakPicker(configuration: configuration)
        var out: [HitEvent] = []
        for (k, v) in envelope.enumerated() { if let h = picker.process(v, onset: onsets?[k] ?? 0) { out.append(h) } }
        if let h = picker.finish() { out.append(h) }
        return out
    }

    /// End of stream: the last value has no successor, so it is judged as if the envelope fell after it.
    /// Returns the hit at the final step, if it is one. Call once, then `reset()` before reuse.
    public func finish() -> HitEvent? {
        guard seen >= 1 else { return nil }
        return process(-.infinity, onset: -.infinity)
    }

    /// median + sensitivity·MAD + margin of the detection history (just margin while the history is empty).
    public func threshold() -> Float {
        let n = historyCount
        if n == 0 { return configuration.margin }
        for i in 0..<n { scratch[i] = history[i] }
        let med = PeakPicker.median(scratch.baseAddress!, n)
        for i in 0..<n { scratch[i] = abs(history[i] - med) }
        let mad = PeakPicker.median(scratch.baseAddress!, n)
        return med + configuration.sensitivity * mad + configuration.margin
    }

    public func reset() {
        judgedStep = -1; judgedDetection = 0; judgedThreshold = 0
        historyCount = 0; historyNext = 0; seen = 0
        beforeCandidate = 0; candidate = 0; candidateLevel = 0
        lastHitStep = Int.min / 2
    }

    /// Median by in-place insertion sort: n is a dozen or so, and the standard sort may allocate.
    static func median(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        for i in 1..<max(n, 1) {
            let v = p[i]
            var j = i - 1
            while j >= 0 && p[j] > v { p[j + 1] = p[j]; j -= 1 }
            p[j + 1] = v
        }
        return n % 2 == 1 ? p[n / 2] : 0.5 * (p[n / 2 - 1] + p[n / 2])
    }
}

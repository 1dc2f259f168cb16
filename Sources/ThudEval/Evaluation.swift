// `thud eval`'s runner: every clip is decoded once (the model's gray frames and the first audio channel in the
// same pass), the model and the weight-free motion baseline step along the frames, and the target envelope and
// true hits come from the audio and the generator's hit list. Four predictors are scored with ClipScore on the
// same steps: the model, the motion-energy envelope, a constant, and the oracle (the target itself, the ceiling: its
// hits come from the same peak picker run on the target, so its F1 is what a perfect envelope would score).
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline

/// What is scored, in table order.
public enum Predictor: String, CaseIterable, Sendable, Hashable {
    case model
    case motionEnergy = "motion-energy"
    case motionOnset = "motion-onset"
    case constant
    case oracle

    public var explanation: String {
        switch self {
        case .model: return "the model's envelope, hits from the causal peak picker"
        case .motionEnergy: return "weight-free: mean |frame − previous frame| at the model's size, divided by its running maximum so far (causal), hits from the same peak picker"
        case .motionOnset: return "weight-free: the one-step rise of the motion energy, max(0, e[k] − e[k−1]), divided by its running maximum so far (causal): motion that starts; hits from the same peak picker"
        case .constant: return "a constant envelope (the training split's mean target), no hits; r is undefined and counts as 0 in the verdict"
        case .oracle: return "the target envelope itself, hits from the same peak picker (the ceiling of a perfect envelope)"
        }
    }
}

/// Where a clip's true hits came from.
public enum TruthSource: String, Sendable {
    case hitList = "hits.json"
    case targetPeaks = "target peaks"
}

public struct PredictorResult: Sendable {
    public var envelope: [Float]
    /// The model's onset output, when it has one.
    public var onsets: [Float]? = nil
    /// Per step, what the model's peak picker judged it by: its detection value and the adaptive threshold it had to
    /// beat (PeakPicker.judgedDetection/judgedThreshold), for miss analysis (tools/eval/miss_reasons.py).
    public var pickerDetection: [Float]? = nil
    public var pickerThreshold: [Float]? = nil
    /// Peak steps of the predicted hits.
    public var hits: [Int]
    public var score: ClipScore
    public var verdict: OriginalVerdict { OriginalVerdict.judge(score) }
}

/// Everything measured on one clip.
public struct ClipEvaluation: Sendable {
    public var clip: DatasetClip
    /// Steps scored: the shorter of the video's and the audio's step counts.
    public var steps: Int
    public var target: [Float]
    public var trueHits: [Int]
    public var truthSource: TruthSource
    public var results: [Predictor: PredictorResult]

    public func result(_ p: Predictor) -> PredictorResult { results[p]! }
}

/// A clip that could not be scored: named in the report, never fatal to the run.
public struct ClipFailure: Sendable, Error {
    public var id: String
    public var path: String
    public var problem: String
    public var message: String { "\(path): \(problem)" }
}

public struct EvaluationSettings: Sendable {
    /// The peak pickers' settings (`--threshold`, `--min-rise`, `--detection`).
    public var picker = PeakPicker.Configuration()
    /// The constant predictor's value.
    public var constantLevel: Float = 0.1
    public var constantSource = "0.1: no training clips to take a mean from"
    public var peakRule = EnvelopePeakRule()
    public var tolerance = HitMetrics.defaultTolerance
    /// Which generator impacts are true hits (`--hits`).
    public var hitSet = GroundTruthHits.HitSet.scene
    /// Clips shorter than this are not scored (ClipCheck's rule, as for probe and training).
    public var minimumSeconds = ClipCheck.defaultMinimumSeconds
    public init() {}

    /// The picker for predictors without an onset output (motion energy, the oracle): the model's settings, or
    /// the rise detector's defaults when the model's picker reads its onset output.
    public var envelopePicker: PeakPicker.Configuration {
        picker.detection.needsOnsetOutput ? PeakPicker.Configuration.defaults(for: .rise) : picker
    }

    /// The picker's settings in words, for the reports.
    public var pickerStatement: String {
        let p = picker
        let series: String, history: String
        switch p.detection {
        case .rise:
            series = "the envelope's one-step rise of at least \(p.minRise), at an envelope of at least \(p.minStrength)"
            history = "rises"
        case .onset:
            series = "the model's onset output of at least \(p.minRise), at an envelope of at least \(p.minStrength)"
            history = "values"
        case .onsetPlusRise:
            series = "the model's onset output plus the envelope's one-step rise, at least \(p.minRise), at an envelope of at least \(p.minStrength)"
            history = "values"
        case .level:
            series = "the envelope of at least \(p.minStrength)"
            history = "steps"
        }
        let who = p.detection.needsOnsetOutput ? "the motion baseline and the oracle, which have no onset output, use the envelope's rise"
            : "the same for the model, the motion baseline and the oracle"
        return "peaks of \(series), above median + \(p.sensitivity)·MAD + \(p.margin) of the last \(p.historyLength) \(history), \(p.minGapSteps)+ steps apart (\(who))"
    }
}

/// The weight-free baseline, causal and allocation-free per step: MotionEnergyEncoder's mean |difference|
/// (its first global feature) over the model-size gray frame, divided by the largest value seen so far in the
/// clip, so it lives in [0, 1] like the model's output without looking ahead.
public final class MotionEnergyEnvelope {
    let encoder: MotionEnergyEncoder
    let previous: UnsafeMutableBufferPointer<UInt8>
    let features: UnsafeMutablePointer<Float>
    var hasPrevious = false
    var runningMax: Float = 0

    public init(width: Int, height: Int) {
        var a = ModelArchitecture.motionEnergyDefault
        a.input = InputSpec(width: width, height: height)
        encoder = MotionEnergyEncoder(architecture: a)
        previous = .allocate(capacity: width * height)
        previous.initialize(repeating: 0)
        features = .allocate(capacity: encoder.featureCount)
        features.initialize(repeating: 0, count: encoder.featureCount)
    }

    deinit { previous.deallocate(); features.deallocate() }

    /// The last step's mean |difference| before scaling (0…1), for MotionOnsetEnvelope.
    public private(set) var energy: Float = 0

    public func reset() { hasPrevious = false; runningMax = 0; energy = 0 }

    public func step(frame: UnsafeBufferPointer<UInt8>) -> Float {
        let previousFrame = hasPrevious ? UnsafeBufferPointer(previous) : frame
        encoder.encode(current: frame, previous: previousFrame, beforePrevious: previousFrame, into: features)
        _ = previous.update(fromContentsOf: frame)
        hasPrevious = true
        energy = features[encoder.gridRows * encoder.gridCols]   // global mean |difference| in 0…1
        runningMax = max(runningMax, energy)
        return runningMax > 0 ? energy / runningMax : 0
    }
}

/// The second weight-free baseline: where motion starts. The one-step rise of the motion energy, divided by the
/// largest rise so far (causal). On real video a hit often follows a swing's start by a step or two, so its peaks
/// are the hits a motion detector would flag; scored through the same picker as everything else.
public struct MotionOnsetEnvelope {
    var previousEnergy: Float?
    var runningMax: Float = 0

    public init() {}

    public mutating func reset() { previousEnergy = nil; runningMax = 0 }

    public mutating func step(energy: Float) -> Float {
        let rise = previousEnergy.map { max(0, energy - $0) } ?? 0
        previousEnergy = energy
        runningMax = max(runningMax, rise)
        return runningMax > 0 ? rise / runningMax : 0
    }
}

/// Scores clips one at a time with one model (reset per clip).
public final class ClipEvaluator {
    public let model: StreamingModel
    public let settings: EvaluationSettings
    let modelStream: EnvelopeStream
    let motion: MotionEnergyEnvelope
    let motionPicker: PeakPicker
    var motionOnset = MotionOnsetEnvelope()
    let motionOnsetPicker: PeakPicker

    public init(model: StreamingModel, settings: EvaluationSettings = EvaluationSettings()) {
        self.model = model
        self.settings = settings
        modelStream = EnvelopeStream(model: model, picker: settings.picker)
        motion = MotionEnergyEnvelope(width: model.inputWidth, height: model.inputHeight)
        motionPicker = PeakPicker(configuration: settings.envelopePicker)
        motionOnsetPicker = PeakPicker(configuration: settings.envelopePicker)
    }

    /// Decodes and scores one clip; throws ClipFailure with a one-line problem when it cannot be scored.
    public func evaluate(_ clip: DatasetClip) throws -> ClipEvaluation {
        do {
            return try evaluateThrowing(clip)
        } catch let f as ClipFailure {
            throw f
        } catch let e as MediaError {
            throw ClipFailure(id: clip.id, path: clip.path, problem: e.problem)
        } catch {
            throw ClipFailure(id: clip.id, path: clip.path, problem: "\(error)")
        }
    }

    private func evaluateThrowing(_ clip: DatasetClip) throws -> ClipEvaluation {
        let input = try MediaInput(path: clip.path)
        modelStream.reset(); motion.reset(); motionPicker.reset(); motionOnset.reset(); motionOnsetPicker.reset()
        var modelEnvelope: [Float] = [], motionEnvelope: [Float] = [], motionOnsetEnvelope: [Float] = [], modelOnsets: [Float] = []
        var modelHits: [Int] = [], motionHits: [Int] = [], motionOnsetHits: [Int] = []
        // A hint, capped: the container's claim may be anything (the arrays grow from what decodes).
        let expected = StepRate.steps(covering: min(input.info.durationSeconds ?? 10, 600)) + 2
        modelEnvelope.reserveCapacity(expected); motionEnvelope.reserveCapacity(expected)

        let request = VideoStepRequest(width: model.inputWidth, height: model.inputHeight, pixelFormat: .gray8)
        // The model's values arrive on the steps they describe (EnvelopeStream: a delayed model's lag behind).
        var judgedDetection: [Float] = [], judgedThreshold: [Float] = []
        func noteJudgement() {
            let picker = modelStream.picker
            guard picker.judgedStep == judgedDetection.count else { return }
            judgedDetection.append(picker.judgedDetection); judgedThreshold.append(picker.judgedThreshold)
        }
        // The model runs through the pipeline, as predict runs it (its steps collected); the weight-free baselines
        // see the same frames from its observe hook.
        let frames = FileSource(input, request: request, audio: true, warn: { _ in })
        frames.failsOnEarlyEnd = false   // judged below by the usable-clip rule
        let collected = CollectingSink { d in
            modelEnvelope.append(d.envelope)
            if self.model.hasOnsetOutput { modelOnsets.append(d.onset) }
            if let hit = d.hit { modelHits.append(hit.step) }
            noteJudgement()
        }
        let run = try Pipeline.run(frames, stream: modelStream, sinks: [collected]) { step, _ in
            let m = motion.step(frame: step.pixels)
            motionEnvelope.append(m)
            if let hit = motionPicker.process(m) { motionHits.append(hit.step) }
            let o = motionOnset.step(energy: motion.energy)
            motionOnsetEnvelope.append(o)
            if let hit = motionOnsetPicker.process(o) { motionOnsetHits.append(hit.step) }
        }
        if let hit = run.lastHit { modelHits.append(hit.step) }
        noteJudgement()   // the last step, judged as the stream ends
        if let hit = motionPicker.finish() { motionHits.append(hit.step) }
        if let hit = motionOnsetPicker.finish() { motionOnsetHits.append(hit.step) }
        guard let summary = frames.summary else { throw fail(clip, "no video frames") }

        // The one usability rule (ClipCheck.unusable): `thud probe` and training reject the same clips.
        let decodedEnvelope = summary.audio.flatMap { $0.decodedFrames > 0 ? AudioEnvelope(samples: $0.samples, sampleRate: $0.sampleRate) : nil }
        if let reason = ClipCheck.unusable(hasVideo: true, hasAudio: summary.audio != nil, readError: summary.readError,
                                           audioDecodedFrames: summary.audio?.decodedFrames ?? 0,
                                           audioCorruptPackets: summary.audio?.corruptPackets ?? 0, audioPeakDB: decodedEnvelope?.peakDB,
                                           steps: min(modelEnvelope.count, decodedEnvelope?.count ?? 0),
                                           minimumSeconds: settings.minimumSeconds) {
            throw fail(clip, reason.problem)
        }
        let envelope = decodedEnvelope!
        let n = min(modelEnvelope.count, envelope.count)

        let target = Array(envelope.values.prefix(n))
        let truth: [Int], source: TruthSource
        if let hitsPath = clip.hitsPath {
            // The rule training uses too (GroundTruthHits): the scene's impacts at ⌊12·t⌋, runs < 3 steps apart merged.
            let steps: [Int]
            do {
                guard let read = try GroundTruthHits.steps(for: clip, set: settings.hitSet) else {
                    throw ClipFailure(id: clip.id, path: hitsPath, problem: "hit list cannot be read (want {\"hits\": [{\"time\": s, \"visible\": bool}]})")
                }
                steps = read
            } catch let e as GroundTruthHits.ReadError {
                throw ClipFailure(id: clip.id, path: hitsPath, problem: e.problem)
            }
            truth = steps.filter { $0 < n }
            source = .hitList
        } else {
            truth = settings.peakRule.peaks(target)
            source = .targetPeaks
        }

        func scored(_ envelope: [Float], _ hits: [Int]) -> PredictorResult {
            let e = Array(envelope.prefix(n)), h = hits.filter { $0 < n }
            return PredictorResult(envelope: e, hits: h,
                                   score: ClipScore.measure(id: clip.id, className: clip.template, prediction: e, predictedHits: h,
                                                            target: target, trueHits: truth, tolerance: settings.tolerance))
        }
        var modelResult = scored(modelEnvelope, modelHits)
        if model.hasOnsetOutput { modelResult.onsets = Array(modelOnsets.prefix(n)) }
        modelResult.pickerDetection = Array(judgedDetection.prefix(n))
        modelResult.pickerThreshold = Array(judgedThreshold.prefix(n))
        let results: [Predictor: PredictorResult] = [
            .model: modelResult,
            .motionEnergy: scored(motionEnvelope, motionHits),
            .motionOnset: scored(motionOnsetEnvelope, motionOnsetHits),
            .constant: scored([Float](repeating: settings.constantLevel, count: n), []),
            .oracle: scored(target, PeakPicker.hits(envelope: target, configuration: motionPicker.configuration).map(\.step)),
        ]
        return ClipEvaluation(clip: clip, steps: n, target: target, trueHits: truth, truthSource: source, results: results)
    }

    private func fail(_ clip: DatasetClip, _ problem: String) -> ClipFailure {
        ClipFailure(id: clip.id, path: clip.path, problem: problem)
    }
}

/// The whole run: which clips, how each went, and the settings, for the tables, JSON, charts and page.
public struct EvaluationReport: Sendable {
    public var dataset: String
    public var split: String
    public var classFilter: String
    public var modelPath: String
    public var settings: EvaluationSettings
    /// Selected clips in dataset order.
    public var selected: Int
    public var evaluations: [ClipEvaluation]
    public var failures: [ClipFailure]

    public init(dataset: String, split: String, classFilter: String, modelPath: String, settings: EvaluationSettings,
                selected: Int, evaluations: [ClipEvaluation], failures: [ClipFailure]) {
        self.dataset = dataset; self.split = split; self.classFilter = classFilter; self.modelPath = modelPath
        self.settings = settings; self.selected = selected; self.evaluations = evaluations; self.failures = failures
    }

    public func aggregate(_ p: Predictor, clips: [ClipEvaluation]? = nil) -> AggregateScore {
        AggregateScore((clips ?? evaluations).map { $0.result(p).score })
    }

    /// Per class (the clip's template), in name order.
    public var byClass: [(name: String, clips: [ClipEvaluation])] {
        Dictionary(grouping: evaluations, by: { $0.clip.template }).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var truthCounts: (hitList: Int, targetPeaks: Int) {
        (evaluations.filter { $0.truthSource == .hitList }.count, evaluations.filter { $0.truthSource == .targetPeaks }.count)
    }
}

public enum EvaluationRun {
    /// Scores `clips` in order; `progress(done, total, currentID)` is called before each clip and once at the end.
    public static func run(clips: [DatasetClip], evaluator: ClipEvaluator,
                           progress: (Int, Int, String) -> Void = { _, _, _ in },
                           failed: (ClipFailure) -> Void = { _ in }) -> (evaluations: [ClipEvaluation], failures: [ClipFailure]) {
        var done: [ClipEvaluation] = [], failures: [ClipFailure] = []
        for (i, clip) in clips.enumerated() {
            progress(i, clips.count, clip.id)
            do {
                done.append(try evaluator.evaluate(clip))
            } catch let f as ClipFailure {
                failures.append(f); failed(f)
            } catch {
                let f = ClipFailure(id: clip.id, path: clip.path, problem: "\(error)")
                failures.append(f); failed(f)
            }
        }
        progress(clips.count, clips.count, "")
        return (done, failures)
    }

    /// The constant predictor's level: the mean target over (up to `limit`, evenly spaced) training clips, audio
    /// only; nil when there are none or none decodes. Returns the level and how many clips it came from.
    public static func trainingMeanTarget(_ clips: [DatasetClip], limit: Int = 64) -> (level: Float, clips: Int)? {
        guard !clips.isEmpty else { return nil }
        let stride = max(1, clips.count / limit)
        var sum = 0.0, count = 0, used = 0
        for clip in Swift.stride(from: 0, to: clips.count, by: stride).prefix(limit).map({ clips[$0] }) {
            // Audio only (the video is not needed for a level): the rule's audio part, its length the sound's.
            guard let input = try? MediaInput(path: clip.path), input.info.audio != nil,
                  let summary = try? input.decode(video: nil, audio: true), let audio = summary.audio, audio.decodedFrames > 0 else { continue }
            let e = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
            guard ClipCheck.unusable(hasVideo: input.info.video != nil, hasAudio: true, readError: summary.readError,
                                     audioDecodedFrames: audio.decodedFrames, audioCorruptPackets: audio.corruptPackets,
                                     audioPeakDB: e.peakDB, steps: e.count) == nil else { continue }
            sum += e.values.reduce(0.0) { $0 + Double($1) }
            count += e.count
            used += 1
        }
        return count > 0 ? (Float(sum / Double(count)), used) : nil
    }
}

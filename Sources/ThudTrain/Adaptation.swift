import Foundation
import ThudEval
import ThudBase
import ThudModel

/// `thud-train adapt`: a short fine-tune of a finished model on the user's own clips (`thud record`'s folder), with
/// a held-out part of those clips for early stopping and for the before/after report.
public enum Adaptation {
    /// Which layers move, by name: the rest keep the starting model's weights.
    public enum Moving: String, CaseIterable, Sendable {
        /// The LSTM and the head; the conv encoder (what a frame looks like) stays: few clips of one scene teach what
        /// its motions sound like, not a new way of seeing.
        case lstmHead = "lstm+head"
        case head
        case all

        public var frozenPrefixes: [String] {
            switch self {
            case .lstmHead: return ["encoder."]
            case .head: return ["encoder.", "lstm."]
            case .all: return []
            }
        }
    }

    /// The preset: the starting model's architecture (output delay included) and picker; Adam at `learningRate`
    /// (`thud-train adapt`: 3e-3), windows of 48 steps cut at jittered offsets, mirrored and augmented like a real camera
    /// (strength 0.5), batches of 4 (a few minutes of video are a few dozen windows), the conv encoder frozen.
    public static func settings(startingFrom header: ModelHeader, path: String, moving: Moving, epochs: Int,
                                learningRate: Float, augment: Float, seed: UInt64) -> TrainingSettings {
        var s = TrainingSettings(architecture: header.architecture)
        s.epochs = epochs
        s.batchSize = 4
        s.sequenceLength = 48
        s.learningRate = learningRate
        s.seed = seed
        s.warmStart = path
        s.onsetWeight = 4
        if header.architecture.hasOnsetOutput { s.onsetTargetGain = 3 }
        s.mirror = true
        s.windowJitter = true
        if augment > 0 { s.augmentation = AugmentationSettings(strength: augment) }
        if !moving.frozenPrefixes.isEmpty { s.frozenLayers = moving.frozenPrefixes }
        if let picker = header.picker {
            s.picker = picker
            s.recordedPicker = picker
        }
        return s
    }

    /// The user's clips in recording order (by name: `thud record` names them by time) split into a part to learn
    /// from and a held-out part that comes after it in time (neighbouring moments of one scene are alike, so a
    /// random share would flatter the model): with three clips or more, the last `share` of them (at least one);
    /// with fewer, the last `share` of each clip's steps.
    public static func heldOut(_ clips: [PreparedClip], share: Double) -> (train: [PreparedClip], heldOut: [PreparedClip]) {
        let ordered = clips.sorted { $0.clip.id < $1.clip.id }
        guard !ordered.isEmpty, share > 0 else { return (ordered, []) }
        if ordered.count >= 3 {
            let n = min(ordered.count - 1, max(1, Int((share * Double(ordered.count)).rounded())))
            return (Array(ordered.dropLast(n)), Array(ordered.suffix(n)))
        }
        var train: [PreparedClip] = [], held: [PreparedClip] = []
        for clip in ordered {
            let cut = clip.steps - max(1, Int((share * Double(clip.steps)).rounded()))
            guard cut >= StepRate.perSecond else { train.append(clip); continue }   // at least a second to learn from
            train.append(slice(clip, 0..<cut, suffix: ""))
            held.append(slice(clip, cut..<clip.steps, suffix: "#held-out"))
        }
        return (train, held)
    }

    /// Steps `range` of a prepared clip as a clip of its own.
    public static func slice(_ clip: PreparedClip, _ range: Range<Int>, suffix: String) -> PreparedClip {
        var c = clip
        c.clip.id += suffix
        c.steps = range.count
        c.frames = Array(clip.frames[(range.lowerBound * clip.frameBytes)..<(range.upperBound * clip.frameBytes)])
        c.targets = Array(clip.targets[range])
        c.db = Array(clip.db[range])
        c.onsets = Array(clip.onsets[range])
        c.trueHits = clip.trueHits.map { $0.filter(range.contains).map { $0 - range.lowerBound } }
        return c
    }

    /// Whether `after` beats `before` as adapt judges a model on held-out clips: hit F1 plus r (no r counts 0).
    public static func beats(_ after: AggregateScore, _ before: AggregateScore) -> Bool {
        after.hits.f1 + (after.meanR ?? 0) > before.hits.f1 + (before.meanR ?? 0)
    }

    /// A model file's scores on clips, as training validates: r per clip (Fisher mean) and hit F1 (±1 step) by
    /// the picker given.
    public static func score(_ model: StreamingModel, on clips: [PreparedClip], picker: PeakPicker.Configuration) -> AggregateScore {
        var scores: [ClipScore] = []
        for clip in clips {
            model.reset()
            let out = clip.frames.withUnsafeBufferPointer { model.runBatchOutputs(frames: $0, count: clip.steps) }
            scores.append(TrainingRun.score(clip: clip, envelope: out.envelope, onsets: out.onsets, picker: picker))
        }
        return AggregateScore(scores)
    }
}

extension Adaptation {
    /// What the command line chooses of an adaptation; the rest is the preset (`settings(startingFrom:…)`).
    public struct Choices: Sendable {
        public var moving: Moving = .lstmHead
        public var epochs = 60
        /// Early stopping: epochs without a better held-out score.
        public var patience = 15
        public var learningRate: Float = 3e-3
        public var augment: Float = 0.5
        public var seed: UInt64 = 1
        /// Fine-tunes run from the same start with seeds `seed`, `seed` + 1, …, whose weights are averaged (a model
        /// soup, ModelAverage): each one's epoch is chosen on the held-out clips, the mean is what is scored and
        /// written. A few dozen epochs on one scene's seconds land far apart from seed to seed; their mean is
        /// steadier and on the recordings measured better than a typical one (models/README.md, "Seeds averaged").
        /// Costs `seeds` times one fine-tune.
        public var seeds = 1
        /// Threads of each batch's forward and backward (TrainingRun.threadCount: 1 or 2; the weights are the same).
        public var threads = 2
        public init() {}
    }

    /// Held-out scores of the model compared with and of the adapted one, and the verdict.
    public struct Outcome: Sendable {
        public var before: AggregateScore
        public var after: AggregateScore
        /// The epoch kept (the best on the held-out clips), one per seed averaged.
        public var bestEpochs: [Int]
        /// `after` beats `before` (Adaptation.beats).
        public var improved: Bool
        /// The adapted model's file (the run's `candidate`), there until `Run.removeFiles()`.
        public var candidate: String
    }

    /// One adaptation, as `thud-train adapt DATASET` runs it once and `adapt --follow DIR` once a round: the preset
    /// fine-tune of the starting model on `train`, its epoch chosen on `heldOut` (early stopping after `patience`
    /// epochs without a better one), and the held-out scores of `baseline` (the model the result must beat) before
    /// and of the result after. With `choices.seeds` > 1 the fine-tune runs once per seed, one after the other, and
    /// the result is the mean of their weights with the starting model's picker. The adapted model is written at
    /// `candidate` (its checkpoint and best-so-far beside it, TrainingRun's; each seed's beside it while the run
    /// goes on); what to do with it is the caller's.
    public final class Run {
        public let settings: TrainingSettings
        public let train: [PreparedClip]
        public let heldOut: [PreparedClip]
        /// The baseline's held-out scores, measured when the run is made (before any training).
        public let before: AggregateScore
        public let candidate: String
        let choices: Choices
        let provenance: TrainingProvenance
        let log: (String) -> Void
        let progress: (String) -> Void

        /// `start`: the header of the model at `path` whose weights, architecture and picker the run starts from.
        public init(startingFrom start: ModelHeader, path: String, choices: Choices, train: [PreparedClip], heldOut: [PreparedClip],
                    baseline: StreamingModel, candidate: String, provenance: TrainingProvenance,
                    log: @escaping (String) -> Void = { _ in }, progress: @escaping (String) -> Void = { _ in }) {
            settings = Adaptation.settings(startingFrom: start, path: path, moving: choices.moving, epochs: choices.epochs,
                                           learningRate: choices.learningRate, augment: choices.augment, seed: choices.seed)
            self.train = train
            self.heldOut = heldOut
            self.candidate = candidate
            self.choices = choices
            self.provenance = provenance
            self.log = log
            self.progress = progress
            before = Adaptation.score(baseline, on: heldOut, picker: settings.picker)
        }

        /// Where seed number `index` (0-based) writes its model: `candidate` itself when there is one seed.
        func seedOutput(_ index: Int) -> String { choices.seeds == 1 ? candidate : candidate + ".seed\(index + 1)" }

        /// Trains and scores the result; nil when `interrupted` said stop (checked between batches): nothing adapted.
        public func run(interrupted: () -> Bool) throws -> Outcome? {
            var bestEpochs: [Int] = []
            for index in 0..<max(1, choices.seeds) {
                var seeded = settings
                seeded.seed = settings.seed &+ UInt64(index)
                let output = seedOutput(index)
                // Made one at a time: a trainer's buffers are freed before the next seed's are allocated.
                let training = TrainingRun(settings: seeded, train: train, validation: heldOut, checkpointPath: output + ".checkpoint",
                                           outputPath: output, provenance: provenance, log: log, progress: progress)
                training.patience = choices.patience
                training.threadCount = choices.threads
                guard try training.run(resume: false, interrupted: interrupted) == .finished else { return nil }
                unlink(training.checkpointPath)
                bestEpochs.append(training.state.bestEpoch ?? 0)
            }
            if choices.seeds > 1 {
                let files = try (0..<choices.seeds).map { (path: seedOutput($0), file: try ModelFile.read(path: seedOutput($0))) }
                var mean = try ModelAverage.average(files, command: provenance.command)
                mean.header.training = TrainingProvenance(command: provenance.command, data: provenance.data,
                                                          notes: "the mean of the weights of \(choices.seeds) fine-tunes from \(settings.warmStart ?? "the start") with seeds \(settings.seed)…\(settings.seed &+ UInt64(choices.seeds - 1)), each at its best epoch on the held-out clips (\(bestEpochs.map(String.init).joined(separator: ", ")))")
                mean.header.picker = settings.recordedPicker
                try mean.write(to: candidate)
                for index in 0..<choices.seeds { unlink(seedOutput(index)) }
            }
            let after = Adaptation.score(try StreamingModel(path: candidate), on: heldOut, picker: settings.picker)
            return Outcome(before: before, after: after, bestEpochs: bestEpochs,
                           improved: Adaptation.beats(after, before), candidate: candidate)
        }

        /// The run's files: the adapted model, its checkpoint and its best-so-far.
        public func removeFiles() {
            let outputs = Set([candidate] + (0..<max(1, choices.seeds)).map(seedOutput))
            for output in outputs {
                unlink(output + ".checkpoint")
                unlink(output + ".best")   // TrainingRun.stagingPath
                unlink(output)
            }
        }
    }
}

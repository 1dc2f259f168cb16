import Foundation
import ThudEval
import ThudModel
import ThudBase

/// Everything that decides what a run computes. Two runs with equal settings and data give equal weights.
public struct TrainingSettings: Codable, Sendable, Equatable {
    public var architecture: ModelArchitecture
    public var epochs: Int = 20
    public var batchSize: Int = 16
    /// Truncated backpropagation through time: a clip is cut into windows of this many steps (the original
    /// used 48), each starting from zero state with the frame before it as the "previous" frame.
    public var sequenceLength: Int = 48
    public var learningRate: Float = 2e-3
    public var gradientClipNorm: Float = 1
    public var seed: UInt64 = 1
    /// Extra loss weight on onset steps (the target rises by more than 0.1): 0 = plain BCE.
    public var onsetWeight: Float = 0
    /// The peak picker used for validation hits, and so for choosing the model kept: `thud`'s default (the
    /// envelope's rise) for every architecture, so the model kept is the best one as `thud` will run it, not as a
    /// detector `thud` does not read by default would (an onset model used to be validated with its onset output;
    /// the two disagree, models/README.md).
    public var picker = PeakPicker.Configuration()
    /// Loss weight of the onset output's BCE (architectures with an onset output).
    public var onsetLossWeight: Float = 1
    /// A model file whose weights a fresh run starts from (ModelTrainer.warmStart); nil = random initialisation.
    /// Part of the settings, so --resume refuses a checkpoint of a run started otherwise.
    public var warmStart: String?
    /// The onset output's target is min(1, gain × onset strength); nil = 1 (the strength itself). The strength is
    /// measured against the clip's loudest step, so a quiet second bounce teaches 0.2–0.3 where a first impact
    /// teaches 1; a gain of 3 asks "is an impact starting here" of every audible one alike. Optional, so the
    /// fingerprints of runs made before it existed do not change.
    public var onsetTargetGain: Float?
    /// Mirror about half the training windows left to right (chosen by seed, epoch and window, so a resumed run
    /// repeats them). A mirrored scene makes the same sound, so every clip also teaches as its mirror image: twice
    /// the pictures for the same audio. nil = off (and absent from the fingerprint, as for onsetTargetGain).
    public var mirror: Bool?
    /// Each epoch's learning rate is the previous one's times this (epoch e runs at learningRate · decay^(e−1)):
    /// large steps while far from a minimum, small ones to settle in it. Per epoch, not over the run's length, so
    /// no epoch depends on how many follow and a finished run still extends. nil = constant (absent from the
    /// fingerprint, as for onsetTargetGain).
    public var learningRateDecay: Float?
    /// On-the-fly augmentation of every training window (Augmentation.swift); nil = off (absent from the fingerprint).
    public var augmentation: AugmentationSettings?
    /// With several datasets, the share of each (in the order given) in every batch, e.g. [1, 1]: half the windows
    /// from each, however many clips each has; a dataset whose windows run out within an epoch starts over in a new
    /// order. The epoch keeps its length (all windows, one batch count). nil = windows in their natural proportion.
    public var datasetShares: [Double]?
    /// With several datasets, the one (by position) whose validation clips choose the model kept; nil = all pooled.
    public var chooseOn: Int?
    /// Start each window at a random offset (up to half a window either way, within its clip) drawn per epoch: a
    /// long clip then gives different windows every epoch, not the same cuts. nil = off.
    public var windowJitter: Bool?
    /// Tensor-name prefixes that keep their values (ModelTrainer.frozenPrefixes), e.g. ["encoder."]: a fine-tune that
    /// moves only the LSTM and the head. nil = everything moves (absent from the fingerprint).
    public var frozenLayers: [String]?
    /// The picker the model file records (for a fine-tune: the one its starting model recorded); nil = none.
    public var recordedPicker: PeakPicker.Configuration?

    public init(architecture: ModelArchitecture) {
        self.architecture = architecture
    }

    /// Adam's step size through epoch `epoch` (1-based).
    public func learningRate(epoch: Int) -> Float {
        learningRate * Float(pow(Double(learningRateDecay ?? 1), Double(max(0, epoch - 1))))
    }

    /// A short text that changes when any setting but the epoch count changes (for --resume). The count is left
    /// out because no epoch depends on how many follow it (the learning rate is set per epoch; the order and the
    /// mirrored windows are seeded per epoch), so `--resume --epochs N` extends a finished run to the weights an N-epoch
    /// run has.
    public var fingerprint: String { hashed(epochs: 0) }

    /// The fingerprint as checkpoints written before it left the epoch count out recorded it.
    public func fingerprintBeforeExtension(epochs: Int) -> String { hashed(epochs: epochs) }

    /// Whether a checkpoint recording `fingerprint` after `epochsDone` epochs was made with these settings: one of
    /// this version, or an older one made for the same epoch count or finished at `epochsDone` (so it extends too).
    /// An onset model's checkpoint from before `picker` changed to the rise does not match: its best epoch so far
    /// was chosen by another measure.
    public func matches(fingerprint recorded: String, epochsDone: Int) -> Bool {
        recorded == fingerprint || recorded == fingerprintBeforeExtension(epochs: epochs)
            || recorded == fingerprintBeforeExtension(epochs: epochsDone)
    }

    /// FNV-1a of these settings' JSON with `epochs` in place of the epoch count.
    private func hashed(epochs: Int) -> String {
        var counted = self
        counted.epochs = epochs
        // Sorted keys: Swift's JSON key order otherwise follows per-process hash seeding.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var h = FNV1a()
        h.add((try? encoder.encode(counted)) ?? Data())
        return h.hex
    }
}

/// What a run learns from, for --resume: the clip counts and a hash of every clip's length and audio targets, in
/// order (frames are left out: hashing gigabytes on every start costs more than it guards; a clip's targets come
/// from its own audio). A dataset moved elsewhere still matches; a clip added, removed, reordered or re-cut does not,
/// and a run resumed on other clips would no longer be the run its checkpoint started.
public struct TrainingData: Codable, Sendable, Equatable {
    public var trainClips: Int
    public var validationClips: Int
    public var fingerprint: String

    public init(train: [PreparedClip], validation: [PreparedClip]) {
        trainClips = train.count
        validationClips = validation.count
        var h = FNV1a()
        for (part, clips) in [train, validation].enumerated() {
            h.add(UInt32(0xFFFF_FF00) | UInt32(part))
            for clip in clips {
                h.add(UInt32(clip.steps))
                for v in clip.targets { h.add(v.bitPattern) }
                for v in clip.onsets { h.add(v.bitPattern) }
            }
        }
        fingerprint = h.hex
    }
}

/// Validation figures for one pass over clips.
public struct ValidationResult: Sendable {
    public var loss: Double
    public var meanR: Double?
    public var hits: HitMatch
    /// Hits picked from the onset output instead (architectures with one): reported beside, not used to choose.
    public var onsetOutputHits: HitMatch?
    public var scores: [ClipScore]
    /// The same figures for each dataset's clips (by position among the datasets), when there are several.
    public var bySource: [Int: AggregateScore] = [:]
    /// What "best" means when choosing the model to keep: hit F1 plus the Fisher-mean r, pooled or of one dataset.
    public func selectionScore(chooseOn: Int?) -> Double {
        guard let chooseOn, let one = bySource[chooseOn] else { return hits.f1 + (meanR ?? 0) }
        return one.hits.f1 + (one.meanR ?? 0)
    }
}

/// The epoch loop: batches of windows in a seeded order, Adam with gradient clipping, validation after each
/// epoch, the best model kept, and a checkpoint written atomically every epoch and on interruption.
public final class TrainingRun {
    public let settings: TrainingSettings
    public let train: [PreparedClip]
    public let validation: [PreparedClip]
    public let checkpointPath: String
    /// Where the run's best model goes once the run has ended well (finished): untouched until then, so a run that
    /// diverges, is interrupted or is killed never replaces a good model already there.
    public let outputPath: String
    /// Where the best model so far is kept while the run goes on (`outputPath` + ".best", written whole each time an
    /// epoch beats the best): renamed onto `outputPath` when the run finishes; what --resume goes on from after an
    /// interruption; removed when the run diverges.
    public var stagingPath: String { outputPath + ".best" }
    public let provenance: TrainingProvenance
    /// The clips this run learns from, as its checkpoints record them.
    public let data: TrainingData
    /// The training clips cut into TBPTT windows (Self.windows), in clip order: what each epoch shuffles.
    public let windows: [Window]
    /// Batches per epoch (the last may be smaller).
    public var batchCount: Int { (windows.count + settings.batchSize - 1) / settings.batchSize }
    let log: (String) -> Void
    let progress: (String) -> Void
    let trainer: ModelTrainer
    public private(set) var state = TrainingState()
    /// Threads of each batch's forward and backward (ModelTrainer.threadCount, 2; results are the same for 1).
    public var threadCount: Int {
        get { trainer.threadCount }
        set { trainer.threadCount = newValue }
    }
    /// Called after each batch with the number of batches run so far (thud-train's hidden --stop-after-batches and
    /// --kill-after-batches, the training benchmark's progress).
    public var afterBatch: (Int) -> Void = { _ in }
    /// Early stopping: end the run when this many epochs in a row did not beat the best one (nil: run every epoch).
    public var patience: Int?

    public init(settings: TrainingSettings, train: [PreparedClip], validation: [PreparedClip], checkpointPath: String,
                outputPath: String, provenance: TrainingProvenance,
                log: @escaping (String) -> Void = { _ in }, progress: @escaping (String) -> Void = { _ in }) {
        self.settings = settings
        self.train = train
        self.validation = validation
        self.checkpointPath = checkpointPath
        self.outputPath = outputPath
        self.provenance = provenance
        self.log = log
        self.progress = progress
        trainer = ModelTrainer(architecture: settings.architecture, seed: settings.seed)
        trainer.onsetLossWeight = settings.onsetLossWeight
        trainer.frozenPrefixes = settings.frozenLayers ?? []
        state.settingsFingerprint = settings.fingerprint
        data = TrainingData(train: train, validation: validation)
        state.data = data
        windows = Self.windows(train, length: settings.sequenceLength)
    }

    public enum Outcome: Equatable { case finished, interrupted }

    /// A run whose loss or weights stopped being finite numbers (a learning rate far too high): it stops before
    /// the bad weights are written anywhere. The output model is as it was before the run (the run's best so far is
    /// removed with it: it came from a run that went wrong); the checkpoint holds the last epoch that ended with
    /// finite weights, if this run finished one (`checkpointEpoch`), and is otherwise as it was.
    public struct DivergedError: Error, CustomStringConvertible {
        public let epoch: Int
        public let batch: Int
        public let what: String
        public let outputPath: String
        public let checkpointPath: String
        /// The epoch whose weights this run's last checkpoint holds; nil when it wrote none.
        public let checkpointEpoch: Int?
        /// README, "Exit codes": 65, training diverged.
        public var exitCode: Int32 { 65 }
        public var description: String {
            let kept = checkpointEpoch.map { "\(outputPath) is as it was; \(checkpointPath) holds epoch \($0), the last before the divergence" }
                ?? "nothing written: \(outputPath) and \(checkpointPath) are as they were"
            return "\(outputPath): training diverged in epoch \(epoch), batch \(batch) (\(what)); \(kept) (try a lower --learning-rate)"
        }
    }

    /// The epoch of the last checkpoint this run wrote, for DivergedError's message.
    private var lastCheckpointEpochOfThisRun: Int?

    /// A DivergedError for the current position, after removing the run's best-so-far model.
    private func diverged(epoch: Int, batch: Int, what: String) -> DivergedError {
        unlink(stagingPath)
        return DivergedError(epoch: epoch, batch: batch, what: what, outputPath: outputPath, checkpointPath: checkpointPath,
                             checkpointEpoch: lastCheckpointEpochOfThisRun)
    }

    /// The name of the first tensor holding a NaN or an infinity, nil when all are finite.
    static func firstNonFinite(_ tensors: [NamedTensor]) -> String? {
        tensors.first { !$0.values.allSatisfy(\.isFinite) }?.name
    }

    /// Epoch `epoch`'s order of the windows (indices into `windows`), seeded by the run's seed and the epoch. With
    /// dataset shares, every batch holds each dataset's share of windows (Self.sharedOrder).
    public func order(epoch: Int) -> [Int] {
        let seed = settings.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15
        guard let shares = settings.datasetShares else { return Self.shuffled(windows.count, seed: seed) }
        return Self.sharedOrder(sources: windows.map { train[$0.clip].clip.source }, shares: shares,
                                batchSize: settings.batchSize, seed: seed)
    }

    /// `sources.count` window indices in batches of `batchSize`, each batch holding about shares[s] / Σ shares of
    /// windows of source s (largest remainders; the rounding error carried on, so the shares hold over the epoch).
    /// Each source's windows come in a shuffled order that starts over, reshuffled, when it runs out.
    static func sharedOrder(sources: [Int], shares: [Double], batchSize: Int, seed: UInt64) -> [Int] {
        var bySource: [[Int]] = Array(repeating: [], count: shares.count)
        for (i, s) in sources.enumerated() where s < shares.count && shares[s] > 0 { bySource[s].append(i) }
        let live = (0..<shares.count).filter { !bySource[$0].isEmpty }
        guard !live.isEmpty else { return shuffled(sources.count, seed: seed) }
        let total = live.map { shares[$0] }.reduce(0, +)
        var queues = Array(repeating: [Int](), count: shares.count), cycles = Array(repeating: 0, count: shares.count)
        var owed = Array(repeating: 0.0, count: shares.count)
        var out: [Int] = []
        out.reserveCapacity(sources.count)
        func next(_ s: Int) -> Int {
            if queues[s].isEmpty {
                cycles[s] += 1
                let order = shuffled(bySource[s].count, seed: seed ^ (UInt64(s + 1) &* 0xC2B2_AE3D_27D4_EB4F) &+ UInt64(cycles[s]))
                queues[s] = order.reversed().map { bySource[s][$0] }
            }
            return queues[s].removeLast()
        }
        while out.count < sources.count {
            let n = min(batchSize, sources.count - out.count)
            for s in live { owed[s] += Double(n) * shares[s] / total }
            var counts = live.map { Int(owed[$0].rounded(.down)) }
            var left = n - counts.reduce(0, +)
            for k in live.indices.sorted(by: { owed[live[$0]] - Double(counts[$0]) > owed[live[$1]] - Double(counts[$1]) }) where left > 0 {
                counts[k] += 1; left -= 1
            }
            for (k, s) in live.enumerated() {
                owed[s] -= Double(counts[k])
                for _ in 0..<counts[k] { out.append(next(s)) }
            }
        }
        return out
    }

    /// The window indices of batch `b` of an epoch in `order`.
    public func members(_ b: Int, of order: [Int]) -> ArraySlice<Int> {
        order[(b * settings.batchSize)..<min(windows.count, (b + 1) * settings.batchSize)]
    }

    /// Batch `b` of epoch `epoch` (whose order is `order`) as the trainer sees it: each window's frames, targets,
    /// weights and onset targets, mirrored where isMirrored says so. (Public so that tools/bench/train_bench feeds
    /// the PyTorch reference exactly these batches.)
    public func batch(_ b: Int, of order: [Int], epoch: Int) -> [TrainingSequence] {
        let indices = Array(members(b, of: order))
        let make = { (index: Int) in
            self.sequence(self.jittered(window: index, epoch: epoch), mirrored: self.isMirrored(window: index, epoch: epoch),
                          augmentation: self.settings.augmentation.map { WindowAugmentation.draw($0, seed: self.settings.seed, epoch: epoch, window: index) })
        }
        // With one thread asked for (`adapt --follow`'s default, beside a running `thud`), one thread it is.
        guard indices.count > 1, threadCount >= 2 else { return indices.map(make) }
        // Copying, mirroring and augmenting frames is per-pixel work done between two batches while the second
        // core would idle: the windows are made side by side (each one's draw is its own, so the batch is the same
        // whatever the threads do).
        var made = [TrainingSequence?](repeating: nil, count: indices.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: indices.count) { k in
            let sequence = make(indices[k])
            lock.lock(); made[k] = sequence; lock.unlock()
        }
        return made.map { $0! }
    }

    /// Window `index` as epoch `epoch` cuts it: moved by up to half its length either way (settings.windowJitter),
    /// kept inside its clip; unmoved otherwise.
    public func jittered(window index: Int, epoch: Int) -> Window {
        var w = windows[index]
        guard settings.windowJitter == true else { return w }
        let steps = train[w.clip].steps
        guard steps > w.length else { return w }
        var rng = SplitMix64(seed: settings.seed ^ 0x5851_F42D_4C95_7F2D ^ (UInt64(epoch) &* 0x1405_7B7E_F767_814F) ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        let reach = w.length / 2
        let shift = Int(rng.next() % UInt64(2 * reach + 1)) - reach
        w.start = min(steps - w.length, max(0, w.start + shift))
        return w
    }

    /// Continues from the checkpoint if `resume` and one exists (refusing one made with other settings).
    public func run(resume: Bool, interrupted: () -> Bool) throws -> Outcome {
        if resume, FileManager.default.fileExists(atPath: checkpointPath) {
            let checkpoint = try Checkpoint.read(path: checkpointPath)
            guard settings.matches(fingerprint: checkpoint.state.settingsFingerprint, epochsDone: checkpoint.state.epochsDone) else {
                throw CheckpointError(path: checkpointPath, problem: "was made with other settings (fingerprint \(checkpoint.state.settingsFingerprint), now \(settings.fingerprint)); start afresh without --resume")
            }
            if let recorded = checkpoint.state.data, recorded != data {
                let counts = recorded.trainClips == data.trainClips && recorded.validationClips == data.validationClips
                    ? "the same counts, \(data.trainClips) train and \(data.validationClips) validation clips, but other clips"
                    : "\(recorded.trainClips) train and \(recorded.validationClips) validation clips then, \(data.trainClips) and \(data.validationClips) now"
                throw CheckpointError(path: checkpointPath, problem: "was made on other data (\(counts)); start afresh without --resume")
            }
            try trainer.restore(checkpointTensors: checkpoint.tensors)
            state = checkpoint.state
            state.settingsFingerprint = settings.fingerprint
            state.data = data
            log("resumed from \(checkpointPath): \(state.epochsDone) epochs done, next batch \(state.nextBatch)"
                + (state.epochsDone >= settings.epochs ? "; nothing left to train (--epochs \(settings.epochs))" : ""))
        } else if let warmStart = settings.warmStart {
            try trainer.warmStart(from: ModelFile.read(path: warmStart))
            log("starting from the weights of \(warmStart)")
        }
        var batchesRun = 0
        while state.epochsDone < settings.epochs {
            let epoch = state.epochsDone + 1
            let epochOrder = order(epoch: epoch)
            let learningRate = settings.learningRate(epoch: epoch)
            let started = Date()
            var lossSum = state.partialLossSum, lossCount = state.partialLossCount
            for b in state.nextBatch..<batchCount {
                if interrupted() {
                    state.nextBatch = b
                    state.partialLossSum = lossSum
                    state.partialLossCount = lossCount
                    try saveCheckpoint()
                    let best = FileManager.default.fileExists(atPath: stagingPath)
                        ? "the best model so far is in \(stagingPath) (--resume goes on, and writes \(outputPath) when the run ends)"
                        : "\(outputPath) is written when the run ends (--resume goes on)"
                    log("interrupted in epoch \(epoch) before batch \(b + 1)/\(batchCount); checkpoint saved to \(checkpointPath); \(best)")
                    return .interrupted
                }
                let loss = trainer.computeGradients(batch: batch(b, of: epochOrder, epoch: epoch))
                guard loss.isFinite else { throw diverged(epoch: epoch, batch: b + 1, what: "loss \(loss)") }
                _ = trainer.clipGradients(maxNorm: settings.gradientClipNorm)
                trainer.adamStep(learningRate: learningRate)
                lossSum += Double(loss); lossCount += 1
                batchesRun += 1
                afterBatch(batchesRun)
                let elapsed = Date().timeIntervalSince(started)
                let done = max(1, b + 1 - state.nextBatch), left = batchCount - b - 1
                let clipsPerSecond = Double(done * settings.batchSize) * Double(train.count) / Double(max(1, windows.count)) / max(elapsed, 1e-9)
                progress(String(format: "epoch %d/%d %@ %d/%d  %.1f clips/s  loss %.4f  ETA %@", epoch, settings.epochs,
                                Self.bar(b + 1, batchCount), b + 1, batchCount, clipsPerSecond, lossSum / Double(lossCount),
                                Format.duration(elapsed / Double(done) * Double(left))))
            }
            let seconds = Date().timeIntervalSince(started)
            // The last batch's step may have left non-finite weights that no loss has seen yet.
            if let tensor = Self.firstNonFinite(trainer.checkpointTensors()) {
                throw diverged(epoch: epoch, batch: batchCount, what: "weights of \(tensor) are not finite")
            }
            let result = validate(validation)
            var record = EpochRecord(epoch: epoch, trainLoss: lossCount > 0 ? lossSum / Double(lossCount) : 0, validationLoss: nil,
                                     validationR: result?.meanR, validationF1: result?.hits.f1, seconds: seconds,
                                     clipsPerSecond: Double(train.count) / max(seconds, 1e-9))
            record.validationOnsetOutputF1 = result?.onsetOutputHits?.f1
            record.validationLoss = result?.loss
            state.history.append(record)
            state.epochsDone = epoch
            state.nextBatch = 0
            state.partialLossSum = 0
            state.partialLossCount = 0
            let score = result?.selectionScore(chooseOn: settings.chooseOn) ?? -record.trainLoss
            if state.bestScore == nil || score > state.bestScore! {
                state.bestScore = score
                state.bestEpoch = epoch
                try trainer.modelFile(header: header(for: record)).write(to: stagingPath)
            }
            try saveCheckpoint()
            let onsetF1 = record.validationOnsetOutputF1.map { String(format: " (onset output %.4f)", $0) } ?? ""
            log(String(format: "epoch %d/%d  train loss %.4f  val loss %@  val r %@  val hit F1 %@%@  %.1f s (%.1f clips/s)%@",
                       epoch, settings.epochs, record.trainLoss, Format.optional(record.validationLoss), Format.optional(record.validationR),
                       Format.optional(record.validationF1), onsetF1, seconds, record.clipsPerSecond,
                       state.bestEpoch == epoch ? "  best so far" : ""))
            for (source, one) in (result?.bySource ?? [:]).sorted(by: { $0.key < $1.key }) {
                log(String(format: "  validation of dataset %d (%d clips): r %@  hit F1 %.4f%@", source + 1, one.clips, Format.optional(one.meanR),
                           one.hits.f1, settings.chooseOn == source ? "  (chooses the model)" : ""))
            }
            if let patience, let best = state.bestEpoch, epoch - best >= patience, state.epochsDone < settings.epochs {
                log("stopping early: \(patience) epochs without beating epoch \(best)")
                break
            }
        }
        try publishBest()
        return .finished
    }

    /// The run ended well: its best model replaces `outputPath` (one rename; the staging file was written whole).
    /// A resumed run that found nothing new to keep has no staging file and leaves `outputPath` as the run before
    /// it left it.
    func publishBest() throws {
        guard FileManager.default.fileExists(atPath: stagingPath) else { return }
        guard rename(stagingPath, outputPath) == 0 else {
            throw FileWriteError(path: outputPath, "cannot be put in place from \(stagingPath) (\(String(cString: strerror(errno))))")
        }
        let folder = (outputPath as NSString).deletingLastPathComponent
        let fd = open(folder.isEmpty ? "." : folder, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    func saveCheckpoint() throws {
        let tensors = trainer.checkpointTensors()
        if let tensor = Self.firstNonFinite(tensors) {
            throw diverged(epoch: state.epochsDone + 1, batch: state.nextBatch, what: "weights of \(tensor) are not finite")
        }
        try Checkpoint(state: state, tensors: tensors).write(to: checkpointPath)
        lastCheckpointEpochOfThisRun = state.epochsDone
    }

    func header(for record: EpochRecord) -> ModelHeader {
        var prov = [String: String]()
        prov["epoch"] = String(record.epoch)
        prov["train_clips"] = String(train.count)
        prov["validation_clips"] = String(validation.count)
        if let r = record.validationR { prov["validation_r"] = String(format: "%.4f", r) }
        if let f = record.validationF1 { prov["validation_hit_f1"] = String(format: "%.4f", f) }
        if let f = record.validationOnsetOutputF1 { prov["validation_onset_output_hit_f1"] = String(format: "%.4f", f) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        prov["settings"] = String(decoding: (try? encoder.encode(settings)) ?? Data(), as: UTF8.self)
        var header = ModelHeader(architecture: settings.architecture, training: provenance, provenance: prov)
        header.picker = settings.recordedPicker
        return header
    }

    /// Runs the current weights over clips and scores them (r, hits against the ground truth or target peaks).
    public func validate(_ clips: [PreparedClip]) -> ValidationResult? {
        guard !clips.isEmpty else { return nil }
        var scores: [ClipScore] = []
        var onsetOutputHits: HitMatch?
        var loss = 0.0
        let onsetPicker = PeakPicker.Configuration.defaults(for: .onset)
        for clip in clips {
            let (envelope, onsets) = trainer.predictOutputs(frames: clip.frames, count: clip.steps)
            let score = Self.score(clip: clip, envelope: envelope, onsets: onsets, picker: settings.picker)
            scores.append(score)
            if let onsets {
                // Only the hits: r and the rest belong to the envelope and are in `score` already.
                let picked = PeakPicker.hits(envelope: envelope, onsets: onsets, configuration: onsetPicker).map(\.step)
                let n = score.steps
                onsetOutputHits = (onsetOutputHits ?? HitMatch())
                    + HitMetrics.match(predicted: picked.filter { $0 < n }, truth: Self.truth(clip).filter { $0 < n })
            }
            loss += EnvelopeMetrics.binaryCrossEntropy(envelope, clip.targets)
        }
        let all = AggregateScore(scores)
        var result = ValidationResult(loss: loss / Double(clips.count), meanR: all.meanR, hits: all.hits,
                                      onsetOutputHits: onsetOutputHits, scores: scores)
        let sources = Set(clips.map(\.clip.source))
        if sources.count > 1 || settings.chooseOn != nil {
            for source in sources {
                result.bySource[source] = AggregateScore(zip(clips, scores).filter { $0.0.clip.source == source }.map(\.1))
            }
        }
        return result
    }

    /// Hits are the peak picker's, at their peak step; the truth is the generator's scene hits (GroundTruthHits) when known,
    /// else the target envelope's peaks (EnvelopePeakRule).
    public static func score(clip: PreparedClip, envelope: [Float], onsets: [Float]? = nil,
                             picker configuration: PeakPicker.Configuration) -> ClipScore {
        let hits = PeakPicker.hits(envelope: envelope, onsets: onsets, configuration: configuration).map(\.step)
        return ClipScore.measure(id: clip.clip.id, className: clip.clip.template, prediction: envelope, predictedHits: hits,
                                 target: clip.targets, trueHits: truth(clip))
    }

    /// The generator's scene hits when the dataset has them, else the target envelope's peaks.
    static func truth(_ clip: PreparedClip) -> [Int] { clip.trueHits ?? EnvelopePeakRule().peaks(clip.targets) }

    /// `length` steps of clip `clip` (an index into `train`) from step `start`.
    public struct Window: Sendable, Equatable {
        public var clip: Int
        public var start: Int
        public var length: Int
        public init(clip: Int, start: Int, length: Int) { self.clip = clip; self.start = start; self.length = length }
    }

    /// Consecutive windows of each clip (the last may be shorter, but at least a quarter of the length).
    static func windows(_ clips: [PreparedClip], length: Int) -> [Window] {
        var out: [Window] = []
        for (i, clip) in clips.enumerated() {
            var start = 0
            while start < clip.steps {
                let n = min(length, clip.steps - start)
                if n >= max(2, length / 4) || start == 0 { out.append(Window(clip: i, start: start, length: n)) }
                start += length
            }
        }
        return out
    }

    /// Whether window `index` is mirrored in `epoch` (always false unless settings.mirror).
    public func isMirrored(window index: Int, epoch: Int) -> Bool {
        guard settings.mirror == true else { return false }
        var rng = SplitMix64(seed: settings.seed ^ (UInt64(epoch) &* 0xD1B5_4A32_D192_ED03) ^ (UInt64(index) &* 0x8CB9_2BA7_2F3D_8DD7))
        return rng.next() & 1 == 1
    }

    public func sequence(_ w: Window, mirrored: Bool = false, augmentation: WindowAugmentation? = nil) -> TrainingSequence {
        let clip = train[w.clip]
        let fb = clip.frameBytes
        var frames = Array(clip.frames[(w.start * fb)..<((w.start + w.length) * fb)])
        var previous = w.start > 0 ? Array(clip.frames[((w.start - 1) * fb)..<(w.start * fb)]) : nil
        // Only an encoder that reads the frame before that gets it (EncoderSpec.readsFrameBeforePrevious).
        var beforePrevious = w.start > 1 && settings.architecture.encoder.readsFrameBeforePrevious
            ? Array(clip.frames[((w.start - 2) * fb)..<((w.start - 1) * fb)]) : nil
        if mirrored {
            Self.mirrorRows(&frames, width: clip.width)
            if previous != nil { Self.mirrorRows(&previous!, width: clip.width) }
            if beforePrevious != nil { Self.mirrorRows(&beforePrevious!, width: clip.width) }
        }
        if let augmentation, !augmentation.isIdentity {
            // The frames before the window go through the same camera: [beforePrevious] [previous] frames.
            let lead = [beforePrevious, previous].compactMap { $0 }
            var all = lead.flatMap { $0 } + frames
            augmentation.apply(frames: &all, count: lead.count + w.length, width: clip.width, height: clip.height)
            if lead.count == 2 { beforePrevious = Array(all[0..<fb]) }
            if previous != nil { previous = Array(all[((lead.count - 1) * fb)..<(lead.count * fb)]) }
            frames = Array(all[(lead.count * fb)...])
        }
        // The output after frame t describes step t − delay; before the clip there is no sound (the envelope's
        // smoothing is zero outside the clip too).
        let delay = settings.architecture.outputDelay
        func described(_ series: [Float], _ t: Int) -> Float { t >= delay ? series[t - delay] : 0 }
        let targets = (w.start..<(w.start + w.length)).map { described(clip.targets, $0) }
        var weights: [Float]?
        if settings.onsetWeight > 0 {
            weights = (0..<w.length).map { k in
                let t = w.start + k
                let rise = t > 0 ? described(clip.targets, t) - described(clip.targets, t - 1) : 0
                return rise > 0.1 ? 1 + settings.onsetWeight : 1
            }
        }
        let gain = settings.onsetTargetGain ?? 1
        let onsets = settings.architecture.hasOnsetOutput
            ? (w.start..<(w.start + w.length)).map { min(1, gain * described(clip.onsets, $0)) } : nil
        return TrainingSequence(frames: frames, previousFrame: previous, beforePreviousFrame: beforePrevious, targets: targets,
                                weights: weights, onsetTargets: onsets)
    }

    /// Reverses every row of width `width` in place (gray8 frames, row-major, back to back).
    static func mirrorRows(_ pixels: inout [UInt8], width: Int) {
        guard width > 1 else { return }
        // Through the buffer: reversing slices of the array itself checked uniqueness on every row.
        pixels.withUnsafeMutableBufferPointer { all in
            for rowStart in stride(from: 0, to: all.count, by: width) {
                var row = UnsafeMutableBufferPointer(rebasing: all[rowStart..<(rowStart + width)])
                row.reverse()
            }
        }
    }

    /// Fisher–Yates with SplitMix64: the same seed gives the same order on every machine.
    static func shuffled(_ n: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var a = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                a.swapAt(i, j)
            }
        }
        return a
    }

    static func bar(_ done: Int, _ total: Int, width: Int = 20) -> String {
        let filled = total > 0 ? width * done / total : width
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }
}

extension TrainingRun.DivergedError: OneLineError {
    public var message: String { description }
}

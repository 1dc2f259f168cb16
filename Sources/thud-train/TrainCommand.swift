import ArgumentParser
import Foundation
import ThudCommandLine
import ThudEval
import ThudBase
import ThudModel
import ThudTrain

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (the default verb).",
        discussion: """
        Decodes every clip once into a cache (12 Hz frames at the model's size, the audio envelope target and the \
        audio's onset strength), removes faulty clips (reported per split), then trains with truncated \
        backpropagation through time over windows of --sequence-length steps, binary cross-entropy against the \
        envelope (and, with --architecture default-onset, against the onset strength), Adam, gradient clipping, \
        mini-batches on both cores. After each epoch it reports validation r and hit F1 (±1 step) and keeps the \
        best model so far in OUT.best; when the run ends well, that model replaces --out (a run that diverges or is \
        stopped leaves --out as it was). A checkpoint is written atomically after every epoch and on Ctrl-C; --resume goes \
        on from it and gives the same weights as a run never interrupted, and with a larger --epochs it extends \
        a finished run to the weights a run of that many epochs would have.
        """)

    @OptionGroup var data: DataOptions

    @Option(help: "Where the best model is written.")
    var out = "model.thud"

    @Option(help: "Checkpoint file (default: OUT.checkpoint).")
    var checkpoint: String?

    @Flag(help: "Continue from the checkpoint (with the same settings and clips; a larger --epochs extends a finished run).")
    var resume = false

    @Option(help: "Model architecture: default (conv encoder), default-onset (the same with a second output trained on the audio's onset strength; thud flags its peaks with --detection onset) motion-energy (weight-free encoder baseline: mean |difference| per cell) or motion-flow (weight-free: per cell the motion energy, the block-matched displacement, its change since the step before and what it leaves unexplained; 96x96 unless --input-size).")
    var architecture = "default"

    @Option(help: "Frame size the conv encoder sees, WxH (default 64x64). Finer frames show smaller motions (a low bounce moves a pixel or two at 64x64) at the cost of a slower step; the model file records it and thud scales its frames to it.")
    var inputSize: String?
    @Option(help: "Output channels of the conv encoder's stride-2 3x3 layers, a comma list (default 8,16,32,32). Each layer halves the frame: with --input-size 96x96, five layers end on a 3x3 grid.")
    var convChannels: String?

    @Option(parsing: .unconditional, help: "Hidden units in each of the two LSTM layers (default 128). The LSTM's share of each step's cost grows roughly with its square; what it costs and gave is in models/README.md.")
    var lstmHidden: Int?

    @Flag(help: "Give the conv encoder a third input plane: the previous step's frame difference beside this step's. A bounce is a change of motion; with both differences side by side the first layer can see a small object turn around. The model file records it. A model without it warm-starts one with it (the new plane's weights start at zero). What it gave is in models/README.md.")
    var previousDifference = false
    @Flag(help: "Standardise the conv encoder's input planes per frame: the frame minus its own mean, its differences minus theirs, each divided by the frame's own standard deviation (floored at 4 gray levels), so a camera's exposure and contrast make no difference to what the encoder sees (synthetic and real video alike). The model file records it (normalisation \"per-frame\"); thud streams it the same way. A model without it can warm-start one with it.")
    var frameNormalisation = false
    @Option(parsing: .unconditional, help: "Threads of each batch's forward and backward pass (1 or 2; the weights are the same either way).")
    var threads = 2
    @Option(parsing: .unconditional, help: "Describe each step this many steps late (0 to 4). Step k's target is the sound of the 1/12 s after step k's frame, so without a delay the model must foresee an impact from the frame before it; with 1, it has seen the frame after (the bounce itself) when it describes the step. thud reports hits and envelope at their own steps either way, this many steps later.")
    var outputDelay = 0
    @Option(parsing: .unconditional) var epochs = 20
    @Option(parsing: .unconditional) var batchSize = 16
    @Option(parsing: .unconditional, help: "Steps per truncated-BPTT window (the original used 48).")
    var sequenceLength = 48
    @Option(parsing: .unconditional) var learningRate: Float = 2e-3
    @Option(parsing: .unconditional, help: "Multiply the learning rate by this after every epoch (1 = constant): epoch e runs at the rate times this to the power e−1.")
    var learningRateDecay: Float = 1
    @Option(parsing: .unconditional, help: "Gradients are scaled down to at most this global norm.")
    var clipNorm: Float = 1
    @Option(parsing: .unconditional) var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Extra loss weight on onset steps (0 = plain BCE).")
    var onsetWeight: Float = 0
    @Option(parsing: .unconditional, help: "Weight of the onset output's BCE beside the envelope's (default-onset only).")
    var onsetLossWeight: Float = 1
    @Option(parsing: .unconditional, help: "The onset output learns min(1, this × the audio's onset strength): above 1, a quiet bounce teaches as much as a loud first impact (default-onset only).")
    var onsetTargetGain: Float = 1
    @Flag(help: "Mirror about half the training windows left to right, a different half each epoch (a mirrored scene sounds the same).")
    var mirror = false
    @Option(help: "Augment every training window on the fly with this strength (0 = off, 1 = full): random crop, zoom, aspect and small rotation, hand-held shake, brightness, contrast, gamma, blur, sensor noise, blockiness, dropped and repeated frames; a share of windows stays clean. Drawn per seed, epoch and window, so --resume repeats it. Mirroring stays --mirror's.")
    var augment: Float = 0
    @Option(help: "With several DATASETs, each one's share of every batch, a comma list in their order (e.g. 1,1: half the windows from each, however many clips each has). A dataset whose windows run out within an epoch starts over in a new order. Default: windows in their natural proportion.")
    var datasetShare: String?
    @Option(help: "With several DATASETs, the one (1 = the first) whose validation clips choose the model kept (hit F1 + r). Default: all validation clips pooled. Each dataset's validation is reported either way.")
    var chooseOn: Int?
    @Flag(help: "Cut each epoch's windows at a random offset (up to half a window either way) so long clips give new windows every epoch.")
    var windowJitter = false
    @Option(help: "Start from this model's weights instead of a random initialisation (a default model can start a default-onset one: its envelope output is kept, the onset output starts fresh; a model of another --input-size with the same conv layers can start this one: its first LSTM layer's input weights are resampled onto the new last conv grid).")
    var warmStart: String?
    @Option(parsing: .unconditional, help: "Use at most this many training clips (0 = all).")
    var maxTrainClips = 0

    // Test hook: behave as if interrupted after this many batches (stands in for Ctrl-C or kill).
    @Option(help: .hidden)
    var stopAfterBatches: Int?

    // Test hook: SIGKILL ourselves after this many batches (a real kill -9 at a reproducible moment).
    @Option(help: .hidden)
    var killAfterBatches: Int?

    // ArgumentParser calls this after parsing, before run(): bad options are refused before any data is prepared.
    func validate() throws {
        guard onsetTargetGain > 0, onsetTargetGain.isFinite else { throw ValidationError("--onset-target-gain must be a positive number") }
        guard (1...2).contains(threads) else { throw ValidationError("--threads must be 1 or 2") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard sequenceLength >= 1 else { throw ValidationError("--sequence-length must be at least 1 step") }
        guard learningRate.isFinite, learningRate > 0 else { throw ValidationError("--learning-rate must be a positive number") }
        guard clipNorm.isFinite, clipNorm > 0 else { throw ValidationError("--clip-norm must be a positive number") }
        guard onsetWeight.isFinite, onsetWeight >= 0 else { throw ValidationError("--onset-weight must be a number, 0 or more") }
        guard onsetLossWeight.isFinite, onsetLossWeight >= 0 else { throw ValidationError("--onset-loss-weight must be a number, 0 or more") }
        guard maxTrainClips >= 0 else { throw ValidationError("--max-train-clips must be 0 (all) or more") }
        guard (0...4).contains(outputDelay) else { throw ValidationError("--output-delay must be between 0 and 4") }
        guard learningRateDecay > 0, learningRateDecay <= 1 else { throw ValidationError("--learning-rate-decay must be within 0 (excluded) and 1") }
        _ = try architectureSpec()
        guard augment.isFinite, augment >= 0, augment <= 1 else { throw ValidationError("--augment must be within 0 and 1") }
        _ = try shares()
        if let chooseOn, !(1...data.datasets.count).contains(chooseOn) {
            throw ValidationError("--choose-on must name one of the \(data.datasets.count) datasets (1…\(data.datasets.count))")
        }
    }

    /// --dataset-share as numbers, one per dataset, or a ValidationError.
    func shares() throws -> [Double]? {
        guard let datasetShare else { return nil }
        let values = datasetShare.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == data.datasets.count, values.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }),
              values.contains(where: { $0! > 0 }) else {
            throw ValidationError("--dataset-share must be \(data.datasets.count) non-negative numbers, one per dataset, not all zero (\"\(datasetShare)\")")
        }
        return values.map { $0! }
    }

    /// The named architecture with --input-size and --conv-channels applied, or a ValidationError naming the problem.
    func architectureSpec() throws -> ModelArchitecture {
        var arch: ModelArchitecture
        switch architecture {
        case "default": arch = .default
        case "motion-energy": arch = .motionEnergyDefault
        case "motion-flow": arch = .motionFlowDefault
        case "default-onset": arch = .defaultWithOnsets
        default: throw ValidationError("--architecture must be default, default-onset, motion-energy or motion-flow")
        }
        if let inputSize { (arch.input.width, arch.input.height) = try parseFrameSize(inputSize, option: "--input-size") }
        if let convChannels {
            guard arch.encoder.kind == .conv else { throw ValidationError("--conv-channels needs a conv architecture (default or default-onset)") }
            let channels = convChannels.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !channels.isEmpty, channels.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--conv-channels must be a comma list of whole numbers, not \"\(convChannels)\"")
            }
            arch.encoder.convChannels = channels.map { $0! }
        }
        if previousDifference {
            guard arch.encoder.kind == .conv else { throw ValidationError("--previous-difference needs a conv architecture (default or default-onset)") }
            arch.encoder.previousDifferencePlane = true
        }
        if frameNormalisation {
            guard arch.encoder.kind == .conv else { throw ValidationError("--frame-normalisation needs a conv architecture (default or default-onset)") }
            arch.input.normalisation = InputSpec.perFrame
        }
        if outputDelay != 0 { arch.outputDelaySteps = outputDelay }
        if let lstmHidden { arch.lstmHidden = lstmHidden }
        // Every conv layer keeps at least one cell (ceil(n/2) ≥ 1), so a valid architecture has features.
        if let problem = arch.validationProblem() { throw ValidationError("--input-size/--conv-channels/--output-delay/--lstm-hidden: \(problem)") }
        return arch
    }

    func run() throws {
        let console = Console()
        let arch = try architectureSpec()
        // Before any clip is decoded: a model or checkpoint that could not be written would waste the whole run.
        for path in [out, checkpoint ?? out + ".checkpoint"] {
            do {
                let folder = (path as NSString).deletingLastPathComponent
                if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                try AtomicFile.checkWritable(path)
            } catch {
                throw exitWith(error, console: console)
            }
        }
        let (_, prepared) = try data.prepare(width: arch.input.width, height: arch.input.height,
                                             splits: Set(DatasetSplit.allCases), console: console)
        var train = prepared.clips(.train)
        if maxTrainClips > 0 { train = Array(train.prefix(maxTrainClips)) }
        let validation = prepared.clips(.validation)
        guard !train.isEmpty else {
            console.error("\(data.dataset): no usable training clips after filtering")
            throw ExitStatus.unusableInput.exitCode
        }
        var settings = TrainingSettings(architecture: arch)
        settings.epochs = epochs
        settings.batchSize = batchSize
        settings.sequenceLength = sequenceLength
        settings.learningRate = learningRate
        settings.gradientClipNorm = clipNorm
        settings.seed = seed
        settings.onsetWeight = onsetWeight
        settings.onsetLossWeight = onsetLossWeight
        settings.warmStart = warmStart
        if onsetTargetGain != 1 { settings.onsetTargetGain = onsetTargetGain }
        if mirror { settings.mirror = true }
        if learningRateDecay != 1 { settings.learningRateDecay = learningRateDecay }
        if augment > 0 { settings.augmentation = AugmentationSettings(strength: augment) }
        settings.datasetShares = try shares()
        settings.chooseOn = chooseOn.map { $0 - 1 }
        if windowJitter { settings.windowJitter = true }
        let run = TrainingRun(settings: settings, train: train, validation: validation,
                              checkpointPath: checkpoint ?? out + ".checkpoint", outputPath: out,
                              provenance: TrainingProvenance(command: invokedCommand, data: "\(data.dataset) (classes \(data.classes)): \(train.count) train, \(validation.count) validation clips"),
                              log: console.log, progress: console.progress)
        run.threadCount = threads
        var batchesRun = 0
        run.afterBatch = { [killAfterBatches] in
            batchesRun = $0
            if let killAfterBatches, $0 >= killAfterBatches { kill(getpid(), SIGKILL) }
        }
        // Ctrl-C and SIGTERM ask the epoch loop to stop; it checks between batches and saves a checkpoint.
        let stop = StopRequest()
        let signals = StopOnSignals([SIGINT, SIGTERM]) { stop.request($0) }
        defer { signals.cancel() }
        let started = Date()
        let outcome: TrainingRun.Outcome
        do {
            outcome = try run.run(resume: resume) { [stopAfterBatches] in
                stop.signal != nil || stopAfterBatches.map { batchesRun >= $0 } == true
            }
        } catch let error as TrainerStateError {
            // The trainer does not know which file it started from: the line names the --warm-start model.
            console.error("\(warmStart ?? ""): \(error.message)")
            throw ExitStatus.badModel.exitCode
        } catch {
            throw exitWith(error, console: console)
        }
        if outcome == .interrupted { throw ExitStatus.interrupted.exitCode }
        console.log(String(format: "trained in %.1f s; best epoch %d, model at %@", Date().timeIntervalSince(started), run.state.bestEpoch ?? 0, out))
        // The test split, if any, scored with the best model.
        let test = prepared.clips(.test)
        if !test.isEmpty, let best = try? StreamingModel(path: out) {
            var scores: [ClipScore] = []
            for clip in test {
                best.reset()
                let out = clip.frames.withUnsafeBufferPointer { best.runBatchOutputs(frames: $0, count: clip.steps) }
                scores.append(TrainingRun.score(clip: clip, envelope: out.envelope, onsets: out.onsets, picker: settings.picker))
            }
            let all = AggregateScore(scores)
            console.log(String(format: "test: %d clips  mean r %@  hit P %@ R %@ F1 %.4f", all.clips, Format.optional(all.meanR),
                               Format.optional(all.hits.precision), Format.optional(all.hits.recall), all.hits.f1))
        }
    }
}

// thud-bench-train: the Swift side of tools/bench/train_bench.sh. It trains as `thud-train train` does — the same
// TrainingRun, on training clips read from thud-train's feature cache — with the settings of the bundled model's
// stage 2 (tools/train_default.sh: the model file's architecture and weights as the warm start, batch 16, 48-step
// windows, learning rate 3e-4 falling by a fifth per epoch, onset weight 4, onset target gain 3, mirrored windows),
// and prints seconds per epoch (wall and CPU). It also writes plan.json for the PyTorch side: the cache entries
// and every epoch's batches (window, mirrored), so that the reference trains on exactly the same data, and the loss
// of the first batch under the starting weights, which the reference must reproduce before its figures count.
//
// Usage: thud-bench-train DATASET... [--model FILE] [--clips N] [--epochs E] [--threads 1|2] [--cache DIR] [--out DIR]
import Foundation
import ThudEval
import ThudModel
import ThudTrain
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    FileHandle.standardError.write("thud-bench-train: \(message)\n".data(using: .utf8)!)
    exit(1)
}

var datasets: [String] = []
var modelPath = "models/default.thud", clipLimit = 256, epochs = 2, threads = 2
var cacheDirectory: String?, outDir: String?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--model": modelPath = args.next() ?? modelPath
    case "--clips": clipLimit = Int(args.next() ?? "") ?? clipLimit
    case "--epochs": epochs = Int(args.next() ?? "") ?? epochs
    case "--threads": threads = Int(args.next() ?? "") ?? threads
    case "--cache": cacheDirectory = args.next()
    case "--out": outDir = args.next()
    default:
        guard !a.hasPrefix("-") else {
            fail("usage: thud-bench-train DATASET... [--model FILE] [--clips N] [--epochs E] [--threads 1|2] [--cache DIR] [--out DIR]")
        }
        datasets.append(a)
    }
}
guard !datasets.isEmpty else { fail("name a dataset folder (a thud-synth corpus)") }

// The cache thud-train uses unless told otherwise, so that a corpus it has prepared is read, not decoded again.
let cachePath = cacheDirectory ?? FeatureCache.defaultDirectory

let model: ModelFile
let dataset: Dataset
do {
    model = try ModelFile.read(path: modelPath)
    dataset = Dataset(combining: try datasets.map { try Dataset.load($0) })
} catch {
    fail("\(error)")
}
let architecture = model.header.architecture
let cache = try FeatureCache(directory: cachePath, width: architecture.input.width, height: architecture.input.height)
let started = Date()
// As `thud-train train --max-train-clips N`: the first N usable training clips of the sound classes, in the
// dataset's order (faulty ones skipped), here without preparing the rest.
let filter = try ClassFilter.parse("sound")
var train: [PreparedClip] = [], fromCache = 0, faulty = 0
for clip in dataset.clips where clip.split == .train && filter.accepts(clip) {
    guard train.count < clipLimit else { break }
    switch cache.prepare(clip) {
    case .ready(let prepared, let cached): train.append(prepared); fromCache += cached ? 1 : 0
    case .faulty: faulty += 1
    }
}
guard !train.isEmpty else { fail("\(datasets.joined(separator: " + ")): no usable training clips") }
print(String(format: "data: the first %d usable training clips of %@ (%d faulty skipped), %d read from the cache %@ and "
             + "%d decoded into it in %.1f s, %dx%d frames", train.count, datasets.joined(separator: " + "), faulty, fromCache,
             cachePath, train.count - fromCache, Date().timeIntervalSince(started), architecture.input.width,
             architecture.input.height))

var settings = TrainingSettings(architecture: architecture)
settings.epochs = epochs
settings.batchSize = 16
settings.sequenceLength = 48
settings.learningRate = 3e-4
settings.learningRateDecay = 0.8
settings.gradientClipNorm = 1
settings.seed = 1
settings.onsetWeight = 4
settings.onsetLossWeight = 1
settings.onsetTargetGain = 3
settings.mirror = true
settings.warmStart = modelPath

let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("thud-bench-train-\(getpid())").path
try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: scratch) }
let run = TrainingRun(settings: settings, train: train, validation: [], checkpointPath: scratch + "/bench.thud.checkpoint",
                      outputPath: scratch + "/bench.thud",
                      provenance: TrainingProvenance(command: "thud-bench-train", data: "\(train.count) clips"))
run.threadCount = threads
let channels = (architecture.encoder.convChannels ?? []).map(String.init).joined(separator: ",")
print("model: \(modelPath) (\(architecture.input.width)x\(architecture.input.height), conv \(channels), "
      + "LSTM \(architecture.lstmLayers)x\(architecture.lstmHidden), onset output \(architecture.hasOnsetOutput)); "
      + "\(run.windows.count) windows of up to \(settings.sequenceLength) steps, "
      + "\(run.batchCount) batches of \(settings.batchSize) per epoch")

// The LD_PRELOAD counter of tools/bench/model_malloc_counter.c, when present.
typealias CountFn = @convention(c) () -> Int
let mallocCount: CountFn? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "thud_malloc_count")  // RTLD_DEFAULT
    .map { unsafeBitCast($0, to: CountFn.self) }

// The first batch's loss under the starting weights (the reference must match it), and allocations per
// computeGradients once the workspaces have their final size: a trainer of its own, so the timed run starts cold
// as `thud-train train` does.
let firstOrder = run.order(epoch: 1)
let firstBatch = run.batch(0, of: firstOrder, epoch: 1)
let firstBatchLoss: Float
do {
    let trainer = ModelTrainer(architecture: architecture, seed: 1)
    try trainer.warmStart(from: model)
    trainer.threadCount = threads
    firstBatchLoss = trainer.loss(batch: firstBatch)
    if let count = mallocCount {
        let batches = (0..<min(4, run.batchCount)).map { run.batch($0, of: firstOrder, epoch: 1) }
        for b in batches { _ = trainer.computeGradients(batch: b) }
        _ = trainer.computeGradients(batch: run.batch(run.batchCount - 1, of: firstOrder, epoch: 1))
        let before = count()
        for b in batches { _ = trainer.computeGradients(batch: b) }
        let allocations = count() - before   // before building the message, which allocates
        print(String(format: "allocations per computeGradients (batch %d, after warm-up): %.1f",
                     settings.batchSize, Double(allocations) / Double(batches.count)))
    }
}
print(String(format: "first batch loss under the starting weights: %.6f", firstBatchLoss))

if let dir = outDir {
    // The entries in clip order (the windows' clip indices point into it) and every epoch's batches.
    let entries = train.map { (cache.directory as NSString).appendingPathComponent(cache.key(for: $0.clip) + ".clip") }
    let plan: [String: Any] = [
        "model": modelPath,
        "entries": entries,
        "windows": run.windows.map { [$0.clip, $0.start, $0.length] },
        "epochs": (1...epochs).map { epoch -> [[[Int]]] in
            let order = run.order(epoch: epoch)
            return (0..<run.batchCount).map { b in
                run.members(b, of: order).map { [$0, run.isMirrored(window: $0, epoch: epoch) ? 1 : 0] }
            }
        },
        "learningRate": settings.learningRate, "learningRateDecay": settings.learningRateDecay!,
        "clipNorm": settings.gradientClipNorm, "onsetWeight": settings.onsetWeight,
        "onsetLossWeight": settings.onsetLossWeight, "onsetTargetGain": settings.onsetTargetGain!,
        "outputDelay": architecture.outputDelay, "firstBatchLoss": firstBatchLoss,
    ]
    try JSONSerialization.data(withJSONObject: plan).write(to: URL(fileURLWithPath: dir + "/plan.json"))
}

// The timed epochs: TrainingRun.run itself. An epoch is timed from the end of the previous one's last batch to
// the end of its own, so each includes the previous epoch's model and checkpoint writes (a few MB, fsynced) and the
// first includes loading the warm start and sizing the workspaces; the best epoch is the figure.
func clock(_ id: clockid_t) -> Double { var ts = timespec(); clock_gettime(id, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9 }
var marks = [(wall: clock(CLOCK_MONOTONIC), cpu: clock(CLOCK_PROCESS_CPUTIME_ID))]
run.afterBatch = { done in
    if done % run.batchCount == 0 { marks.append((clock(CLOCK_MONOTONIC), clock(CLOCK_PROCESS_CPUTIME_ID))) }
}
guard try run.run(resume: false, interrupted: { false }) == .finished else { fail("the run was interrupted") }
let wall = zip(marks.dropFirst(), marks).map { $0.wall - $1.wall }
let cpu = zip(marks.dropFirst(), marks).map { $0.cpu - $1.cpu }
print(String(format: "swift: %d clips, %d threads: %.3f s/epoch wall (epochs: %@), %.3f CPU-s/epoch, train loss by epoch %@",
             train.count, threads, wall.min()!, wall.map { String(format: "%.3f", $0) }.joined(separator: ", "), cpu.min()!,
             run.state.history.map { String(format: "%.4f", $0.trainLoss) }.joined(separator: ", ")))
print(String(format: "SWIFT_SECONDS_PER_EPOCH %.6f %.6f", wall.min()!, cpu.min()!))

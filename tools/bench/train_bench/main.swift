// thud-bench-train: seconds per training epoch of ModelTrainer (computeGradients + clipGradients + adamStep over
// mini-batches, two threads) on synthetic clips, heap allocations per computeGradients after warm-up, and the data
// file for the PyTorch side of tools/bench/train_bench.sh (same frames and targets, same model size).
//
// Usage: thud-bench-train [--sequences N] [--steps T] [--batch B] [--epochs E] [--threads 1|2] [--out DIR]
import Foundation
import ThudModel
import ThudTrain
#if canImport(Glibc)
import Glibc
#endif

var sequenceCount = 200, steps = 48, batchSize = 16, epochs = 2, threads = 2
var outDir: String?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--sequences": sequenceCount = Int(args.next() ?? "") ?? sequenceCount
    case "--steps": steps = Int(args.next() ?? "") ?? steps
    case "--batch": batchSize = Int(args.next() ?? "") ?? batchSize
    case "--epochs": epochs = Int(args.next() ?? "") ?? epochs
    case "--threads": threads = Int(args.next() ?? "") ?? threads
    case "--out": outDir = args.next()
    default:
        FileHandle.standardError.write(
            "usage: thud-bench-train [--sequences N] [--steps T] [--batch B] [--epochs E] [--threads 1|2] [--out DIR]\n"
                .data(using: .utf8)!)
        exit(64)
    }
}

let architecture = ModelArchitecture.default
let w = architecture.input.width, h = architecture.input.height, n = w * h

// Synthetic clips: noise plus a square that appears (a "hit") at a few steps, with the envelope spiking there.
var rng = SplitMix64(seed: 2026)
var allFrames = [UInt8](repeating: 0, count: sequenceCount * steps * n)
var allTargets = [Float](repeating: 0, count: sequenceCount * steps)
for s in 0..<sequenceCount {
    let x0 = Int(rng.next() % UInt64(w - 12)), y0 = Int(rng.next() % UInt64(h - 12))
    for t in 0..<steps {
        let hit = rng.next() % 8 == 0
        let base = (s * steps + t) * n
        for y in 0..<h {
            for x in 0..<w {
                var v = 40 + Int(rng.next() % 30)
                if hit && x >= x0 && x < x0 + 12 && y >= y0 && y < y0 + 12 { v = 230 }
                allFrames[base + y * w + x] = UInt8(v)
            }
        }
        allTargets[s * steps + t] = hit ? 1 : 0.05
    }
}
let sequences = (0..<sequenceCount).map { s in
    TrainingSequence(frames: Array(allFrames[(s * steps * n)..<((s + 1) * steps * n)]),
                     previousFrame: nil, targets: Array(allTargets[(s * steps)..<((s + 1) * steps)]))
}
let batches = stride(from: 0, to: sequenceCount, by: batchSize).map {
    Array(sequences[$0..<min($0 + batchSize, sequenceCount)])
}

// The LD_PRELOAD counter of tools/bench/model_malloc_counter.c, when present.
typealias CountFn = @convention(c) () -> Int
let mallocCount: CountFn? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "thud_malloc_count")  // RTLD_DEFAULT
    .map { unsafeBitCast($0, to: CountFn.self) }

let trainer = ModelTrainer(architecture: architecture, seed: 1)
trainer.threadCount = threads
func clock(_ id: clockid_t) -> Double { var ts = timespec(); clock_gettime(id, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9 }
func now() -> Double { clock(CLOCK_MONOTONIC) }
/// CPU seconds of all the process's threads: on a shared machine this moves less than wall time with other load.
func cpuNow() -> Double { clock(CLOCK_PROCESS_CPUTIME_ID) }

// Warm-up: one full-size and one last-size batch, so every workspace has its final size.
_ = trainer.computeGradients(batch: batches[0])
_ = trainer.computeGradients(batch: batches[batches.count - 1])
if let count = mallocCount {
    let before = count()
    let calls = 3
    for i in 0..<calls { _ = trainer.computeGradients(batch: batches[i % batches.count]) }
    let per = Double(count() - before) / Double(calls)
    print(String(format: "allocations per computeGradients (B=%d, T=%d, after warm-up): %.1f (%.4f per step)",
                 batchSize, steps, per, per / Double(batchSize * steps)))
}

var epochTimes: [Double] = [], cpuTimes: [Double] = []
var lastLoss: Float = 0
for _ in 0..<epochs {
    let t0 = now(), c0 = cpuNow()
    for b in batches {
        lastLoss = trainer.computeGradients(batch: b)
        trainer.clipGradients(maxNorm: 1)
        trainer.adamStep(learningRate: 1e-3)
    }
    epochTimes.append(now() - t0)
    cpuTimes.append(cpuNow() - c0)
}
let best = epochTimes.min()!
print(String(format: "swift: %d sequences × %d steps, batch %d, %d threads: %.3f s/epoch wall (epochs: %@), %.3f CPU-s/epoch, last loss %.4f",
             sequenceCount, steps, batchSize, threads, best,
             epochTimes.map { String(format: "%.3f", $0) }.joined(separator: ", "), cpuTimes.min()!, lastLoss))
print(String(format: "SWIFT_SECONDS_PER_EPOCH %.6f %.6f", best, cpuTimes.min()!))

if let dir = outDir {
    // Frames u8 [S, T, H, W] and targets f32 [S, T] for the PyTorch side.
    try! Data(allFrames).write(to: URL(fileURLWithPath: dir + "/frames.u8"))
    allTargets.withUnsafeBytes { try! Data($0).write(to: URL(fileURLWithPath: dir + "/targets.f32")) }
}

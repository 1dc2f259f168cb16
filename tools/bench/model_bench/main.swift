// thud-bench-model: per-step latency of the streaming model on one core (encoder, LSTM, head, whole step; median
// and p99), heap allocations per step, and files for the PyTorch side of tools/bench/model_bench.sh (the same
// model, frames and this run's envelopes, so the script can check agreement and print the speed ratio).
//
// Also a roofline line: the step's FLOPs (ModelArchitecture.stepFLOPs), the GFLOP/s its median achieves, and the
// share of this core's peak, measured in the same run with a small FMA loop (CKernels: AVX2 and, where the CPU has
// it, AVX-512; best of several runs on the same pinned core).
//
// Usage: thud-bench-model [--arch default|onset|motion|large | --model FILE] [--steps N] [--out DIR]
import CKernels
import Foundation
import ThudModel
#if canImport(Glibc)
import Glibc
import ThudBase
#endif

var archName = "default", steps = 3000, outDir: String?, modelPath: String?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--arch": archName = args.next() ?? archName
    case "--steps": steps = Int(args.next() ?? "") ?? steps
    case "--out": outDir = args.next()
    case "--model": modelPath = args.next()
    default:
        FileHandle.standardError.write("usage: thud-bench-model [--arch default|onset|motion|large | --model FILE] [--steps N] [--out DIR]\n".data(using: .utf8)!)
        exit(64)
    }
}
// "large" is roughly the scale example (96×96, 2304 features → LSTM 2×256): shows how the ratio moves when
// the LSTM weights (≈ 11 MB) no longer fit in cache.
let architecture: ModelArchitecture
switch archName {
case "motion": architecture = .motionEnergyDefault
case "onset": architecture = .defaultWithOnsets
case "large": architecture = ModelArchitecture(input: InputSpec(width: 96, height: 96),
                                               encoder: .conv(channels: [16, 32, 32, 64]),
                                               lstmHidden: 256, lstmLayers: 2, headHidden: [128, 64])
default: architecture = .default
}
// --model: a trained file (its own architecture and weights), e.g. the bundled model.
let file: ModelFile
if let modelPath {
    do { file = try ModelFile.read(path: modelPath) } catch let error as ModelFileError {
        FileHandle.standardError.write("thud-bench-model: \(error.message)\n".data(using: .utf8)!)
        exit(error.exitCode)
    }
} else {
    file = ModelFile.random(architecture: architecture, seed: 2026,
                            training: TrainingProvenance(command: "thud-bench-model (random init)", data: "none"))
}
let model = try StreamingModel(file: file)
let w = model.inputWidth, h = model.inputHeight, n = model.frameByteCount

// 64 distinct frames (moving square over noise), cycled: realistic differences, nothing allocated in the loop.
let frameCount = 64
var rng = SplitMix64(seed: 9)
var frames = [UInt8](repeating: 0, count: n * frameCount)
for t in 0..<frameCount {
    let sx = (t * 3) % (w - 8), sy = (t * 5) % (h - 8)
    for y in 0..<h { for x in 0..<w {
        frames[t * n + y * w + x] = (x >= sx && x < sx + 8 && y >= sy && y < sy + 8) ? 220 : UInt8(30 + rng.next() % 40)
    } }
}

/// Step i's frame: the 64 frames cycled.
func cycledFrame(_ i: Int, of fp: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    let t = i % frameCount
    return UnsafeBufferPointer(rebasing: fp[(t * n)..<((t + 1) * n)])
}

if let dir = outDir {
    try file.write(to: dir + "/bench_model.thud")
    try Data(frames).write(to: URL(fileURLWithPath: dir + "/bench_frames.u8"))
    // Envelopes of the first frameCount steps from a fresh state, for the agreement check.
    // With PyTorch's default init the envelope barely moves, so the top LSTM layer's h is compared as well.
    var env: [Float] = [], topH: [Float] = []
    frames.withUnsafeBufferPointer { fp in
        for t in 0..<frameCount {
            env.append(model.step(frame: cycledFrame(t, of: fp)))
            topH += model.hiddenState(layer: model.architecture.lstmLayers - 1)
        }
    }
    try env.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/bench_envelopes_swift.f32"))
    try topH.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/bench_toph_swift.f32"))
    model.reset()
}

typealias CountFn = @convention(c) () -> Int
let counter: CountFn? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "thud_malloc_count").map {
    unsafeBitCast($0, to: CountFn.self)
}
// Self-check: the counter must see a deliberate allocation, or a "0 per step" below would prove nothing.
if let count = counter {
    let before = count()
    let probe = UnsafeMutableRawPointer.allocate(byteCount: 100, alignment: 8)
    probe.deallocate()
    let seen = count() - before
    print("malloc counter self-check: \(seen) allocation(s) seen for 1 deliberate allocation" + (seen >= 1 ? "" : "  FAILED"))
}

// Preallocated result arrays: the timed loop itself must not allocate, or the count would be meaningless.
func zeros() -> [Double] { [Double](repeating: 0, count: steps) }
var encT = zeros(), lstmT = zeros(), headT = zeros(), totalT = zeros(), plainT = zeros()
var sink: Float = 0
var allocsTimed = 0, allocsPlain = 0

frames.withUnsafeBufferPointer { fp in
    func frame(_ i: Int) -> UnsafeBufferPointer<UInt8> { cycledFrame(i, of: fp) }
    for i in 0..<300 { sink += model.step(frame: frame(i)) }   // warm caches and OpenBLAS

    // Pass 1: per-layer timings (the model's own clock reads between layers).
    model.recordsTimings = true
    var c0 = counter?() ?? 0
    encT.withUnsafeMutableBufferPointer { e in lstmT.withUnsafeMutableBufferPointer { l in
        headT.withUnsafeMutableBufferPointer { hd in totalT.withUnsafeMutableBufferPointer { tt in
            for i in 0..<steps {
                sink += model.step(frame: frame(i))
                let t = model.lastTimings
                e[i] = t.encoder; l[i] = t.lstm; hd[i] = t.head; tt[i] = t.total
            }
        } }
    } }
    allocsTimed = (counter?() ?? 0) - c0

    // Pass 2: the plain step as the CLI runs it (no per-layer clock reads), timed from outside.
    model.recordsTimings = false
    c0 = counter?() ?? 0
    plainT.withUnsafeMutableBufferPointer { pt in
        var ts0 = timespec(), ts1 = timespec()
        for i in 0..<steps {
            clock_gettime(CLOCK_MONOTONIC, &ts0)
            sink += model.step(frame: frame(i))
            clock_gettime(CLOCK_MONOTONIC, &ts1)
            pt[i] = Double(ts1.tv_sec - ts0.tv_sec) + Double(ts1.tv_nsec - ts0.tv_nsec) * 1e-9
        }
    }
    allocsPlain = (counter?() ?? 0) - c0
}

func stats(_ v: [Double]) -> (median: Double, p99: Double) {
    let s = v.sorted()
    return (Percentiles.median(s) * 1e6, Percentiles.nearestRank(s, 0.99) * 1e6)
}
let a = model.architecture
let desc = a.encoder.kind == .conv
    ? "conv \(a.encoder.convChannels!.map(String.init).joined(separator: "-")) on \(w)x\(h)"
    : "motion energy \(a.encoder.gridRows!)x\(a.encoder.gridCols!) on \(w)x\(h)"
print("model: \(desc) -> \(a.featureCount) features; LSTM \(a.lstmLayers)x\(a.lstmHidden); head \(a.headHidden.map(String.init).joined(separator: "-"))-\(a.outputCount)")
print("steps: \(steps) per pass, one thread (OpenBLAS threads = 1)")
func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
print(pad("swift, µs/step", 24) + "    median        p99")
for (name, v) in [("encoder", encT), ("lstm", lstmT), ("head", headT), ("encoder+lstm+head", totalT), ("whole step()", plainT)] {
    let s = stats(v)
    print("  " + pad(name, 22) + String(format: " %10.1f %10.1f", s.median, s.p99))
}
let plain = stats(plainT)
print(String(format: "  steps/s %.0f  (= %.0f× real time at 12 Hz)", 1e6 / plain.median, 1e6 / plain.median / 12))
// Roofline: FLOPs per step over the median step, against this core's peak measured now by an FMA loop (best of 40
// runs of ~2 ms each: the least disturbed one on a shared machine; the first runs also let the clock settle).
func peakGFLOPs(flopsPerIteration: Double, iterations: Int64, _ loop: (Int64) -> Float) -> Double {
    var best = 0.0
    for _ in 0..<40 {
        let t0 = MonotonicClock.seconds()
        sink += loop(iterations) * 1e-30
        let t = MonotonicClock.seconds() - t0
        best = max(best, flopsPerIteration * Double(iterations) / t)
    }
    return best / 1e9
}
let flops = a.stepFLOPs
let stepFLOPs = Double(flops.encoder + flops.lstm + flops.head)
let achieved = stepFLOPs / (plain.median * 1e-6) / 1e9
let encoderGFLOPs = Double(flops.encoder) / (stats(encT).median * 1e-6) / 1e9
let lstmGFLOPs = Double(flops.lstm) / (stats(lstmT).median * 1e-6) / 1e9
var peaks: [(String, Double)] = []
if ck_has_avx2_fma() != 0 {
    peaks.append(("AVX2 FMA", peakGFLOPs(flopsPerIteration: 12 * 8 * 2, iterations: 1_000_000) { ck_fma_loop_avx2($0) }))
}
if ck_has_avx512f() != 0 {
    peaks.append(("AVX-512 FMA", peakGFLOPs(flopsPerIteration: 24 * 16 * 2, iterations: 250_000) { ck_fma_loop_avx512($0) }))
}
print(String(format: "roofline: %.2f MFLOP per step (encoder %.2f, LSTM %.2f, head %.3f); median step %.1f µs = %.1f GFLOP/s (encoder %.1f, LSTM %.1f)",
             stepFLOPs / 1e6, Double(flops.encoder) / 1e6, Double(flops.lstm) / 1e6, Double(flops.head) / 1e6,
             plain.median, achieved, encoderGFLOPs, lstmGFLOPs))
if peaks.isEmpty {
    print("  core peak: not measured (no AVX2 + FMA on this CPU)")
} else {
    print("  core peak, FMA loop on this core in this run: " + peaks.map {
        String(format: "%@ %.1f GFLOP/s -> step at %.1f %%", $0.0, $0.1, 100 * achieved / $0.1)
    }.joined(separator: "; "))
}
let peak = peaks.map(\.1).max()

// Each conv layer alone (random input and weights of the model's shapes, 400 runs, median), by every kernel this
// CPU has: im2col + sgemm (the portable path), the direct AVX2 kernel, the direct AVX-512 kernel.
if a.encoder.kind == .conv, Kernels.hasAVX2FMA {
    var cin = a.encoder.inputPlaneCount, h = a.input.height, w = a.input.width
    var layerRNG = SplitMix64(seed: 3)
    func median(_ runs: Int, _ body: () -> Void) -> Double {
        var t = [Double](repeating: 0, count: runs)
        for i in 0..<runs { let t0 = MonotonicClock.seconds(); body(); t[i] = MonotonicClock.seconds() - t0 }
        return Percentiles.median(t.sorted()) * 1e6
    }
    var line = "conv layers alone, µs median (im2col+sgemm / direct AVX2" + (Kernels.hasAVX512F ? " / direct AVX-512" : "") + "):"
    for cout in a.encoder.convChannels ?? [] {
        let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
        let stored = Kernels.directStoredChannels(cout)
        let input = FloatBuffer((0..<(cin * h * w)).map { _ in layerRNG.nextUnitFloat() })
        let weight = FloatBuffer((0..<(cout * cin * 9)).map { _ in layerRNG.nextUnitFloat() - 0.5 })
        let bias = FloatBuffer(count: stored), out = FloatBuffer(count: stored * oh * ow)
        let columns = FloatBuffer(count: cin * 9 * oh * ow), split = FloatBuffer(count: Kernels.im2colScratchCount(height: h, width: w))
        let padded = FloatBuffer(count: Kernels.paddedHWCCount(channels: cin, height: h, width: w))
        let packed = FloatBuffer(count: 9 * cin * stored)
        Kernels.chwToPaddedHWC(input.pointer, channels: cin, height: h, width: w, into: padded.pointer)
        Kernels.packConvWeight(weight.pointer, outChannels: cout, inChannels: cin, packedOut: stored, packedIn: cin, into: packed.pointer)
        let im2col = median(400) {
            Kernels.im2col3x3(input: input.pointer, channels: cin, height: h, width: w, columns: columns.pointer, scratch: split.pointer)
            Kernels.gemm(m: cout, n: oh * ow, k: cin * 9, a: weight.pointer, lda: cin * 9, b: columns.pointer, ldb: oh * ow,
                         beta: 0, c: out.pointer, ldc: oh * ow)
            Kernels.addRowBiasReLU(out.pointer, rows: cout, cols: oh * ow, bias: bias.pointer)
        }
        func direct(_ avx512: Bool) -> Double {
            median(400) {
                Kernels.conv3x3s2ReLUDirect(input: padded.pointer, inChannels: cin, height: h, width: w, packedWeight: packed.pointer,
                                            bias: bias.pointer, outChannels: stored, output: out.pointer,
                                            outputRowStride: ow * stored, avx512: avx512)
            }
        }
        line += String(format: "  %d->%d %dx%d: %.1f / %.1f", cin, cout, ow, oh, im2col, direct(false))
        if Kernels.hasAVX512F { line += String(format: " / %.1f", stored % 16 == 0 ? direct(true) : .nan) }
        cin = cout; h = oh; w = ow
    }
    print(line)
}

// Half-precision weights (thud-train fp16) against these, alternating in rounds so both see the same load: the
// LSTM's time and the whole step's, and how far the envelope moves over the 64 frames from a fresh state.
if file.header.weightStorage == .float32, let halfFile = file.roundedToFloat16() {
    let half = try StreamingModel(file: halfFile)
    var lstm32: [Double] = [], lstm16: [Double] = [], step32: [Double] = [], step16: [Double] = []
    var moved: Float = 0
    frames.withUnsafeBufferPointer { fp in
        func frame(_ i: Int) -> UnsafeBufferPointer<UInt8> { cycledFrame(i, of: fp) }
        model.reset(); half.reset()
        for i in 0..<frameCount { moved = max(moved, abs(model.step(frame: frame(i)) - half.step(frame: frame(i)))) }
        for m in [model, half] { m.recordsTimings = true; for i in 0..<300 { sink += m.step(frame: frame(i)) } }
        for round in 0..<10 {
            for i in 0..<(steps / 10) {
                sink += model.step(frame: frame(round * steps / 10 + i))
                lstm32.append(model.lastTimings.lstm); step32.append(model.lastTimings.total)
            }
            for i in 0..<(steps / 10) {
                sink += half.step(frame: frame(round * steps / 10 + i))
                lstm16.append(half.lastTimings.lstm); step16.append(half.lastTimings.total)
            }
        }
    }
    let (l32, l16, s32, s16) = (stats(lstm32).median, stats(lstm16).median, stats(step32).median, stats(step16).median)
    print(String(format: "float16 weights (thud-train fp16), same run: LSTM %.1f µs vs float32 %.1f (%.2fx), step %.1f vs %.1f µs (%.2fx); largest envelope change over %d steps %.2g",
                 l16, l32, l32 / l16, s16, s32, s32 / s16, frameCount, moved))
}

if counter != nil {
    print(String(format: "heap allocations per step: %.3f (pass 1: %d in %d steps; pass 2: %d in %d steps)",
                 Double(allocsTimed + allocsPlain) / Double(2 * steps), allocsTimed, steps, allocsPlain, steps))
} else {
    print("heap allocations per step: not counted (run through tools/bench/model_bench.sh for the LD_PRELOAD counter)")
}
if let dir = outDir {
    let json = "{\"swift_step_median_us\": \(plain.median), \"swift_step_p99_us\": \(plain.p99), \"allocs\": \(allocsTimed + allocsPlain), \"steps\": \(2 * steps), \"step_flops\": \(Int(stepFLOPs)), \"peak_gflops\": \(peak ?? 0)}\n"
    try json.write(toFile: dir + "/bench_swift.json", atomically: true, encoding: .utf8)
}
if sink.isNaN { print("nan") }   // keeps the optimizer from dropping the steps

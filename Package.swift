// swift-tools-version:6.0
// Thud: hears video. The data path is source → ring → encoder → LSTM → head → peak picker → sinks,
// and the targets mirror it. Arrows point one way: CLIs → Train/Eval → Model/Media/Sound → C shims.
// The runtime (`thud`) never links ThudTrain.
import PackageDescription

let package = Package(
    name: "Thud",
    products: [
        .executable(name: "thud", targets: ["thud"]),
        .executable(name: "thud-train", targets: ["thud-train"]),
        .executable(name: "thud-synth", targets: ["thud-synth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin C shims: module maps plus static inline wrappers for what Swift cannot import.
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat libavcodec libavutil libswscale libswresample",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]),
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Atomic output files (temporary sibling, fsync, rename): every file any tool writes goes through it.
        .target(name: "ThudFiles"),
        // File/stdin demux+decode, the 12 Hz clock, the audio envelope target, writers, V4L2 source, ring buffer.
        .target(name: "ThudMedia", dependencies: ["CFFmpeg", "CV4L2", "ThudFiles"]),
        // Kernels, encoders, LSTM, head, model file format, peak picker. No I/O beyond reading a model file.
        .target(name: "ThudModel", dependencies: ["COpenBLAS", "ThudFiles"]),
        // ALSA sink and the knock synthesizer.
        .target(name: "ThudSound", dependencies: ["CALSA"]),
        // Metrics, per-class table, plots (used by `thud eval` and by training's validation).
        .target(name: "ThudEval", dependencies: ["ThudMedia", "ThudModel", "ThudFiles"]),
        // Datasets, feature cache, backward passes, optimizer, checkpoints. Linked by thud-train only.
        .target(name: "ThudTrain", dependencies: ["ThudMedia", "ThudModel", "ThudEval", "ThudFiles", "COpenBLAS"]),
        // The synthetic audio-visual corpus: physics, rendering, impact sounds.
        .target(name: "ThudSynth", dependencies: ["ThudMedia"]),

        // The runtime loop: a source (file, pipe, camera) → EnvelopeStream → sinks (lines, sound, live view).
        .target(name: "ThudRuntime", dependencies: ["ThudMedia", "ThudModel", "ThudSound"]),

        .executableTarget(name: "thud", dependencies: [
            "ThudRuntime",
            "ThudMedia", "ThudModel", "ThudSound", "ThudEval", "ThudFiles",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "thud-train", dependencies: [
            "ThudTrain", "ThudMedia", "ThudModel", "ThudEval", "ThudFiles",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "thud-synth", dependencies: [
            "ThudSynth", "ThudMedia",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Streaming-model benchmark (tools/bench/model_bench.sh runs it next to PyTorch).
        .executableTarget(name: "thud-bench-model", dependencies: ["ThudModel"], path: "tools/bench/model_bench"),
        .executableTarget(name: "thud-bench-train", dependencies: ["ThudTrain", "ThudModel", "ThudEval"], path: "tools/bench/train_bench"),

        // Exercises live capture without the model (used by the vivid VM tests and for figures).
        .executableTarget(name: "thud-capture-check", dependencies: ["ThudMedia"]),

        // Shared by the test targets: clips with a frame counter in the picture, temp dirs, running executables.
        .target(name: "ThudTestSupport", dependencies: ["ThudMedia"], path: "Tests/ThudTestSupport"),
        .testTarget(name: "ThudMediaTests", dependencies: ["ThudMedia", "ThudTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThudModelTests", dependencies: ["ThudModel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThudEvalTests", dependencies: ["ThudEval", "ThudMedia", "ThudModel", "ThudFiles", "ThudTestSupport"]),
        .testTarget(name: "ThudTrainTests", dependencies: ["ThudTrain", "ThudModel", "ThudEval", "ThudTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThudRuntimeTests", dependencies: ["ThudRuntime", "ThudMedia", "ThudModel", "ThudTestSupport"]),
        .testTarget(name: "ThudSoundTests", dependencies: ["ThudSound"]),
        .testTarget(name: "ThudSynthTests", dependencies: ["ThudSynth", "ThudMedia"]),
        // Depends on thud-capture-check so that building the tests builds the binary the VM runs.
        .testTarget(name: "ThudCaptureTests", dependencies: ["ThudMedia", "ThudModel", "thud-capture-check", "thud"]),
        // Runs the built executables the way a user would.
        .testTarget(name: "EndToEndTests", dependencies: ["ThudMedia", "ThudModel", "ThudTrain", "ThudTestSupport"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)

// swift-tools-version:6.0
// Thud: hears video. The data path is source → ring → encoder → LSTM → head → peak picker → sinks,
// and the targets mirror it. Arrows point one way: CLIs → Train/Eval → Model/Media/Sound → ThudBase and the C shims.
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
        // SQLite for the events database (ThudEvents only); on Linux it links the system's libsqlite3 (tools/setup.sh).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The web page, its live updates and the API (ThudWeb only): an HTTP server on SwiftNIO, and Prometheus text.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Thin C shims: module maps plus static inline wrappers for what Swift cannot import.
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat libavcodec libavutil libswscale libswresample",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]),
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // prctl (variadic) and per-thread nice for `thud-train adapt --follow`'s --exit-with-parent and --nice; libc only.
        .systemLibrary(name: "CProcess"),
        // The inner loops with vector intrinsics (direct convolution forward and its gradients, the LSTM cell, the
        // half-precision gemv, the peak-FLOPs probe): each compiled for AVX2 + FMA (or AVX-512, F16C) by a target
        // attribute, called only after a cpuid check, the portable path kept otherwise.
        .target(name: "CKernels"),

        // What several modules need, each once: atomic output files (temporary sibling, fsync, rename), FNV-1a,
        // SplitMix64, the monotonic clock, percentiles, WxH parsing, duration formatting, Ctrl-C/SIGTERM as a stop
        // request, the lock-free SPSC queue (sound events, captured audio, a feed's packets on their way to disk).
        // Foundation, Dispatch, Synchronization and Glibc only.
        .target(name: "ThudBase"),
        // Inputs (files, pipes, network streams: FFmpeg demux + decode; V4L2 capture into a ring), the 12 Hz clock,
        // the audio envelope and onset targets, writers (MediaWriter), the usable-clip rule.
        .target(name: "ThudMedia", dependencies: ["CFFmpeg", "CV4L2", "ThudBase"]),
        // Kernels, encoders, LSTM, head, model file format, peak picker. No I/O beyond reading a model file.
        .target(name: "ThudModel", dependencies: ["COpenBLAS", "CKernels", "ThudBase"]),
        // ALSA sink and the knock synthesizer; ALSA capture (thud record's microphone).
        .target(name: "ThudSound", dependencies: ["CALSA", "ThudBase"]),
        // The one loop: a step source (file, network stream, camera: each with its drop policy) → EnvelopeStream →
        // sinks, each begun and finished once. InputSource decides what a command-line input is.
        .target(name: "ThudPipeline", dependencies: ["ThudBase", "ThudMedia", "ThudModel"]),
        // Metrics, per-class table, plots (used by `thud eval` and by training's validation).
        .target(name: "ThudEval", dependencies: ["ThudMedia", "ThudModel", "ThudPipeline", "ThudBase"]),
        // Datasets, feature cache, backward passes, optimizer, checkpoints. Linked by thud-train only.
        .target(name: "ThudTrain", dependencies: ["ThudMedia", "ThudModel", "ThudEval", "ThudBase", "COpenBLAS"]),
        // The synthetic audio-visual corpus: physics, rendering, impact sounds.
        .target(name: "ThudSynth", dependencies: ["ThudMedia", "ThudBase"]),

        // How every executable parses its command line and leaves: one-line errors with documented exit codes; the
        // option groups commands share (--model, the peak picker's overrides, network streams), a progress bar.
        .target(name: "ThudCommandLine", dependencies: ["ThudBase", "ThudModel", "ThudMedia", "ThudPipeline", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // The runtime's sinks (lines, sound), the terminal view, many feeds at once (watch), recording.
        .target(name: "ThudRuntime", dependencies: ["ThudBase", "ThudMedia", "ThudModel", "ThudPipeline", "ThudSound"]),
        // Hits out as MQTT events (libmosquitto): a StepSink publishing each hit (QoS 1) and a retained status per feed.
        .target(name: "ThudMQTT", dependencies: ["CMosquitto", "ThudRuntime", "ThudPipeline", "ThudMedia", "ThudModel", "ThudBase"]),
        // Hits on record (`--events DB`, `thud events`): a StepSink per feed queueing each hit, one writer thread per
        // database inserting them in batches (GRDB, WAL), retention by age and size; the reader. Nothing else links GRDB.
        .target(name: "ThudEvents", dependencies: ["ThudPipeline", "ThudMedia", "ThudModel", "ThudBase", .product(name: "GRDB", package: "GRDB.swift")]),

        // Every feed in a browser (`--http`): a StepSink per feed queueing its steps and keeping its latest picture, a
        // pump thread that encodes pictures, counts metrics and fans the steps out to the page's Server-Sent Events
        // clients (each with a bounded queue: a slow one is dropped), the page itself, /api and /metrics (Hummingbird 2,
        // swift-prometheus). Nothing else links them.
        .target(name: "ThudWeb", dependencies: ["ThudPipeline", "ThudMedia", "ThudModel", "ThudBase", "ThudEvents",
                                                .product(name: "Hummingbird", package: "hummingbird"),
                                                .product(name: "Prometheus", package: "swift-prometheus"),
                                                .product(name: "NIOCore", package: "swift-nio")]),

        .executableTarget(name: "thud", dependencies: [
            "ThudRuntime", "ThudPipeline", "ThudMQTT", "ThudEvents", "ThudWeb", "ThudCommandLine",
            "ThudMedia", "ThudModel", "ThudSound", "ThudEval", "ThudBase",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "thud-train", dependencies: [
            "ThudTrain", "ThudMedia", "ThudModel", "ThudEval", "ThudBase", "ThudCommandLine", "CProcess",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "thud-synth", dependencies: [
            "ThudSynth", "ThudMedia", "ThudBase", "ThudCommandLine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Streaming-model benchmark (tools/bench/model_bench.sh runs it next to PyTorch).
        .executableTarget(name: "thud-bench-model", dependencies: ["ThudModel", "ThudBase", "CKernels"], path: "tools/bench/model_bench"),
        .executableTarget(name: "thud-bench-train", dependencies: ["ThudTrain", "ThudModel", "ThudEval"], path: "tools/bench/train_bench"),
        // Sound-sink latency and audio-thread allocation workloads (tools/bench/sound_latency.sh, sound_alloc.sh).
        // Debug builds only: it reaches ThudSound's test hooks with @testable import (a release build prints why not).
        .executableTarget(name: "thud-bench-sound", dependencies: ["ThudSound", "ThudBase", "ThudSoundTestSupport"], path: "tools/bench/sound_bench"),

        // Exercises live capture without the model (used by the vivid VM tests and for figures).
        .executableTarget(name: "thud-capture-check", dependencies: [
            "ThudMedia", "ThudBase", "ThudCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Shared by the test targets: clips with a frame counter in the picture, temp dirs, running executables.
        .target(name: "ThudTestSupport", dependencies: ["ThudMedia", "ThudModel"], path: "Tests/ThudTestSupport"),
        // ALSA without a sound card for the sound tests and benchmarks: the file>null fixture and a device-paced virtual card.
        .target(name: "ThudSoundTestSupport", dependencies: ["CALSA", "ThudBase", "ThudSound"], path: "Tests/ThudSoundTestSupport"),
        .testTarget(name: "ThudBaseTests", dependencies: ["ThudBase"]),
        .testTarget(name: "ThudMediaTests", dependencies: ["ThudMedia", "ThudTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThudModelTests", dependencies: ["ThudBase", "ThudModel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThudEvalTests", dependencies: ["ThudEval", "ThudMedia", "ThudModel", "ThudBase", "ThudTestSupport"]),
        .testTarget(name: "ThudTrainTests", dependencies: ["ThudBase", "ThudTrain", "ThudModel", "ThudEval", "ThudTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThudEventsTests", dependencies: ["ThudEvents", "ThudPipeline", "ThudMedia", "ThudModel", "ThudBase", "ThudTestSupport"]),
        .testTarget(name: "ThudWebTests", dependencies: ["ThudWeb", "ThudPipeline", "ThudMedia", "ThudModel", "ThudBase"]),
        .testTarget(name: "ThudRuntimeTests", dependencies: ["ThudRuntime", "ThudPipeline", "ThudMedia", "ThudModel", "ThudTestSupport"]),
        .testTarget(name: "ThudSoundTests", dependencies: ["ThudSound", "ThudBase", "ThudSoundTestSupport"]),
        .testTarget(name: "ThudSynthTests", dependencies: ["ThudSynth", "ThudMedia"]),
        // Depends on thud-capture-check so that building the tests builds the binary the VM runs.
        .testTarget(name: "ThudCaptureTests", dependencies: ["ThudBase", "ThudMedia", "ThudModel", "ThudTestSupport", "thud-capture-check", "thud"]),
        // Runs the built executables the way a user would.
        .testTarget(name: "EndToEndTests", dependencies: ["ThudBase", "ThudMedia", "ThudModel", "ThudRuntime", "ThudMQTT", "CMosquitto", "ThudTrain", "ThudEval", "ThudCommandLine", "ThudTestSupport", "thud-capture-check"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)

import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMedia
import ThudModel
import ThudMQTT
import ThudRuntime
import ThudSound

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict the sound envelope of a video from its frames, and flag each hit, at 12 steps a second.",
        discussion: """
        The path of every step: source → 12 Hz frame → encoder → LSTM → head → peak picker → output. \
        Exactly one line per step is written and flushed as soon as the step is computed:
          {"t": seconds, "envelope": 0..1, "hit": true|false, "strength": 0..1 (only when hit is true)}
        The peak picker looks for onsets, the peaks of the envelope's rise from one step to the next \
        (--detection level: peaks of the envelope itself); it confirms a peak when the next step does not \
        rise above it, so a hit is flagged on the step after its peak (a latency of one step, 83 ms). A model may \
        record its own picker (thud-train set-picker). A model trained \
        with an output delay (thud-train --output-delay) describes each step after seeing that many more frames: \
        every line still carries its own step's time, written that many steps later, and the last ones are \
        described from the last frame held still. A file is processed step by step, none is \
        skipped; a slow reader of stdout slows Thud down instead of filling memory. \
        Without --model the bundled model is used: $THUD_MODEL, else models/default.thud found beside the \
        executable's checkout or in the current directory.
        """)

    @Argument(help: "A video file, '-' for standard input, a V4L2 device, or a network stream (rtsp://, rtp://, udp://, http(s)://, srt://).")
    var input: String

    @Option(help: "A .thud model file (default: the bundled models/default.thud).")
    var model: String?

    @Option(help: "jsonl or csv.")
    var format: OutputFormat = .jsonl

    @OptionGroup var hits: HitOptions

    @OptionGroup var sound: SoundOptions

    @OptionGroup(title: "Network streams") var network: StreamOptions

    @OptionGroup var mqtt: MQTTOption

    func run() throws {
        do {
            let isURL = NetworkStream.isURL(input)
            if !isURL, network.usedWithoutStream { throw UsageError(message: "--reconnect, --rtsp-transport and --input-option are for network streams (rtsp://, udp://, http://…), not \(input)") }
            let modelPath = try ModelLocator.resolve(model)
            let streaming = try StreamingModel(path: modelPath)
            let picker = try hits.configuration(for: streaming, path: modelPath)
            if isURL {
                // The feed's name as NetworkFeed gives it: the URL, its password hidden.
                let publisher = try mqtt.publisher(feeds: [NetworkStream.redacted(input)])
                defer { publisher?.close() }
                try NetworkRun.predict(url: input, network: network, model: streaming, picker: picker, format: format, sound: sound,
                                       mqtt: publisher)
                return
            }
            if input.hasPrefix("/dev/video") {
                // A camera: the live loop, writing the same JSON lines.
                let publisher = try mqtt.publisher(feeds: [input])
                defer { publisher?.close() }
                try LiveLoop(device: input, model: streaming, picker: picker,
                             request: CaptureRequest(outputWidth: streaming.inputWidth, outputHeight: streaming.inputHeight),
                             jsonl: "-", steps: nil, terminalView: false, sonifier: try sound.makeSonifier(realtime: true),
                             extraSinks: try publisher.map { [try MQTTStepSink(publisher: $0, feed: input)] } ?? []).run()
                return
            }
            let media = try MediaInput(path: input)
            // Opened once the input is known to be good: a bad file is its one line, nothing published.
            let publisher = try mqtt.publisher(feeds: [media.name])
            defer { publisher?.close() }
            // A file is predicted far faster than real time: with sound, steps are paced to the clock.
            let sound = try self.sound.makeSonifier(realtime: false).map { SoundStepSink(sonifier: $0, pacer: RealtimePacer()) }
            defer { sound?.finish() }
            let printer = StepPrinter(format: format)
            printer.begin()
            let hitsOut = try publisher.map { try MQTTStepSink(publisher: $0, feed: media.name) }
            defer { hitsOut?.finish() }
            try FileRun.run(media, stream: EnvelopeStream(model: streaming, picker: picker),
                            sinks: [printer] + (sound.map { [$0] } ?? []) + (hitsOut.map { [$0] } ?? []), warn: warnLine)
        } catch {
            throw exitWith(error)
        }
    }
}

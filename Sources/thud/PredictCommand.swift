import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMedia
import ThudModel
import ThudPipeline
import ThudRuntime

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

    @OptionGroup var model: ModelOptions

    @Option(help: "jsonl or csv.")
    var format: OutputFormat = .jsonl

    @OptionGroup var hits: PickerOptions

    @OptionGroup var sound: SoundOptions

    @OptionGroup(title: "Network streams") var network: StreamOptions

    @OptionGroup var mqtt: MQTTOption

    @OptionGroup(title: "Hits on record") var events: EventsOption

    @OptionGroup(title: "Every feed in a browser") var web: WebOption

    @OptionGroup(title: "Learning the scene") var learn: LearnOptions

    func run() throws {
        do {
            let loaded = try model.load(), streaming = loaded.model
            let source = try InputSource.open(input, options: network.inputOptions(for: streaming, warn: warnLine))
            try runFeed(source, model: model, loaded: loaded, picker: hits, printer: StepPrinter(format: format), sound: sound, mqtt: mqtt, events: events, web: web, learn: learn)
        } catch {
            throw exitWith(error)
        }
    }
}

import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMedia
import ThudModel
import ThudPipeline
import ThudRuntime

struct LiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Hear a camera live: predict the envelope and flag hits from a V4L2 device at 12 Hz.",
        discussion: """
        A capture thread fills a small ring buffer; the loop takes one frame per 12 Hz step by timestamp and \
        runs encoder → LSTM → head → peak picker on it. When the loop falls behind, stale steps are dropped \
        (newest wins, counted and logged) so the prediction always describes the present; a camera that slows \
        down (auto-exposure) only makes steps repeat frames, the 12 Hz clock does not move.

        On a terminal it shows a live view: a scrolling envelope strip, a flash on each hit, the camera's frame \
        rate, dropped frames and the latency from the driver's frame timestamp to the prediction. Otherwise \
        (or with --jsonl) it writes predict's JSON lines. Ctrl-C or SIGTERM stops it cleanly. A model trained \
        with an output delay (the bundled one: one step) describes each step after that many more frames: its \
        lines carry their own step's time and come that many steps later (the latency shown is the frame's to \
        its own prediction). The same runs as `thud predict` does, with a camera's defaults: live differs only \
        in those and in the view.
        """)

    @Argument(help: "V4L2 device, or a network stream (rtsp://, udp://, http(s)://, srt://: JSON lines, as predict writes them).")
    var device = "/dev/video0"

    @OptionGroup(title: "Network streams") var network: StreamOptions

    @OptionGroup var mqtt: MQTTOption

    @OptionGroup(title: "Hits on record") var events: EventsOption

    @OptionGroup(title: "Every feed in a browser") var web: WebOption

    @OptionGroup(title: "Learning the scene") var learn: LearnOptions

    @OptionGroup var model: ModelOptions

    @OptionGroup(title: "Camera") var camera: CameraOptions

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be a whole number of steps, at least 1") }
    }

    @Option(help: "Also write the JSON lines to this file ('-' for stdout).")
    var jsonl: String?

    // It counts 12 Hz steps, not camera frames (the old name, --frames, still works).
    @Option(name: [.customLong("steps"), .customLong("frames")], parsing: .unconditional, help: "Stop after this many 12 Hz steps.")
    var steps: Int?

    @OptionGroup var hits: PickerOptions

    @OptionGroup var sound: SoundOptions

    func run() throws {
        do {
            let loaded = try model.load(), streaming = loaded.model
            var options = network.inputOptions(for: streaming, warn: warnLine)
            options.capture = camera.request
            // A recorder beside the live loop (--learn) reads every frame of the ring: room for it to fall a little behind.
            if learn.learn != nil { options.capture.ringCapacity = max(options.capture.ringCapacity, 16) }
            let source = try InputSource.open(device, options: options)
            // A camera on a terminal gets the live view (and JSON lines only with --jsonl); anything else, the lines.
            let view = source is CameraSource && isatty(STDOUT_FILENO) != 0 && jsonl != "-" ? LiveView() : nil
            let printer = view != nil && jsonl == nil ? nil : StepPrinter(format: .jsonl, out: try LineWriter(path: jsonl ?? "-"))
            try runFeed(source, model: model, loaded: loaded, picker: hits, printer: printer, sound: sound, mqtt: mqtt, events: events, web: web, learn: learn, steps: steps, view: view)
        } catch {
            throw exitWith(error)
        }
    }
}

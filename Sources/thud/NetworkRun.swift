import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudMQTT
import ThudRuntime

/// `predict` and `live` on a network stream: open it (a bad URL fails before any line, unless --reconnect retries
/// it), then StreamRun until it ends, is lost for good, a signal stops it, or `steps` are out.
enum NetworkRun {
    static func predict(url: String, network: StreamOptions, model: StreamingModel, picker: PeakPicker.Configuration,
                        format: OutputFormat, sound: SoundOptions, jsonl: String = "-", steps: Int? = nil,
                        mqtt: MQTTPublisher? = nil) throws {
        let feed = NetworkFeed(url: url, settings: network.settings, reconnect: network.policy,
                               request: VideoStepRequest(width: model.inputWidth, height: model.inputHeight, pixelFormat: .gray8))
        // Ctrl-C / SIGTERM end FFmpeg's blocking reads at once; the steps so far are described and the run ends (0).
        let stopping = StopOnSignals { _ in feed.interrupt.requestStop() }
        defer { stopping.cancel() }
        let first = network.reconnect ? nil : try feed.open()
        let printer = StepPrinter(format: format, out: try LineWriter(path: jsonl))
        // A stream comes in real time: the knocks need no pacing.
        let sound = try sound.makeSonifier(realtime: true).map { SoundStepSink(sonifier: $0, pacer: nil) }
        defer { sound?.finish() }
        let hitsOut = try mqtt.map { try MQTTStepSink(publisher: $0, feed: feed.name) }
        defer { hitsOut?.finish() }
        printer.begin()
        let summary = try StreamRun.run(feed, first: first, stream: EnvelopeStream(model: model, picker: picker),
                                        sinks: [printer] + (sound.map { [$0] } ?? []) + (hitsOut.map { [$0] } ?? []),
                                        steps: steps, warn: warnLine)
        fputs("thud: \(StreamRun.describe(summary, name: feed.name))\n", stderr)
    }
}

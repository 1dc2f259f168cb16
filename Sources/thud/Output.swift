import ArgumentParser
import Foundation
import ThudBase
import ThudCommandLine
import ThudEvents
import ThudMedia
import ThudModel
import ThudMQTT
import ThudPipeline
import ThudRuntime
import ThudWeb
import ThudSound

extension OutputFormat: ExpressibleByArgument {}

/// Prints the one-line error and turns it into the documented exit code (CommandLineTool, as every tool does).
func exitWith(_ error: Error) -> ExitCode { CommandLineTool.exitCode(reporting: error, tool: "thud") }

func warnLine(_ text: String) { fputs("thud: warning: \(text)\n", stderr) }

/// A line of the run's figures on stderr.
func noteLine(_ text: String) { fputs("thud: \(text)\n", stderr) }

/// predict and live: `source` into the printer, the sound, MQTT and the events database (connected and opened once the
/// input has opened: a bad input is its one line, nothing published or stored). The two commands differ only in their
/// defaults and these sinks. With --learn (a camera or a network stream) the feed records itself into its folder, a
/// learner follows the folder, and the model it writes swaps in.
func runFeed(_ source: StepSource, model: ModelOptions, loaded: (path: String, model: StreamingModel), picker: PickerOptions,
             printer: StepPrinter?, sound: SoundOptions, mqtt: MQTTOption, events: EventsOption, web: WebOption, learn: LearnOptions? = nil,
             steps: Int? = nil, view: LiveView? = nil) throws {
    var (path, streaming) = loaded
    var learning: FeedLearning?
    if let settings = learn?.settings(baseModel: path) {
        guard !(source is FileSource) else { throw UsageError(message: "--learn is for live inputs (a camera, a network stream), not a file") }
        let feedLearning = try FeedLearning(settings: settings, feed: FeedLearning.feedName(ofInput: source.name), warn: warnLine, note: noteLine)
        (path, streaming) = feedLearning.startingModel(given: (path, streaming), explicit: model.model != nil)
        learning = feedLearning
    }
    let watch = try learning.map { ModelWatch(path: $0.modelPath, model: streaming, warn: warnLine) }
        ?? model.watch(path: path, model: streaming, liveInput: !(source is FileSource), warn: warnLine)
    let reloader = watch.map { w in ModelReloader(watch: w, picker: { try picker.configuration(for: $0, path: w.path) }, note: noteLine) }
    let publisher = try mqtt.publisher(feeds: [source.name])
    defer { publisher?.close() }
    let store = try events.store(learnDirectory: learning == nil ? nil : learn?.learn)
    // Closed after the run (its sinks finished): what is still queued is written, and one line counts it.
    defer { store?.close() }
    var extraSinks: [any StepSink] = try publisher.map { [try MQTTStepSink(publisher: $0, feed: source.name)] } ?? []
    if let store { extraSinks.append(store.sink(feed: source.name, model: path, frameWidth: streaming.inputWidth, frameHeight: streaming.inputHeight)) }
    let webFeed = WebFeed(name: source.name, width: streaming.inputWidth, height: streaming.inputHeight, model: path)
    // Started before the feed and stopped after it: the page sees it begin and end.
    let server = try web.start(feeds: [webFeed], eventsPath: store?.path)
    defer { server?.stop() }
    if server != nil { extraSinks.append(WebFeedSink(feed: webFeed)) }
    learning?.attach(to: source)
    learning?.startLearner()
    defer {
        if let learning {
            learning.stop()
            noteLine(learning.report)
        }
    }
    try FeedRun.run(source, stream: EnvelopeStream(model: streaming, picker: try picker.configuration(for: streaming, path: path)),
                    printer: printer, sonifier: try sound.makeSonifier(realtime: !(source is FileSource)),
                    extraSinks: extraSinks,
                    steps: steps, view: view, reloader: reloader, note: noteLine)
}

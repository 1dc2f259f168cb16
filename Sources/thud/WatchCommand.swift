import ArgumentParser
import ThudCommandLine
import ThudEvents
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline
import ThudMQTT
import ThudWeb
import ThudRuntime

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Hear many network feeds at once: predict's lines for each, tagged with the feed's name.",
        discussion: """
        Each FEED is NAME=URL or a URL (rtsp://, rtp://, udp://, http(s)://, srt://; named after its host, port and \
        path). Every feed runs on its own thread (connect, decode, its own model state over one shared copy of the \
        weights) and writes predict's JSON lines with "feed" first: {"feed": NAME, "t": …, "envelope": …, "hit": …}. \
        A feed that is slow, silent or gone never holds up the others: it times out (--timeout) and, with \
        --reconnect, connects again on its own thread. At the end, one line per feed on stderr: steps, drops \
        (steps missing in gaps, corrupt packets) and the frame → line latency. The exit code is 0 when every feed \
        ended cleanly (or was stopped by Ctrl-C / SIGTERM), else the first failed feed's (32, 33, …).
        """)

    @Argument(help: "Feeds: NAME=URL or URL.")
    var feeds: [String] = []

    @Option(name: .customLong("feeds"), help: "A file of feeds, one NAME=URL or URL a line (# comments).")
    var feedsFile: String?

    @OptionGroup var model: ModelOptions

    @Option(parsing: .unconditional, help: "Stop each feed after this many 12 Hz steps.")
    var steps: Int?

    @OptionGroup var hits: PickerOptions

    @OptionGroup(title: "Network streams") var network: StreamOptions

    @OptionGroup var mqtt: MQTTOption

    @OptionGroup(title: "Hits on record") var events: EventsOption

    @OptionGroup(title: "Every feed in a browser") var web: WebOption

    @OptionGroup(title: "Learning each feed's scene") var learn: LearnOptions

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be a whole number of steps, at least 1") }
        if feeds.isEmpty && feedsFile == nil { throw ValidationError("give at least one FEED or --feeds FILE") }
    }

    func run() throws {
        do {
            let specs = try FeedSpec.collect(arguments: feeds, feedsFile: feedsFile)
            let names = specs.map(\.name)
            let (modelPath, streaming) = try model.load()
            let publisher = try mqtt.publisher(feeds: names)
            defer { publisher?.close() }
            // Made before the run (their topics were checked with the publisher's), one per feed, by name.
            let mqttSinks = try Dictionary(uniqueKeysWithValues: publisher.map { p in try specs.map { ($0.name, try MQTTStepSink(publisher: p, feed: $0.name)) } } ?? [])
            // One database for every feed, one sink per feed (its hits tagged with its name) sharing its writer.
            let store = try events.store(learnDirectory: learn.learn)
            defer { store?.close() }
            var eventSinks: [String: EventStoreSink] = [:]
            let modelWatch = try model.watch(path: modelPath, model: streaming, liveInput: true, warn: warnLine)
            let picker = try hits.configuration(for: streaming, path: modelPath)
            // --learn: each feed its own folder, its learned model (when it has one) and a watch over it.
            let learning = try learn.settings(baseModel: modelPath).map { settings in
                try Dictionary(uniqueKeysWithValues: specs.map { ($0.name, try FeedLearning(settings: settings, feed: $0.name, warn: warnLine, note: noteLine)) })
            }
            var starts: [String: FeedStart] = [:]
            var startPaths: [String: String] = [:]   // the model file each feed starts with, as the page names it
            for spec in specs {
                if let feedLearning = learning?[spec.name] {
                    let (path, started) = feedLearning.startingModel(given: (modelPath, streaming), explicit: model.model != nil)
                    startPaths[spec.name] = path
                    eventSinks[spec.name] = store?.sink(feed: spec.name, model: path, frameWidth: started.inputWidth, frameHeight: started.inputHeight)
                    let watch = ModelWatch(path: feedLearning.modelPath, model: started, warn: warnLine)
                    starts[spec.name] = FeedStart(model: started, picker: try hits.configuration(for: started, path: path),
                                                  reloader: ModelReloader(watch: watch, picker: { try hits.configuration(for: $0, path: feedLearning.modelPath) }, note: noteLine),
                                                  learning: feedLearning)
                } else {
                    startPaths[spec.name] = modelPath
                    eventSinks[spec.name] = store?.sink(feed: spec.name, model: modelPath, frameWidth: streaming.inputWidth, frameHeight: streaming.inputHeight)
                    starts[spec.name] = FeedStart(model: streaming, picker: picker,
                                                  reloader: modelWatch.map { ModelReloader(watch: $0, picker: { try hits.configuration(for: $0, path: modelPath) }, note: noteLine) })
                }
            }
            let eventSinksByFeed = eventSinks
            // One page for every feed; each feed's sink hands its steps and pictures to the page's pump.
            let webFeeds = specs.map { WebFeed(name: $0.name, width: streaming.inputWidth, height: streaming.inputHeight, model: startPaths[$0.name] ?? modelPath) }
            let server = try web.start(feeds: webFeeds, eventsPath: store?.path)
            defer { server?.stop() }
            let webSinks = server == nil ? [:] : Dictionary(uniqueKeysWithValues: webFeeds.map { ($0.name, WebFeedSink(feed: $0)) })
            let watch = WatchRun(feeds: specs, model: streaming, settings: network.settings, reconnect: network.policy, out: LineWriter(),
                                 steps: steps, extraSinks: { spec in
                                     var sinks: [any StepSink] = []
                                     if let mqtt = mqttSinks[spec.name] { sinks.append(mqtt) }
                                     if let events = eventSinksByFeed[spec.name] { sinks.append(events) }
                                     if let web = webSinks[spec.name] { sinks.append(web) }
                                     return sinks
                                 },
                                 start: { starts[$0.name]! })
            let stopping = StopOnSignals { _ in watch.requestStop() }
            defer { stopping.cancel() }
            noteLine("watching \(specs.count) feed\(specs.count == 1 ? "" : "s") (\(specs.map(\.shown).joined(separator: ", "))), model input \(streaming.inputWidth)x\(streaming.inputHeight)")
            let reports = watch.run(warn: { warnLine($0) })
            for r in reports {
                if let e = r.error { noteLine(e.message) }
                noteLine(WatchRun.describe(r))
                if let learned = r.learning { noteLine(learned) }
            }
            if let failed = reports.first(where: { $0.error != nil })?.error { throw ExitCode(failed.exitCode) }
        } catch {
            throw exitWith(error)
        }
    }
}

// Many feeds in one process (`thud watch`): per feed one thread that connects, decodes and steps its own model state
// (StreamingModel(sharingWeightsOf:): one copy of the weights for all), every line tagged with the feed's name. Feeds
// share nothing but the output's lock: a slow or dead feed waits, times out and reconnects on its own thread.
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline

/// One feed of `thud watch`: `NAME=URL`, or a URL (named after its host, port and path).
public struct FeedSpec: Sendable, Equatable {
    public var name: String
    public var url: String

    public init(name: String, url: String) { self.name = name; self.url = url }

    /// Parses `NAME=URL` or `URL`; nil when it is neither (not a network URL).
    public init?(argument: String) {
        if let r = argument.range(of: "="), !argument[..<r.lowerBound].contains("://"), !argument[..<r.lowerBound].isEmpty {
            name = String(argument[..<r.lowerBound])
            url = String(argument[r.upperBound...])
        } else {
            url = argument
            let redacted = NetworkStream.redacted(argument)
            let rest = redacted.range(of: "://").map { String(redacted[$0.upperBound...]) } ?? redacted
            name = rest.split(separator: "@").last.map(String.init) ?? rest
        }
        guard NetworkStream.isURL(url) else { return nil }
    }

    /// A feeds file: one feed per line (`NAME=URL` or `URL`), blank lines and `#` comments ignored. Lines end in LF,
    /// CRLF or CR (a Swift Character holds CRLF whole, so splitting at "\n" alone would miss it), a leading UTF-8
    /// byte-order mark is not part of the first line; a file that names no feed is refused (64), as a line that is
    /// not one is.
    public static func parseFile(_ text: String, path: String) throws -> [FeedSpec] {
        var feeds: [FeedSpec] = []
        let body = text.hasPrefix("\u{FEFF}") ? text.dropFirst() : Substring(text)
        for (n, raw) in body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            guard let feed = FeedSpec(argument: line) else {
                throw MediaError(.usage, file: path, "line \(n + 1) is not NAME=URL or a network URL: \(shownName(String(line.prefix(80))))")
            }
            feeds.append(feed)
        }
        if feeds.isEmpty { throw MediaError(.usage, file: path, "names no feeds") }
        return feeds
    }

    /// The feeds of a command line: its NAME=URL or URL arguments, then a feeds file's (read to its end, whatever
    /// it is: /dev/null, a FIFO or <(…) are read, not refused). Two feeds of one name, or none at all, are usage errors.
    public static func collect(arguments: [String], feedsFile: String?) throws -> [FeedSpec] {
        var specs: [FeedSpec] = []
        for f in arguments {
            guard let spec = FeedSpec(argument: f) else {
                throw FeedListError(message: "\(shownName(f)) is not NAME=URL or a network URL (rtsp://, udp://, http://…)")
            }
            specs.append(spec)
        }
        if let path = feedsFile {
            guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
                throw MediaError(.notFound, file: path, "cannot read the feeds file")
            }
            specs += try parseFile(String(decoding: data, as: UTF8.self), path: path)
        }
        let names = specs.map(\.name)
        if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw FeedListError(message: "two feeds are named \(shownName(dup))")
        }
        guard !specs.isEmpty else { throw FeedListError(message: "no feeds") }
        return specs
    }

    /// The name as stderr's messages show it (shownName: escaped when it holds a control character).
    public var shown: String { shownName(name) }
}

/// A list of feeds that cannot run: a usage error (64).
public struct FeedListError: OneLineError {
    public let message: String
    public var exitCode: Int32 { 64 }
}

/// A feed's error as its one line and exit code (any OneLineError: the stream's, the model's, the output's).
public struct FeedFailure: OneLineError, Sendable {
    public let message: String
    public let exitCode: Int32
    public init(_ error: OneLineError) { message = error.message; exitCode = error.exitCode }
}

/// What one feed did.
public struct FeedReport: Sendable {
    public var name: String
    public var summary: FeedSummary?
    /// Why the feed ended badly (its one line and exit code), nil when it ended cleanly or was stopped.
    public var error: FeedFailure?
    /// Frame → line latency, seconds: median, 99th percentile, largest (NaN without steps).
    public var latency: (median: Double, p99: Double, max: Double)
    /// From the frame that made each line due to the line: decode, model, output.
    public var processing: (median: Double, p99: Double, max: Double) = (.nan, .nan, .nan)
    /// --learn's figures (what was recorded, the model learned), one line.
    public var learning: String?
    /// Steps that never came out: missing in gaps, plus corrupt video packets (a UDP socket that overflowed because
    /// the feed fell behind shows up here first).
    public var dropped: Int { (summary?.missingSteps ?? 0) + (summary?.corruptVideoPackets ?? 0) }
}

/// How one feed of a watch starts: its model (the run's, or the one it learned before), its picker, its --reload or
/// --learn model watch, and its learning (--learn).
public struct FeedStart {
    public var model: StreamingModel
    public var picker: PeakPicker.Configuration
    public var reloader: ModelReloader?
    public var learning: FeedLearning?

    public init(model: StreamingModel, picker: PeakPicker.Configuration, reloader: ModelReloader? = nil, learning: FeedLearning? = nil) {
        self.model = model; self.picker = picker; self.reloader = reloader; self.learning = learning
    }
}

public final class WatchRun: @unchecked Sendable {
    public let feeds: [FeedSpec]
    private let model: StreamingModel
    private let settings: StreamSettings
    private let reconnect: ReconnectPolicy
    private let out: LineWriter
    private let steps: Int?
    private let extraSinks: (FeedSpec) -> [any StepSink]
    private let outputLock = NSLock()
    private var running: [NetworkFeed] = []

    /// Each feed's start (made on the calling thread before the feeds run): with --reload the feeds share one watch
    /// (the file is read once) and each swaps on its own thread; with --learn each has its own folder, model and watch.
    private let start: (FeedSpec) -> FeedStart

    /// `model`: the run's model (its input size is every feed's request).
    public init(feeds: [FeedSpec], model: StreamingModel, settings: StreamSettings,
                reconnect: ReconnectPolicy, out: LineWriter, steps: Int?, extraSinks: @escaping (FeedSpec) -> [any StepSink] = { _ in [] },
                start: @escaping (FeedSpec) -> FeedStart) {
        self.feeds = feeds; self.model = model; self.settings = settings
        self.reconnect = reconnect; self.out = out; self.steps = steps; self.extraSinks = extraSinks; self.start = start
        let request = VideoStepRequest(width: model.inputWidth, height: model.inputHeight, pixelFormat: .gray8)
        // The label starts every message NetworkFeed writes on stderr: the name as shown there.
        running = feeds.map { NetworkFeed(url: $0.url, settings: settings, reconnect: reconnect, request: request, label: $0.shown) }
    }

    /// Stops every feed (from any thread: a signal's handler).
    public func requestStop() { for feed in running { feed.interrupt.requestStop() } }

    /// Runs every feed on its own thread until each has ended (or been stopped); returns their reports in order.
    public func run(warn: @escaping @Sendable (String) -> Void) -> [FeedReport] {
        final class Reports: @unchecked Sendable {
            var list: [FeedReport?]
            let lock = NSLock()
            init(_ n: Int) { list = [FeedReport?](repeating: nil, count: n) }
        }
        let reports = Reports(feeds.count)
        let done = DispatchGroup()
        for (i, spec) in feeds.enumerated() {
            let feed = running[i]
            // Made here, on the calling thread; each used by its feed's thread alone (MQTT's publisher is thread-safe).
            let begin = start(spec)
            let state = StreamingModel(sharingWeightsOf: begin.model)
            let others = extraSinks(spec)
            done.enter()
            let thread = Thread { [self] in
                let stream = EnvelopeStream(model: state, picker: begin.picker)
                let printer = LockedSink(StepPrinter(format: .jsonl, out: out, feed: spec.name), lock: outputLock)
                let latency = LatencyRecorder()
                let source = NetworkSource(feed: feed, warn: warn)
                source.throwsOnLoss = false   // a lost feed is its report's error, the others go on
                var report = FeedReport(name: spec.name, summary: nil, error: nil, latency: (.nan, .nan, .nan))
                begin.learning?.attach(to: source)
                begin.learning?.startLearner()
                do {
                    try Pipeline.run(source, stream: stream, sinks: [printer] + others, steps: steps, reloader: begin.reloader, observe: latency.observe)
                    report.summary = source.summary
                    if let reason = source.summary.lostReason { report.error = FeedFailure(MediaError(.streamLost, file: feed.name, reason)) }
                } catch let error as OneLineError {
                    report.error = FeedFailure(error)
                } catch {
                    report.error = FeedFailure(MediaError(.internalError, file: feed.name, "\(error)"))
                }
                report.latency = latency.figures
                report.processing = latency.processingFigures
                if let learning = begin.learning {
                    learning.stop()
                    report.learning = learning.report
                }
                reports.lock.lock(); reports.list[i] = report; reports.lock.unlock()
                done.leave()
            }
            thread.name = "feed \(spec.name)"
            thread.stackSize = 4 << 20   // decoders recurse; virtual until touched
            thread.start()
        }
        done.wait()
        return reports.list.map { $0! }
    }

    /// One line of figures per feed for stderr.
    public static func describe(_ r: FeedReport) -> String {
        let s = r.summary ?? FeedSummary()
        let l = r.latency
        let p = r.processing
        let latency = l.median.isNaN ? "no steps" : String(format: "frame→line latency median %.1f ms, p99 %.1f ms; due→line median %.2f ms, p99 %.2f ms",
                                                             l.median * 1000, l.p99 * 1000, p.median * 1000, p.p99 * 1000)
        return "\(shownName(r.name)): \(s.steps) steps, \(r.dropped) dropped (\(s.missingSteps) missing in gaps, \(s.corruptVideoPackets) corrupt packets), \(s.connections) connection\(s.connections == 1 ? "" : "s"), \(s.outages) outage\(s.outages == 1 ? "" : "s"); \(latency)"
    }
}

/// A sink whose steps and events go out under a lock shared with the other feeds' sinks (one line never splits).
struct LockedSink<Sink: StepSink>: StepSink {
    let sink: Sink
    let lock: NSLock
    init(_ sink: Sink, lock: NSLock) { self.sink = sink; self.lock = lock }
    func begin() throws { lock.lock(); defer { lock.unlock() }; try sink.begin() }
    func frame(_ step: SourceStep) { sink.frame(step) }
    func submit(_ step: DescribedStep) throws { lock.lock(); defer { lock.unlock() }; try sink.submit(step) }
    func event(_ event: FeedEvent) throws { lock.lock(); defer { lock.unlock() }; try sink.event(event) }
    func finish() { lock.lock(); sink.finish(); lock.unlock() }
}

// A network stream (NetworkFeed) as a step source: reconnecting when it drops (with --reconnect), the steps of an
// outage reported as a gap event, none invented.
import Foundation
import ThudBase
import ThudMedia

public final class NetworkSource: StepSource {
    public let feed: NetworkFeed
    /// The first connection, made when the source was opened (a bad URL fails there, before any line), unless it
    /// reconnects: then every connection is made by the run.
    private var first: MediaInput?
    /// A stream lost for good is an error once its steps are out (exit 33); `thud watch` reports it per feed instead.
    public var throwsOnLoss = true
    private let warn: (String) -> Void
    public private(set) var summary = FeedSummary()

    public init(feed: NetworkFeed, warn: @escaping (String) -> Void) {
        self.feed = feed
        self.warn = warn
    }

    public convenience init(url: String, settings: StreamSettings, reconnect: ReconnectPolicy, request: VideoStepRequest,
                            label: String? = nil, warn: @escaping (String) -> Void) {
        self.init(feed: NetworkFeed(url: url, settings: settings, reconnect: reconnect, request: request, label: label), warn: warn)
    }

    /// Opens the stream once now, unless it reconnects (then the run connects, and retries): a bad URL fails here,
    /// before any line is written.
    public func connect() throws {
        if !feed.reconnect.enabled, first == nil { first = try feed.open() }
    }

    public var name: String { feed.name }
    public var dropPolicy: DropPolicy { .gapsAfterOutages }
    public func requestStop() { feed.interrupt.requestStop() }

    public func serve(_ step: (SourceStep) throws -> Bool, event: (FeedEvent) throws -> Void) throws {
        let connection = first
        first = nil
        summary = try feed.run(first: connection, warn: warn, event: event) { video in
            try step(SourceStep(index: video.index, time: video.time, pixels: video.pixels, arrival: video.arrival, dueAt: video.dueAt))
        }
    }

    public func end() throws {
        if throwsOnLoss, let reason = summary.lostReason { throw MediaError(.streamLost, file: feed.name, reason) }
    }

    public var report: String? {
        let s = summary
        return "\(feed.name): \(s.steps) steps from \(s.videoFrames) frames; \(s.connections) connection\(s.connections == 1 ? "" : "s"), \(s.outages) outage\(s.outages == 1 ? "" : "s"), \(s.missingSteps) steps missing in gaps, \(s.corruptVideoPackets) corrupt packets"
    }
}

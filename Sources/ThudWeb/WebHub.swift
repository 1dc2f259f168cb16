// The web side of a run, between the feeds and the browsers. One pump thread, ten times a second, takes what each
// feed's sink queued (WebFeed), counts it into the Prometheus metrics, keeps the last minute of steps for pages that
// open later, encodes a feed's newest picture as a JPEG when a browser is looking (at most three a second a feed), and
// fans one Server-Sent Events message out to every client. Each client has a bounded queue: one that does not keep
// up is dropped (its connection closed), never waited for; the feeds never see a client at all.
import Foundation
import NIOCore
import Prometheus
import Synchronization
import ThudBase
import ThudMedia

/// One browser's live stream (`/api/stream`): what the pump has for it, up to `limit` messages.
final class StreamClient: @unchecked Sendable {
    let id: Int
    let messages: AsyncStream<ByteBuffer>
    private let continuation: AsyncStream<ByteBuffer>.Continuation
    /// Finished when the client is dropped: its handler stops writing and closes the connection.
    let dropped: AsyncStream<Void>
    private let dropContinuation: AsyncStream<Void>.Continuation

    init(id: Int, limit: Int) {
        self.id = id
        (messages, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(limit))
        (dropped, dropContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// False when the client's queue is full: it is too slow and must go.
    func send(_ message: ByteBuffer) -> Bool {
        if case .dropped = continuation.yield(message) { return false }
        return true
    }

    /// Ends the client's stream after what it has queued (the run ended).
    func end() { continuation.finish() }

    private let droppedFlag = Atomic<Bool>(false)
    /// Whether the pump dropped it (as opposed to the run ending).
    var wasDropped: Bool { droppedFlag.load(ordering: .acquiring) }

    /// Ends the client at once (too slow): its connection is closed, a write waiting on it abandoned.
    func drop() { droppedFlag.store(true, ordering: .releasing); continuation.finish(); dropContinuation.finish() }
}

/// The figures of one feed as Prometheus counts them (labels: feed).
private struct FeedMetrics {
    let steps: Counter
    let hits: Counter
    let droppedSteps: Counter
    let reconnects: Counter
    let latency: ValueHistogram
}

public final class WebHub: @unchecked Sendable {
    public struct Settings: Sendable {
        /// Live streams served at once; one more is refused (503).
        public var maxClients: Int
        /// Messages (one a pump round, ten a second) a client may have waiting before it is dropped.
        public var clientQueue: Int
        public init(maxClients: Int = 8, clientQueue: Int = 64) { self.maxClients = maxClients; self.clientQueue = clientQueue }
    }

    public let feeds: [WebFeed]
    public let settings: Settings
    /// The events database the page lists (--events), nil without one.
    public let eventsPath: String?
    public let registry: PrometheusCollectorRegistry
    static let roundSeconds = 0.1
    /// Steps of history a page gets when it opens (a minute at 12 Hz).
    static let historySteps = 720
    /// A picture request keeps pictures coming this long without a live stream open (a page polling, a script).
    static let pictureInterest = 5.0

    private let lock = NSLock()
    private var clients: [StreamClient] = []
    private var nextClientID = 0
    private var stopping = false
    private var thread: Thread?
    private let pumpDone = DispatchSemaphore(value: 0)
    private let droppedClients: Counter
    private let clientsGauge: Gauge
    private let metrics: [FeedMetrics]

    // Under `lock`, for the handlers: each feed's newest JPEG and its serial, the page's history, the status JSON.
    private var jpegs: [(serial: Int, bytes: [UInt8])]
    private var history: [[WebStep]]
    private var statusJSON: [String]
    private var lastPictureRequest = -Double.infinity
    private var pageDroppedClients = 0

    public init(feeds: [WebFeed], settings: Settings = Settings(), eventsPath: String? = nil) {
        self.feeds = feeds; self.settings = settings; self.eventsPath = eventsPath
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "thud", metricName: metric, unitName: unit, helpText: help)
        }
        metrics = feeds.map { f in
            let labels = [("feed", f.name)]
            return FeedMetrics(
                steps: registry.makeCounter(descriptor: name("steps", "total", "Steps described (12 a second while a feed streams)."), labels: labels),
                hits: registry.makeCounter(descriptor: name("hits", "total", "Hits flagged by the peak picker."), labels: labels),
                droppedSteps: registry.makeCounter(descriptor: name("dropped_steps", "total", "Steps that never came: missing in a feed's outages."), labels: labels),
                reconnects: registry.makeCounter(descriptor: name("reconnects", "total", "Times a lost feed came back."), labels: labels),
                latency: registry.makeValueHistogram(descriptor: name("step_latency", "seconds", "From the arrival of the frame that made a step due to the step's description."),
                                                     labels: labels, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5]))
        }
        droppedClients = registry.makeCounter(descriptor: name("web_clients_dropped", "total", "Live page streams dropped for not keeping up."))
        clientsGauge = registry.makeGauge(descriptor: name("web_clients", "", "Live page streams open."))
        jpegs = feeds.map { _ in (0, []) }
        history = feeds.map { _ in [] }
        statusJSON = feeds.map { _ in "{}" }
        for i in feeds.indices { statusJSON[i] = Self.statusJSON(feeds[i], feeds[i].status, WebFeedStats()) }
    }

    /// Starts the pump thread.
    public func start() {
        let thread = Thread { [self] in pumpLoop() }
        thread.name = "thud-web"
        self.thread = thread
        thread.start()
    }

    /// Takes the feeds' last steps out, ends every live stream (its handler returns) and stops the pump. Once.
    public func stop() {
        lock.lock()
        if stopping || thread == nil { stopping = true; lock.unlock(); return }
        stopping = true
        lock.unlock()
        pumpDone.wait()
        lock.lock(); let all = clients; clients.removeAll(); lock.unlock()
        for c in all { c.end() }
    }

    // MARK: what the handlers ask for

    /// A new live stream, or nil when `maxClients` are open (or the run is over). Its first message is every feed's
    /// state and recent history.
    func openStream() -> StreamClient? {
        lock.lock(); defer { lock.unlock() }
        guard !stopping, clients.count < settings.maxClients else { return nil }
        let client = StreamClient(id: nextClientID, limit: settings.clientQueue)
        nextClientID += 1
        var hello = "event: hello\ndata: {\"feeds\": [" + statusJSON.joined(separator: ", ") + "], \"history\": {"
        hello += feeds.indices.map { "\(jsonString(feeds[$0].name)): " + Self.stepsJSON(history[$0]) }.joined(separator: ", ")
        hello += "}}\n\n"
        _ = client.send(ByteBuffer(string: hello))
        clients.append(client)
        clientsGauge.record(Int64(clients.count))
        return client
    }

    func closeStream(_ client: StreamClient) {
        lock.lock(); defer { lock.unlock() }
        clients.removeAll { $0 === client }
        clientsGauge.record(Int64(clients.count))
    }

    /// The newest JPEG of a feed (nil: no such feed; empty: none yet), and a wish for more.
    func picture(feed name: String) -> (serial: Int, bytes: [UInt8])? {
        guard let i = feeds.firstIndex(where: { $0.name == name }) else { return nil }
        lock.lock(); defer { lock.unlock() }
        lastPictureRequest = MonotonicClock.seconds()
        return jpegs[i]
    }

    /// Every feed's state as a JSON array (`/api/feeds`).
    func feedsJSON() -> String {
        lock.lock(); defer { lock.unlock() }
        return "[" + statusJSON.joined(separator: ", ") + "]"
    }

    var clientCount: Int { lock.lock(); defer { lock.unlock() }; return clients.count }
    public var droppedClientCount: Int { lock.lock(); defer { lock.unlock() }; return pageDroppedClients }

    // MARK: the pump

    private func pumpLoop() {
        var stats = feeds.map { _ in WebFeedStats() }
        var lastStatus = feeds.map { $0.status }
        var encoders: [String: JPEGEncoder] = [:]
        var pixels: [UInt8] = []
        var lastPing = MonotonicClock.seconds()
        // A feed's figures change every round; they go out once a second, a change of state or model at once.
        var statusSentAt = feeds.map { _ in -Double.infinity }
        while true {
            lock.lock(); let ending = stopping; let open = clients; let picturesAsked = MonotonicClock.seconds() - lastPictureRequest < Self.pictureInterest; lock.unlock()
            let wantPictures = !open.isEmpty || picturesAsked
            var message = ""
            var stepsPart: [String] = []
            for (i, feed) in feeds.enumerated() {
                feed.picturesWanted.store(wantPictures, ordering: .relaxed)
                var fresh: [WebStep] = []
                while let s = feed.steps.pop() { fresh.append(s) }
                let m = metrics[i]
                if !fresh.isEmpty {
                    m.steps.increment(by: Int64(fresh.count))
                    for s in fresh {
                        if s.hit >= 0 { m.hits.increment(); stats[i].hits += 1 }
                        if s.latency >= 0 { m.latency.record(Double(s.latency)); stats[i].noteLatency(Double(s.latency)) }
                    }
                    stats[i].steps += fresh.count
                    stats[i].lastTime = fresh.last!.time
                    stepsPart.append("\(jsonString(feed.name)): " + Self.stepsJSON(fresh))
                }
                let status = feed.status
                let before = lastStatus[i]
                if status.reconnects > before.reconnects { m.reconnects.increment(by: Int64(status.reconnects - before.reconnects)) }
                if status.missingSteps > before.missingSteps { m.droppedSteps.increment(by: Int64(status.missingSteps - before.missingSteps)) }
                stats[i].droppedForPage = feed.droppedForPage.load(ordering: .relaxed)
                var picture: (Int, [UInt8])?
                if wantPictures, let serial = feed.takePicture(newerThan: jpegSerial(i), into: &pixels) {
                    let key = "\(feed.width)x\(feed.height)"
                    if encoders[key] == nil { encoders[key] = try? JPEGEncoder(width: feed.width, height: feed.height) }
                    if let jpeg = try? pixels.withUnsafeBufferPointer({ try encoders[key]?.encode(gray: $0) }) { picture = (serial, jpeg) }
                }
                lock.lock()
                if !fresh.isEmpty {
                    history[i].append(contentsOf: fresh)
                    if history[i].count > Self.historySteps { history[i].removeFirst(history[i].count - Self.historySteps) }
                }
                // The figures are written out once a second (a change of state or model at once), and go to the pages
                // when they changed.
                let now = MonotonicClock.seconds()
                let turned = status.state != before.state || status.model != before.model || status.learnedSeconds != before.learnedSeconds
                var statusChanged = false
                var json = ""
                if turned || now - statusSentAt[i] >= 1 {
                    statusSentAt[i] = now
                    json = Self.statusJSON(feed, status, stats[i])
                    statusChanged = json != statusJSON[i]
                    statusJSON[i] = json
                }
                if let picture { jpegs[i] = picture }
                lock.unlock()
                if statusChanged { message += "event: feed\ndata: \(json)\n\n" }
                // The JPEG goes inside the event (a kilobyte at 96x96): a page showing many feeds needs no request
                // per picture, which would cost the server more than the picture itself.
                if let picture {
                    message += "event: picture\ndata: {\"feed\": \(jsonString(feed.name)), \"serial\": \(picture.0), \"jpeg\": \"\(Data(picture.1).base64EncodedString())\"}\n\n"
                }
                lastStatus[i] = status
            }
            if !stepsPart.isEmpty { message = "event: steps\ndata: {" + stepsPart.joined(separator: ", ") + "}\n\n" + message }
            let now = MonotonicClock.seconds()
            if message.isEmpty && now - lastPing >= 10 { message = ": still here\n\n" }
            if !message.isEmpty {
                lastPing = now
                let buffer = ByteBuffer(string: message)
                for client in open where !client.send(buffer) {
                    client.drop()
                    droppedClients.increment()
                    lock.lock(); clients.removeAll { $0 === client }; pageDroppedClients += 1; clientsGauge.record(Int64(clients.count)); lock.unlock()
                }
            }
            if ending { break }
            Thread.sleep(forTimeInterval: Self.roundSeconds)
        }
        pumpDone.signal()
    }

    private func jpegSerial(_ i: Int) -> Int { lock.lock(); defer { lock.unlock() }; return jpegs[i].serial }

    // MARK: JSON

    /// `[[step, t, envelope, hit strength or null], …]`, short numbers.
    static func stepsJSON(_ steps: [WebStep]) -> String {
        "[" + steps.map { s in
            "[\(s.step), \(fixed3(s.time)), \(fixed3(Double(s.envelope))), \(s.hit >= 0 ? fixed3(Double(s.hit)) : "null")]"
        }.joined(separator: ", ") + "]"
    }

    /// `x` with three decimals, without Foundation's formatter (the pump writes thousands of them a second).
    static func fixed3(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        let thousandths = Int((abs(x) * 1000).rounded())
        let fraction = thousandths % 1000
        return (x < 0 && thousandths > 0 ? "-" : "") + "\(thousandths / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }

    static func statusJSON(_ feed: WebFeed, _ s: WebFeed.Status, _ stats: WebFeedStats) -> String {
        func num(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%.4g", $0) : "null" } ?? "null" }
        return "{\"name\": \(jsonString(feed.name)), \"state\": \"\(s.state.rawValue)\", \"steps\": \(stats.steps), \"hits\": \(stats.hits), "
            + "\"t\": \(num(stats.lastTime)), \"dropped_steps\": \(s.missingSteps), \"reconnects\": \(s.reconnects), "
            + "\"latency_median_ms\": \(num(stats.latencyMedian.map { $0 * 1000 })), \"latency_p99_ms\": \(num(stats.latencyP99.map { $0 * 1000 })), "
            + "\"model\": \(s.model.map(jsonString) ?? "null"), \"learned_s\": \(num(s.learnedSeconds)), "
            + "\"size\": [\(feed.width), \(feed.height)], \"picture\": \(s.pictureSerial > 0), \"page_dropped_steps\": \(stats.droppedForPage)}"
    }
}

/// What the pump counts of one feed for the page: steps, hits and the latency of the last 240 steps.
struct WebFeedStats {
    var steps = 0
    var hits = 0
    var lastTime: Double?
    var droppedForPage = 0
    private var recent: [Double] = []
    private var next = 0

    mutating func noteLatency(_ seconds: Double) {
        if recent.count < 240 { recent.append(seconds) } else { recent[next] = seconds; next = (next + 1) % 240 }
    }

    var latencyMedian: Double? { recent.isEmpty ? nil : Percentiles.median(recent.sorted()) }
    var latencyP99: Double? { recent.isEmpty ? nil : Percentiles.nearestRank(recent.sorted(), 0.99) }
}

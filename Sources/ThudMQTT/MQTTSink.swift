// Hits out as MQTT events through libmosquitto: a StepSink that publishes one message per hit (QoS 1) and a retained
// status per feed. libmosquitto's own thread does the network: the prediction loop only queues a message, never waits
// for the broker, and a broker that goes away is reconnected to (messages queued meanwhile go out after).
import CMosquitto
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudRuntime

/// `HOST[:PORT]/TOPIC`: the broker and the topic everything goes under.
public struct MQTTEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var topic: String

    public init?(argument: String) {
        guard let slash = argument.firstIndex(of: "/") else { return nil }
        let authority = argument[..<slash]
        topic = String(argument[argument.index(after: slash)...])
        guard !topic.isEmpty, !topic.contains("+"), !topic.contains("#"), !topic.hasSuffix("/") else { return nil }
        if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            host = String(authority[..<colon]); port = p
        } else {
            host = String(authority); port = 1883
        }
        guard !host.isEmpty else { return nil }
    }

    /// A feed's name as one topic level (no wildcards, no separators).
    public static func level(_ name: String) -> String {
        String(name.map { $0 == "/" || $0 == "+" || $0 == "#" || $0 == " " ? "_" : $0 })
    }
}

public struct MQTTError: OneLineError {
    public var message: String
    public var exitCode: Int32 { 64 }
}

/// One connection to the broker, shared by every feed's sink. Thread-safe (libmosquitto's threaded interface).
public final class MQTTPublisher: @unchecked Sendable {
    public let endpoint: MQTTEndpoint
    private let client: OpaquePointer
    private let lock = NSLock()
    /// The latest status per status topic: sent retained, and again after every reconnection (a restarted broker
    /// has forgotten them).
    private var statuses: [String: String] = [:]
    private var connected = false
    private var everConnected = false
    private var unacknowledged = Set<Int32>()
    private let warn: @Sendable (String) -> Void

    private static let libraryOnce: Void = { mosquitto_lib_init() }()

    public init(endpoint: MQTTEndpoint, warn: @escaping @Sendable (String) -> Void) throws {
        _ = Self.libraryOnce
        self.endpoint = endpoint
        self.warn = warn
        guard let c = mosquitto_new("thud-\(getpid())", true, nil) else { throw MQTTError(message: "mqtt: cannot create a client") }
        client = c
        mosquitto_user_data_set(c, Unmanaged.passUnretained(self).toOpaque())
        let will = "{\"state\": \"offline\"}"
        mosquitto_will_set(c, endpoint.topic + "/status", Int32(will.utf8.count), will, 1, true)
        mosquitto_reconnect_delay_set(c, 1, 30, true)
        mosquitto_connect_callback_set(c) { _, user, rc in
            guard let user else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(user).takeUnretainedValue().connected(rc)
        }
        mosquitto_disconnect_callback_set(c) { _, user, rc in
            guard let user else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(user).takeUnretainedValue().disconnected(rc)
        }
        mosquitto_publish_callback_set(c) { _, user, mid in
            guard let user else { return }
            let me = Unmanaged<MQTTPublisher>.fromOpaque(user).takeUnretainedValue()
            me.lock.lock(); me.unacknowledged.remove(mid); me.lock.unlock()
        }
        let rc = mosquitto_connect_async(c, endpoint.host, Int32(endpoint.port), 10)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            warn("mqtt: \(endpoint.host):\(endpoint.port): \(String(cString: mosquitto_strerror(rc))); retrying")
        }
        mosquitto_loop_start(c)
        setStatus(topic: endpoint.topic + "/status", "{\"state\": \"online\"}")
    }

    private func connected(_ rc: Int32) {
        lock.lock()
        let ok = rc == 0
        let first = !everConnected
        if ok { connected = true; everConnected = true }
        let retained = statuses
        lock.unlock()
        // The first connection sends what was queued before it; a later one finds a broker that may have restarted
        // and forgotten the retained statuses: they go again.
        guard ok, !first else { return }
        warn("mqtt: \(endpoint.host):\(endpoint.port): connected again")
        for (topic, payload) in retained { send(topic, payload, retain: true) }
    }

    private func disconnected(_ rc: Int32) {
        lock.lock()
        let was = connected
        connected = false
        lock.unlock()
        if was && rc != 0 { warn("mqtt: \(endpoint.host):\(endpoint.port): lost the broker; reconnecting (the predictions go on)") }
    }

    @discardableResult
    private func send(_ topic: String, _ payload: String, retain: Bool) -> Bool {
        var mid: Int32 = 0
        let rc = mosquitto_publish(client, &mid, topic, Int32(payload.utf8.count), payload, 1, retain)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { return false }
        lock.lock(); unacknowledged.insert(mid); lock.unlock()
        return true
    }

    /// QoS 1, not retained; queued by libmosquitto while the broker is away.
    public func publish(topic: String, _ payload: String) { send(topic, payload, retain: false) }

    /// QoS 1, retained, and sent again after each reconnection.
    public func setStatus(topic: String, _ payload: String) {
        lock.lock(); statuses[topic] = payload; lock.unlock()
        send(topic, payload, retain: true)
    }

    /// Waits (up to `seconds`) for the broker to acknowledge what was published, then disconnects.
    public func close(waiting seconds: Double = 3) {
        setStatus(topic: endpoint.topic + "/status", "{\"state\": \"offline\"}")
        let end = MonotonicClock.seconds() + seconds
        while MonotonicClock.seconds() < end {
            lock.lock(); let pending = !unacknowledged.isEmpty && connected; lock.unlock()
            if !pending { break }
            usleep(20_000)
        }
        mosquitto_disconnect(client)
        mosquitto_loop_stop(client, false)
    }

    deinit { mosquitto_destroy(client) }
}

/// One feed's hits and status: `TOPIC/FEED/hit` per hit, `{"feed", "t", "strength", "wall"}` (QoS 1); and
/// `TOPIC/FEED/status` retained, `{"feed", "state": "streaming"|"reconnecting"|"ended", "t", "wall"}`.
public final class MQTTStepSink: StepSink {
    public let publisher: MQTTPublisher
    public let feed: String
    private let hitTopic: String
    private let statusTopic: String
    private let feedJSON: String
    private var lastTime = 0.0

    public init(publisher: MQTTPublisher, feed: String) {
        self.publisher = publisher
        self.feed = feed
        let level = MQTTEndpoint.level(feed)
        hitTopic = publisher.endpoint.topic + "/" + level + "/hit"
        statusTopic = publisher.endpoint.topic + "/" + level + "/status"
        feedJSON = jsonString(feed)
        status("streaming")
    }

    private func status(_ state: String) {
        publisher.setStatus(topic: statusTopic, "{\"feed\": \(feedJSON), \"state\": \"\(state)\", \"t\": \(fixed(lastTime)), \"wall\": \(fixed(Date().timeIntervalSince1970, 3))}")
    }

    public func submit(_ step: DescribedStep) {
        lastTime = step.time
        guard let hit = step.hit else { return }
        publisher.publish(topic: hitTopic, "{\"feed\": \(feedJSON), \"t\": \(fixed(hit.time)), \"strength\": \(fixed(Double(hit.strength))), \"wall\": \(fixed(Date().timeIntervalSince1970, 3))}")
    }

    public func event(_ event: FeedEvent) {
        switch event {
        case .lost: status("reconnecting")
        case .gap: status("streaming")
        }
    }

    public func finish() { status("ended") }
}

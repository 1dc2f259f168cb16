// Hits out as MQTT events through libmosquitto: a StepSink that publishes one message per hit (QoS 1) and a retained
// status per feed. libmosquitto's own thread does the network: the prediction loop only queues a message, never waits
// for the broker, and a broker that goes away is reconnected to (messages queued meanwhile go out after).
import CMosquitto
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline
import ThudRuntime

/// `[USER[:PASSWORD]@]HOST[:PORT]/TOPIC`: the broker, the credentials to give it, and the topic everything goes under.
public struct MQTTEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// As getaddrinfo takes it: an IPv6 address without its brackets.
    public var host: String
    public var port: Int
    public var topic: String
    public var username: String?
    public var password: String?

    /// MQTT's limit on a topic, in UTF-8 bytes (its length goes in two bytes).
    public static let topicLimit = 65_535

    /// Parses the option's value; the error is its one line (64), the password never in it. The topic must leave
    /// room for `/FEED/status` under MQTT's limit and be a topic libmosquitto publishes to.
    public init(parsing argument: String) throws {
        let shown = Self.shown(argument)
        let form = "--mqtt \(shown) is not [USER[:PASSWORD]@]HOST[:PORT]/TOPIC (a topic without + or #)"
        guard let slash = argument.firstIndex(of: "/") else { throw MQTTError(message: form) }
        var authority = argument[..<slash]
        topic = String(argument[argument.index(after: slash)...])
        guard !topic.isEmpty, !topic.contains("+"), !topic.contains("#"), !topic.hasSuffix("/") else { throw MQTTError(message: form) }
        // USER[:PASSWORD]@: the last @ before the topic ends them (a password may hold @ and :, not /).
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            let colon = userInfo.firstIndex(of: ":")
            username = String(userInfo[..<(colon ?? userInfo.endIndex)])
            password = colon.map { String(userInfo[userInfo.index(after: $0)...]) }
            authority = authority[authority.index(after: at)...]
            guard username?.isEmpty == false else { throw MQTTError(message: form) }
        }
        var portText: Substring?
        if authority.hasPrefix("[") {
            // [IPv6]:PORT, as in URLs; libmosquitto takes the address without its brackets.
            guard let close = authority.firstIndex(of: "]") else { throw MQTTError(message: form) }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let rest = authority[authority.index(after: close)...]
            guard host.contains(":"), rest.isEmpty || rest.hasPrefix(":") else { throw MQTTError(message: form) }
            if !rest.isEmpty { portText = rest.dropFirst() }
        } else {
            let colons = authority.filter { $0 == ":" }.count
            if colons > 1 { throw MQTTError(message: "--mqtt \(shown): an IPv6 address goes in brackets, [ADDRESS]:PORT/TOPIC (as [::1]:1883/thud)") }
            if let colon = authority.firstIndex(of: ":") {
                portText = authority[authority.index(after: colon)...]
                authority = authority[..<colon]
            }
            host = String(authority)
        }
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw MQTTError(message: form) }
            port = p
        } else {
            port = 1883
        }
        guard !host.isEmpty else { throw MQTTError(message: form) }
        // Each feed's longest topic, TOPIC/FEED/status, is checked per feed (topics(feed:)); this one has to leave
        // room for them at least.
        let room = "/x/status".utf8.count
        if topic.utf8.count + room > Self.topicLimit {
            throw MQTTError(message: "--mqtt \(shown): the topic is \(topic.utf8.count) bytes, too long for MQTT's limit of \(Self.topicLimit) with /FEED/status after it")
        }
        if let problem = Self.topicProblem(topic + "/status") { throw MQTTError(message: "--mqtt \(shown): the topic \(problem)") }
    }

    /// The broker as messages name it: HOST:PORT ([ADDRESS]:PORT for IPv6), never the credentials.
    public var server: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// What interpolating an endpoint shows: SERVER/TOPIC, no password.
    public var description: String { server + "/" + topic }

    /// An --mqtt value as a message may quote it: the password as *** (as NetworkStream.redacted does for URLs),
    /// control characters escaped, cut at 80 characters (a topic may be 64 kB).
    public static func shown(_ argument: String) -> String {
        var text = argument
        let slash = text.firstIndex(of: "/") ?? text.endIndex
        if let at = text[..<slash].lastIndex(of: "@"), let colon = text[..<at].firstIndex(of: ":") {
            text = String(text[...colon]) + "***" + text[at...]
        }
        return shownName(text.count > 80 ? text.prefix(80) + "…" : text)
    }

    /// A feed's name as one topic level, percent-escaped (%XX for each UTF-8 byte) where MQTT or libmosquitto would
    /// read it otherwise: the separator /, the wildcards + and #, control characters (NUL included) and the
    /// non-characters libmosquitto refuses (U+FDD0…U+FDEF, U+xFFFE, U+xFFFF); and % itself, so that no two names
    /// share a level (a+b: a%2Bb, a#b: a%23b, a_b: a_b) and the name reads back by percent-decoding.
    public static func level(_ name: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        for u in name.unicodeScalars {
            let v = u.value
            let escaped = u == "%" || u == "/" || u == "+" || u == "#" || v < 0x20 || (0x7F...0x9F).contains(v)
                || (0xFDD0...0xFDEF).contains(v) || v & 0xFFFE == 0xFFFE
            if !escaped { out.unicodeScalars.append(u); continue }
            for byte in String(u).utf8 { out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)]) }
        }
        return out
    }

    /// A feed's hit and status topics, TOPIC/FEED/hit and TOPIC/FEED/status; refused (one line, 64) when they
    /// would pass MQTT's limit, so that nothing is lost to a topic the broker never takes.
    public func topics(feed: String) throws -> (hit: String, status: String) {
        let base = topic + "/" + Self.level(feed)
        if let problem = Self.topicProblem(base + "/status") {
            let name = shownName(feed.count > 40 ? feed.prefix(40) + "…" : feed)
            throw MQTTError(message: "--mqtt: feed \(name): its status topic \(problem)")
        }
        return (base + "/hit", base + "/status")
    }

    /// Why libmosquitto would not publish to `topic` (nil when it would): past MQTT's length limit, not valid UTF-8
    /// by MQTT's rules (control characters, non-characters), or a wildcard in it.
    static func topicProblem(_ topic: String) -> String? {
        let bytes = topic.utf8.count
        if bytes > topicLimit { return "would be \(bytes) bytes, past MQTT's limit of \(topicLimit)" }
        let utf8 = mosquitto_validate_utf8(topic, Int32(bytes))
        if utf8 != MOSQ_ERR_SUCCESS.rawValue { return "is not one MQTT takes (\(mosquittoText(mosquitto_strerror(utf8))))" }
        let check = mosquitto_pub_topic_check(topic)
        if check != MOSQ_ERR_SUCCESS.rawValue { return "is not one MQTT takes (\(mosquittoText(mosquitto_strerror(check))))" }
        return nil
    }
}

/// One of libmosquitto's messages inside ours: without its closing full stop.
func mosquittoText(_ text: UnsafePointer<CChar>) -> String {
    let s = String(cString: text)
    return s.hasSuffix(".") ? String(s.dropLast()) : s
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
    /// Acknowledgements that came before mosquitto_publish had returned their message's id to `send`.
    private var acknowledgedEarly = Set<Int32>()
    /// Messages libmosquitto took (`published`) or refused at once (`refused`): what the end line counts.
    private var published = 0, refused = 0
    private var refusals: Set<Int32> = []
    /// The first connection failed (refused, nobody there, no such host), and a line said so.
    private var firstTryFailed = false
    private let warn: @Sendable (String) -> Void
    private let note: @Sendable (String) -> Void

    private static let libraryOnce: Void = { mosquitto_lib_init() }()

    /// `warn`: a line that something went wrong (lost, refused); `note`: the end line when nothing did.
    public init(endpoint: MQTTEndpoint, warn: @escaping @Sendable (String) -> Void, note: @escaping @Sendable (String) -> Void) throws {
        _ = Self.libraryOnce
        self.endpoint = endpoint
        self.warn = warn
        self.note = note
        guard let c = mosquitto_new("thud-\(getpid())", true, nil) else { throw MQTTError(message: "mqtt: cannot create a client") }
        client = c
        if let user = endpoint.username, mosquitto_username_pw_set(c, user, endpoint.password) != MOSQ_ERR_SUCCESS.rawValue {
            throw MQTTError(message: "--mqtt: libmosquitto does not take the user name and password (UTF-8, at most 65,535 bytes each)")
        }
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
            Unmanaged<MQTTPublisher>.fromOpaque(user).takeUnretainedValue().acknowledged(mid)
        }
        // The network thread first, then the connection: started the other way round, a broker that is not there
        // yet is never connected to (libmosquitto's thread waits for a first connection that failed; eclipse
        // mosquitto issue 1903). getaddrinfo takes an IPv6 address without brackets; messages show it with them
        // (endpoint.server), and never the credentials.
        mosquitto_loop_start(c)
        let rc = mosquitto_connect_async(c, endpoint.host, Int32(endpoint.port), 10)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            lock.lock(); firstTryFailed = true; lock.unlock()
            warn("mqtt: \(endpoint.server): cannot reach the broker (\(mosquittoText(mosquitto_strerror(rc)))); retrying (the predictions go on, messages wait)")
        }
        setStatus(topic: endpoint.topic + "/status", "{\"state\": \"online\"}")
    }

    private func connected(_ rc: Int32) {
        lock.lock()
        let ok = rc == 0
        let first = !everConnected
        if ok { connected = true; everConnected = true }
        // A broker that refuses (wrong password, not authorised) is retried like one that is away: said once.
        let newRefusal = !ok && refusals.insert(rc).inserted
        if !ok { firstTryFailed = true }
        let retained = statuses
        lock.unlock()
        if newRefusal { warn("mqtt: \(endpoint.server): the broker refused the connection: \(mosquittoText(mosquitto_connack_string(rc))); retrying") }
        // The first connection sends what was queued before it; a later one finds a broker that may have restarted
        // and forgotten the retained statuses: they go again.
        guard ok, !first else { return }
        warn("mqtt: \(endpoint.server): connected again")
        for (topic, payload) in retained { send(topic, payload, retain: true) }
    }

    private func disconnected(_ rc: Int32) {
        lock.lock()
        let was = connected
        connected = false
        // A first connection that fails (nobody listening, the host unreachable) is said once, as it happens; the
        // end line counts what it cost.
        let firstFailure = rc != 0 && !everConnected && !firstTryFailed
        if firstFailure { firstTryFailed = true }
        lock.unlock()
        if was && rc != 0 { warn("mqtt: \(endpoint.server): lost the broker; reconnecting (the predictions go on)") }
        if firstFailure { warn("mqtt: \(endpoint.server): cannot reach the broker; retrying (the predictions go on, messages wait)") }
    }

    private func acknowledged(_ mid: Int32) {
        lock.lock(); defer { lock.unlock() }
        if unacknowledged.remove(mid) == nil { acknowledgedEarly.insert(mid) }
    }

    @discardableResult
    private func send(_ topic: String, _ payload: String, retain: Bool) -> Bool {
        var mid: Int32 = 0
        let rc = mosquitto_publish(client, &mid, topic, Int32(payload.utf8.count), payload, 1, retain)
        lock.lock()
        // MOSQ_ERR_NO_CONN (no socket: the broker away) comes after a QoS 1 message was queued, with its id: it goes
        // out on the next connection, as one published while connected does.
        let ok = rc == MOSQ_ERR_SUCCESS.rawValue || rc == MOSQ_ERR_NO_CONN.rawValue
        if ok {
            published += 1
            // libmosquitto's thread may have had the broker's PUBACK before we hold the id.
            if acknowledgedEarly.remove(mid) == nil { unacknowledged.insert(mid) }
        } else {
            refused += 1
        }
        let firstRefused = !ok && refused == 1
        lock.unlock()
        // Counted at the end; said once as it happens (the topics are checked at the start: this is not expected).
        if firstRefused { warn("mqtt: \(endpoint.server): libmosquitto refused a message: \(mosquittoText(mosquitto_strerror(rc)))") }
        return ok
    }

    /// QoS 1, not retained; queued by libmosquitto while the broker is away.
    public func publish(topic: String, _ payload: String) { send(topic, payload, retain: false) }

    /// QoS 1, retained, and sent again after each reconnection.
    public func setStatus(topic: String, _ payload: String) {
        lock.lock(); statuses[topic] = payload; lock.unlock()
        send(topic, payload, retain: true)
    }

    /// Waits (up to `seconds`) for the broker to acknowledge what was published, disconnects, and says in one line
    /// how many messages the broker acknowledged, or how many it never did (queued for a broker that was never
    /// there, or went away before the end): nothing is lost unsaid.
    public func close(waiting seconds: Double = 3) {
        setStatus(topic: endpoint.topic + "/status", "{\"state\": \"offline\"}")
        let end = MonotonicClock.seconds() + seconds
        while MonotonicClock.seconds() < end {
            // Connected, or still on the first try (a short run may end before the broker has answered once); not
            // while a broker that was there is being reconnected to, nor one that never answered.
            lock.lock(); let pending = !unacknowledged.isEmpty && (connected || !everConnected && !firstTryFailed); lock.unlock()
            if !pending { break }
            usleep(20_000)
        }
        mosquitto_disconnect(client)
        mosquitto_loop_stop(client, false)
        lock.lock()
        let total = published + refused, lost = unacknowledged.count + refused, ever = everConnected
        lock.unlock()
        if lost == 0 {
            note("mqtt: \(endpoint.server): \(total) message\(total == 1 ? "" : "s") delivered")
        } else {
            warn("mqtt: \(endpoint.server): \(lost) of \(total) message\(total == 1 ? "" : "s") not delivered (\(ever ? "not acknowledged by the broker before the end" : "never connected to the broker"))")
        }
    }

    deinit { mosquitto_destroy(client) }
}

/// One feed's hits and status (FEED: MQTTEndpoint.level of its name): `TOPIC/FEED/hit` per hit, `{"feed", "t",
/// "strength", "wall"}` (QoS 1); and `TOPIC/FEED/status` retained, `{"feed", "state": "streaming"|"reconnecting"|
/// "ended", "t", "wall"}`.
public final class MQTTStepSink: StepSink {
    public let publisher: MQTTPublisher
    public let feed: String
    private let hitTopic: String
    private let statusTopic: String
    private let feedJSON: String
    private var lastTime = 0.0

    /// Refused (one line, 64) when the feed's topics would pass MQTT's limit (MQTTEndpoint.topics).
    public init(publisher: MQTTPublisher, feed: String) throws {
        self.publisher = publisher
        self.feed = feed
        (hitTopic, statusTopic) = try publisher.endpoint.topics(feed: feed)
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
        case .model: break
        }
    }

    public func finish() { status("ended") }
}

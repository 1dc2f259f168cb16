import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMQTT

/// `--mqtt [USER[:PASSWORD]@]HOST[:PORT]/TOPIC`: each hit as an MQTT message (QoS 1) and a retained status per feed.
struct MQTTOption: ParsableArguments {
    @Option(name: .customLong("mqtt"), help: "Publish each hit to an MQTT broker, [USER[:PASSWORD]@]HOST[:PORT]/TOPIC (an IPv6 HOST in brackets; TOPIC/FEED/hit, QoS 1; TOPIC/FEED/status retained; FEED percent-escaped).")
    var mqtt: String?

    func validate() throws {
        guard let mqtt else { return }
        do { _ = try MQTTEndpoint(parsing: mqtt) } catch let error as MQTTError { throw ValidationError(error.message) }
    }

    /// The publisher, connecting on its own thread; nil without --mqtt. `feeds`: the names the run will publish
    /// under, whose topics are checked first, so that one MQTT cannot take is refused before anything is sent.
    func publisher(feeds: [String]) throws -> MQTTPublisher? {
        guard let mqtt else { return nil }
        let endpoint = try MQTTEndpoint(parsing: mqtt)
        for feed in feeds { _ = try endpoint.topics(feed: feed) }
        return try MQTTPublisher(endpoint: endpoint, warn: { warnLine($0) }, note: { fputs("thud: \($0)\n", stderr) })
    }
}

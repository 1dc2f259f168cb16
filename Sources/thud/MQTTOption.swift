import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMQTT

/// `--mqtt HOST[:PORT]/TOPIC`: each hit as an MQTT message (QoS 1) and a retained status per feed.
struct MQTTOption: ParsableArguments {
    @Option(name: .customLong("mqtt"), help: "Publish each hit to an MQTT broker, HOST[:PORT]/TOPIC (TOPIC/FEED/hit, QoS 1; TOPIC/FEED/status retained).")
    var mqtt: String?

    func validate() throws {
        if let mqtt, MQTTEndpoint(argument: mqtt) == nil { throw ValidationError("--mqtt \(mqtt) is not HOST[:PORT]/TOPIC (a topic without + or #)") }
    }

    func publisher() throws -> MQTTPublisher? {
        guard let mqtt, let endpoint = MQTTEndpoint(argument: mqtt) else { return nil }
        return try MQTTPublisher(endpoint: endpoint, warn: { warnLine($0) })
    }
}

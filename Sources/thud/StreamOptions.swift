import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMedia

/// How `predict`, `live` and `watch` read a network stream (rtsp://, rtp://, udp://, http(s)://, srt://).
struct StreamOptions: ParsableArguments {
    @Option(name: .customLong("timeout"), parsing: .unconditional,
            help: "Network streams: the longest wait for data (connecting, probing, reading), seconds.")
    var ioTimeout: Double = 10

    @Flag(help: "Network streams: connect again when the stream drops, ends or cannot be opened (exponential backoff); the gap is a JSON event line.")
    var reconnect = false

    @Option(name: .customLong("reconnect-max-delay"), parsing: .unconditional, help: "The longest wait between two attempts, seconds.")
    var reconnectMaxDelay: Double = 30

    @Option(name: .customLong("reconnect-give-up"), parsing: .unconditional,
            help: "End the run when an outage lasts this many seconds (default: never).")
    var reconnectGiveUp: Double?

    @Option(name: .customLong("rtsp-transport"), help: "rtsp:// over tcp or udp (default: FFmpeg's, udp then tcp).")
    var rtspTransport: String?

    @Option(name: .customLong("input-option"), parsing: .unconditionalSingleValue,
            help: "An FFmpeg option for the stream's reader or protocol, KEY=VALUE (repeatable), e.g. rtsp_flags=listen, latency=200000 (srt).")
    var inputOptions: [String] = []

    func validate() throws {
        guard ioTimeout.isFinite, ioTimeout > 0, ioTimeout <= 3600 else { throw ValidationError("--timeout must be seconds above 0 and at most 3600") }
        guard reconnectMaxDelay.isFinite, reconnectMaxDelay >= 0.1, reconnectMaxDelay <= 3600 else { throw ValidationError("--reconnect-max-delay must be seconds within 0.1…3600") }
        if let g = reconnectGiveUp, !(g.isFinite && g > 0) { throw ValidationError("--reconnect-give-up must be seconds above 0") }
        if let t = rtspTransport, t != "tcp", t != "udp" { throw ValidationError("--rtsp-transport must be tcp or udp") }
        for o in inputOptions where !o.contains("=") || o.hasPrefix("=") { throw ValidationError("--input-option \(o) is not KEY=VALUE") }
    }

    var settings: StreamSettings {
        var options: [(key: String, value: String)] = inputOptions.map { o in
            let parts = o.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        if let t = rtspTransport { options.append(("rtsp_transport", t)) }
        return StreamSettings(ioTimeout: ioTimeout, options: options)
    }

    var policy: ReconnectPolicy {
        ReconnectPolicy(enabled: reconnect, firstDelay: min(0.5, reconnectMaxDelay), maxDelay: reconnectMaxDelay, giveUpAfter: reconnectGiveUp)
    }

    /// Options that only mean something for a network stream, given for another input.
    var usedWithoutStream: Bool { reconnect || rtspTransport != nil || !inputOptions.isEmpty || reconnectGiveUp != nil }
}

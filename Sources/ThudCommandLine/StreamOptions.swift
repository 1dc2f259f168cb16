import ArgumentParser
import Foundation
import ThudMedia
import ThudModel
import ThudPipeline

/// How `predict`, `live` and `watch` read a network stream (rtsp://, rtp://, udp://, http(s)://, srt://).
public struct StreamOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("timeout"), parsing: .unconditional,
            help: "Network streams: the longest wait for data (connecting, probing, reading), seconds.")
    public var ioTimeout: Double = 10

    @Flag(help: "Network streams: connect again when the stream drops, ends or cannot be opened (exponential backoff); the gap is a JSON event line.")
    public var reconnect = false

    @Option(name: .customLong("reconnect-max-delay"), parsing: .unconditional, help: "The longest wait between two attempts, seconds.")
    public var reconnectMaxDelay: Double = 30

    @Option(name: .customLong("reconnect-give-up"), parsing: .unconditional,
            help: "End the run when an outage lasts this many seconds (default: never).")
    public var reconnectGiveUp: Double?

    @Option(name: .customLong("rtsp-transport"), help: "rtsp:// over tcp or udp (default: FFmpeg's, udp then tcp).")
    public var rtspTransport: String?

    @Option(name: .customLong("input-option"), parsing: .unconditionalSingleValue,
            help: "An FFmpeg option for the stream's reader or protocol, KEY=VALUE (repeatable), e.g. rtsp_flags=listen, latency=200000 (srt).")
    public var inputOptions: [String] = []

    public func validate() throws {
        guard ioTimeout.isFinite, ioTimeout > 0, ioTimeout <= 3600 else { throw ValidationError("--timeout must be seconds above 0 and at most 3600") }
        guard reconnectMaxDelay.isFinite, reconnectMaxDelay >= 0.1, reconnectMaxDelay <= 3600 else { throw ValidationError("--reconnect-max-delay must be seconds within 0.1…3600") }
        if let g = reconnectGiveUp, !(g.isFinite && g > 0) { throw ValidationError("--reconnect-give-up must be seconds above 0") }
        if let t = rtspTransport, t != "tcp", t != "udp" { throw ValidationError("--rtsp-transport must be tcp or udp") }
        for o in inputOptions where !o.contains("=") || o.hasPrefix("=") { throw ValidationError("--input-option \(o) is not KEY=VALUE") }
    }

    public var settings: StreamSettings {
        var options: [(key: String, value: String)] = inputOptions.map { o in
            let parts = o.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        if let t = rtspTransport { options.append(("rtsp_transport", t)) }
        return StreamSettings(ioTimeout: ioTimeout, options: options)
    }

    public var policy: ReconnectPolicy {
        ReconnectPolicy(enabled: reconnect, firstDelay: min(0.5, reconnectMaxDelay), maxDelay: reconnectMaxDelay, giveUpAfter: reconnectGiveUp)
    }

    /// Options that only mean something for a network stream (a usage error for another input).
    public var given: Bool { reconnect || rtspTransport != nil || !inputOptions.isEmpty || reconnectGiveUp != nil }

    /// How InputSource opens an input for `model`: these network settings, warnings to `warn`.
    public func inputOptions(for model: StreamingModel, warn: @escaping (String) -> Void) -> InputOptions {
        var options = InputOptions(request: VideoStepRequest(width: model.inputWidth, height: model.inputHeight, pixelFormat: .gray8))
        options.network = settings
        options.reconnect = policy
        options.networkOptionsGiven = given
        options.warn = warn
        return options
    }
}

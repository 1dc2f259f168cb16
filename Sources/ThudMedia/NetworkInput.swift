// Network streams as inputs: what FFmpeg's network protocols open (rtsp, rtp, udp, http(s), hls, srt), read as live
// sources. MediaInput(url:settings:interrupt:) opens one; NetworkFeed (NetworkFeed.swift) reads it into 12 Hz steps and
// reconnects.
import CFFmpeg
import Foundation
import Synchronization
import ThudBase

/// How a network stream is opened and read.
public struct StreamSettings: Sendable {
    /// The longest FFmpeg may block without data (opening, probing, reading), seconds.
    public var ioTimeout: Double = 10
    /// Live-source probing: bytes and microseconds the demuxer may read to learn the streams.
    public var probeSize: Int = 500_000
    public var analyzeMicroseconds: Int64 = 1_500_000
    /// FFmpeg options passed as given (`--input-option key=value`: rtsp_transport, rtsp_flags, srt latency, …);
    /// one the reader and its protocol do not know is a usage error (64).
    public var options: [(key: String, value: String)] = []

    public init(ioTimeout: Double = 10, options: [(key: String, value: String)] = []) {
        self.ioTimeout = ioTimeout
        self.options = options
    }

    /// Live-source settings (small probe, low delay), then the caller's options over them. Not `fflags nobuffer`:
    /// it throws away the packets the probe read, and with them the keyframe a long-GOP stream (an IP camera's: one
    /// every 2–10 s, or only the first) sends once, so nothing would decode until the next one. The probe's packets
    /// are decoded first, as ffmpeg does: the first steps come out in a burst, then at the stream's pace.
    func apply(to dict: inout OpaquePointer?) {
        av_dict_set(&dict, "probesize", "\(probeSize)", 0)
        av_dict_set(&dict, "analyzeduration", "\(analyzeMicroseconds)", 0)
        av_dict_set(&dict, "max_delay", "500000", 0)
        for (key, value) in options { av_dict_set(&dict, key, value, 0) }
    }
}

public enum NetworkStream {
    /// The schemes read as network streams; anything else with "://" is left to the file path (and its errors).
    public static let schemes: Set<String> = ["rtsp", "rtsps", "rtp", "udp", "tcp", "http", "https", "hls", "srt", "rtmp", "rtmps", "rist"]

    /// Whether `input` names a network stream: `scheme://…` with one of `schemes` (a file that happens to have
    /// "://" in its name is still opened as a file: ./udp://x).
    public static func isURL(_ input: String) -> Bool {
        guard let r = input.range(of: "://") else { return false }
        let scheme = input[..<r.lowerBound].lowercased()
        return schemes.contains(scheme) || scheme.hasPrefix("hls+")
    }

    /// The URL as messages show it: a password in it (user:password@host) replaced by ***.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<schemeEnd.upperBound]) + userInfo[..<colon] + ":***" + rest[at...]
    }

    static let networkInitOnce: Void = { avformat_network_init() }()

    /// What is wrong with a URL and its options before anything is connected (a usage error, exit 64, at once: not
    /// a connection that times out first): a port outside 1…65535, an option no FFmpeg reader or protocol knows.
    static func usageProblem(_ url: String, settings: StreamSettings) -> String? {
        if let port = port(of: url), !(1...65535).contains(port) { return "port \(port) is out of range (1…65535)" }
        var unknown: [String] = []
        var formatClass = avformat_get_class()
        for (key, _) in settings.options where !unknown.contains(key) {
            // Every demuxer's and protocol's options are children of the format context's class.
            if av_opt_find(&formatClass, key, nil, 0, AV_OPT_SEARCH_CHILDREN | AV_OPT_SEARCH_FAKE_OBJ) == nil { unknown.append(key) }
        }
        guard !unknown.isEmpty else { return nil }
        return "option\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")) not known to any FFmpeg reader or protocol (--input-option)"
    }

    /// The port a URL names (scheme://[user@]host:port/…, the host possibly a bracketed IPv6 address), nil if none.
    static func port(of url: String) -> Int? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        var authority = rest[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex)]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") { authority = authority[authority.index(after: close)...] }
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        let digits = authority[authority.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits.prefix(9)) ?? Int.max
    }

    /// The one-line error for a stream that does not open.
    static func openError(_ rc: Int32, name: String, settings: StreamSettings, interrupt: IOInterrupt) -> MediaError {
        if interrupt.stopRequested { return MediaError(.unreachable, file: name, "stopped while connecting") }
        if rc == FF.exit || interrupt.fired || rc == thud_averror(ETIMEDOUT) {
            let bytes = interrupt.bytesArrived
            if bytes > 0 {
                return MediaError(.unreachable, file: name, "\(bytes) bytes arrived within \(Format.fixed(settings.ioTimeout, 1)) s (--timeout), but not a stream FFmpeg recognises (not MPEG-TS, RTP or another format it reads)")
            }
            return MediaError(.unreachable, file: name, "nothing within \(Format.fixed(settings.ioTimeout, 1)) s (--timeout): nobody serves it, or it sends nothing")
        }
        if rc == FF.invalidData { return MediaError(.notMedia, file: name, "not a media stream FFmpeg can read (\(FF.describe(rc)))") }
        if rc == thud_averror(EINVAL) || rc == thud_averror(ENOSYS) || rc == thud_averror_protocol_not_found() {
            return MediaError(.unreachable, file: name, "cannot open (\(FF.describe(rc)); is the URL right?)")
        }
        return MediaError(.unreachable, file: name, "cannot connect (\(FF.describe(rc)))")
    }
}

/// The deadline FFmpeg's blocking I/O checks through its interrupt callback, and a stop request from another thread
/// (a signal, `thud watch` stopping a feed). Lock-free: the callback runs inside FFmpeg's read loops.
public final class IOInterrupt: Sendable {
    private let deadline = Atomic<UInt64>(UInt64.max)
    private let stop = Atomic<Bool>(false)
    private let didFire = Atomic<Bool>(false)
    /// While a stream is being opened: its AVFormatContext (an address, 0 otherwise), whose byte reader the callback
    /// looks at, so that a failed open can say whether anything arrived at all.
    private let opening = Atomic<UInt>(0)
    private let bytesSeen = Atomic<Int64>(0)

    public init() {}

    /// The bytes the stream's reader had taken in, as last seen while opening (0: nothing arrived).
    var bytesArrived: Int64 { bytesSeen.load(ordering: .relaxed) }

    /// Watches `ctx`'s reader from FFmpeg's own polls of the callback until `stopWatching` (which must come before
    /// the context can be freed: avformat_open_input frees it when it fails).
    func watch(_ ctx: UnsafeMutablePointer<AVFormatContext>) {
        bytesSeen.store(0, ordering: .relaxed)
        opening.store(UInt(bitPattern: ctx), ordering: .relaxed)
    }
    func stopWatching() { opening.store(0, ordering: .relaxed) }

    /// Ends every blocking call now and every later one at once.
    public func requestStop() { stop.store(true, ordering: .releasing) }
    public var stopRequested: Bool { stop.load(ordering: .acquiring) }
    /// The deadline passed (since the last arm) while FFmpeg waited.
    var fired: Bool { didFire.load(ordering: .relaxed) }

    /// From now, FFmpeg may block for `seconds` more.
    func arm(seconds: Double) {
        didFire.store(false, ordering: .relaxed)
        deadline.store(MonotonicClock.nanos() &+ UInt64(max(0, seconds) * 1e9), ordering: .relaxed)
    }

    func disarm() { deadline.store(UInt64.max, ordering: .relaxed) }

    /// Sleeps up to `seconds`, waking early for a stop request; returns false when stopped.
    func sleep(seconds: Double) -> Bool {
        let end = MonotonicClock.seconds() + seconds
        while !stopRequested {
            let left = end - MonotonicClock.seconds()
            if left <= 0 { return true }
            usleep(useconds_t(min(left, 0.05) * 1e6))
        }
        return false
    }

    fileprivate func shouldInterrupt() -> Bool {
        // Called on the thread that is opening the stream, inside FFmpeg's reads: the context and its reader are live.
        if let ctx = UnsafeMutablePointer<AVFormatContext>(bitPattern: opening.load(ordering: .relaxed)), let pb = ctx.pointee.pb {
            bytesSeen.store(max(bytesSeen.load(ordering: .relaxed), pb.pointee.bytes_read), ordering: .relaxed)
        }
        if stop.load(ordering: .relaxed) { return true }
        if MonotonicClock.nanos() > deadline.load(ordering: .relaxed) {
            didFire.store(true, ordering: .relaxed)
            return true
        }
        return false
    }

    /// FFmpeg's interrupt callback pointing at this object (which the input keeps alive as long as its context).
    var callback: AVIOInterruptCB {
        AVIOInterruptCB(callback: { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<IOInterrupt>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt() ? 1 : 0
        }, opaque: Unmanaged.passUnretained(self).toOpaque())
    }
}

// A network stream read into 12 Hz steps, reconnecting when it drops: connect → decode (the 12 Hz clock on the
// stream's timestamps, StepClock) → on a lost stream, back off exponentially and connect again, the clock resumed after
// the gap (reported as an event, never filled with invented steps).
import CFFmpeg
import Foundation
import ThudBase

/// When and how a lost stream is connected again.
public struct ReconnectPolicy: Sendable {
    public var enabled: Bool
    /// The first wait after a failed attempt; each further one doubles, up to `maxDelay`.
    public var firstDelay: Double
    public var maxDelay: Double
    /// An outage longer than this ends the run (exit 33; before the first connection, 32); nil: never.
    public var giveUpAfter: Double?

    public init(enabled: Bool, firstDelay: Double = 0.5, maxDelay: Double = 30, giveUpAfter: Double? = nil) {
        self.enabled = enabled; self.firstDelay = firstDelay; self.maxDelay = maxDelay; self.giveUpAfter = giveUpAfter
    }

    public static let off = ReconnectPolicy(enabled: false)
}

/// What happens to a feed besides its steps.
public enum FeedEvent: Sendable, Equatable {
    /// The stream stopped after step `afterStep - 1` (its last step is out); a reconnect follows.
    case lost(reason: String, afterStep: Int)
    /// The stream is back: steps `fromStep..<toStep` do not exist (no frame was seen for them); `seconds` is the
    /// outage on the monotonic clock; `onStreamTimestamps` says whether the new connection's timestamps continued the
    /// old ones (else the gap was measured on the monotonic clock).
    case gap(fromStep: Int, toStep: Int, seconds: Double, attempts: Int, onStreamTimestamps: Bool)
    /// Another model took over from step `atStep` on (`--reload`: its file changed and loaded well): `file`, and the
    /// seconds of the feed it learned from when its header says so (`thud-train adapt`'s provenance).
    case model(atStep: Int, file: String, learnedSeconds: Double?)
}

public struct FeedSummary: Sendable {
    public var steps = 0
    public var videoFrames = 0
    public var corruptVideoPackets = 0
    public var connections = 0
    public var outages = 0
    public var missingSteps = 0
    /// Why the stream ended for good when it did not end cleanly (no --reconnect, or --reconnect-give-up passed).
    public var lostReason: String?
    public var stopped = false
    public init() {}
}

/// One network stream as a source of 12 Hz steps, with reconnection. Runs on the calling thread; `interrupt` stops it
/// from any other (FFmpeg's blocking reads return at once). Per connection it allocates its demuxer, decoder and one
/// step buffer, all freed when the connection ends: memory stays flat however often it reconnects.
public final class NetworkFeed {
    public let url: String
    /// The URL as messages show it (no password).
    public let name: String
    public let settings: StreamSettings
    public let reconnect: ReconnectPolicy
    public let request: VideoStepRequest
    public let interrupt = IOInterrupt()
    /// `--learn`: the stream's own packets (video and first audio stream) copied into rolling segments while it is
    /// read. Set before `run`; nil (the default) costs the packet loop one test per packet.
    public var recorder: PacketRecorder?

    /// `label`: a feed's name (`thud watch`), shown before the URL in every message.
    public init(url: String, settings: StreamSettings, reconnect: ReconnectPolicy, request: VideoStepRequest, label: String? = nil) {
        self.url = url
        name = label.map { "\($0) (\(NetworkStream.redacted(url)))" } ?? NetworkStream.redacted(url)
        self.settings = settings; self.reconnect = reconnect; self.request = request
    }

    /// Opens the stream once (no reconnect): a bad URL fails here, before anything is written.
    public func open() throws -> MediaInput {
        do {
            return try MediaInput(url: url, settings: settings, interrupt: interrupt)
        } catch let error as MediaError where error.file != name {
            throw MediaError(error.kind, file: name, error.problem)
        }
    }

    /// Reads the stream until it ends (without --reconnect), `interrupt` stops it, `onStep` returns false, or an
    /// outage outlasts `reconnect.giveUpAfter`. Step numbers and times run on across reconnections (k/12 s from the
    /// first connection's start); `warn` gets one line per kind of damage and one per outage. Throws when the first
    /// connection cannot be made (and, with --reconnect, not within giveUpAfter); a stream lost later is reported in
    /// the summary's `lostReason` once its steps are out.
    public func run(first: MediaInput? = nil, warn: (String) -> Void, event: (FeedEvent) throws -> Void,
                    onStep: (VideoStep) throws -> Bool) throws -> FeedSummary {
        var summary = FeedSummary()
        var warned = Set<String>()
        let name = self.name
        func warnOnce(_ key: String, _ text: String) { if warned.insert(key).inserted { warn("\(name): \(text)") } }
        let rate = StepRate.hz
        var nextStep = 0                          // the first step not yet emitted
        var lastDataWall: Double?                 // monotonic time the last packet of the last connection came
        var previous: (originSeconds: Double, base: Int)?
        var outageStart: Double?
        var attempts = 0
        var delay = reconnect.firstDelay
        var pending = first

        func backOff(_ reason: String) -> Bool {
            let now = MonotonicClock.seconds()
            if outageStart == nil {
                outageStart = now
                let bound = reconnect.giveUpAfter.map { ", giving up after \(Format.fixed($0, 0)) s" } ?? ""
                warn("\(name): \(reason); reconnecting (backoff \(Format.fixed(reconnect.firstDelay, 1))…\(Format.fixed(reconnect.maxDelay, 1)) s\(bound))")
            }
            guard interrupt.sleep(seconds: delay) else { return false }
            delay = min(delay * 2, reconnect.maxDelay)
            return true
        }

        while !interrupt.stopRequested {
            let media: MediaInput
            if let p = pending {
                media = p
                pending = nil
            } else {
                do {
                    attempts += 1
                    media = try open()
                } catch let error as MediaError {
                    if interrupt.stopRequested { break }
                    guard reconnect.enabled, error.kind != .usage else {
                        if summary.connections == 0 { throw error }
                        summary.lostReason = error.problem
                        return summary
                    }
                    if let limit = reconnect.giveUpAfter, let start = outageStart, MonotonicClock.seconds() - start >= limit {
                        let text = "no stream for \(Format.fixed(MonotonicClock.seconds() - start, 0)) s (\(attempts) attempts; the last: \(error.problem))"
                        if summary.connections == 0 { throw MediaError(.unreachable, file: name, text) }
                        summary.lostReason = text
                        return summary
                    }
                    guard backOff(error.problem) else { break }
                    continue
                }
            }
            // Connected: place the new connection's step 0 on the clock.
            let origin = Double(media.originMicroseconds) / 1e6
            var base = 0
            if let previous {
                let wallGap = lastDataWall.map { MonotonicClock.seconds() - $0 } ?? 0
                let previousEnd = previous.originSeconds + Double(nextStep - previous.base) / rate
                // Timestamps that carry on from the old connection (a network blip, not a restarted sender) place the
                // new steps themselves; otherwise the outage as the monotonic clock measured it does.
                let continues = origin >= previousEnd - 1 / rate && origin - previousEnd <= wallGap + 10
                base = continues ? previous.base + Int(((origin - previous.originSeconds) * rate).rounded(.up))
                                 : nextStep + Int((wallGap * rate).rounded())
                base = max(base, nextStep)
                summary.missingSteps += base - nextStep
                try event(.gap(fromStep: nextStep, toStep: base, seconds: wallGap, attempts: attempts, onStreamTimestamps: continues))
            }
            summary.connections += 1
            outageStart = nil
            attempts = 0
            delay = reconnect.firstDelay
            previous = (origin, base)
            var decoded = DecodeSummary()
            let end = try media.decodeLive(request: request, ioTimeout: settings.ioTimeout, recorder: recorder, summary: &decoded,
                                           lastData: &lastDataWall, warn: warnOnce) { step in
                var s = step
                s.index += base
                s.time = Double(s.index) / rate
                nextStep = s.index + 1
                return try onStep(s)
            }
            summary.steps += decoded.steps
            summary.videoFrames += decoded.videoFrames
            summary.corruptVideoPackets += decoded.corruptVideoPackets
            let reason: String
            switch end {
            case .stopped:
                summary.stopped = true
                return summary
            case .ended:
                guard reconnect.enabled else { return summary }
                reason = "the stream ended"
            case .lost(let why):
                guard reconnect.enabled else { summary.lostReason = why; return summary }
                reason = why
            }
            summary.outages += 1
            try event(.lost(reason: reason, afterStep: nextStep))
            guard backOff(reason) else { break }
        }
        summary.stopped = true
        return summary
    }
}

enum ConnectionEnd { case ended, lost(String), stopped }

extension MediaInput {
    /// One connection of a network stream: video decoded into 12 Hz steps (numbered from this connection's start) until
    /// the stream ends, sends nothing for `ioTimeout`, fails, is stopped, or `onStep` returns false. The steps due at
    /// the end (up to the end of the last frame) are emitted before returning. `lastData`: when the last packet came
    /// (monotonic), where the outage starts. `recorder` (--learn) is handed the connection and every packet read.
    func decodeLive(request: VideoStepRequest, ioTimeout: Double, recorder: PacketRecorder? = nil, summary: inout DecodeSummary,
                    lastData: inout Double?, warn: (String, String) -> Void, onStep: (VideoStep) throws -> Bool) throws -> ConnectionEnd {
        guard let interrupt, info.video != nil else { return .ended }
        var video = try VideoStepDecoder(input: self, request: request, live: true)
        recorder?.connectionOpened(format, videoStream: video.streamIndex)
        defer { recorder?.connectionEnded() }
        // Steps of a stream that replaced the first one follow on from the last step of the one before.
        var offset = 0, nextStep = 0
        func emit(_ step: VideoStep) throws -> Bool {
            var s = step
            s.index += offset
            s.time = StepRate.time(ofStep: s.index)
            nextStep = s.index + 1
            return try onStep(s)
        }
        // Packets of another video stream since the last one of ours: a programme that switched to a new stream (an
        // encoder restarted with another codec or PID) leaves ours silent while the new one runs.
        var othersSinceOurs = 0
        var timedOut = false
        // Packets of our stream while no frame has decoded yet (a stream joined between keyframes): said once they have
        // come for --timeout, and in the reason if the stream then stops, so that "no data" is never said of a stream
        // that sent data.
        var undecodedPackets = 0, firstUndecoded: Double?
        guard let packet = av_packet_alloc() else { throw MediaError(.internalError, file: name, "out of memory") }
        var packetOwner: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&packetOwner) }
        var end = ConnectionEnd.ended
        while true {
            interrupt.arm(seconds: ioTimeout)
            let rc = av_read_frame(format, packet)
            if rc < 0 {
                if rc == FF.eagain { continue }
                if interrupt.stopRequested {
                    end = .stopped
                } else if interrupt.fired || rc == FF.exit {
                    end = .lost(undecodedPackets > 0 && summary.videoFrames == 0
                        ? "\(undecodedPackets) video packets arrived but no frame decoded (no keyframe came), then no data for \(Format.fixed(ioTimeout, 1)) s (--timeout)"
                        : "no data for \(Format.fixed(ioTimeout, 1)) s (--timeout)")
                } else if rc == FF.eof, let pb = format.pointee.pb, pb.pointee.error < 0, pb.pointee.error != FF.eof {
                    end = .lost("read error (\(FF.describe(pb.pointee.error)))")
                } else if rc != FF.eof {
                    end = .lost("read error (\(FF.describe(rc)))")
                }
                break
            }
            defer { av_packet_unref(packet) }
            // A demuxer hands over the frame it was still collecting when the read timed out (MPEG-TS: a PES ends only
            // when the next begins), and then what it still holds, one packet a call, with no wait at all: those
            // packets came before the wait, not after it. Once a read has timed out, no packet of this connection is
            // new data.
            if interrupt.fired { timedOut = true }
            if !timedOut { lastData = MonotonicClock.seconds() }
            if let recorder { recorder.packetRead(packet) }
            let index = Int(packet.pointee.stream_index)
            if index != video.streamIndex {
                guard index >= 0, index < Int(format.pointee.nb_streams), let st = format.pointee.streams[index],
                      st.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO else { continue }
                othersSinceOurs += 1
                let start = packet.pointee.pts != FF.noPTS ? packet.pointee.pts : packet.pointee.dts
                guard othersSinceOurs >= Self.streamSwitchPackets, packet.pointee.flags & AV_PKT_FLAG_KEY != 0, start != FF.noPTS else { continue }
                let old = String(cString: avcodec_get_name(video.codecID)), new = String(cString: avcodec_get_name(st.pointee.codecpar.pointee.codec_id))
                try video.finish(summary: &summary, warn: warn, onStep: emit)
                warn("stream-switch", "the video changes to another stream (\(old) → \(new)) at step \(nextStep); decoding the new one")
                video = try VideoStepDecoder(input: self, request: request, live: true, streamIndex: index, originTicks: start)
                offset = nextStep
                if let recorder {
                    // A new segment from the new stream, which starts with this keyframe (the old layout ignored it).
                    recorder.connectionOpened(format, videoStream: index)
                    recorder.packetRead(packet)
                }
                othersSinceOurs = 0
            } else {
                othersSinceOurs = 0
            }
            guard try video.send(packet, summary: &summary, warn: warn, onStep: emit) else { end = .stopped; break }
            if index == video.streamIndex, summary.videoFrames == 0 {
                undecodedPackets += 1
                let now = MonotonicClock.seconds()
                if firstUndecoded == nil { firstUndecoded = now }
                if now - firstUndecoded! >= ioTimeout {
                    warn("no-keyframe", "video packets arrive (\(undecodedPackets) in \(Format.fixed(now - firstUndecoded!, 1)) s) but no frame decodes yet: waiting for a keyframe")
                }
            }
        }
        interrupt.disarm()
        if case .stopped = end { return end }
        try video.finish(summary: &summary, warn: warn, onStep: emit)
        return end
    }

    /// Packets of another video stream, with none of ours between them, before that stream is taken as the new one.
    static let streamSwitchPackets = 8
}

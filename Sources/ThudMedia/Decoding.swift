import ThudBase
import CFFmpeg
import Foundation
import ThudBase

/// The pixel layouts a step can be delivered in: gray for the model, RGB for rendering.
public enum StepPixelFormat: String, Sendable {
    case gray8, rgb24
    public var bytesPerPixel: Int { self == .gray8 ? 1 : 3 }
    var av: AVPixelFormat { self == .gray8 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24 }
}

/// What the 12 Hz frames should look like (the model decides: its input size and pixel format).
public struct VideoStepRequest: Sendable {
    public var width: Int
    public var height: Int
    public var pixelFormat: StepPixelFormat
    public init(width: Int, height: Int, pixelFormat: StepPixelFormat = .gray8) {
        self.width = width
        self.height = height
        self.pixelFormat = pixelFormat
    }
}

/// One 12 Hz step. `pixels` is tightly packed (`bytesPerRow == width * bytesPerPixel`) and valid only
/// during the callback: the buffer is reused for the next step (no per-frame allocation).
public struct VideoStep {
    public var index: Int
    /// k/12 seconds from the input's start.
    public var time: Double
    public var pixels: UnsafeBufferPointer<UInt8>
    public var width: Int
    public var height: Int
    public var bytesPerRow: Int
    /// Presentation time of the source frame shown at this step (seconds from the start), and its
    /// position in decode-output order (0-based).
    public var sourceTime: Double
    public var sourceFrameNumber: Int
    /// When the packet of the shown frame was read (MonotonicClock seconds; network streams only, else 0): where a
    /// feed's frame → line latency starts.
    public var arrival: Double = 0
    /// When the packet that made this step due was read (a frame later than the step's time; 0 for the steps due at
    /// the end of a stream, after it stopped): where Thud's own processing of the step starts.
    public var dueAt: Double = 0
}

/// The first audio stream's first channel as float in [-1, 1] at its own sample rate, placed by
/// timestamp from the input's start (gaps are filled with silence).
public struct DecodedAudio: Sendable {
    public var samples: [Float]
    public var sampleRate: Int
    public var channels: Int
    public var corruptPackets: Int
    public var decodedFrames: Int
}

public struct DecodeSummary: Sendable {
    public var steps = 0
    public var videoFrames = 0
    /// End of the last video frame (its time plus duration), seconds from the start.
    public var videoEndSeconds: Double = 0
    public var corruptVideoPackets = 0
    public var audio: DecodedAudio?
    /// The consumer asked to stop before the input ended.
    public var stoppedEarly = false
    /// The input ended with a read error rather than a clean end of file, or ended well before its streams' headers
    /// say it does (a cut Matroska file, a cut MP4 on a pipe).
    public var readError: String?
    /// The end of the furthest packet read (any stream), seconds from the start.
    public var dataEndSeconds: Double = 0
}

extension MediaInput {
    /// One pass over the input: video decoded into 12 Hz steps (`onStep` returns false to stop), and/or
    /// the first audio stream decoded. A warning is reported once per kind (`warn`), decoding goes on.
    /// An input can be decoded once (stdin cannot be rewound).
    public func decode(video request: VideoStepRequest?, audio wantAudio: Bool,
                       warn: (String) -> Void = { _ in },
                       onStep: (VideoStep) throws -> Bool = { _ in true }) throws -> DecodeSummary {
        if request != nil, info.video == nil { throw MediaError(.noVideo, file: name, "no video stream") }
        if wantAudio, info.audio == nil { throw MediaError(.noAudio, file: name, "no audio stream") }
        if let r = request, r.width < 1 || r.height < 1 || r.width > PictureLimits.maxSide || r.height > PictureLimits.maxSide {
            throw MediaError(.unsupported, file: name, "requested step size \(r.width)x\(r.height) is out of range")
        }

        var summary = DecodeSummary()
        var warned = Set<String>()
        let name = self.name
        let videoDecoder = try request.map { try VideoStepDecoder(input: self, request: $0) }
        let audioDecoder = try wantAudio ? AudioSampleDecoder(input: self) : nil
        // Damage before the first decoded frame is held back: if no frame ever decodes, the one-line error says it
        // all; once one does, the warning is given after all.
        var heldVideoWarning: String?
        func warnOnce(_ key: String, _ text: String) {
            if key == "video-corrupt", let v = videoDecoder, v.framesOut == 0 {
                if heldVideoWarning == nil { heldVideoWarning = text }
                return
            }
            if warned.insert(key).inserted { warn("\(name): \(text)") }
        }
        func releaseHeldVideoWarning() {
            guard let held = heldVideoWarning, let v = videoDecoder, v.framesOut > 0 else { return }
            heldVideoWarning = nil
            warnOnce("video-corrupt", held)
        }
        guard let packet = av_packet_alloc() else { throw MediaError(.internalError, file: name, "out of memory") }
        var packetOwner: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&packetOwner) }

        var keepGoing = true
        readLoop: while keepGoing {
            let rc = av_read_frame(format, packet)
            if rc == FF.eof { break }
            if rc < 0 {
                summary.readError = FF.describe(rc)
                warnOnce("read", "input ends with an error (\(FF.describe(rc))): treating it as truncated")
                break
            }
            defer { av_packet_unref(packet) }
            let index = Int(packet.pointee.stream_index)
            noteDataEnd(packet, summary: &summary)
            if let v = videoDecoder, index == v.streamIndex {
                keepGoing = try v.send(packet, summary: &summary, warn: warnOnce, onStep: onStep)
                releaseHeldVideoWarning()
            } else if let a = audioDecoder, index == a.streamIndex {
                a.send(packet, warn: warnOnce)
            }
            if !keepGoing { summary.stoppedEarly = true; break readLoop }
        }
        if keepGoing {
            if let v = videoDecoder { try v.finish(summary: &summary, warn: warnOnce, onStep: onStep) }
            releaseHeldVideoWarning()
            audioDecoder?.finish(warn: warnOnce)
        }
        if let a = audioDecoder { summary.audio = a.result() }
        if !summary.stoppedEarly, summary.readError == nil, let declared = declaredEndSeconds,
           summary.dataEndSeconds < declared - max(Self.earlyEndTolerance, 0.05 * declared) {
            let text = "its data ends at \(String(format: "%.2f", summary.dataEndSeconds)) s of the \(String(format: "%.2f", declared)) s its header declares"
            summary.readError = text
            warnOnce("early-end", "input ends early: " + text + "; treating it as truncated")
        }
        // Nothing decodable is not an empty success: a clip whose every video packet fails (a picture too large to
        // decode, zeroed media data) is corrupt beyond use, as `probe` reports it too.
        if videoDecoder != nil, summary.videoFrames == 0, !summary.stoppedEarly {
            throw MediaError(.truncated, file: name, summary.corruptVideoPackets > 0
                             ? "no video frame decodes (\(summary.corruptVideoPackets) corrupt packets)" : "no video frame decodes")
        }
        return summary
    }

    /// Seconds a file's data may fall short of its declared end before it counts as ending early (frame and packet
    /// durations the header rounds, an encoder's priming).
    static let earlyEndTolerance = 0.5

    /// Keeps the end of the furthest packet read, from its own timestamps (no allocation).
    private func noteDataEnd(_ packet: UnsafeMutablePointer<AVPacket>, summary: inout DecodeSummary) {
        let index = Int(packet.pointee.stream_index)
        guard index >= 0, index < Int(format.pointee.nb_streams), let st = format.pointee.streams[index] else { return }
        var ticks = packet.pointee.pts == FF.noPTS ? packet.pointee.dts : packet.pointee.pts
        guard ticks != FF.noPTS else { return }
        if packet.pointee.duration > 0 { ticks &+= packet.pointee.duration }
        let end = TimeBase(st.pointee.time_base).seconds(ticks) - Double(originMicroseconds) / 1e6
        if end.isFinite, end > summary.dataEndSeconds { summary.dataEndSeconds = end }
    }
}

/// Decodes the video stream and emits 12 Hz steps through `StepClock`, scaling only the frames that are
/// actually shown.
final class VideoStepDecoder {
    let streamIndex: Int
    let request: VideoStepRequest
    let fileName: String
    var codec: UnsafeMutablePointer<AVCodecContext>?
    var decoded: UnsafeMutablePointer<AVFrame>?
    var held: UnsafeMutablePointer<AVFrame>?    // the latest frame so far, shown by the next due steps
    var heldTicks: Int64 = 0
    var heldDuration: Int64 = 0
    var heldNumber = -1
    var scaler: OpaquePointer?
    var output: UnsafeMutableBufferPointer<UInt8>
    var clock: StepClock
    /// Clockwise quarter turn the display matrix asks for; 90 and 270 scale into `unturned` (the picture before
    /// turning, request.height × request.width) and turn it into `output`.
    let rotation: Int
    var unturned: UnsafeMutableBufferPointer<UInt8>
    let timeBase: TimeBase
    let originTicks: Int64
    var framesOut = 0
    var lastDuration: Int64 = 0
    let live: Bool
    let stream: UnsafeMutablePointer<AVStream>
    var codecID: AVCodecID
    /// Timestamps that jump forward by more than this (or back by more than a second) are a discontinuity, not
    /// time passing: the clock goes on from the previous frame (one warning), so it stays monotonic and no hours of
    /// steps are invented for a jump of hours.
    static let largestJumpSeconds = 60
    let jumpTicks: Int64
    let backJumpTicks: Int64
    /// One 12 Hz step in the stream's time base: how long a frame that claims to last longer than `largestJumpSeconds`
    /// (an MP4 sample delta of 0x7FFFFFFF: 24 days) is held, as a discontinuity. Memory and steps then follow what the
    /// clip holds, not what one number in its index claims.
    let oneStepTicks: Int64
    /// What discontinuities added to the stream's timestamps so far.
    var shiftTicks: Int64 = 0
    /// When the last packet was sent to the decoder, and the held frame's (live streams: one decoder thread, frames
    /// come out in the order their packets went in).
    var packetArrival: Double = 0
    var heldArrival: Double = 0

    /// `live`: a network stream, decoded with low delay on the calling thread alone (frame threads would hold
    /// frames back, and `thud watch` runs one decode thread per feed).
    /// `streamIndex` and `originTicks` (in that stream's time base): another video stream than the best one, timed
    /// from its own first packet (a stream that replaces the first mid-way).
    init(input: MediaInput, request: VideoStepRequest, live: Bool = false, streamIndex other: Int? = nil, originTicks otherOrigin: Int64? = nil) throws {
        let vi = other ?? input.info.video!.index
        streamIndex = vi
        self.request = request
        self.live = live
        fileName = input.name
        let stream = input.format.pointee.streams[vi]!
        self.stream = stream
        codecID = stream.pointee.codecpar.pointee.codec_id
        jumpTicks = av_rescale_q(Int64(Self.largestJumpSeconds), AVRational(num: 1, den: 1), stream.pointee.time_base)
        backJumpTicks = av_rescale_q(1, AVRational(num: 1, den: 1), stream.pointee.time_base)
        oneStepTicks = max(1, av_rescale_q(1, AVRational(num: 1, den: Int32(StepRate.perSecond)), stream.pointee.time_base))
        timeBase = TimeBase(stream.pointee.time_base)
        originTicks = otherOrigin ?? av_rescale_q(input.originMicroseconds, AVRational(num: 1, den: AV_TIME_BASE), stream.pointee.time_base)
        clock = StepClock(timeBase: timeBase)
        output = .allocate(capacity: request.width * request.height * request.pixelFormat.bytesPerPixel)
        output.initialize(repeating: 0)
        rotation = input.info.video!.rotation
        unturned = .allocate(capacity: rotation == 0 ? 0 : request.width * request.height * request.pixelFormat.bytesPerPixel)
        unturned.initialize(repeating: 0)
        try openDecoder()
        decoded = av_frame_alloc()
        held = av_frame_alloc()
        // Frames without a duration of their own last one nominal frame interval.
        let fps = stream.pointee.avg_frame_rate
        if fps.num > 0, fps.den > 0 {
            lastDuration = av_rescale_q(1, AVRational(num: fps.den, den: fps.num), stream.pointee.time_base)
        }
    }

    /// Opens (again) a decoder for the stream's codec as its parameters now say.
    private func openDecoder() throws {
        avcodec_free_context(&codec)
        codecID = stream.pointee.codecpar.pointee.codec_id
        guard let decoderCodec = avcodec_find_decoder(codecID) else {
            throw MediaError(.unsupported, file: fileName, "no decoder for video codec \(String(cString: avcodec_get_name(codecID)))")
        }
        codec = avcodec_alloc_context3(decoderCodec)
        guard let codec else { throw MediaError(.internalError, file: fileName, "out of memory") }
        avcodec_parameters_to_context(codec, stream.pointee.codecpar)
        codec.pointee.pkt_timebase = stream.pointee.time_base
        codec.pointee.thread_count = 0   // as many as useful, like the ffmpeg CLI
        if live {
            codec.pointee.thread_count = 1
            codec.pointee.flags |= AV_CODEC_FLAG_LOW_DELAY
        }
        let orc = avcodec_open2(codec, decoderCodec, nil)
        guard orc >= 0 else { throw MediaError(.unsupported, file: fileName, "cannot open the video decoder (\(FF.describe(orc)))") }
    }

    /// The frames the decoder still holds, out before it is replaced.
    private func receiveAfterDraining(summary: inout DecodeSummary, warn: (String, String) -> Void,
                                      onStep: (VideoStep) throws -> Bool) throws -> Bool {
        avcodec_send_packet(codec, nil)
        return try receive(summary: &summary, warn: warn, onStep: onStep)
    }

    deinit {
        output.deallocate()
        unturned.deallocate()
        sws_freeContext(scaler)
        av_frame_free(&decoded)
        av_frame_free(&held)
        avcodec_free_context(&codec)
    }

    func send(_ packet: UnsafeMutablePointer<AVPacket>, summary: inout DecodeSummary,
              warn: (String, String) -> Void, onStep: (VideoStep) throws -> Bool) throws -> Bool {
        if live { packetArrival = MonotonicClock.seconds() }
        if stream.pointee.codecpar.pointee.codec_id != codecID {
            // A stream whose codec changes mid-way (an MPEG-TS programme switching encoders): drain the old decoder,
            // open one for the new codec; the clock and the held frame carry on.
            guard try receiveAfterDraining(summary: &summary, warn: warn, onStep: onStep) else { return false }
            let old = String(cString: avcodec_get_name(codecID)), new = String(cString: avcodec_get_name(stream.pointee.codecpar.pointee.codec_id))
            warn("codec-change", "the video codec changes from \(old) to \(new) near \(String(format: "%.2f", timeBase.seconds(heldTicks))) s; decoding the new one")
            try openDecoder()
        }
        let rc = avcodec_send_packet(codec, packet)
        if rc < 0 && rc != FF.eagain {
            summary.corruptVideoPackets += 1
            let pts = packet.pointee.pts
            let at = pts == FF.noPTS ? "" : " near \(String(format: "%.2f", timeBase.seconds(pts &- originTicks))) s"
            warn("video-corrupt", "corrupt video data\(at); skipping it and going on")
        }
        return try receive(summary: &summary, warn: warn, onStep: onStep)
    }

    func finish(summary: inout DecodeSummary, warn: (String, String) -> Void, onStep: (VideoStep) throws -> Bool) throws {
        packetArrival = 0   // what is due now is due because the stream ended, not because a frame came
        avcodec_send_packet(codec, nil)
        guard try receive(summary: &summary, warn: warn, onStep: onStep) else { summary.stoppedEarly = true; return }
        guard heldNumber >= 0 else { return }
        let end = heldTicks + max(heldDuration, 1)
        summary.videoEndSeconds = timeBase.seconds(end)
        for k in clock.stepsDue(atEndTicks: end) {
            guard try emit(step: k, summary: &summary, onStep: onStep) else { summary.stoppedEarly = true; return }
        }
    }

    private func receive(summary: inout DecodeSummary, warn: (String, String) -> Void, onStep: (VideoStep) throws -> Bool) throws -> Bool {
        guard let decoded, let held else { return false }
        while true {
            let rc = avcodec_receive_frame(codec, decoded)
            if rc == FF.eagain || rc == FF.eof { return true }
            if rc < 0 {
                summary.corruptVideoPackets += 1
                warn("video-corrupt", "corrupt video data; skipping it and going on")
                return true
            }
            defer { av_frame_unref(decoded) }
            guard PictureLimits.accepts(width: Int(decoded.pointee.width), height: Int(decoded.pointee.height)) else {
                summary.corruptVideoPackets += 1
                warn("absurd-size", "frames of \(decoded.pointee.width)x\(decoded.pointee.height) skipped: absurd picture size (Thud reads \(PictureLimits.minSide)...\(PictureLimits.maxSide) pixels a side)")
                continue
            }
            summary.videoFrames += 1
            var ticks = decoded.pointee.best_effort_timestamp
            if decoded.pointee.decode_error_flags != 0 || decoded.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 {
                // The decoder concealed damage in this frame; it is still the best picture of that moment.
                summary.corruptVideoPackets += 1
                let at = ticks == FF.noPTS ? "" : " near \(String(format: "%.2f", timeBase.seconds(ticks - originTicks))) s"
                warn("video-corrupt", "corrupt video data\(at); concealing it and going on")
            }
            if ticks == FF.noPTS {
                // No timestamp at all: assume it follows the previous frame by one frame interval.
                ticks = heldNumber >= 0 ? heldTicks + max(heldDuration, 1) : originTicks
            }
            ticks = ticks &- originTicks &+ shiftTicks
            if heldNumber >= 0 {
                let expected = heldTicks &+ max(heldDuration, 1)
                if ticks < heldTicks &- backJumpTicks || ticks > expected &+ jumpTicks {
                    let jump = timeBase.seconds(ticks &- expected)
                    warn("timestamp-jump", "timestamps jump \(jump < 0 ? "back" : "forward") by \(Format.duration(abs(jump))) near \(String(format: "%.2f", timeBase.seconds(heldTicks))) s; the clock goes on from the previous frame")
                    shiftTicks = shiftTicks &+ (expected &- ticks)
                    ticks = expected
                }
                for k in clock.stepsDue(beforeFrameAt: ticks) {
                    guard try emit(step: k, summary: &summary, onStep: onStep) else { return false }
                }
            }
            // The decoded frame becomes the latest; a frame whose time does not advance replaces the
            // previous one (the latest decoded frame at a time wins).
            av_frame_unref(held)
            av_frame_move_ref(held, decoded)
            let duration = held.pointee.pkt_duration
            if heldNumber >= 0, ticks > heldTicks { lastDuration = ticks - heldTicks }
            heldDuration = duration > 0 ? duration : lastDuration
            if heldDuration > jumpTicks {
                warn("frame-held", "a frame claims to last \(Format.duration(timeBase.seconds(heldDuration))) near \(String(format: "%.2f", timeBase.seconds(ticks))) s; over \(Self.largestJumpSeconds) s that is a discontinuity, not time passing: it is held for one step")
                heldDuration = oneStepTicks
                if lastDuration > jumpTicks { lastDuration = oneStepTicks }
            }
            heldTicks = ticks
            heldArrival = packetArrival
            heldNumber = framesOut
            framesOut += 1
            scaledNumber = -1
        }
    }

    private var scaledNumber = -1

    private func emit(step k: Int, summary: inout DecodeSummary, onStep: (VideoStep) throws -> Bool) throws -> Bool {
        guard let held else { return false }
        if scaledNumber != heldNumber {
            try scale(held)
            scaledNumber = heldNumber
        }
        summary.steps += 1
        let step = VideoStep(index: k, time: StepRate.time(ofStep: k), pixels: UnsafeBufferPointer(output),
                             width: request.width, height: request.height,
                             bytesPerRow: request.width * request.pixelFormat.bytesPerPixel,
                             sourceTime: timeBase.seconds(heldTicks), sourceFrameNumber: heldNumber, arrival: heldArrival,
                             dueAt: packetArrival)
        return try onStep(step)
    }

    private func scale(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        // A quarter turn swaps the sides: the picture is scaled to the turned size first, then turned.
        let quarter = rotation == 90 || rotation == 270
        let (sw, sh) = quarter ? (request.height, request.width) : (request.width, request.height)
        // Cached: a mid-stream change of size or pixel format just builds a new converter.
        scaler = sws_getCachedContext(scaler, frame.pointee.width, frame.pointee.height, AVPixelFormat(rawValue: frame.pointee.format),
                                      Int32(sw), Int32(sh), request.pixelFormat.av,
                                      SWS_AREA, nil, nil, nil)
        guard let scaler else {
            throw MediaError(.unsupported, file: fileName, "cannot convert \(frame.pointee.width)x\(frame.pointee.height) frames to \(request.width)x\(request.height)")
        }
        let bpp = request.pixelFormat.bytesPerPixel
        var dst: [UnsafeMutablePointer<UInt8>?] = [quarter ? unturned.baseAddress : output.baseAddress, nil, nil, nil]
        var dstStride: [Int32] = [Int32(sw * bpp), 0, 0, 0]
        let planes = UnsafeRawPointer(framePlanes(frame)).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
        sws_scale(scaler, planes, frameStrides(frame), 0, frame.pointee.height, &dst, &dstStride)
        if rotation != 0 { turn(sourceWidth: sw, sourceHeight: sh, bytesPerPixel: bpp) }
    }

    /// Turns the scaled picture clockwise by `rotation` into `output` (180: in place).
    private func turn(sourceWidth sw: Int, sourceHeight sh: Int, bytesPerPixel bpp: Int) {
        let w = request.width, h = request.height
        switch rotation {
        case 180:
            var a = 0, b = w * h - 1
            while a < b {
                for c in 0..<bpp { output.swapAt(a * bpp + c, b * bpp + c) }
                a += 1; b -= 1
            }
        case 90, 270:
            for y in 0..<h {
                for x in 0..<w {
                    // 90: the source's left column becomes the top row; 270: its right column does.
                    let (sx, sy) = rotation == 90 ? (y, sh - 1 - x) : (sw - 1 - y, x)
                    let from = (sy * sw + sx) * bpp, to = (y * w + x) * bpp
                    for c in 0..<bpp { output[to + c] = unturned[from + c] }
                }
            }
        default:
            break
        }
    }
}

/// Decodes the first audio stream and keeps its first channel as float (format conversion through
/// swresample; the sample rate is kept, the envelope scales σ to it).
final class AudioSampleDecoder {
    let streamIndex: Int
    var codec: UnsafeMutablePointer<AVCodecContext>?
    var frame: UnsafeMutablePointer<AVFrame>?
    var resampler: OpaquePointer?
    var converted: [UnsafeMutablePointer<UInt8>?]
    var convertedCapacity = 0
    var samples: [Float] = []
    let sampleRate: Int
    let channels: Int
    let timeBase: AVRational
    let originTicks: Int64
    var corruptPackets = 0
    var decodedFrames = 0
    var declaredSampleCount: Int?
    /// The most seconds of samples reserved up front from the container's claim.
    static let reserveSecondsCap = 600.0

    init(input: MediaInput) throws {
        let ai = input.info.audio!.index
        streamIndex = ai
        let stream = input.format.pointee.streams[ai]!
        timeBase = stream.pointee.time_base
        originTicks = av_rescale_q(input.originMicroseconds, AVRational(num: 1, den: AV_TIME_BASE), timeBase)
        guard let decoderCodec = avcodec_find_decoder(stream.pointee.codecpar.pointee.codec_id) else {
            throw MediaError(.audioUnusable, file: input.name, "no decoder for audio codec \(input.info.audio!.codec)")
        }
        codec = avcodec_alloc_context3(decoderCodec)
        guard let codec else { throw MediaError(.internalError, file: input.name, "out of memory") }
        avcodec_parameters_to_context(codec, stream.pointee.codecpar)
        codec.pointee.pkt_timebase = timeBase
        let orc = avcodec_open2(codec, decoderCodec, nil)
        guard orc >= 0 else { throw MediaError(.audioUnusable, file: input.name, "cannot open the audio decoder (\(FF.describe(orc)))") }
        sampleRate = Int(codec.pointee.sample_rate)
        channels = max(1, Int(codec.pointee.ch_layout.nb_channels))
        guard sampleRate > 0 else { throw MediaError(.audioUnusable, file: input.name, "audio stream has no sample rate") }
        converted = Array(repeating: nil, count: channels)
        frame = av_frame_alloc()
        let declared = stream.pointee.duration
        if declared > 0, declared != FF.noPTS {
            let start = stream.pointee.start_time == FF.noPTS ? originTicks : stream.pointee.start_time
            declaredSampleCount = Int(av_rescale_q(declared + start - originTicks, timeBase, AVRational(num: 1, den: Int32(sampleRate))))
        }
        // A hint only, capped: a container may claim any duration (a damaged MP4 header says 136 years); beyond the
        // cap the array grows from what actually decodes.
        if let d = input.info.durationSeconds, d.isFinite, d > 0 {
            samples.reserveCapacity(Int(min(d, Self.reserveSecondsCap) * Double(sampleRate)) + sampleRate)
        }
    }

    deinit {
        if let first = converted.first, first != nil { av_freep(&converted[0]) }
        swr_free(&resampler)
        av_frame_free(&frame)
        avcodec_free_context(&codec)
    }

    func send(_ packet: UnsafeMutablePointer<AVPacket>, warn: (String, String) -> Void) {
        let rc = avcodec_send_packet(codec, packet)
        if rc < 0 && rc != FF.eagain {
            corruptPackets += 1
            warn("audio-corrupt", "corrupt audio data; skipping it and going on")
        }
        receive(warn: warn)
    }

    func finish(warn: (String, String) -> Void) {
        avcodec_send_packet(codec, nil)
        receive(warn: warn)
    }

    func result() -> DecodedAudio {
        // Encoders pad the last frame (AAC to 1024 samples); the stream's declared duration says where the
        // sound really ends, so the envelope and the video agree on the clip's length.
        if let declared = declaredSampleCount, declared > 0, samples.count > declared {
            samples.removeLast(samples.count - declared)
        }
        return DecodedAudio(samples: samples, sampleRate: sampleRate, channels: channels, corruptPackets: corruptPackets, decodedFrames: decodedFrames)
    }

    private func receive(warn: (String, String) -> Void) {
        guard let frame else { return }
        while true {
            let rc = avcodec_receive_frame(codec, frame)
            if rc == FF.eagain || rc == FF.eof { return }
            if rc < 0 {
                corruptPackets += 1
                warn("audio-corrupt", "corrupt audio data; skipping it and going on")
                return
            }
            defer { av_frame_unref(frame) }
            decodedFrames += 1
            if frame.pointee.decode_error_flags != 0 || frame.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 {
                corruptPackets += 1
                warn("audio-corrupt", "corrupt audio data; skipping it and going on")
            }
            append(frame)
        }
    }

    private func append(_ frame: UnsafeMutablePointer<AVFrame>) {
        let count = Int(frame.pointee.nb_samples)
        guard count > 0 else { return }
        // Place the frame by its timestamp, so a lost packet leaves silence instead of shifting the rest.
        var position = samples.count
        let pts = frame.pointee.best_effort_timestamp
        if pts != FF.noPTS {
            position = Int(av_rescale_q(pts - originTicks, timeBase, AVRational(num: 1, den: Int32(sampleRate))))
        }
        if position > samples.count + 32 {
            let gap = min(position - samples.count, sampleRate * 600)
            samples.append(contentsOf: repeatElement(0, count: gap))
        }
        let skip = position < 0 ? (position <= -count ? count : -position) : 0

        if resampler == nil || Int32(frame.pointee.format) != lastFormat {
            swr_free(&resampler)
            var layout = frame.pointee.ch_layout
            if layout.nb_channels == 0 { av_channel_layout_default(&layout, Int32(channels)) }
            var inLayout = layout
            swr_alloc_set_opts2(&resampler, &layout, AV_SAMPLE_FMT_FLTP, frame.pointee.sample_rate,
                                &inLayout, AVSampleFormat(rawValue: frame.pointee.format), frame.pointee.sample_rate, 0, nil)
            guard resampler != nil, swr_init(resampler) >= 0 else { swr_free(&resampler); return }
            lastFormat = Int32(frame.pointee.format)
            planeCount = Int(layout.nb_channels)
            if converted.count < planeCount { converted = Array(repeating: nil, count: planeCount); convertedCapacity = 0 }
        }
        if count > convertedCapacity {
            if converted[0] != nil { av_freep(&converted[0]) }
            var linesize: Int32 = 0
            av_samples_alloc(&converted, &linesize, Int32(planeCount), Int32(count), AV_SAMPLE_FMT_FLTP, 0)
            convertedCapacity = count
        }
        let inPlanes = UnsafeMutableRawPointer(framePlanes(frame)).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
        let got = converted.withUnsafeMutableBufferPointer { out in
            swr_convert(resampler, out.baseAddress, Int32(convertedCapacity), inPlanes, Int32(count))
        }
        guard got > skip, let first = converted[0] else { return }
        first.withMemoryRebound(to: Float.self, capacity: Int(got)) { p in
            samples.append(contentsOf: UnsafeBufferPointer(start: p + skip, count: Int(got) - skip))
        }
    }

    private var lastFormat: Int32 = -1
    private var planeCount = 1
}

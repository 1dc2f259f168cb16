import CFFmpeg
import Foundation

public enum VideoCodecChoice: String, Sendable, CaseIterable {
    case h264, mpeg4, vp8, vp9, mjpeg
    /// Still pictures and animations for `thud eval --plots` and `thud render --gif`: RGB24 PNG (one frame per
    /// file through the image2 muxer) and GIF with the fixed 3-3-2 palette (swscale dithers RGB24 down to it).
    case png, gif

    var encoderName: String {
        switch self {
        case .h264: return "libx264"
        case .mpeg4: return "mpeg4"
        case .vp8: return "libvpx"
        case .vp9: return "libvpx-vp9"
        case .mjpeg: return "mjpeg"
        case .png: return "png"
        case .gif: return "gif"
        }
    }
    var pixelFormat: AVPixelFormat {
        switch self {
        case .mjpeg: return AV_PIX_FMT_YUVJ420P
        case .png: return AV_PIX_FMT_RGB24
        case .gif: return AV_PIX_FMT_RGB8
        default: return AV_PIX_FMT_YUV420P
        }
    }
}

public enum AudioCodecChoice: String, Sendable, CaseIterable {
    case aac, pcm16, flac, opus, vorbis

    var encoderName: String {
        switch self {
        case .aac: return "aac"
        case .pcm16: return "pcm_s16le"
        case .flac: return "flac"
        case .opus: return "libopus"
        case .vorbis: return "libvorbis"
        }
    }
}

public struct VideoEncodeSettings: Sendable {
    public var width: Int
    public var height: Int
    public var codec: VideoCodecChoice
    /// For the stream header; actual times come per frame, so variable frame rate is allowed.
    public var nominalFrameRate: Double
    /// Constant rate factor for H.264/VP9; other codecs map it onto a quantiser.
    public var crf: Int
    /// libx264's speed preset: "veryfast" for corpora and renders; a recorder that must keep up with a camera on a
    /// slow machine asks for "ultrafast" (about three times faster, larger files).
    public var h264Preset: String
    public init(width: Int, height: Int, codec: VideoCodecChoice = .h264, nominalFrameRate: Double, crf: Int = 23,
                h264Preset: String = "veryfast") {
        self.width = width
        self.height = height
        self.codec = codec
        self.nominalFrameRate = nominalFrameRate
        self.crf = crf
        self.h264Preset = h264Preset
    }
}

public struct AudioEncodeSettings: Sendable {
    public var sampleRate: Int
    public var channels: Int
    public var codec: AudioCodecChoice
    public var bitRate: Int
    /// Fault injection for corpora and tests: audio packets are scrambled before muxing, so the stream
    /// exists and demuxes but does not decode.
    public var garblePackets: Bool
    public init(sampleRate: Int, channels: Int, codec: AudioCodecChoice = .aac, bitRate: Int = 128_000, garblePackets: Bool = false) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.codec = codec
        self.bitRate = bitRate
        self.garblePackets = garblePackets
    }
}

/// Encodes RGB frames and float audio into a file through libavformat/libavcodec: how the tests and the
/// corpus generator make real media. Until `finish()` returns the file is incomplete; if encoding fails,
/// or the writer is dropped unfinished, the partial file is removed (nothing half-written is left).
public final class MediaWriter {
    public let path: String
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var video: VideoTrack?
    private var audio: AudioTrack?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var finished = false

    /// Why: libx264 (Debian's 0.164, its x86 SIMD paths) reads some memory it has not written first, so
    /// the same frames, encoded on one thread with one encoder thread, gave different H.264 bytes from run
    /// to run (a 14-clip corpus: 1–5 clips differed each time; valgrind, which runs it without AVX-512,
    /// saw nothing). With glibc's M_PERTURB every fresh allocation is filled with a fixed byte, so what
    /// the encoder reads there is the same every time: the corpus generator's promise of identical files
    /// for one seed holds (tested). It costs a memset per malloc and free, only in processes that write media.
    static let knownFreshMemory: Void = {
        _ = thud_perturb_heap(0xA5)
    }()

    /// Container from the path's extension (.mp4 is written with faststart so it streams through a pipe),
    /// unless `format` names one (e.g. "matroska").
    public init(path: String, video videoSettings: VideoEncodeSettings?, audio audioSettings: AudioEncodeSettings?,
                format formatName: String? = nil) throws {
        _ = FF.quietOnce
        _ = Self.knownFreshMemory
        self.path = path
        guard videoSettings != nil || audioSettings != nil else {
            throw MediaError(.writeFailed, file: path, "nothing to write: neither video nor audio settings given")
        }
        var oc: UnsafeMutablePointer<AVFormatContext>?
        let rc = avformat_alloc_output_context2(&oc, nil, formatName, path)
        guard rc >= 0, let oc else {
            throw MediaError(.writeFailed, file: path, "no container for this name: \(FF.describe(rc))")
        }
        format = oc
        packet = av_packet_alloc()
        do {
            if let v = videoSettings { video = try VideoTrack(settings: v, format: oc, path: path) }
            if let a = audioSettings { audio = try AudioTrack(settings: a, format: oc, path: path) }
            if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
                let orc = avio_open(&oc.pointee.pb, path, AVIO_FLAG_WRITE)
                guard orc >= 0 else { throw MediaError(.writeFailed, file: path, "cannot open for writing: \(FF.describe(orc))") }
            }
            var options: OpaquePointer?
            let name = String(cString: oc.pointee.oformat.pointee.name)
            if name.contains("mp4") || name.contains("mov") {
                av_dict_set(&options, "movflags", "+faststart", 0)
            }
            let hrc = avformat_write_header(oc, &options)
            av_dict_free(&options)
            guard hrc >= 0 else { throw MediaError(.writeFailed, file: path, "cannot write header: \(FF.describe(hrc))") }
        } catch {
            abandon()
            throw error
        }
    }

    deinit {
        if !finished { abandon() }
    }

    /// One RGB24 frame (packed rows of `stride` bytes), shown at `time` seconds. Times must increase;
    /// any spacing is allowed (variable frame rate).
    public func writeVideoFrame(rgb: UnsafeBufferPointer<UInt8>, stride: Int, time: Double) throws {
        guard let video, let format, let packet else {
            throw MediaError(.writeFailed, file: path, "this writer has no video stream")
        }
        do {
            try video.encode(rgb: rgb, stride: stride, time: time) { try self.drain(video.codec, stream: video.stream, into: format, packet: packet, garble: false) }
        } catch { abandon(); throw error }
    }

    /// One 8-bit luma frame (rows of `stride` bytes) as a gray picture: luma copied as it is, chroma neutral. No
    /// colour conversion, so a recorder can keep up on a slow machine. 4:2:0 codecs only (h264, mpeg4, vp8, vp9, mjpeg).
    public func writeVideoFrame(gray: UnsafeBufferPointer<UInt8>, stride: Int, time: Double) throws {
        guard let video, let format, let packet else {
            throw MediaError(.writeFailed, file: path, "this writer has no video stream")
        }
        do {
            try video.encode(gray: gray, stride: stride, time: time) { try self.drain(video.codec, stream: video.stream, into: format, packet: packet, garble: false) }
        } catch { abandon(); throw error }
    }

    /// Interleaved float samples in [-1, 1] (a multiple of the channel count), appended from time 0.
    public func writeAudio(interleaved: UnsafeBufferPointer<Float>) throws {
        guard let audio, let format, let packet else {
            throw MediaError(.writeFailed, file: path, "this writer has no audio stream")
        }
        do {
            try audio.append(interleaved) { try self.drain(audio.codec, stream: audio.stream, into: format, packet: packet, garble: audio.settings.garblePackets) }
        } catch { abandon(); throw error }
    }

    /// Flushes the encoders and writes the trailer.
    public func finish() throws {
        guard !finished, let format, let packet else { return }
        do {
            if let video {
                avcodec_send_frame(video.codec, nil)
                try drain(video.codec, stream: video.stream, into: format, packet: packet, garble: false)
            }
            if let audio {
                try audio.flushRemainder { try self.drain(audio.codec, stream: audio.stream, into: format, packet: packet, garble: audio.settings.garblePackets) }
                avcodec_send_frame(audio.codec, nil)
                try drain(audio.codec, stream: audio.stream, into: format, packet: packet, garble: audio.settings.garblePackets)
            }
            let trc = av_write_trailer(format)
            guard trc >= 0 else { throw MediaError(.writeFailed, file: path, "cannot write trailer: \(FF.describe(trc))") }
        } catch {
            abandon()
            throw error
        }
        finished = true
        close()
    }

    private func drain(_ codec: UnsafeMutablePointer<AVCodecContext>, stream: UnsafeMutablePointer<AVStream>,
                       into format: UnsafeMutablePointer<AVFormatContext>, packet: UnsafeMutablePointer<AVPacket>, garble: Bool) throws {
        while true {
            let rc = avcodec_receive_packet(codec, packet)
            if rc == FF.eagain || rc == FF.eof { return }
            guard rc >= 0 else { throw MediaError(.writeFailed, file: path, "encoder failed: \(FF.describe(rc))") }
            av_packet_rescale_ts(packet, codec.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            if garble, let data = packet.pointee.data {
                // Deterministic scrambling of everything but the first byte: the packet still demuxes, but
                // the decoder rejects it.
                var x: UInt32 = 0x9E37_79B9
                for i in 1..<Int(packet.pointee.size) {
                    x = x &* 1_664_525 &+ 1_013_904_223
                    data[i] = UInt8(truncatingIfNeeded: x >> 24)
                }
            }
            let wrc = av_interleaved_write_frame(format, packet)
            guard wrc >= 0 else { throw MediaError(.writeFailed, file: path, "cannot write packet: \(FF.describe(wrc))") }
        }
    }

    private func close() {
        video = nil
        audio = nil
        if let format {
            if format.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0, format.pointee.pb != nil {
                avio_closep(&format.pointee.pb)
            }
            avformat_free_context(format)
        }
        format = nil
        av_packet_free(&packet)
    }

    private func abandon() {
        close()
        finished = true
        unlink(path)
    }
}

/// One video encoder with its colour converter (ours for 4:2:0, swscale otherwise) and a reusable frame.
private final class VideoTrack {
    let settings: VideoEncodeSettings
    let codec: UnsafeMutablePointer<AVCodecContext>
    let stream: UnsafeMutablePointer<AVStream>
    var frame: UnsafeMutablePointer<AVFrame>?
    /// nil where `RGBToYUV420` converts (every 4:2:0 format): same pixels in, same bytes out.
    let scaler: OpaquePointer?
    var lastPTS: Int64 = .min
    /// 1/30000 s is exact for 15, 24, 25, 30, 60 and 29.97 fps and within MPEG-4 part 2's limit (den ≤ 65535).
    static let ticksPerSecond: Int32 = 30000

    init(settings: VideoEncodeSettings, format: UnsafeMutablePointer<AVFormatContext>, path: String) throws {
        self.settings = settings
        guard settings.width >= 2, settings.height >= 2, settings.width % 2 == 0, settings.height % 2 == 0 else {
            throw MediaError(.writeFailed, file: path, "video size \(settings.width)x\(settings.height) must be even and at least 2x2")
        }
        guard let encoder = avcodec_find_encoder_by_name(settings.codec.encoderName) else {
            throw MediaError(.writeFailed, file: path, "encoder \(settings.codec.encoderName) is not available in this FFmpeg")
        }
        guard let stream = avformat_new_stream(format, nil), let ctx = avcodec_alloc_context3(encoder) else {
            throw MediaError(.writeFailed, file: path, "out of memory creating the video stream")
        }
        self.stream = stream
        self.codec = ctx
        ctx.pointee.width = Int32(settings.width)
        ctx.pointee.height = Int32(settings.height)
        ctx.pointee.pix_fmt = settings.codec.pixelFormat
        ctx.pointee.time_base = AVRational(num: 1, den: Self.ticksPerSecond)
        let fps = max(settings.nominalFrameRate, 1)
        ctx.pointee.framerate = av_d2q(fps, 60000)
        ctx.pointee.gop_size = Int32(max(1, Int(fps.rounded())))
        // One thread per encoder: output is deterministic, and the corpus generator parallelises by clip.
        ctx.pointee.thread_count = 1
        if format.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        var options: OpaquePointer?
        switch settings.codec {
        case .h264:
            av_dict_set(&options, "preset", settings.h264Preset, 0)
            // No B-frames, as most phones record: a quarter less encoding time for the corpus generator.
            ctx.pointee.max_b_frames = 0
            av_dict_set(&options, "crf", String(settings.crf), 0)
        case .vp8, .vp9:
            av_dict_set(&options, "crf", String(min(63, max(4, settings.crf + 10))), 0)
            av_dict_set(&options, "deadline", "realtime", 0)
            av_dict_set(&options, "cpu-used", "8", 0)
            ctx.pointee.bit_rate = 1_000_000
        case .mpeg4, .mjpeg:
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
            ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, settings.crf / 6)))
        case .png, .gif:
            break   // lossless / fixed palette: nothing to tune
        }
        let orc = avcodec_open2(ctx, encoder, &options)
        av_dict_free(&options)
        guard orc >= 0 else {
            throw MediaError(.writeFailed, file: path, "cannot open encoder \(settings.codec.encoderName): \(FF.describe(orc))")
        }
        stream.pointee.time_base = ctx.pointee.time_base
        stream.pointee.avg_frame_rate = ctx.pointee.framerate
        avcodec_parameters_from_context(stream.pointee.codecpar, ctx)

        frame = av_frame_alloc()
        guard let frame else { throw MediaError(.writeFailed, file: path, "out of memory") }
        frame.pointee.format = ctx.pointee.pix_fmt.rawValue
        frame.pointee.width = ctx.pointee.width
        frame.pointee.height = ctx.pointee.height
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw MediaError(.writeFailed, file: path, "out of memory") }
        if RGBToYUV420.converts(to: ctx.pointee.pix_fmt) {
            scaler = nil
        } else {
            guard let sws = sws_getContext(ctx.pointee.width, ctx.pointee.height, AV_PIX_FMT_RGB24,
                                           ctx.pointee.width, ctx.pointee.height, ctx.pointee.pix_fmt,
                                           SWS_BICUBIC, nil, nil, nil)
            else { throw MediaError(.writeFailed, file: path, "cannot set up colour conversion") }
            scaler = sws
        }
    }

    deinit {
        sws_freeContext(scaler)
        av_frame_free(&frame)
        var owned: UnsafeMutablePointer<AVCodecContext>? = codec
        avcodec_free_context(&owned)
    }

    func encode(rgb: UnsafeBufferPointer<UInt8>, stride: Int, time: Double, drain: () throws -> Void) throws {
        guard let frame, let base = rgb.baseAddress, stride >= settings.width * 3,
              rgb.count >= stride * (settings.height - 1) + settings.width * 3 else {
            throw MediaError(.writeFailed, file: "", "video frame buffer is smaller than \(settings.width)x\(settings.height) RGB24")
        }
        av_frame_make_writable(frame)
        let planes = framePlanes(frame), lines = frameStrides(frame)
        if let scaler {
            var sources: [UnsafePointer<UInt8>?] = [base, nil, nil, nil]
            var strides: [Int32] = [Int32(stride), 0, 0, 0]
            sws_scale(scaler, &sources, &strides, 0, Int32(settings.height), planes, lines)
        } else {
            RGBToYUV420.convert(rgb: base, rgbStride: stride, width: settings.width, height: settings.height,
                                y: planes[0]!, yStride: Int(lines[0]), u: planes[1]!, uStride: Int(lines[1]),
                                v: planes[2]!, vStride: Int(lines[2]),
                                fullRange: codec.pointee.pix_fmt == AV_PIX_FMT_YUVJ420P)
        }
        try send(time: time, drain: drain)
    }

    func encode(gray: UnsafeBufferPointer<UInt8>, stride: Int, time: Double, drain: () throws -> Void) throws {
        guard let frame, let base = gray.baseAddress, scaler == nil, stride >= settings.width,
              gray.count >= stride * (settings.height - 1) + settings.width else {
            throw MediaError(.writeFailed, file: "", "video frame buffer is smaller than \(settings.width)x\(settings.height) luma, or the codec is not 4:2:0")
        }
        av_frame_make_writable(frame)
        let planes = framePlanes(frame), lines = frameStrides(frame)
        for row in 0..<settings.height {
            (planes[0]! + row * Int(lines[0])).update(from: base + row * stride, count: settings.width)
        }
        let chromaRows = (settings.height + 1) / 2, chromaWidth = (settings.width + 1) / 2
        for plane in 1...2 {
            for row in 0..<chromaRows { (planes[plane]! + row * Int(lines[plane])).update(repeating: 128, count: chromaWidth) }
        }
        try send(time: time, drain: drain)
    }

    private func send(time: Double, drain: () throws -> Void) throws {
        guard let frame else { return }
        var pts = Int64((time * Double(Self.ticksPerSecond)).rounded())
        if pts <= lastPTS { pts = lastPTS + 1 }
        lastPTS = pts
        frame.pointee.pts = pts
        let rc = avcodec_send_frame(codec, frame)
        guard rc >= 0 else { throw MediaError(.writeFailed, file: "", "video encoder refused a frame: \(FF.describe(rc))") }
        try drain()
    }
}

/// One audio encoder; float input is gathered into the encoder's frame size and converted to its sample format.
private final class AudioTrack {
    let settings: AudioEncodeSettings
    let codec: UnsafeMutablePointer<AVCodecContext>
    let stream: UnsafeMutablePointer<AVStream>
    var frame: UnsafeMutablePointer<AVFrame>?
    let frameSize: Int
    var pending: [Float] = []      // interleaved samples not yet a whole encoder frame
    var nextPTS: Int64 = 0

    init(settings: AudioEncodeSettings, format: UnsafeMutablePointer<AVFormatContext>, path: String) throws {
        self.settings = settings
        guard (1...8).contains(settings.channels), (8000...192_000).contains(settings.sampleRate) else {
            throw MediaError(.writeFailed, file: path, "audio \(settings.sampleRate) Hz x \(settings.channels) ch is not supported")
        }
        guard let encoder = avcodec_find_encoder_by_name(settings.codec.encoderName) else {
            throw MediaError(.writeFailed, file: path, "encoder \(settings.codec.encoderName) is not available in this FFmpeg")
        }
        guard let stream = avformat_new_stream(format, nil), let ctx = avcodec_alloc_context3(encoder) else {
            throw MediaError(.writeFailed, file: path, "out of memory creating the audio stream")
        }
        self.stream = stream
        self.codec = ctx
        ctx.pointee.sample_rate = Int32(settings.sampleRate)
        av_channel_layout_default(&ctx.pointee.ch_layout, Int32(settings.channels))
        ctx.pointee.sample_fmt = Self.preferredFormat(encoder)
        ctx.pointee.bit_rate = Int64(settings.bitRate)
        ctx.pointee.time_base = AVRational(num: 1, den: Int32(settings.sampleRate))
        ctx.pointee.thread_count = 1
        if format.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        let orc = avcodec_open2(ctx, encoder, nil)
        guard orc >= 0 else {
            throw MediaError(.writeFailed, file: path, "cannot open encoder \(settings.codec.encoderName): \(FF.describe(orc))")
        }
        stream.pointee.time_base = ctx.pointee.time_base
        avcodec_parameters_from_context(stream.pointee.codecpar, ctx)
        // PCM encoders take any frame size; use 1024 like AAC.
        frameSize = ctx.pointee.frame_size > 0 ? Int(ctx.pointee.frame_size) : 1024
        frame = av_frame_alloc()
        guard let frame else { throw MediaError(.writeFailed, file: path, "out of memory") }
        frame.pointee.format = ctx.pointee.sample_fmt.rawValue
        frame.pointee.sample_rate = ctx.pointee.sample_rate
        av_channel_layout_copy(&frame.pointee.ch_layout, &ctx.pointee.ch_layout)
        frame.pointee.nb_samples = Int32(frameSize)
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw MediaError(.writeFailed, file: path, "out of memory") }
        pending.reserveCapacity(frameSize * settings.channels * 2)
    }

    deinit {
        av_frame_free(&frame)
        var owned: UnsafeMutablePointer<AVCodecContext>? = codec
        avcodec_free_context(&owned)
    }

    /// The first of the formats we convert to that the encoder accepts.
    static func preferredFormat(_ encoder: UnsafePointer<AVCodec>) -> AVSampleFormat {
        let ours: [AVSampleFormat] = [AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_S16, AV_SAMPLE_FMT_S16P, AV_SAMPLE_FMT_S32]
        guard let list = encoder.pointee.sample_fmts else { return AV_SAMPLE_FMT_FLTP }
        var offered: [AVSampleFormat] = []
        var i = 0
        while list[i] != AV_SAMPLE_FMT_NONE { offered.append(list[i]); i += 1 }
        return ours.first(where: offered.contains) ?? offered.first ?? AV_SAMPLE_FMT_FLTP
    }

    func append(_ samples: UnsafeBufferPointer<Float>, drain: () throws -> Void) throws {
        pending.append(contentsOf: samples)
        let whole = frameSize * settings.channels
        var consumed = 0
        while pending.count - consumed >= whole {
            try send(from: consumed, count: frameSize, drain: drain)
            consumed += whole
        }
        if consumed > 0 { pending.removeFirst(consumed) }
    }

    func flushRemainder(drain: () throws -> Void) throws {
        let channels = settings.channels
        let count = pending.count / channels
        guard count > 0 else { return }
        // Encoders with a fixed frame size take a short last frame only if they say so; pad with silence otherwise.
        let caps = codec.pointee.codec.pointee.capabilities
        let shortOK = caps & (AV_CODEC_CAP_VARIABLE_FRAME_SIZE | AV_CODEC_CAP_SMALL_LAST_FRAME) != 0
        let padded = shortOK || codec.pointee.frame_size == 0 ? count : frameSize
        pending.append(contentsOf: repeatElement(0, count: (padded - count) * channels))
        try send(from: 0, count: padded, drain: drain)
        pending.removeAll()
    }

    private func send(from offset: Int, count: Int, drain: () throws -> Void) throws {
        guard let frame else { return }
        av_frame_make_writable(frame)
        frame.pointee.nb_samples = Int32(count)
        let channels = settings.channels
        let planes = framePlanes(frame)
        pending.withUnsafeBufferPointer { src in
            let fmt = AVSampleFormat(rawValue: frame.pointee.format)
            for c in 0..<channels {
                for i in 0..<count {
                    let v = max(-1, min(1, src[offset + i * channels + c]))
                    switch fmt {
                    case AV_SAMPLE_FMT_FLTP:
                        planes[c]!.withMemoryRebound(to: Float.self, capacity: count) { $0[i] = v }
                    case AV_SAMPLE_FMT_FLT:
                        planes[0]!.withMemoryRebound(to: Float.self, capacity: count * channels) { $0[i * channels + c] = v }
                    case AV_SAMPLE_FMT_S16:
                        planes[0]!.withMemoryRebound(to: Int16.self, capacity: count * channels) { $0[i * channels + c] = Int16((v * 32767).rounded()) }
                    case AV_SAMPLE_FMT_S16P:
                        planes[c]!.withMemoryRebound(to: Int16.self, capacity: count) { $0[i] = Int16((v * 32767).rounded()) }
                    default: // S32
                        planes[0]!.withMemoryRebound(to: Int32.self, capacity: count * channels) { $0[i * channels + c] = Int32((Double(v) * 2_147_483_647).rounded()) }
                    }
                }
            }
        }
        frame.pointee.pts = nextPTS
        nextPTS += Int64(count)
        let rc = avcodec_send_frame(codec, frame)
        guard rc >= 0 else { throw MediaError(.writeFailed, file: "", "audio encoder refused a frame: \(FF.describe(rc))") }
        try drain()
    }
}

// The parts PacketRecorder's writer thread works with: the streams of one connection (StreamLayout), one Matroska
// segment written from copied packets (MatroskaSegment), and what a keyframe says about its stream when the demuxer
// could not (KeyframeParameters). All of them belong to the writer thread once made.
import CFFmpeg
import Foundation
import ThudBase

/// The two streams of one connection that a segment copies: the video stream being decoded and the first audio stream
/// (the teacher, as MediaInput's `info.audio`), with copies of their codec parameters. Made on the reading thread when
/// a connection opens, owned by the writer thread from then on (which may complete the video parameters).
final class StreamLayout {
    let videoIndex: Int32
    let audioIndex: Int32
    let video: UnsafeMutablePointer<AVCodecParameters>
    let audio: UnsafeMutablePointer<AVCodecParameters>
    let videoTimeBase: AVRational
    let audioTimeBase: AVRational
    /// One frame in the video time base (from the stream's average frame rate; 0 when it states none): how long the
    /// last frame of a segment lasts when its packet does not say.
    let videoFrameTicks: Int64
    /// The video's average frame rate as the demuxer saw it (0/0 when unknown): the segment's default frame duration,
    /// or a reader would guess the rate from millisecond timestamps (30 fps read as 30.3, "variable").
    let videoFrameRate: AVRational

    init?(format: UnsafeMutablePointer<AVFormatContext>, videoStream: Int, audioStream: Int) {
        guard let vs = format.pointee.streams[videoStream], let astream = format.pointee.streams[audioStream],
              let v = avcodec_parameters_alloc() else { return nil }
        guard let a = avcodec_parameters_alloc() else {
            var owned: UnsafeMutablePointer<AVCodecParameters>? = v
            avcodec_parameters_free(&owned)
            return nil
        }
        video = v; audio = a
        avcodec_parameters_copy(v, vs.pointee.codecpar)
        avcodec_parameters_copy(a, astream.pointee.codecpar)
        videoIndex = Int32(videoStream); audioIndex = Int32(audioStream)
        videoTimeBase = vs.pointee.time_base; audioTimeBase = astream.pointee.time_base
        let fps = vs.pointee.avg_frame_rate
        videoFrameRate = fps
        videoFrameTicks = fps.num > 0 && fps.den > 0 ? av_rescale_q(1, AVRational(num: fps.den, den: fps.num), vs.pointee.time_base) : 0
    }

    deinit {
        var v: UnsafeMutablePointer<AVCodecParameters>? = video, a: UnsafeMutablePointer<AVCodecParameters>? = audio
        avcodec_parameters_free(&v)
        avcodec_parameters_free(&a)
    }

    /// The first audio stream of a demuxer (nil: none).
    static func firstAudioStream(_ format: UnsafeMutablePointer<AVFormatContext>) -> Int? {
        for i in 0..<Int(format.pointee.nb_streams) where format.pointee.streams[i]?.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO {
            return i
        }
        return nil
    }

    /// The video's extradata (codec private data) replaced by `bytes`.
    func setVideoExtradata(_ bytes: [UInt8]) {
        av_freep(&video.pointee.extradata)
        video.pointee.extradata_size = 0
        guard let buffer = av_mallocz(bytes.count + Int(AV_INPUT_BUFFER_PADDING_SIZE))?.assumingMemoryBound(to: UInt8.self) else { return }
        buffer.update(from: bytes, count: bytes.count)
        video.pointee.extradata = buffer
        video.pointee.extradata_size = Int32(bytes.count)
    }
}

/// What a keyframe carries about its stream: the parameter sets in band (H.264/HEVC SPS and PPS, through FFmpeg's
/// extract_extradata filter) and the picture size (through the codec's parser). Why: a live stream joined between
/// keyframes was probed before any parameter set came, so the demuxer's parameters have neither extradata nor a size,
/// and Matroska needs both in its header (it refuses a video without dimensions). Comparing each keyframe's parameter
/// sets with the segment's also tells when the stream's parameters change. Once per keyframe, on the writer thread.
final class KeyframeParameters {
    private var filter: UnsafeMutablePointer<AVBSFContext>?
    private var parser: UnsafeMutablePointer<AVCodecParserContext>?
    private var parserCodec: UnsafeMutablePointer<AVCodecContext>?
    private var scratch: UnsafeMutablePointer<AVPacket>?

    init(video parameters: UnsafeMutablePointer<AVCodecParameters>, timeBase: AVRational) {
        scratch = av_packet_alloc()
        // A codec the filter does not know (it refuses to start) carries nothing in band that Matroska needs.
        if let extractor = av_bsf_get_by_name("extract_extradata"), av_bsf_alloc(extractor, &filter) >= 0, let filter {
            avcodec_parameters_copy(filter.pointee.par_in, parameters)
            filter.pointee.time_base_in = timeBase
            if av_bsf_init(filter) < 0 { av_bsf_free(&self.filter) }
        }
        if parameters.pointee.width <= 0 || parameters.pointee.height <= 0, let p = av_parser_init(Int32(parameters.pointee.codec_id.rawValue)) {
            parser = p
            p.pointee.flags |= PARSER_FLAG_COMPLETE_FRAMES
            parserCodec = avcodec_alloc_context3(nil)
            if let parserCodec { avcodec_parameters_to_context(parserCodec, parameters) }
        }
    }

    deinit {
        av_bsf_free(&filter)
        if let parser { av_parser_close(parser) }
        avcodec_free_context(&parserCodec)
        av_packet_free(&scratch)
    }

    /// The parameter sets `keyframe` carries in band, nil when it carries none (or the codec keeps them out of band).
    func parameterSets(of keyframe: UnsafeMutablePointer<AVPacket>) -> [UInt8]? {
        guard let filter, let scratch, av_packet_ref(scratch, keyframe) >= 0 else { return nil }
        defer { av_packet_unref(scratch) }
        // The filter takes the reference and hands the packet back (parameter sets left in it) with the sets as side data.
        guard av_bsf_send_packet(filter, scratch) >= 0, av_bsf_receive_packet(filter, scratch) >= 0 else { return nil }
        var size = 0
        guard let data = av_packet_get_side_data(scratch, AV_PKT_DATA_NEW_EXTRADATA, &size), size > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// The picture size `keyframe` states, when the demuxer did not know it (nil otherwise, or when it states none).
    func pictureSize(of keyframe: UnsafeMutablePointer<AVPacket>) -> (width: Int32, height: Int32)? {
        guard let parser, let parserCodec, let data = keyframe.pointee.data, keyframe.pointee.size > 0 else { return nil }
        var out: UnsafeMutablePointer<UInt8>?
        var outSize: Int32 = 0
        _ = av_parser_parse2(parser, parserCodec, &out, &outSize, data, keyframe.pointee.size, keyframe.pointee.pts, keyframe.pointee.dts, 0)
        let width = parser.pointee.width, height = parser.pointee.height
        return width > 0 && height > 0 ? (width, height) : nil
    }
}

/// Why a segment could not be written: `problem` as the line shows it ("cannot be created (No space left on
/// device)"), `cause` what stays the same while the same thing is wrong ("No space left on device").
struct SegmentWriteError: Error {
    let problem: String
    let cause: String
    init(_ problem: String, cause: String) { self.problem = problem; self.cause = cause }

    /// From a FileWriteError's problem ("cannot be written (No space left on device)"): its cause is the part in
    /// parentheses, so that a segment that cannot be put in place and one that cannot be created for the same reason
    /// are one problem, not two.
    init(_ error: FileWriteError) {
        problem = error.problem
        if let open = error.problem.range(of: " (", options: .backwards), error.problem.hasSuffix(")") {
            cause = String(error.problem[open.upperBound...].dropLast())
        } else {
            cause = error.problem
        }
    }
}

/// One Matroska segment of copied packets (no re-encoding), written at its folder's temporary name. Timestamps are
/// made relative to the segment's first video keyframe in each stream's own time base (the same instant, so audio and
/// video keep the alignment they had on the wire), then rescaled to the file's.
final class MatroskaSegment {
    let path: String
    let temporary: String
    /// The segment's start, the keyframe it opens with, in the video time base, and the same instant in the audio's.
    let videoStart: Int64
    let audioStart: Int64
    /// The earliest instant, in the audio time base, the segment can end (`seconds` after its start): audio from
    /// here on may belong to the next one.
    let audioMayEnd: Int64
    /// The parameter sets the opening keyframe carried in band (nil: none): a later keyframe with others ends it.
    let parameterSets: [UInt8]?
    /// Set when the next segment has started (its first keyframe, in the video time base, and the same instant in
    /// the audio's): audio before `audioEnd` still belongs here (it arrives behind the video), the rest does not.
    var videoEnd: Int64?
    var audioEnd: Int64?
    private(set) var packets = 0

    private var format: UnsafeMutablePointer<AVFormatContext>?
    private let videoOut: UnsafeMutablePointer<AVStream>
    private let audioOut: UnsafeMutablePointer<AVStream>
    private let videoTimeBase: AVRational
    private let audioTimeBase: AVRational
    private let frameTicks: Int64
    /// The end of the latest video frame written, video time base, relative to the start.
    private var videoEndTicks: Int64 = 0

    /// Opens the temporary file and writes the header (SegmentWriteError when it cannot).
    init(path: String, temporary: String, layout: StreamLayout, videoStart: Int64, parameterSets: [UInt8]?, seconds: Double) throws {
        var oc: UnsafeMutablePointer<AVFormatContext>?
        let rc = avformat_alloc_output_context2(&oc, nil, "matroska", temporary)
        guard rc >= 0, let oc else { throw SegmentWriteError("cannot be created (\(FF.describe(rc)))", cause: FF.describe(rc)) }
        func fail(_ problem: String, _ code: Int32) -> SegmentWriteError {
            if oc.pointee.pb != nil { avio_closep(&oc.pointee.pb) }
            avformat_free_context(oc)
            unlink(temporary)
            return SegmentWriteError("\(problem) (\(FF.describe(code)))", cause: FF.describe(code))
        }
        var streams: [UnsafeMutablePointer<AVStream>] = []
        for (parameters, timeBase) in [(layout.video, layout.videoTimeBase), (layout.audio, layout.audioTimeBase)] {
            guard let st = avformat_new_stream(oc, nil) else { throw fail("cannot be created", thud_averror(ENOMEM)) }
            avcodec_parameters_copy(st.pointee.codecpar, parameters)
            st.pointee.codecpar.pointee.codec_tag = 0   // the demuxer's tag (an MPEG-TS stream type) means nothing here
            st.pointee.time_base = timeBase
            streams.append(st)
        }
        if layout.videoFrameRate.num > 0, layout.videoFrameRate.den > 0 {
            streams[0].pointee.avg_frame_rate = layout.videoFrameRate
        }
        let orc = avio_open(&oc.pointee.pb, temporary, AVIO_FLAG_WRITE)
        guard orc >= 0 else { throw fail("cannot be created", orc) }
        let hrc = avformat_write_header(oc, nil)
        guard hrc >= 0 else { throw fail("cannot be started", hrc) }
        format = oc
        videoOut = streams[0]; audioOut = streams[1]
        self.path = path; self.temporary = temporary
        self.videoStart = videoStart
        audioStart = av_rescale_q(videoStart, layout.videoTimeBase, layout.audioTimeBase)
        audioMayEnd = audioStart + av_rescale_q(Int64((seconds * 1e6).rounded()), AVRational(num: 1, den: 1_000_000), layout.audioTimeBase)
        self.parameterSets = parameterSets
        videoTimeBase = layout.videoTimeBase; audioTimeBase = layout.audioTimeBase
        frameTicks = layout.videoFrameTicks
    }

    deinit { abandon() }

    /// Not yet finished or abandoned.
    var isOpen: Bool { format != nil }

    /// Seconds of video written (to the end of the latest frame).
    var seconds: Double { TimeBase(videoTimeBase).seconds(videoEndTicks) }

    /// Writes a copied packet (its timestamps are changed; the muxer takes its reference).
    func write(_ packet: UnsafeMutablePointer<AVPacket>, video: Bool) throws {
        guard let format else { return }
        let offset = video ? videoStart : audioStart
        if packet.pointee.pts != FF.noPTS { packet.pointee.pts -= offset }
        if packet.pointee.dts != FF.noPTS { packet.pointee.dts -= offset }
        if video {
            let duration = packet.pointee.duration > 0 ? packet.pointee.duration : frameTicks
            videoEndTicks = max(videoEndTicks, packet.pointee.pts + duration)
        }
        let out = video ? videoOut : audioOut
        av_packet_rescale_ts(packet, video ? videoTimeBase : audioTimeBase, out.pointee.time_base)
        packet.pointee.stream_index = out.pointee.index
        packet.pointee.pos = -1
        let rc = av_interleaved_write_frame(format, packet)
        guard rc >= 0 else { throw SegmentWriteError("cannot be written (\(FF.describe(rc)))", cause: FF.describe(rc)) }
        packets += 1
    }

    /// Writes the trailer and closes the file (still at its temporary name).
    func finish() throws {
        guard let format else { return }
        self.format = nil
        let trc = av_write_trailer(format)
        let ioError = format.pointee.pb?.pointee.error ?? 0
        let crc = avio_closep(&format.pointee.pb)
        avformat_free_context(format)
        if let rc = [trc, ioError, crc].first(where: { $0 < 0 }) {
            unlink(temporary)
            throw SegmentWriteError("cannot be written (\(FF.describe(rc)))", cause: FF.describe(rc))
        }
    }

    /// Closes and removes the temporary file: nothing half-written stays.
    func abandon() {
        guard let format else { return }
        self.format = nil
        if format.pointee.pb != nil { avio_closep(&format.pointee.pb) }
        avformat_free_context(format)
        unlink(temporary)
    }
}

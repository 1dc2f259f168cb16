// Pictures of a feed for people: the model-sized gray frame a step stood at, as a JPEG (libavcodec's MJPEG encoder).
// Used off the prediction thread only (the web page's latest picture, a hit's snapshot in the events database): one
// encoder per frame size, reused; its frame and packet are allocated once, the JPEG's bytes are a fresh [UInt8].
import CFFmpeg
import Foundation

/// Encodes gray8 frames of one size as baseline JPEGs (full-range 4:2:0, gray chroma), one at a time.
public final class JPEGEncoder {
    public let width: Int
    public let height: Int
    private let codec: UnsafeMutablePointer<AVCodecContext>
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?

    /// `quality`: MJPEG's qscale, 2 (best) … 31; 5 keeps a 96x96 frame near 3 kB.
    public init(width: Int, height: Int, quality: Int = 5) throws {
        self.width = width; self.height = height
        // yuvj420p wants even sizes; any model size the architecture allows is even.
        guard width >= 2, height >= 2, width % 2 == 0, height % 2 == 0 else {
            throw MediaError(.writeFailed, file: "jpeg", "picture size \(width)x\(height) must be even and at least 2x2")
        }
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_MJPEG), let ctx = avcodec_alloc_context3(encoder) else {
            throw MediaError(.writeFailed, file: "jpeg", "the MJPEG encoder is not available in this FFmpeg")
        }
        codec = ctx
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        ctx.pointee.color_range = AVCOL_RANGE_JPEG
        ctx.pointee.time_base = AVRational(num: 1, den: 12)
        ctx.pointee.thread_count = 1
        ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
        ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, quality)))
        let rc = avcodec_open2(ctx, encoder, nil)
        guard rc >= 0 else {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            throw MediaError(.writeFailed, file: "jpeg", "cannot open the MJPEG encoder: \(FF.describe(rc))")
        }
        frame = av_frame_alloc()
        packet = av_packet_alloc()
        guard let frame, packet != nil else { throw MediaError(.writeFailed, file: "jpeg", "out of memory for the JPEG encoder") }
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw MediaError(.writeFailed, file: "jpeg", "out of memory for the JPEG encoder's frame") }
        // Chroma is gray once and for all; encode() writes only the luma plane.
        if let u = frame.pointee.data.1, let v = frame.pointee.data.2 {
            memset(u, 128, (height / 2) * Int(frame.pointee.linesize.1))
            memset(v, 128, (height / 2) * Int(frame.pointee.linesize.2))
        }
    }

    deinit {
        av_frame_free(&frame)
        av_packet_free(&packet)
        var c: UnsafeMutablePointer<AVCodecContext>? = codec
        avcodec_free_context(&c)
    }

    /// The JPEG of one gray8 frame of `width`x`height` (rows packed, no padding).
    public func encode(gray: UnsafeBufferPointer<UInt8>) throws -> [UInt8] {
        guard let frame, let packet, gray.count >= width * height, let base = gray.baseAddress else {
            throw MediaError(.writeFailed, file: "jpeg", "a picture of \(gray.count) bytes is not \(width)x\(height) gray")
        }
        guard av_frame_make_writable(frame) >= 0, let luma = frame.pointee.data.0 else {
            throw MediaError(.writeFailed, file: "jpeg", "the JPEG encoder's frame cannot be written")
        }
        let stride = Int(frame.pointee.linesize.0)
        for y in 0..<height { memcpy(luma + y * stride, base + y * width, width) }
        frame.pointee.pts += 1
        var rc = avcodec_send_frame(codec, frame)
        guard rc >= 0 else { throw MediaError(.writeFailed, file: "jpeg", "the MJPEG encoder refused a frame: \(FF.describe(rc))") }
        rc = avcodec_receive_packet(codec, packet)
        guard rc >= 0, let data = packet.pointee.data else {
            throw MediaError(.writeFailed, file: "jpeg", "the MJPEG encoder gave no picture: \(FF.describe(rc))")
        }
        defer { av_packet_unref(packet) }
        return Array(UnsafeBufferPointer(start: data, count: Int(packet.pointee.size)))
    }
}

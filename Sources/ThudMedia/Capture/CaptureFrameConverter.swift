import CFFmpeg

/// Turns one captured buffer (any format `LumaSource` knows) into 8-bit luma at the model's size,
/// squashing the aspect ratio as the file path does. Everything (scaler, decoder, packet, frame) is
/// made once; `convert` allocates nothing of its own (libavcodec copies an unowned packet into its
/// pooled buffers).
public final class CaptureFrameConverter {
    public let format: FourCC
    public let width: Int
    public let height: Int
    public let bytesPerLine: Int
    public let outputWidth: Int
    public let outputHeight: Int

    private let luma: LumaSource
    private var scaler: OpaquePointer?
    private var scalerInput: (AVPixelFormat, Int32, Int32)?
    private var decoder: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var decoded: UnsafeMutablePointer<AVFrame>?
    // Plane pointers and strides handed to sws_scale, kept to avoid building arrays per frame.
    private let srcPlanes = UnsafeMutablePointer<UnsafePointer<UInt8>?>.allocate(capacity: 4)
    private let srcStrides = UnsafeMutablePointer<Int32>.allocate(capacity: 4)
    private let dstPlanes = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: 4)
    private let dstStrides = UnsafeMutablePointer<Int32>.allocate(capacity: 4)

    /// nil when the format is not one this module can read (callers report it with the device name).
    public init?(format: FourCC, width: Int, height: Int, bytesPerLine: Int, outputWidth: Int, outputHeight: Int) {
        guard let luma = LumaSource(format), width > 0, height > 0, outputWidth > 0, outputHeight > 0 else { return nil }
        self.format = format
        self.width = width
        self.height = height
        self.bytesPerLine = bytesPerLine
        self.outputWidth = outputWidth
        self.outputHeight = outputHeight
        self.luma = luma
        srcPlanes.initialize(repeating: nil, count: 4)
        srcStrides.initialize(repeating: 0, count: 4)
        dstPlanes.initialize(repeating: nil, count: 4)
        dstStrides.initialize(repeating: 0, count: 4)
        switch luma {
        case .raw(let pixfmt, _):
            guard makeScaler(pixfmt, Int32(width), Int32(height), fullRange: false) else { return nil }
        case .compressed(let id):
            guard let codec = avcodec_find_decoder(id), let ctx = avcodec_alloc_context3(codec) else { return nil }
            decoder = ctx
            guard avcodec_open2(ctx, codec, nil) >= 0 else { return nil }
            packet = av_packet_alloc()
            decoded = av_frame_alloc()
            guard packet != nil, decoded != nil else { return nil }
        }
    }

    deinit {
        if let scaler { sws_freeContext(scaler) }
        if decoder != nil { avcodec_free_context(&decoder) }
        if packet != nil { av_packet_free(&packet) }
        if decoded != nil { av_frame_free(&decoded) }
        srcPlanes.deallocate(); srcStrides.deallocate(); dstPlanes.deallocate(); dstStrides.deallocate()
    }

    /// The converted frame's byte count (outputWidth × outputHeight).
    public var outputByteCount: Int { outputWidth * outputHeight }

    /// Converts `bytesUsed` bytes at `data` into `destination`. Returns false for a frame that cannot
    /// be used (truncated raw frame, undecodable JPEG); the caller counts it and goes on.
    public func convert(_ data: UnsafeRawPointer, bytesUsed: Int, into destination: UnsafeMutablePointer<UInt8>) -> Bool {
        dstPlanes[0] = destination
        dstStrides[0] = Int32(outputWidth)
        switch luma {
        case .raw(_, let planes):
            let base = data.assumingMemoryBound(to: UInt8.self)
            let lumaBytes = bytesPerLine * height
            srcPlanes[0] = UnsafePointer(base); srcStrides[0] = Int32(bytesPerLine)
            srcPlanes[1] = nil; srcPlanes[2] = nil; srcStrides[1] = 0; srcStrides[2] = 0
            var needed = lumaBytes
            switch planes {
            case .packed: break
            case .semiplanar420, .semiplanar422:
                let rows = planes == .semiplanar420 ? (height + 1) / 2 : height
                srcPlanes[1] = UnsafePointer(base + lumaBytes); srcStrides[1] = Int32(bytesPerLine)
                needed += bytesPerLine * rows
            case .yuv420, .yuv422:
                let rows = planes == .yuv420 ? (height + 1) / 2 : height
                let chromaStride = bytesPerLine / 2
                srcPlanes[1] = UnsafePointer(base + lumaBytes); srcStrides[1] = Int32(chromaStride)
                srcPlanes[2] = UnsafePointer(base + lumaBytes + chromaStride * rows); srcStrides[2] = Int32(chromaStride)
                needed += 2 * chromaStride * rows
            }
            // Some drivers report bytesused = 0 for raw formats; only a positive short count is a truncation.
            if bytesUsed > 0 && bytesUsed < needed { return false }
            return sws_scale(scaler, srcPlanes, srcStrides, 0, Int32(height), dstPlanes, dstStrides) == Int32(outputHeight)
        case .compressed:
            guard let decoder, let packet, let decoded, bytesUsed > 0 else { return false }
            packet.pointee.data = UnsafeMutablePointer(mutating: data.assumingMemoryBound(to: UInt8.self))
            packet.pointee.size = Int32(bytesUsed)
            guard avcodec_send_packet(decoder, packet) >= 0 else { return false }
            guard avcodec_receive_frame(decoder, decoded) >= 0 else { return false }
            defer { av_frame_unref(decoded) }
            // Decoders report JPEG's full-range YUV as the deprecated YUVJ formats; swscale wants the
            // plain format plus a range flag.
            var pixfmt = AVPixelFormat(rawValue: decoded.pointee.format)
            var full = decoded.pointee.color_range == AVCOL_RANGE_JPEG
            switch pixfmt {
            case AV_PIX_FMT_YUVJ420P: pixfmt = AV_PIX_FMT_YUV420P; full = true
            case AV_PIX_FMT_YUVJ422P: pixfmt = AV_PIX_FMT_YUV422P; full = true
            case AV_PIX_FMT_YUVJ444P: pixfmt = AV_PIX_FMT_YUV444P; full = true
            case AV_PIX_FMT_YUVJ440P: pixfmt = AV_PIX_FMT_YUV440P; full = true
            default: break
            }
            let w = decoded.pointee.width, h = decoded.pointee.height
            if scalerInput == nil || scalerInput! != (pixfmt, w, h) {
                guard makeScaler(pixfmt, w, h, fullRange: full) else { return false }
            }
            withUnsafeBytes(of: &decoded.pointee.data) { raw in
                let p = raw.bindMemory(to: UnsafeMutablePointer<UInt8>?.self)
                for i in 0..<4 { srcPlanes[i] = UnsafePointer(p[i]) }
            }
            withUnsafeBytes(of: &decoded.pointee.linesize) { raw in
                let p = raw.bindMemory(to: Int32.self)
                for i in 0..<4 { srcStrides[i] = p[i] }
            }
            return sws_scale(scaler, srcPlanes, srcStrides, 0, h, dstPlanes, dstStrides) == Int32(outputHeight)
        }
    }

    /// SWS_AREA as in the file path (averaging, so downscaling does not alias). Luma is kept as the
    /// source codes it (YUV → GRAY copies Y); RGB sources get full-range luma (white → 255).
    /// The ranges are always set explicitly: left to its defaults, swscale copies Y for YUYV, NV12
    /// and YUV420P but expands it from limited to full range for UYVY (seen with FFmpeg 5.1), which
    /// would make the model's input depend on the camera's format.
    private func makeScaler(_ pixfmt: AVPixelFormat, _ w: Int32, _ h: Int32, fullRange: Bool) -> Bool {
        if let scaler { sws_freeContext(scaler) }
        scaler = sws_getContext(w, h, pixfmt, Int32(outputWidth), Int32(outputHeight), AV_PIX_FMT_GRAY8,
                                Int32(SWS_AREA), nil, nil, nil)
        guard let scaler else { return false }
        scalerInput = (pixfmt, w, h)
        let isRGB = pixfmt == AV_PIX_FMT_RGB24 || pixfmt == AV_PIX_FMT_BGR24
        let range: Int32 = isRGB || fullRange ? 1 : 0
        let table = sws_getCoefficients(SWS_CS_ITU601)
        sws_setColorspaceDetails(scaler, table, range, table, range, 0, 1 << 16, 1 << 16)
        return true
    }
}

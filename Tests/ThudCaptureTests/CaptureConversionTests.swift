import XCTest
import CFFmpeg
@testable import ThudMedia

/// Buffer → model-sized luma for the formats a camera delivers, on synthetic buffers; MJPEG frames
/// are made with libavcodec's own encoder.
final class CaptureConversionTests: XCTestCase {
    let sw = 64, sh = 48

    func convert(_ fmt: FourCC, _ bytes: [UInt8], bytesPerLine: Int, out: (Int, Int) = (16, 12)) -> [UInt8]? {
        guard let c = CaptureFrameConverter(format: fmt, width: sw, height: sh, bytesPerLine: bytesPerLine,
                                            outputWidth: out.0, outputHeight: out.1) else {
            XCTFail("no converter for \(fmt)"); return nil
        }
        var dst = [UInt8](repeating: 0, count: out.0 * out.1)
        let ok = bytes.withUnsafeBytes { src in
            dst.withUnsafeMutableBufferPointer { c.convert(src.baseAddress!, bytesUsed: bytes.count, into: $0.baseAddress!) }
        }
        return ok ? dst : nil
    }

    /// Luma that rises left to right: the output must too, and keep the source's values.
    func lumaAt(_ x: Int) -> UInt8 { UInt8(40 + x * 2) }

    func testYUYVAndUYVYKeepLumaAndItsGradient() throws {
        var yuyv = [UInt8](repeating: 0, count: sw * sh * 2)
        var uyvy = yuyv
        for y in 0..<sh { for x in 0..<sw {
            yuyv[y * sw * 2 + x * 2] = lumaAt(x); yuyv[y * sw * 2 + x * 2 + 1] = 128
            uyvy[y * sw * 2 + x * 2 + 1] = lumaAt(x); uyvy[y * sw * 2 + x * 2] = 200
        } }
        for (fmt, buf) in [(FourCC.yuyv, yuyv), (.uyvy, uyvy)] {
            let out = try XCTUnwrap(convert(fmt, buf, bytesPerLine: sw * 2))
            for row in 0..<12 {
                let line = Array(out[row * 16..<(row + 1) * 16])
                XCTAssertEqual(line, line.sorted(), "\(fmt): rising")
                XCTAssertEqual(Int(line[0]), 43, accuracy: 2, "\(fmt): mean of the first 4 columns (40…46)")
                XCTAssertEqual(Int(line[15]), 163, accuracy: 2, "\(fmt): mean of the last 4 columns (160…166)")
            }
        }
    }

    func testPlanarFormatsUseTheLumaPlaneWithItsStride() throws {
        let stride = sw + 16   // padded rows, as drivers do
        var nv12 = [UInt8](repeating: 7, count: stride * sh + stride * sh / 2)
        for y in 0..<sh { for x in 0..<sw { nv12[y * stride + x] = 90 } }
        XCTAssertEqual(try XCTUnwrap(convert(.nv12, nv12, bytesPerLine: stride)), [UInt8](repeating: 90, count: 16 * 12))
        var yu12 = [UInt8](repeating: 3, count: sw * sh * 3 / 2)
        for i in 0..<(sw * sh) { yu12[i] = 150 }
        XCTAssertEqual(try XCTUnwrap(convert(.yu12, yu12, bytesPerLine: sw)), [UInt8](repeating: 150, count: 16 * 12))
        let grey = [UInt8](repeating: 33, count: sw * sh)
        XCTAssertEqual(try XCTUnwrap(convert(.grey, grey, bytesPerLine: sw, out: (96, 96))), [UInt8](repeating: 33, count: 96 * 96))
    }

    func testRGBGivesFullRangeLuma() throws {
        let white = [UInt8](repeating: 255, count: sw * sh * 3)
        let black = [UInt8](repeating: 0, count: sw * sh * 3)
        XCTAssertTrue(try XCTUnwrap(convert(.rgb24, white, bytesPerLine: sw * 3)).allSatisfy { $0 >= 254 })
        XCTAssertTrue(try XCTUnwrap(convert(.bgr24, black, bytesPerLine: sw * 3)).allSatisfy { $0 <= 1 })
    }

    func testTruncatedRawFrameIsRejectedNotRead() {
        let short = [UInt8](repeating: 0, count: sw * sh)   // YUYV needs twice that
        let c = CaptureFrameConverter(format: .yuyv, width: sw, height: sh, bytesPerLine: sw * 2, outputWidth: 8, outputHeight: 8)!
        var dst = [UInt8](repeating: 0, count: 64)
        let ok = short.withUnsafeBytes { src in dst.withUnsafeMutableBufferPointer { c.convert(src.baseAddress!, bytesUsed: short.count, into: $0.baseAddress!) } }
        XCTAssertFalse(ok)
        XCTAssertNil(CaptureFrameConverter(format: FourCC("BA81")!, width: sw, height: sh, bytesPerLine: sw, outputWidth: 8, outputHeight: 8),
                     "a format this module cannot read")
    }

    /// A JPEG of a left-to-right gradient made by libavcodec's MJPEG encoder, as a camera would send.
    func makeJPEG() throws -> [UInt8] {
        let codec = try XCTUnwrap(avcodec_find_encoder(AV_CODEC_ID_MJPEG))
        var ctx = avcodec_alloc_context3(codec)
        defer { avcodec_free_context(&ctx) }
        ctx!.pointee.width = Int32(sw)
        ctx!.pointee.height = Int32(sh)
        ctx!.pointee.pix_fmt = AV_PIX_FMT_YUVJ422P
        ctx!.pointee.time_base = AVRational(num: 1, den: 30)
        ctx!.pointee.flags |= AV_CODEC_FLAG_QSCALE
        ctx!.pointee.global_quality = 2 * FF_QP2LAMBDA
        XCTAssertGreaterThanOrEqual(avcodec_open2(ctx, codec, nil), 0)
        var frame = av_frame_alloc()
        defer { av_frame_free(&frame) }
        frame!.pointee.width = Int32(sw); frame!.pointee.height = Int32(sh); frame!.pointee.format = AV_PIX_FMT_YUVJ422P.rawValue
        frame!.pointee.quality = 2 * FF_QP2LAMBDA
        XCTAssertGreaterThanOrEqual(av_frame_get_buffer(frame, 0), 0)
        let ls = frame!.pointee.linesize
        for y in 0..<sh {
            for x in 0..<sw { frame!.pointee.data.0![y * Int(ls.0) + x] = lumaAt(x) }
            for x in 0..<(sw / 2) { frame!.pointee.data.1![y * Int(ls.1) + x] = 128; frame!.pointee.data.2![y * Int(ls.2) + x] = 128 }
        }
        XCTAssertGreaterThanOrEqual(avcodec_send_frame(ctx, frame), 0)
        var pkt = av_packet_alloc()
        defer { av_packet_free(&pkt) }
        XCTAssertGreaterThanOrEqual(avcodec_receive_packet(ctx, pkt), 0)
        return Array(UnsafeBufferPointer(start: pkt!.pointee.data, count: Int(pkt!.pointee.size)))
    }

    func testMJPEGIsDecodedWithLibavcodec() throws {
        let jpeg = try makeJPEG()
        XCTAssertEqual(Array(jpeg.prefix(2)), [0xFF, 0xD8], "a JPEG")
        // Twice through one converter: the decoder and scaler are reused, not rebuilt.
        let c = try XCTUnwrap(CaptureFrameConverter(format: .mjpeg, width: sw, height: sh, bytesPerLine: 0, outputWidth: 16, outputHeight: 12))
        var dst = [UInt8](repeating: 0, count: 16 * 12)
        for _ in 0..<2 {
            let ok = jpeg.withUnsafeBytes { src in dst.withUnsafeMutableBufferPointer { c.convert(src.baseAddress!, bytesUsed: jpeg.count, into: $0.baseAddress!) } }
            XCTAssertTrue(ok)
            XCTAssertEqual(Int(dst[0]), 43, accuracy: 3)
            XCTAssertEqual(Int(dst[15]), 163, accuracy: 3)
        }
        let garbage = [UInt8](repeating: 0x55, count: 500)
        let ok = garbage.withUnsafeBytes { src in dst.withUnsafeMutableBufferPointer { c.convert(src.baseAddress!, bytesUsed: 500, into: $0.baseAddress!) } }
        XCTAssertFalse(ok, "undecodable data is reported, not passed on")
    }

    // MARK: negotiation helpers

    func testNearestSizePrefersTheClosestAndThenTheLarger() {
        let sizes = V4L2Source.FrameSizes.discrete([.init(width: 320, height: 180), .init(width: 640, height: 360), .init(width: 640, height: 480), .init(width: 1280, height: 720)])
        XCTAssertEqual(V4L2Source.nearestSize(sizes, to: .init(width: 320, height: 240)), .init(width: 320, height: 180))
        XCTAssertEqual(V4L2Source.nearestSize(sizes, to: .init(width: 600, height: 470)), .init(width: 640, height: 480))
        XCTAssertEqual(V4L2Source.nearestSize(sizes, to: .init(width: 4000, height: 3000)), .init(width: 1280, height: 720))
        let range = V4L2Source.FrameSizes.range(min: .init(width: 16, height: 16), max: .init(width: 1920, height: 1080), stepWidth: 16, stepHeight: 8)
        XCTAssertEqual(V4L2Source.nearestSize(range, to: .init(width: 100, height: 77)), .init(width: 96, height: 72))
        XCTAssertEqual(V4L2Source.nearestSize(range, to: .init(width: 4000, height: 5)), .init(width: 1920, height: 16))
    }

    func testFourCCAndControlNames() {
        XCTAssertEqual(FourCC.parse("yuyv"), .yuyv)
        XCTAssertEqual(FourCC.parse("mjpeg")?.description, "MJPG")
        XCTAssertEqual(FourCC.parse("nv12")?.code, 0x3231_564E)
        XCTAssertEqual(FourCC("Y10")?.description, "Y10")
        XCTAssertNil(FourCC.parse("nonsense"))
        XCTAssertEqual(V4L2Source.controlName("Inject VIDIOC_STREAMON Error"), "inject_vidioc_streamon_error")
        XCTAssertEqual(V4L2Source.controlName("Percentage of Dropped Buffers"), "percentage_of_dropped_buffers")
        XCTAssertEqual(V4L2Source.controlName("Inject V4L2_BUF_FLAG_ERROR"), "inject_v4l2_buf_flag_error")
    }

    func testMissingOrNonVideoDeviceIsAOneLineOpenError() {
        for path in ["/dev/video-does-not-exist", "/etc/hostname", "/dev/null"] {
            XCTAssertThrowsError(try CaptureSession(device: path)) { error in
                let e = error as? CaptureError
                XCTAssertEqual(e?.exitCode, 30, path)
                XCTAssertTrue(e?.message.hasPrefix(path + ": ") ?? false, e?.message ?? "")
                XCTAssertFalse(e?.message.contains("\n") ?? true)
            }
        }
    }
}

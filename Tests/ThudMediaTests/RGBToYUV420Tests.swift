import XCTest
import CFFmpeg
@testable import ThudMedia

/// The RGB → YUV 4:2:0 kernel the writer uses instead of swscale (whose output varied with alignment).
final class RGBToYUV420Tests: XCTestCase {
    struct Planes { var y: [UInt8], u: [UInt8], v: [UInt8] }

    func convert(_ rgb: [UInt8], width: Int, height: Int, offset: Int = 0, fullRange: Bool = false) -> Planes {
        // The source copied to `offset` bytes into a larger buffer: the result must not care where rows lie.
        let stride = width * 3 + 5
        var source = [UInt8](repeating: 0xEE, count: offset + stride * height)
        for row in 0..<height { for i in 0..<(width * 3) { source[offset + row * stride + i] = rgb[row * width * 3 + i] } }
        var p = Planes(y: .init(repeating: 0, count: width * height), u: .init(repeating: 0, count: width * height / 4),
                       v: .init(repeating: 0, count: width * height / 4))
        source.withUnsafeBufferPointer { s in
            p.y.withUnsafeMutableBufferPointer { y in p.u.withUnsafeMutableBufferPointer { u in p.v.withUnsafeMutableBufferPointer { v in
                RGBToYUV420.convert(rgb: s.baseAddress! + offset, rgbStride: stride, width: width, height: height,
                                    y: y.baseAddress!, yStride: width, u: u.baseAddress!, uStride: width / 2,
                                    v: v.baseAddress!, vStride: width / 2, fullRange: fullRange)
            } } }
        }
        return p
    }

    func flat(_ r: UInt8, _ g: UInt8, _ b: UInt8, width: Int = 4, height: Int = 2) -> [UInt8] {
        Array((0..<(width * height)).map { _ in [r, g, b] }.joined())
    }

    /// BT.601 video levels: black 16, white 235, grey's chroma at 128, and the primaries where the standard puts them.
    func testKnownColoursAtVideoLevels() {
        let cases: [((UInt8, UInt8, UInt8), (UInt8, UInt8, UInt8))] = [
            ((0, 0, 0), (16, 128, 128)), ((255, 255, 255), (235, 128, 128)), ((128, 128, 128), (126, 128, 128)),
            ((255, 0, 0), (81, 90, 240)), ((0, 255, 0), (145, 54, 34)), ((0, 0, 255), (41, 240, 110)),
        ]
        for (rgb, yuv) in cases {
            let p = convert(flat(rgb.0, rgb.1, rgb.2), width: 4, height: 2)
            XCTAssertEqual(p.y, [UInt8](repeating: yuv.0, count: 8), "\(rgb)")
            XCTAssertEqual(p.u, [yuv.1, yuv.1], "\(rgb)")
            XCTAssertEqual(p.v, [yuv.2, yuv.2], "\(rgb)")
        }
        let jpeg = convert(flat(255, 0, 0), width: 2, height: 2, fullRange: true)
        XCTAssertEqual(jpeg.y, [76, 76, 76, 76]); XCTAssertEqual(jpeg.u, [85]); XCTAssertEqual(jpeg.v, [255])
    }

    /// Chroma is the mean of the 2×2 block: half red, half blue gives the midpoint of the two.
    func testChromaIsTheBlockMean() {
        var rgb = flat(255, 0, 0, width: 2, height: 2)
        rgb[3...5] = [0, 0, 255]; rgb[9...11] = [0, 0, 255]
        let p = convert(rgb, width: 2, height: 2)
        XCTAssertEqual(p.y, [81, 41, 81, 41])
        XCTAssertEqual(Int(p.u[0]), (90 + 240) / 2, accuracy: 1)
        XCTAssertEqual(Int(p.v[0]), (240 + 110) / 2, accuracy: 1)
    }

    /// Same pixels, any alignment: identical planes; and within a level or two of swscale's BT.601 conversion.
    func testIndependentOfAlignmentAndCloseToSwscale() {
        let width = 38, height = 10
        var state: UInt64 = 7
        let rgb: [UInt8] = (0..<(width * height * 3)).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: state >> 56)
        }
        let reference = convert(rgb, width: width, height: height)
        for offset in 1..<20 {
            let p = convert(rgb, width: width, height: height, offset: offset)
            XCTAssertEqual(p.y, reference.y, "offset \(offset)"); XCTAssertEqual(p.u, reference.u); XCTAssertEqual(p.v, reference.v)
        }
        // swscale, point-sampled chroma aside, must agree on luma (a different formula would be off by many levels).
        guard let sws = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height), AV_PIX_FMT_YUV420P,
                                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, nil, nil, nil) else { return XCTFail("no swscale") }
        defer { sws_freeContext(sws) }
        var y = [UInt8](repeating: 0, count: width * height + 64), u = [UInt8](repeating: 0, count: width * height / 4 + 64)
        var v = u
        rgb.withUnsafeBufferPointer { s in y.withUnsafeMutableBufferPointer { yb in u.withUnsafeMutableBufferPointer { ub in v.withUnsafeMutableBufferPointer { vb in
            var src: [UnsafePointer<UInt8>?] = [s.baseAddress, nil, nil, nil]
            var srcStride: [Int32] = [Int32(width * 3), 0, 0, 0]
            var dst: [UnsafeMutablePointer<UInt8>?] = [yb.baseAddress, ub.baseAddress, vb.baseAddress, nil]
            var dstStride: [Int32] = [Int32(width), Int32(width / 2), Int32(width / 2), 0]
            sws_scale(sws, &src, &srcStride, 0, Int32(height), &dst, &dstStride)
        } } } }
        let worst = zip(reference.y, y).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(worst, 2, "luma differs from swscale by up to \(worst) levels")
    }
}

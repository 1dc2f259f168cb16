/// RGB24 → planar YUV 4:2:0 (BT.601), in plain integer arithmetic.
///
/// Why not swscale: its x86 paths for RGB24 input round differently depending on where the source rows
/// happen to lie in memory, so the same picture written twice could give different H.264 bytes when the
/// heap was laid out differently (two generator workers allocating at once was enough). The corpus
/// generator promises identical files for a given seed; this kernel depends on nothing but the pixels.
///
/// Chroma is the mean of each 2×2 block of RGB pixels converted once (sited between the four, as MPEG-1
/// and JPEG place it). `fullRange` gives JPEG's 0…255 levels (MJPEG's yuvj420p); otherwise video levels
/// (Y 16…235, Cb/Cr 16…240), which is what an untagged yuv420p stream is read as.
import CFFmpeg

enum RGBToYUV420 {
    /// The encoder pixel formats this kernel writes: planar 4:2:0 at video levels, or at JPEG's full range.
    static func converts(to format: AVPixelFormat) -> Bool {
        format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P
    }

    // 16.16 fixed-point coefficients, rounded once here so every run and every machine agrees.
    private struct Coefficients {
        let yr, yg, yb, yOffset: Int32
        let ur, ug, ub, vr, vg, vb: Int32
        init(fullRange: Bool) {
            let ys = fullRange ? 1.0 : 219.0 / 255.0, cs = fullRange ? 1.0 : 224.0 / 255.0
            func q(_ x: Double) -> Int32 { Int32((x * 65536).rounded()) }
            yr = q(0.299 * ys); yg = q(0.587 * ys); yb = q(0.114 * ys)
            yOffset = fullRange ? 0 : 16
            ur = q(-0.168736 * cs); ug = q(-0.331264 * cs); ub = q(0.5 * cs)
            vr = q(0.5 * cs); vg = q(-0.418688 * cs); vb = q(-0.081312 * cs)
        }
    }
    private static let video = Coefficients(fullRange: false)
    private static let full = Coefficients(fullRange: true)

    @inline(__always) private static func clamp(_ x: Int32) -> UInt8 { UInt8(truncatingIfNeeded: min(255, max(0, x))) }

    // Separate, branch-free loops for luma and chroma so the compiler can vectorise them (stride-3 loads).
    private static func lumaRow(_ p: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<UInt8>, _ width: Int, _ c: Coefficients) {
        for x in 0..<width {
            let r = Int32(p[3 * x]), g = Int32(p[3 * x + 1]), b = Int32(p[3 * x + 2])
            out[x] = clamp(((c.yr &* r &+ c.yg &* g &+ c.yb &* b &+ (1 << 15)) &>> 16) &+ c.yOffset)
        }
    }

    /// Cb and Cr from the mean of each 2×2 block, carried at 4× so the division folds into the final shift.
    private static func chromaRow(_ top: UnsafePointer<UInt8>, _ rgbStride: Int, _ u: UnsafeMutablePointer<UInt8>,
                                  _ v: UnsafeMutablePointer<UInt8>, _ halfWidth: Int, _ c: Coefficients) {
        let bottom = top + rgbStride
        for x in 0..<halfWidth {
            let o = 6 * x
            let r = Int32(top[o]) &+ Int32(top[o + 3]) &+ Int32(bottom[o]) &+ Int32(bottom[o + 3])
            let g = Int32(top[o + 1]) &+ Int32(top[o + 4]) &+ Int32(bottom[o + 1]) &+ Int32(bottom[o + 4])
            let b = Int32(top[o + 2]) &+ Int32(top[o + 5]) &+ Int32(bottom[o + 2]) &+ Int32(bottom[o + 5])
            u[x] = clamp(((c.ur &* r &+ c.ug &* g &+ c.ub &* b &+ (1 << 17)) &>> 18) &+ 128)
            v[x] = clamp(((c.vr &* r &+ c.vg &* g &+ c.vb &* b &+ (1 << 17)) &>> 18) &+ 128)
        }
    }

    /// Converts `width`×`height` (both even) RGB24 rows of `rgbStride` bytes into the three planes.
    static func convert(rgb: UnsafePointer<UInt8>, rgbStride: Int, width: Int, height: Int,
                        y: UnsafeMutablePointer<UInt8>, yStride: Int,
                        u: UnsafeMutablePointer<UInt8>, uStride: Int,
                        v: UnsafeMutablePointer<UInt8>, vStride: Int, fullRange: Bool) {
        precondition(width % 2 == 0 && height % 2 == 0, "RGBToYUV420 needs an even size")
        let c = fullRange ? full : video
        for row in 0..<height {
            lumaRow(rgb + row * rgbStride, y + row * yStride, width, c)
        }
        for row in stride(from: 0, to: height, by: 2) {
            chromaRow(rgb + row * rgbStride, rgbStride, u + (row / 2) * uStride, v + (row / 2) * vStride, width / 2, c)
        }
    }
}

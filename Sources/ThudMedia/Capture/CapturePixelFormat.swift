import CFFmpeg

/// A V4L2 pixel format as its fourcc, with what this module knows about turning it into luma.
public struct FourCC: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt32

    public init(_ code: UInt32) { self.code = code }

    /// "YUYV" → the V4L2 code (little-endian packing, as v4l2_fourcc does).
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard (1...4).contains(bytes.count) else { return nil }
        let padded = bytes + Array(repeating: UInt8(ascii: " "), count: 4 - bytes.count)
        code = UInt32(padded[0]) | UInt32(padded[1]) << 8 | UInt32(padded[2]) << 16 | UInt32(padded[3]) << 24
    }

    public var description: String {
        let chars = (0..<4).map { UInt8(truncatingIfNeeded: code >> (8 * $0)) }
        return String(decoding: chars, as: UTF8.self).trimmingCharacters(in: " ")
    }

    public static let yuyv = FourCC("YUYV")!, uyvy = FourCC("UYVY")!, yvyu = FourCC("YVYU")!, vyuy = FourCC("VYUY")!
    public static let nv12 = FourCC("NV12")!, nv21 = FourCC("NV21")!, nv16 = FourCC("NV16")!, nv61 = FourCC("NV61")!
    public static let yu12 = FourCC("YU12")!, yv12 = FourCC("YV12")!, yuv422p = FourCC("422P")!
    public static let grey = FourCC("GREY")!, rgb24 = FourCC("RGB3")!, bgr24 = FourCC("BGR3")!
    public static let mjpeg = FourCC("MJPG")!, jpeg = FourCC("JPEG")!

    /// Names accepted on the command line (`--format yuyv`), besides raw fourccs.
    public static func parse(_ name: String) -> FourCC? {
        switch name.lowercased() {
        case "yuyv", "yuy2": return .yuyv
        case "uyvy": return .uyvy
        case "nv12": return .nv12
        case "nv21": return .nv21
        case "yu12", "yuv420", "i420": return .yu12
        case "yv12": return .yv12
        case "grey", "gray", "y8": return .grey
        case "rgb24", "rgb3": return .rgb24
        case "bgr24", "bgr3": return .bgr24
        case "mjpeg", "mjpg": return .mjpeg
        case "jpeg": return .jpeg
        default: return name.count == 4 ? FourCC(name.uppercased()) : nil
        }
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let last = s.last, set.contains(last) { s = s.dropLast() }
        return String(s)
    }
}

/// How a captured format reaches luma.
enum LumaSource {
    /// swscale reads it directly; `planes` describes where each plane starts.
    case raw(AVPixelFormat, Planes)
    /// A compressed frame: libavcodec decodes it first.
    case compressed(AVCodecID)

    enum Planes { case packed, yuv420, yuv422, semiplanar420, semiplanar422 }

    /// Auto-negotiation preference, lower is better: luma-first layouts cost least to scale; JPEG
    /// needs a decode; RGB needs a matrix per pixel.
    static func rank(_ f: FourCC) -> Int? {
        switch f {
        case .grey: return 0
        case .yuyv: return 1
        case .uyvy: return 2
        case .nv12: return 3
        case .yu12: return 4
        case .yv12: return 5
        case .nv21: return 6
        case .yvyu: return 7
        case .vyuy: return 8
        case .yuv422p, .nv16, .nv61: return 9
        case .mjpeg: return 10
        case .jpeg: return 11
        case .rgb24: return 12
        case .bgr24: return 13
        default: return nil
        }
    }

    /// Bytes per pixel of the first plane, for drivers that leave bytesperline at 0.
    static func firstPlaneBytesPerPixel(_ f: FourCC) -> Int {
        switch f {
        case .yuyv, .uyvy, .yvyu, .vyuy: return 2
        case .rgb24, .bgr24: return 3
        default: return 1
        }
    }

    init?(_ f: FourCC) {
        switch f {
        case .grey: self = .raw(AV_PIX_FMT_GRAY8, .packed)
        case .yuyv: self = .raw(AV_PIX_FMT_YUYV422, .packed)
        case .uyvy: self = .raw(AV_PIX_FMT_UYVY422, .packed)
        case .yvyu: self = .raw(AV_PIX_FMT_YVYU422, .packed)
        case .vyuy: self = .raw(AV_PIX_FMT_UYVY422, .packed)   // same luma positions as UYVY
        case .nv12: self = .raw(AV_PIX_FMT_NV12, .semiplanar420)
        case .nv21: self = .raw(AV_PIX_FMT_NV21, .semiplanar420)
        case .nv16, .nv61: self = .raw(AV_PIX_FMT_NV16, .semiplanar422)
        case .yu12, .yv12: self = .raw(AV_PIX_FMT_YUV420P, .yuv420)  // chroma order is irrelevant to luma
        case .yuv422p: self = .raw(AV_PIX_FMT_YUV422P, .yuv422)
        case .rgb24: self = .raw(AV_PIX_FMT_RGB24, .packed)
        case .bgr24: self = .raw(AV_PIX_FMT_BGR24, .packed)
        case .mjpeg, .jpeg: self = .compressed(AV_CODEC_ID_MJPEG)
        default: return nil
        }
    }
}

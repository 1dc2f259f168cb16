import CFFmpeg

/// Small helpers around FFmpeg's C API that every media type here shares.
enum FF {
    /// FFmpeg's own text for an error code.
    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        return buffer.withUnsafeMutableBufferPointer { b in
            String(cString: thud_err2str(code, b.baseAddress, b.count))
        }
    }

    static let eof = thud_averror_eof()
    static let eagain = thud_averror_eagain()
    static let invalidData = thud_averror_invaliddata()
    /// What a blocking call returns when the interrupt callback said stop (IOInterrupt: a timeout or a stop request).
    static let exit = thud_averror_exit()
    static let noPTS = thud_nopts_value()

    /// FFmpeg logs to stderr by default; Thud's contract is one line per problem, so the library is
    /// silenced unless THUD_FFMPEG_LOG is set (for debugging a file).
    static let quietOnce: Void = {
        if let level = getenvString("THUD_FFMPEG_LOG") {
            av_log_set_level(Int32(level) ?? AV_LOG_INFO)
        } else {
            av_log_set_level(AV_LOG_QUIET)
        }
    }()

    static func getenvString(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// An exact rational time base (FFmpeg's AVRational), kept integral so that step boundaries
/// (k/12 s) compare exactly against timestamps.
public struct TimeBase: Sendable, Equatable {
    public var num: Int64
    public var den: Int64
    public init(num: Int64, den: Int64) { self.num = num; self.den = den }
    init(_ r: AVRational) { num = Int64(r.num); den = Int64(max(r.den, 1)) }
    public func seconds(_ ticks: Int64) -> Double { Double(ticks) * Double(num) / Double(den) }
}

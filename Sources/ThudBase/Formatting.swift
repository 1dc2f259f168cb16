import Foundation
import Glibc

/// "WxH" (case-insensitive x), both sides within `FrameSize.minSide`…`FrameSize.maxSide`; nil otherwise. Every
/// tool that takes a frame size parses it here and words its own error.
public enum FrameSize {
    /// The smallest side any option accepts, as the help texts and the decoder's picture limits say: a 1-pixel side
    /// cannot be a 4:2:0 picture nor go through a stride-2 conv layer.
    public static let minSide = 2
    /// The largest side any option accepts: 8K video (7680x4320) fits, and one RGB frame stays under 200 MiB.
    public static let maxSide = 8192

    public static func parse(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]),
              (minSide...maxSide).contains(w), (minSide...maxSide).contains(h) else { return nil }
        return (w, h)
    }
}

/// Human-readable figures for progress lines and logs.
public enum Format {
    /// A duration rounded to whole seconds: "42s", "3m07s", "1h05m"; "?" when not finite.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let t = Int(seconds.rounded())
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return t >= 3600 ? "\(t / 3600)h\(two(t % 3600 / 60))m" : t >= 60 ? "\(t / 60)m\(two(t % 60))s" : "\(t)s"
    }

    /// An optional figure with four decimals, or "-" when there is none (no validation set, no hits to score).
    public static func optional(_ value: Double?) -> String {
        guard let value else { return "-" }
        return fixed(value, 4)
    }

    /// `value` with `digits` decimals, as printf's "%.Nf" writes it ("nan", "inf", "-inf" where not finite), without
    /// Foundation's String(format:): for log lines, JSON and CSV numbers.
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([digits, value]) { vsnprintf(&buf, 64, "%.*f", $0) }
        return String(cString: buf)
    }
}

/// A JSON string literal (quotes, backslashes and control characters escaped: C0, and DEL and C1 too, which JSON
/// allows raw but a terminal may act on).
public func jsonString(_ text: String) -> String {
    var out = "\""
    for u in text.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where isControl(u): out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

/// C0, DEL and C1: what a terminal may act on.
public func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) }

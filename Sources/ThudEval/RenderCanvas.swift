// A tiny rasteriser for the charts and the render video: an RGB24 picture with clipped filled rectangles,
// alpha-blended rectangles, lines, bitmap text and blits of decoded frames. Everything draws into one buffer
// allocated at init, so the render loop redraws its frame without allocating.
import Foundation
import ThudMedia

public struct RGBColor: Equatable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public init(hex: UInt32) { self.init(UInt8(hex >> 16 & 0xff), UInt8(hex >> 8 & 0xff), UInt8(hex & 0xff)) }

    public static let white = RGBColor(255, 255, 255)
    public static let black = RGBColor(0, 0, 0)
}

/// One palette for every picture, so a chart and the video use the same colour for the same thing.
public enum ChartPalette {
    public static let target = RGBColor(hex: 0x3B7DD8)       // the audio's envelope
    public static let targetFill = RGBColor(hex: 0xB9D3F5)
    public static let model = RGBColor(hex: 0xE8590C)        // the model's prediction
    public static let motion = RGBColor(hex: 0x7A7F87)       // the weight-free baseline
    public static let motionOnset = RGBColor(hex: 0xB08D57)  // the weight-free baseline's rise
    public static let constant = RGBColor(hex: 0xB08BD9)
    public static let oracle = RGBColor(hex: 0x2F9E44)
    public static let trueHit = RGBColor(hex: 0x2F9E44)
    public static let predictedHit = RGBColor(hex: 0xE03131)
    public static let grid = RGBColor(hex: 0xDDE1E6)
    public static let axis = RGBColor(hex: 0x495057)
    public static let text = RGBColor(hex: 0x212529)
    public static let paper = RGBColor.white
    // The render strip is dark, under a video picture.
    public static let stripBackground = RGBColor(hex: 0x15171C)
    public static let stripGrid = RGBColor(hex: 0x343A40)
    public static let stripText = RGBColor(hex: 0xE9ECEF)
    public static let stripTargetFill = RGBColor(hex: 0x1F3B63)
}

public final class RenderCanvas {
    public let width: Int
    public let height: Int
    /// Packed RGB24 rows, `width * 3` bytes each.
    public let pixels: UnsafeMutableBufferPointer<UInt8>
    public var bytesPerRow: Int { width * 3 }

    public init(width: Int, height: Int, background: RGBColor = .white) {
        precondition(width > 0 && height > 0)
        self.width = width
        self.height = height
        pixels = .allocate(capacity: width * height * 3)
        pixels.initialize(repeating: 0)
        clear(background)
    }

    deinit { pixels.deallocate() }

    public func clear(_ c: RGBColor) { fillRect(x: 0, y: 0, width: width, height: height, color: c) }

    @inline(__always)
    public func setPixel(_ x: Int, _ y: Int, _ c: RGBColor) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let o = (y * width + x) * 3
        pixels[o] = c.r; pixels[o + 1] = c.g; pixels[o + 2] = c.b
    }

    @inline(__always)
    public func pixel(_ x: Int, _ y: Int) -> RGBColor {
        let o = (y * width + x) * 3
        return RGBColor(pixels[o], pixels[o + 1], pixels[o + 2])
    }

    /// Fills the rectangle's part inside the canvas.
    public func fillRect(x: Int, y: Int, width w: Int, height h: Int, color c: RGBColor) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            var o = (yy * width + x0) * 3
            for _ in x0..<x1 {
                pixels[o] = c.r; pixels[o + 1] = c.g; pixels[o + 2] = c.b
                o += 3
            }
        }
    }

    /// Mixes `color` into the rectangle with weight `alpha` (0…1): flashes and translucent bands over video.
    public func blendRect(x: Int, y: Int, width w: Int, height h: Int, color c: RGBColor, alpha: Float) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        let a = max(0, min(1, alpha)), keep = 1 - a
        let cr = a * Float(c.r), cg = a * Float(c.g), cb = a * Float(c.b)
        for yy in y0..<y1 {
            var o = (yy * width + x0) * 3
            for _ in x0..<x1 {
                pixels[o] = UInt8(Float(pixels[o]) * keep + cr + 0.5)
                pixels[o + 1] = UInt8(Float(pixels[o + 1]) * keep + cg + 0.5)
                pixels[o + 2] = UInt8(Float(pixels[o + 2]) * keep + cb + 0.5)
                o += 3
            }
        }
    }

    /// A line from (x0, y0) to (x1, y1) by Bresenham's algorithm, `thickness` pixels wide (a square brush).
    public func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, color c: RGBColor, thickness: Int = 1) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        let lo = -(thickness - 1) / 2, hi = thickness / 2
        while true {
            if thickness <= 1 { setPixel(x, y, c) } else { fillRect(x: x + lo, y: y + lo, width: hi - lo + 1, height: hi - lo + 1, color: c) }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// A filled triangle pointing down (tip at (x, y + size)) or up (tip at (x, y − size)): hit markers.
    public func triangle(x: Int, y: Int, size: Int, pointingDown: Bool, color c: RGBColor) {
        for row in 0...size {
            let half = size - row
            let yy = pointingDown ? y + row : y - row
            fillRect(x: x - half, y: yy, width: 2 * half + 1, height: 1, color: c)
        }
    }

    /// Draws `text` with its top-left corner at (x, y); returns the x after the last character.
    @discardableResult
    public func text(_ text: String, x: Int, y: Int, color c: RGBColor, scale: Int = 1) -> Int {
        var cx = x
        for scalar in text.unicodeScalars {
            let g = BitmapFont.rows(of: scalar)
            // The tuple is walked without building an array (this runs per frame in the render loop).
            withUnsafeBytes(of: g) { rows in
                for r in 0..<BitmapFont.glyphHeight {
                    let bits = rows[r]
                    guard bits != 0 else { continue }
                    for col in 0..<BitmapFont.glyphWidth where bits & (0x10 >> col) != 0 {
                        if scale == 1 { setPixel(cx + col, y + r, c) }
                        else { fillRect(x: cx + col * scale, y: y + r * scale, width: scale, height: scale, color: c) }
                    }
                }
            }
            cx += BitmapFont.advance * scale
        }
        return cx
    }

    /// Copies a packed RGB24 picture with its top-left corner at (x, y), clipped to the canvas.
    public func blit(rgb: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int, bytesPerRow: Int, x: Int, y: Int) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1, let src = rgb.baseAddress, let dst = pixels.baseAddress else { return }
        let count = (x1 - x0) * 3
        for yy in y0..<y1 {
            let s = src + (yy - y) * bytesPerRow + (x0 - x) * 3
            (dst + (yy * width + x0) * 3).update(from: s, count: count)
        }
    }

    /// Fills this canvas's top `rows` rows with `source` shrunk by 2 in each direction (the mean of each 2×2
    /// block): the GIF's picture is written at half size, as GIFs of video compress poorly.
    public func downsample2x(from source: RenderCanvas, rows: Int) {
        precondition(source.width >= 2 * width && source.height >= 2 * rows && rows <= height)
        let sw = source.width
        for y in 0..<rows {
            for x in 0..<width {
                let a = ((2 * y) * sw + 2 * x) * 3, b = a + sw * 3, o = (y * width + x) * 3
                for ch in 0..<3 {
                    let sum = Int(source.pixels[a + ch]) + Int(source.pixels[a + 3 + ch]) + Int(source.pixels[b + ch]) + Int(source.pixels[b + 3 + ch])
                    pixels[o + ch] = UInt8((sum + 2) / 4)
                }
            }
        }
    }

    /// Encodes the canvas as a PNG file through FFmpeg's PNG encoder (MediaWriter, one frame, image2 muxer).
    public func writePNG(to path: String) throws {
        let writer = try MediaWriter(path: path, video: VideoEncodeSettings(width: width, height: height, codec: .png, nominalFrameRate: 1),
                                     audio: nil, format: "image2")
        try writer.writeVideoFrame(rgb: UnsafeBufferPointer(pixels), stride: bytesPerRow, time: 0)
        try writer.finish()
    }

    /// The PNG file's bytes (for data URIs), written through a temporary file.
    public func pngData() throws -> Data {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("thud-chart-\(UUID().uuidString).png").path
        defer { unlink(path) }
        try writePNG(to: path)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }
}

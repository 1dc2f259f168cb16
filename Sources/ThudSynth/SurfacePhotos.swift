import Foundation
import ThudMedia

/// Real photographs for the surface family's ground, walls and prints: every JPEG/PNG under the folders of the
/// Debian packages tools/setup.sh installs (`mypaint-data-extras`: scanned paper, canvas and cork;
/// `mate-backgrounds`: grass, leaves, sand, wood, water…), or under the folders in `THUD_SYNTH_PHOTOS`
/// (colon-separated) when that is set. Decoded once per process through ThudMedia (FFmpeg) at most 512 pixels
/// on the longer side, kept as RGB bytes. None installed: the surface family falls back to procedural textures
/// and says so once on stderr.
final class SurfacePhotos: @unchecked Sendable {
    struct Photo {
        var name: String
        var width: Int, height: Int
        /// RGB24, row-major.
        var pixels: [UInt8]
        /// A flat scan of a material (paper, canvas, cork): usable as a surface as it is.
        var isScan: Bool
        var mean: RGB
        var isGreen: Bool { mean.g > mean.r * 1.08 && mean.g > mean.b * 1.08 }
    }
    static let shared = SurfacePhotos()
    static let defaultRoots = ["/usr/share/mypaint/backgrounds", "/usr/share/backgrounds/mate/nature", "/usr/share/desktop-base"]
    static let maxSide = 512
    let photos: [Photo]
    let roots: [String]

    private init() {
        if let env = ProcessInfo.processInfo.environment["THUD_SYNTH_PHOTOS"], !env.isEmpty {
            roots = env.split(separator: ":").map(String.init)
        } else {
            roots = Self.defaultRoots
        }
        let fm = FileManager.default
        var paths: [String] = []
        for root in roots {
            guard let walker = fm.enumerator(atPath: root) else { continue }
            var found: [String] = []
            while let rel = walker.nextObject() as? String {
                let lower = rel.lowercased()
                guard lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") else { continue }
                // Logos, icons and emblems are not photographs.
                if ["logo", "icon", "emblem"].contains(where: { lower.contains($0) }) { continue }
                let path = root + "/" + rel
                let size = ((try? fm.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
                // Tiny files are flat art; huge ones (16 MB wallpapers) cost more to decode than they add.
                guard size >= 20_000, size <= 8_000_000 else { continue }
                found.append(path)
            }
            paths += found.sorted()
        }
        var photos: [Photo] = []
        for path in paths.prefix(48) {
            guard let input = try? MediaInput(path: path), let info = input.info.video, info.width > 16, info.height > 16 else { continue }
            let s = min(1, Double(Self.maxSide) / Double(max(info.width, info.height)))
            let w = max(16, Int(Double(info.width) * s) & ~1), h = max(16, Int(Double(info.height) * s) & ~1)
            var pixels: [UInt8] = []
            _ = try? input.decode(video: VideoStepRequest(width: w, height: h, pixelFormat: .rgb24), audio: false, onStep: { step in
                pixels = [UInt8](repeating: 0, count: w * h * 3)
                for y in 0..<h {
                    for x in 0..<(w * 3) { pixels[y * w * 3 + x] = step.pixels[y * step.bytesPerRow + x] }
                }
                return false
            })
            guard pixels.count == w * h * 3 else { continue }
            var sum = (0.0, 0.0, 0.0)
            for k in stride(from: 0, to: pixels.count, by: 3) {
                sum.0 += Double(pixels[k]); sum.1 += Double(pixels[k + 1]); sum.2 += Double(pixels[k + 2])
            }
            let n = Double(w * h) * 255
            photos.append(Photo(name: (path as NSString).lastPathComponent, width: w, height: h, pixels: pixels,
                                isScan: path.contains("/mypaint/"), mean: RGB(Float(sum.0 / n), Float(sum.1 / n), Float(sum.2 / n))))
        }
        self.photos = photos
        if photos.isEmpty {
            FileHandle.standardError.write(Data(("thud-synth: warning: no photo textures under \(roots.joined(separator: ", ")) "
                + "(tools/setup.sh installs mypaint-data-extras and mate-backgrounds); the surface family uses procedural textures only\n").utf8))
        }
    }

    /// Bilinear colour at photo pixel coordinates, clamped to the picture.
    @inline(__always) func sample(_ p: Photo, _ x: Double, _ y: Double) -> RGB {
        let fx = max(0, min(Double(p.width) - 1.001, x)), fy = max(0, min(Double(p.height) - 1.001, y))
        let x0 = Int(fx), y0 = Int(fy)
        let tx = Float(fx - Double(x0)), ty = Float(fy - Double(y0))
        func at(_ x: Int, _ y: Int) -> RGB {
            let o = (y * p.width + x) * 3
            return RGB(Float(p.pixels[o]), Float(p.pixels[o + 1]), Float(p.pixels[o + 2])) * (1 / 255)
        }
        let a = at(x0, y0), b = at(x0 + 1, y0), c = at(x0, y0 + 1), d = at(x0 + 1, y0 + 1)
        return a.mix(b, tx).mix(c.mix(d, tx), ty)
    }
}

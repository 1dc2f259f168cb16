import Foundation
import ThudMedia

/// Textures cut from real images: the Debian artwork in the `desktop-base` package (apt), when installed.
/// Decoded once per process through ThudMedia (FFmpeg's PNG decoder) at a small size; without the package
/// the corpus simply uses procedural textures only.
final class PhotoLibrary: @unchecked Sendable {
    static let shared = PhotoLibrary()
    static let root = "/usr/share/desktop-base"
    let width = 320, height = 180
    /// RGB in [0, 1], row-major, one array per image (read-only after init, so threads may share it).
    let images: [[Float]]

    private init() {
        var found: [String] = []
        let fm = FileManager.default
        if let themes = try? fm.contentsOfDirectory(atPath: Self.root) {
            for theme in themes.sorted() {
                let path = "\(Self.root)/\(theme)/grub/grub-16x9.png"
                if fm.fileExists(atPath: path) { found.append(path) }
            }
        }
        var images: [[Float]] = []
        let width = self.width, height = self.height
        for path in found {
            guard let input = try? MediaInput(path: path) else { continue }
            var pixels: [Float] = []
            _ = try? input.decode(video: VideoStepRequest(width: width, height: height, pixelFormat: .rgb24), audio: false, onStep: { step in
                pixels = [Float](repeating: 0, count: width * height * 3)
                for y in 0..<height {
                    for x in 0..<(width * 3) { pixels[y * width * 3 + x] = Float(step.pixels[y * step.bytesPerRow + x]) / 255 }
                }
                return false
            })
            if pixels.count == width * height * 3 { images.append(pixels) }
        }
        self.images = images
    }

    /// Colour at pixel coordinates, mirrored at the edges so any offset and scale tile seamlessly.
    @inline(__always) func sample(_ index: Int, _ x: Float, _ y: Float) -> RGB {
        func mirror(_ v: Int, _ n: Int) -> Int {
            let p = ((v % (2 * n)) + 2 * n) % (2 * n)
            return p < n ? p : 2 * n - 1 - p
        }
        let xi = mirror(Int(x.rounded(.down)), width), yi = mirror(Int(y.rounded(.down)), height)
        let o = (yi * width + xi) * 3
        let img = images[index]
        return RGB(img[o], img[o + 1], img[o + 2])
    }
}

// On-the-fly augmentation of training windows, so that the generator's clean renders and real hand-held video
// meet: one draw of parameters per (seed, epoch, window), applied to the window's frames and the frame before
// it alike, so that the frame difference the model learns from is the difference of two frames seen by the same
// (shaking, noisy, badly compressed) camera. Mirroring stays TrainingSettings.mirror's, applied before. Pure functions of their inputs: a resumed run repeats its windows.
import Foundation
import ThudModel
import ThudBase

/// How strongly windows are augmented: 0 = never, 1 = the full ranges below. Stored in TrainingSettings (and so
/// in the fingerprint a checkpoint is matched against).
public struct AugmentationSettings: Codable, Sendable, Equatable {
    /// Scales every range below (a zoom of up to 1.45 at 1, of up to 1.225 at 0.5, …).
    public var strength: Float
    /// Share of windows left exactly as they are (the model still sees clean frames).
    public var cleanShare: Float = 0.2

    public init(strength: Float) { self.strength = strength }
}

/// The parameters drawn for one window. Geometry maps an output pixel to a source pixel; the photometric and
/// sensor parameters apply after it, in the order a camera would: optics (blur), exposure (brightness, contrast,
/// gamma), sensor noise, then compression.
public struct WindowAugmentation: Equatable, Sendable {
    /// Source = centre + A · (output − centre) + shift; A is rotation · zoom⁻¹ · aspect.
    public var a00: Float = 1, a01: Float = 0, a10: Float = 0, a11: Float = 1
    public var shiftX: Float = 0, shiftY: Float = 0
    /// Per-frame hand-held shake: a random walk of this many pixels' step (at the frame's size), per axis.
    public var shake: Float = 0
    public var brightness: Float = 0
    public var contrast: Float = 1
    public var gamma: Float = 1
    /// 0 = sharp; 1 = a [1 2 1]/4 blur; 2 = that twice.
    public var blurPasses = 0
    /// Gaussian-like sensor noise, gray levels (a new draw every frame, so it shows in the difference too).
    public var noise: Float = 0
    /// Mix of each 8×8 block towards its mean (a codec starving for bits), 0…1, redrawn per frame around this.
    public var blockiness: Float = 0
    /// Chance that a frame repeats the one before it (a camera that drops frames, or runs below 12 Hz).
    public var repeatChance: Float = 0
    /// Seed of the per-frame draws (shake, noise, repeats, blockiness).
    public var frameSeed: UInt64 = 0

    public static let identity = WindowAugmentation()
    public var isIdentity: Bool { self == .identity }

    /// One window's parameters, a pure function of the settings, seed, epoch and window index.
    public static func draw(_ settings: AugmentationSettings, seed: UInt64, epoch: Int, window: Int) -> WindowAugmentation {
        var rng = SplitMix64(seed: seed ^ 0xA076_1D64_78BD_642F ^ (UInt64(epoch) &* 0xE703_7ED1_A0B4_28DB) ^ (UInt64(window) &* 0x8EBC_6AF0_9C88_C6E3))
        let s = settings.strength
        var a = WindowAugmentation()
        guard s > 0, rng.nextUnitFloat() >= settings.cleanShare else { return a }
        func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * rng.nextUnitFloat() }
        func chance(_ p: Float) -> Bool { rng.nextUnitFloat() < p }
        // Geometry: zoom in (crop) 1…1.45, aspect ±15 %, rotation ±8°, the crop placed anywhere it fits.
        let zoom = 1 + 0.45 * s * rng.nextUnitFloat()
        let aspect = Float(exp(Double(uniform(-0.15, 0.15) * s)))
        let angle = uniform(-8, 8) * s * Float.pi / 180
        let sx = aspect.squareRoot() / zoom, sy = 1 / (aspect.squareRoot() * zoom)
        a.a00 = cos(angle) * sx; a.a01 = -sin(angle) * sy
        a.a10 = sin(angle) * sx; a.a11 = cos(angle) * sy
        let room = max(0, 1 - 1 / zoom) / 2   // the crop's free travel, as a share of the frame, each way
        a.shiftX = uniform(-room, room); a.shiftY = uniform(-room, room)   // in frame widths/heights; scaled in apply
        a.shake = chance(0.5) ? uniform(0.2, 1.5) * s : 0
        a.brightness = uniform(-0.15, 0.15) * s
        a.contrast = Float(exp(Double(uniform(-0.4, 0.4) * s)))
        a.gamma = Float(exp(Double(uniform(-0.35, 0.35) * s)))
        a.blurPasses = chance(0.3 * s) ? (chance(0.5) ? 2 : 1) : 0
        a.noise = chance(0.6) ? uniform(0, 6) * s : 0
        a.blockiness = chance(0.3 * s) ? uniform(0.2, 0.7) : 0
        a.repeatChance = chance(0.25 * s) ? uniform(0.05, 0.3) : 0
        a.frameSeed = rng.next()
        return a
    }

    /// Augments `count` gray8 frames of width × height packed in `frames` (the first may be the frame before the
    /// window: it goes through the same camera). `scratch` holds one frame; both are reused by the caller.
    public func apply(frames: inout [UInt8], count: Int, width: Int, height: Int) {
        guard !isIdentity, count > 0, width > 1, height > 1 else { return }
        let n = width * height
        precondition(frames.count >= count * n, "augmenting more frames than given")
        var rng = SplitMix64(seed: frameSeed)
        // Frame-rate jitter first: it happens in the camera, before any processing.
        if repeatChance > 0 {
            for t in 1..<max(1, count) where rng.nextUnitFloat() < repeatChance {
                frames.withUnsafeMutableBufferPointer { p in
                    p.baseAddress!.advanced(by: t * n).update(from: p.baseAddress!.advanced(by: (t - 1) * n), count: n)
                }
            }
        }
        let lut = toneCurve()
        var source = [UInt8](repeating: 0, count: n)
        var plane = [Float](repeating: 0, count: n)
        var walkX: Float = 0, walkY: Float = 0
        let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
        for t in 0..<count {
            if shake > 0 {
                walkX = 0.7 * walkX + shake * Self.gaussian(&rng)
                walkY = 0.7 * walkY + shake * Self.gaussian(&rng)
            }
            let offset = t * n
            for i in 0..<n { source[i] = frames[offset + i] }
            let tx = cx + shiftX * Float(width) + walkX, ty = cy + shiftY * Float(height) + walkY
            source.withUnsafeBufferPointer { src in
                plane.withUnsafeMutableBufferPointer { out in
                    for y in 0..<height {
                        let dy = Float(y) - cy
                        for x in 0..<width {
                            let dx = Float(x) - cx
                            out[y * width + x] = Self.bilinear(src, width, height, tx + a00 * dx + a01 * dy, ty + a10 * dx + a11 * dy)
                        }
                    }
                }
            }
            for _ in 0..<blurPasses { Self.blur121(&plane, width, height) }
            let block = blockiness > 0 ? min(1, max(0, blockiness + 0.2 * Self.gaussian(&rng))) : 0
            if block > 0 { Self.blockMix(&plane, width, height, block) }
            for i in 0..<n {
                var v = lut[Int(min(255, max(0, plane[i].rounded())))]
                if noise > 0 { v += noise * Self.gaussian(&rng) }
                frames[offset + i] = UInt8(min(255, max(0, v.rounded())))
            }
        }
    }

    /// Brightness, contrast about mid-gray and gamma, as a table over the 256 input levels.
    func toneCurve() -> [Float] {
        (0..<256).map { level in
            var v = Float(level) / 255
            v = pow(max(0, v), gamma)
            v = (v - 0.5) * contrast + 0.5 + brightness
            return min(1, max(0, v)) * 255
        }
    }

    /// Bilinear sample with edges clamped (a crop that leaves the frame repeats its border, as a lens would not,
    /// but rarely: the crop's travel keeps it inside but for rotation's corners and the shake).
    @inline(__always)
    static func bilinear(_ p: UnsafeBufferPointer<UInt8>, _ w: Int, _ h: Int, _ x: Float, _ y: Float) -> Float {
        let xc = min(Float(w - 1), max(0, x)), yc = min(Float(h - 1), max(0, y))
        let x0 = min(w - 2, Int(xc)), y0 = min(h - 2, Int(yc))
        let fx = xc - Float(x0), fy = yc - Float(y0)
        let i = y0 * w + x0
        let top = Float(p[i]) * (1 - fx) + Float(p[i + 1]) * fx
        let bottom = Float(p[i + w]) * (1 - fx) + Float(p[i + w + 1]) * fx
        return top * (1 - fy) + bottom * fy
    }

    /// A separable [1 2 1]/4 blur, edges repeated.
    static func blur121(_ p: inout [Float], _ w: Int, _ h: Int) {
        var row = [Float](repeating: 0, count: max(w, h))
        for y in 0..<h {
            for x in 0..<w { row[x] = p[y * w + x] }
            for x in 0..<w { p[y * w + x] = (row[max(0, x - 1)] + 2 * row[x] + row[min(w - 1, x + 1)]) / 4 }
        }
        for x in 0..<w {
            for y in 0..<h { row[y] = p[y * w + x] }
            for y in 0..<h { p[y * w + x] = (row[max(0, y - 1)] + 2 * row[y] + row[min(h - 1, y + 1)]) / 4 }
        }
    }

    /// Each 8×8 block mixed by `amount` towards its own mean.
    static func blockMix(_ p: inout [Float], _ w: Int, _ h: Int, _ amount: Float) {
        for by in stride(from: 0, to: h, by: 8) {
            for bx in stride(from: 0, to: w, by: 8) {
                let ys = by..<min(h, by + 8), xs = bx..<min(w, bx + 8)
                var sum: Float = 0
                for y in ys { for x in xs { sum += p[y * w + x] } }
                let mean = sum / Float(ys.count * xs.count)
                for y in ys { for x in xs { p[y * w + x] += amount * (mean - p[y * w + x]) } }
            }
        }
    }

    /// About N(0, 1): the sum of four uniforms, centred and scaled (cheap and bounded).
    static func gaussian(_ rng: inout SplitMix64) -> Float {
        (rng.nextUnitFloat() + rng.nextUnitFloat() + rng.nextUnitFloat() + rng.nextUnitFloat() - 2) * 1.732
    }
}

extension WindowAugmentation {
    /// One augmentation at a time, at full strength, for a contact sheet: each row shows what one part does. The
    /// parameters are fixed (not drawn) so the sheet is the same every time.
    public static var eachAlone: [(name: String, augmentation: WindowAugmentation)] {
        func with(_ change: (inout WindowAugmentation) -> Void) -> WindowAugmentation {
            var a = WindowAugmentation()
            a.frameSeed = 0x5EED
            change(&a)
            return a
        }
        let angle: Float = 8 * .pi / 180
        return [
            ("crop and zoom 1.45", with { $0.a00 = 1 / 1.45; $0.a11 = 1 / 1.45; $0.shiftX = 0.12; $0.shiftY = -0.1 }),
            ("aspect +15%", with { $0.a00 = 1.0724 ; $0.a11 = 1 / 1.0724 }),
            ("rotation 8 deg", with { $0.a00 = cos(angle); $0.a01 = -sin(angle); $0.a10 = sin(angle); $0.a11 = cos(angle) }),
            ("hand-held shake 1.5 px", with { $0.shake = 1.5 }),
            ("brightness +0.15", with { $0.brightness = 0.15 }),
            ("contrast x0.67", with { $0.contrast = 0.67 }),
            ("gamma 1.42", with { $0.gamma = 1.42 }),
            ("blur, two passes", with { $0.blurPasses = 2 }),
            ("sensor noise 6 levels", with { $0.noise = 6 }),
            ("blockiness 0.7", with { $0.blockiness = 0.7 }),
            ("dropped frames 30%", with { $0.repeatChance = 0.3 }),
        ]
    }
}

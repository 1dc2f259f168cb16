import Foundation

/// Camera and picture settings for one clip, drawn from its seed.
public struct CameraLook: Sendable {
    public var width: Int, height: Int
    /// Camera roll in radians (a hand-held phone is rarely level).
    public var roll: Double
    /// Pixels between the floor line and the (virtual) horizon above it: small = camera high, steep floor.
    public var horizonGap: Double
    public var shakeAmplitude: Double
    public var shakeFrequency: Double
    public var noiseSigma: Float
    public var gain: Float
    public var lightingSwing: Float
    public var lightingRate: Double
    /// A sudden light change (a lamp switched, a cloud) at this time, or never.
    public var lightStepTime: Double
    public var lightStep: Float
    public var colourCast: RGB
    public var exposure: Double      // fraction of the frame interval the shutter is open (motion blur)
    public var wall: Appearance
    public var floor: Appearance

    static func random(width: Int, height: Int, _ rng: inout Xoshiro256) -> CameraLook {
        var wallTex: Texture = rng.pick([.plain, .noise(frequency: Float(rng.uniform(4, 20))),
                                         .stripes(frequency: Float(rng.uniform(8, 30)), vertical: true),
                                         .woodGrain(frequency: Float(rng.uniform(5, 15))), .checker(frequency: Float(rng.uniform(3, 8)))])
        let photos = PhotoLibrary.shared.images.count
        var wallContrast = Float(rng.uniform(0.1, 0.6))
        if photos > 0 && rng.chance(0.3) {
            // A crop of a real image as the backdrop (a poster, a screen, a patterned wall).
            wallTex = .photo(index: rng.int(0, photos - 1), pixelsPerMetre: Float(rng.uniform(150, 600)),
                             offsetU: Float(rng.uniform(0, 320)), offsetV: Float(rng.uniform(0, 180)))
            wallContrast = Float(rng.uniform(0.6, 1))
        }
        let wb = RGB(Float(rng.uniform(0.35, 0.95)), Float(rng.uniform(0.35, 0.95)), Float(rng.uniform(0.35, 0.95)))
        let fb = RGB(Float(rng.uniform(0.25, 0.8)), Float(rng.uniform(0.2, 0.7)), Float(rng.uniform(0.15, 0.6)))
        let floorTex: Texture = rng.pick([.woodGrain(frequency: Float(rng.uniform(10, 40))), .checker(frequency: Float(rng.uniform(2, 6))),
                                          .noise(frequency: Float(rng.uniform(20, 80))), .stripes(frequency: Float(rng.uniform(3, 10)), vertical: false), .plain])
        return CameraLook(
            width: width, height: height,
            roll: rng.gaussian() * 0.025,
            horizonGap: Double(height) * rng.uniform(0.15, 1.2),
            shakeAmplitude: rng.chance(0.6) ? rng.uniform(0.2, 2.5) : 0,
            shakeFrequency: rng.uniform(0.5, 3),
            noiseSigma: Float(rng.chance(0.8) ? rng.uniform(0.002, 0.02) : 0),
            gain: Float(rng.uniform(0.7, 1.15)),
            lightingSwing: Float(rng.chance(0.5) ? rng.uniform(0.02, 0.12) : 0),
            lightingRate: rng.uniform(0.1, 1.0),
            lightStepTime: rng.chance(0.15) ? rng.uniform(0.5, 3) : .infinity,
            lightStep: Float(rng.uniform(-0.25, 0.2)),
            colourCast: RGB(Float(rng.uniform(0.9, 1.1)), Float(rng.uniform(0.92, 1.05)), Float(rng.uniform(0.85, 1.1))),
            exposure: rng.uniform(0.2, 0.9),
            wall: Appearance(base: wb, second: wb * Float(rng.uniform(0.6, 0.9)), texture: wallTex, contrast: wallContrast),
            floor: Appearance(base: fb, second: fb * Float(rng.uniform(0.5, 0.85)), texture: floorTex, contrast: Float(rng.uniform(0.2, 0.8))))
    }
}

/// Cheap lattice value noise in [0, 1): a hash per integer corner, bilinear in between.
@inline(__always) func latticeHash(_ x: Int32, _ y: Int32) -> Float {
    var h = UInt32(bitPattern: x) &* 0x8DA6_B343 ^ UInt32(bitPattern: y) &* 0xD816_3841
    h = (h ^ (h >> 13)) &* 0x5BD1_E995
    h ^= h >> 15
    return Float(h & 0xFFFF) * (1 / 65536)
}
@inline(__always) func valueNoise(_ x: Float, _ y: Float) -> Float {
    let fx = x.rounded(.down), fy = y.rounded(.down)
    let ix = Int32(truncatingIfNeeded: Int(fx)), iy = Int32(truncatingIfNeeded: Int(fy))
    var tx = x - fx, ty = y - fy
    tx = tx * tx * (3 - 2 * tx); ty = ty * ty * (3 - 2 * ty)
    let a = latticeHash(ix, iy), b = latticeHash(ix &+ 1, iy), c = latticeHash(ix, iy &+ 1), d = latticeHash(ix &+ 1, iy &+ 1)
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty
}

extension Appearance {
    /// Colour at texture coordinates (u, v) in metres (body-local or floor/wall coordinates).
    @inline(__always) func colour(_ u: Float, _ v: Float) -> RGB {
        var t: Float
        switch texture {
        case .plain: return base
        case .stripes(let f, let vertical):
            let s = sinf((vertical ? u : v) * f * 6.2832)
            t = s > 0 ? 1 : 0
        case .woodGrain(let f):
            let wobble = valueNoise(u * 8, v * 30) * 2.5
            t = 0.5 + 0.5 * sinf(v * f * 6.2832 + wobble + u * 3)
            t = t * t
        case .noise(let f):
            t = valueNoise(u * f, v * f) * 0.6 + valueNoise(u * f * 3.1, v * f * 3.1) * 0.4
        case .checker(let f):
            let a = Int((u * f).rounded(.down)) + Int((v * f).rounded(.down))
            t = (a & 1) == 0 ? 0 : 1
        case .photo(let index, let pixelsPerMetre, let ou, let ov):
            let c = PhotoLibrary.shared.sample(index, u * pixelsPerMetre + ou, -v * pixelsPerMetre + ov)
            return base.mix(c, contrast)
        }
        return base.mix(second, t * contrast)
    }
}

/// Draws a scene's frames into RGB24. Owns its buffers so that the per-frame loop does not allocate.
public final class Renderer {
    public let look: CameraLook
    let scene: Scene
    let width: Int, height: Int
    /// Background margin in pixels around the picture, so camera shake can slide the window.
    let margin = 4
    let bgWidth: Int, bgHeight: Int
    var background: [Float]
    var canvas: [Float]
    /// The finished picture: RGB24 rows of `rgbStride` bytes.
    public let rgb: UnsafeMutableBufferPointer<UInt8>
    public let rgbStride: Int
    var accCoverage: [Float] = []
    var accColour: [Float] = []
    /// Per-frame colour gains, one per float of an RGB row (r, g, b repeated): lets the final pass be one
    /// multiply-add per sample.
    var gainRow: [Float]
    var rng: Xoshiro256
    let scale: Double
    let floorRow: Double
    let rollCos: Double, rollSin: Double

    init(scene: Scene, look: CameraLook, seed: UInt64) {
        self.scene = scene; self.look = look
        width = look.width; height = look.height
        bgWidth = width + 2 * margin; bgHeight = height + 2 * margin
        background = [Float](repeating: 0, count: bgWidth * bgHeight * 3)
        canvas = [Float](repeating: 0, count: width * height * 3)
        // 64-byte aligned rows with zeroed slack: the content hash covers whole rows, slack included, so
        // the slack must be the same in every run. (The alignment dates from when the writer converted with
        // swscale, whose output depended on it; ThudMedia's own RGB→YUV kernel does not care.)
        rgbStride = (width * 3 + 63) & ~63
        let bytes = rgbStride * (height + 2) + 256
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        rgb = UnsafeMutableBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self), count: bytes)
        rng = Xoshiro256(seed: seed)
        gainRow = [Float](repeating: 0, count: width * 3)
        floorRow = scene.floorFraction * Double(height)
        scale = min(Double(width) / scene.viewWidth, floorRow / scene.viewTop)
        rollCos = cos(look.roll); rollSin = sin(look.roll)
        drawBackground()
    }

    deinit { rgb.deallocate() }

    /// World point → picture pixel (before shake).
    public func toScreen(_ p: Vec2) -> Vec2 {
        let ux = Double(width) / 2 + (p.x - scene.viewCenterX) * scale
        let uy = floorRow - p.y * scale
        let dx = ux - Double(width) / 2, dy = uy - Double(height) / 2
        return Vec2(Double(width) / 2 + rollCos * dx - rollSin * dy, Double(height) / 2 + rollSin * dx + rollCos * dy)
    }
    /// Picture pixel → world point (inverse of `toScreen`).
    func toWorld(_ s: Vec2) -> Vec2 {
        let dx = s.x - Double(width) / 2, dy = s.y - Double(height) / 2
        let ux = Double(width) / 2 + rollCos * dx + rollSin * dy, uy = Double(height) / 2 - rollSin * dx + rollCos * dy
        return Vec2(scene.viewCenterX + (ux - Double(width) / 2) / scale, (floorRow - uy) / scale)
    }

    private func drawBackground() {
        let wall = look.wall, floor = look.floor
        let gap = look.horizonGap
        for by in 0..<bgHeight {
            for bx in 0..<bgWidth {
                let w = toWorld(Vec2(Double(bx - margin) + 0.5, Double(by - margin) + 0.5))
                var c: RGB
                if w.y >= 0 {
                    // Wall: lit from above, a soft gradient plus its texture.
                    c = wall.colour(Float(w.x), Float(w.y)) * Float(1.05 - 0.25 * min(1, w.y / 0.6))
                } else {
                    // Perspective floor: depth grows as rows approach the horizon above the floor line.
                    let rowsBelow = -w.y * scale
                    let z = gap / (rowsBelow + gap * 0.08)          // 1/distance-like
                    let u = (w.x - scene.viewCenterX) * (gap / (rowsBelow + gap)) * 3 + scene.viewCenterX
                    c = floor.colour(Float(u), Float(z * 0.3)) * Float(0.75 + 0.3 * min(1, rowsBelow / Double(height)))
                    // Contact shadow line where floor meets wall.
                    if rowsBelow < 2 { c = c * 0.8 }
                }
                let o = (by * bgWidth + bx) * 3
                background[o] = c.r; background[o + 1] = c.g; background[o + 2] = c.b
            }
        }
    }

    /// Renders the picture at time `t` with the body poses given by `pose(body, time)`; `interval` is the
    /// frame interval (for motion blur). The result is in `rgb`.
    func render(time t: Double, interval: Double, frameIndex: Int, pose: (Int, Double) -> (Vec2, Double)) {
        // Camera shake: a slow wobble of whole pixels (the background window slides within its margin).
        let sx = Int((look.shakeAmplitude * sin(t * look.shakeFrequency * 6.28 + 1.3)
                      + 0.5 * look.shakeAmplitude * sin(t * look.shakeFrequency * 17.1)).rounded())
        let sy = Int((look.shakeAmplitude * cos(t * look.shakeFrequency * 5.1 + 0.4)).rounded())
        let ox = max(-margin, min(margin, sx)), oy = max(-margin, min(margin, sy))
        canvas.withUnsafeMutableBufferPointer { dst in
            background.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    let s = ((y + margin + oy) * bgWidth + margin + ox) * 3
                    let d = y * width * 3
                    (dst.baseAddress! + d).update(from: src.baseAddress! + s, count: width * 3)
                }
            }
        }
        let order = scene.world.bodies.indices.filter { scene.world.bodies[$0].name != "floor" }
            .sorted { scene.world.bodies[$0].depth < scene.world.bodies[$1].depth }
        for i in order {
            drawBody(i, time: t, interval: interval, shift: Vec2(Double(-ox), Double(-oy)), pose: pose)
        }
        finish(time: t, frameIndex: frameIndex)
    }

    private func drawBody(_ i: Int, time t: Double, interval: Double, shift: Vec2, pose: (Int, Double) -> (Vec2, Double)) {
        let body = scene.world.bodies[i]
        let look = scene.appearances[body.appearance]
        let open = interval * self.look.exposure
        let (pa, aa) = pose(i, t - open / 2), (pb, ab) = pose(i, t + open / 2)
        let r = body.shape.boundingRadius
        let travel = (pb - pa).length * scale + abs(ab - aa) * r * scale
        let subs = max(1, min(8, Int(travel / 1.5)))
        // Bounding box of the swept shape on screen, clipped to the picture.
        let ca = toScreen(pa) + shift, cb = toScreen(pb) + shift
        var x0: Double, x1: Double, y0: Double, y1: Double
        switch body.shape {
        case .circle:
            let rr = r * scale + 2
            x0 = min(ca.x, cb.x) - rr; x1 = max(ca.x, cb.x) + rr; y0 = min(ca.y, cb.y) - rr; y1 = max(ca.y, cb.y) + rr
        case .polygon(let verts):
            x0 = .infinity; x1 = -.infinity; y0 = .infinity; y1 = -.infinity
            for (p, a) in [(pa, aa), (pb, ab), pose(i, t)] {
                let c = cos(a), s = sin(a)
                for v in verts {
                    let q = toScreen(p + v.rotated(c, s)) + shift
                    x0 = min(x0, q.x); x1 = max(x1, q.x); y0 = min(y0, q.y); y1 = max(y1, q.y)
                }
            }
            x0 -= 2; y0 -= 2; x1 += 2; y1 += 2
        }
        let ix0 = max(0, Int(x0)), ix1 = min(width - 1, Int(x1)), iy0 = max(0, Int(y0)), iy1 = min(height - 1, Int(y1))
        guard ix0 <= ix1, iy0 <= iy1 else { return }
        let bw = ix1 - ix0 + 1, bh = iy1 - iy0 + 1
        if accCoverage.count < bw * bh {
            accCoverage = [Float](repeating: 0, count: bw * bh * 2)
            accColour = [Float](repeating: 0, count: bw * bh * 6)
        }
        for k in 0..<(bw * bh) { accCoverage[k] = 0 }
        for k in 0..<(bw * bh * 3) { accColour[k] = 0 }
        let pxPerM = Float(scale)
        let extentY: Float
        switch body.shape {
        case .circle(let rr): extentY = Float(rr)
        case .polygon(let v): extentY = Float(v.map(\.y).max() ?? 0.01)
        }
        // Raw pointers inside the pixel loops: Swift's exclusivity checks on the stored arrays cost more than the maths.
        accCoverage.withUnsafeMutableBufferPointer { accCoverage in
        accColour.withUnsafeMutableBufferPointer { accColour in
        canvas.withUnsafeMutableBufferPointer { canvas in
        for sub in 0..<subs {
            let st = subs == 1 ? t : t - open / 2 + open * Double(sub) / Double(subs - 1)
            let (p, a) = pose(i, st)
            // Pixel → body-local metres: an affine map, stepped incrementally along each row.
            let c0 = toWorld(Vec2(Double(ix0) + 0.5 - shift.x, Double(iy0) + 0.5 - shift.y)) - p
            let cx = toWorld(Vec2(Double(ix0) + 1.5 - shift.x, Double(iy0) + 0.5 - shift.y)) - p - c0
            let cy = toWorld(Vec2(Double(ix0) + 0.5 - shift.x, Double(iy0) + 1.5 - shift.y)) - p - c0
            let ca = cos(-a), sa = sin(-a)
            let l0 = c0.rotated(ca, sa), lx = cx.rotated(ca, sa), ly = cy.rotated(ca, sa)
            let l0x = Float(l0.x), l0y = Float(l0.y), dxx = Float(lx.x), dxy = Float(lx.y), dyx = Float(ly.x), dyy = Float(ly.y)
            var radius: Float = 0
            var edges: [(Float, Float, Float)] = []   // outward normal (nx, ny) and offset: n·p - d
            switch body.shape {
            case .circle(let rr): radius = Float(rr)
            case .polygon(let v):
                for k in 0..<v.count {
                    let e = v[(k + 1) % v.count] - v[k]
                    let n = Vec2(e.y, -e.x).normalized
                    edges.append((Float(n.x), Float(n.y), Float(n.dot(v[k]))))
                }
            }
            let isCircle = radius > 0
            for yy in 0..<bh {
                var u = l0x + dyx * Float(yy), v = l0y + dyy * Float(yy)
                let rowBase = yy * bw
                for xx in 0..<bw {
                    defer { u += dxx; v += dxy }
                    var sd: Float
                    if isCircle {
                        sd = (u * u + v * v).squareRoot() - radius
                    } else {
                        sd = -Float.greatestFiniteMagnitude
                        for e in edges { sd = max(sd, e.0 * u + e.1 * v - e.2) }
                    }
                    let cov = min(1, max(0, 0.5 - sd * pxPerM))
                    if cov <= 0 { continue }
                    var col = look.colour(u, v)
                    // Lit from above: the top is brighter; a sheen band on glossy things.
                    var shade = 0.8 + 0.3 * (v / extentY)
                    if look.sheen > 0 { let d = v / extentY - 0.55; shade += look.sheen * max(0, 1 - d * d * 40) * 0.5 }
                    if isCircle { shade *= 1 - 0.35 * ((u * u + v * v) / (radius * radius)) }
                    col = col * shade
                    let k = rowBase + xx
                    accCoverage[k] += cov
                    accColour[k * 3] += col.r * cov; accColour[k * 3 + 1] += col.g * cov; accColour[k * 3 + 2] += col.b * cov
                }
            }
        }
        // Composite the average of the sub-frames: exact motion blur for this body over what lies behind it.
        let inv = 1 / Float(subs)
        for yy in 0..<bh {
            for xx in 0..<bw {
                let k = yy * bw + xx
                let cov = accCoverage[k]
                if cov <= 0 { continue }
                let alpha = min(1, cov * inv)
                let o = ((iy0 + yy) * width + ix0 + xx) * 3
                let ic = 1 / cov
                canvas[o] += (accColour[k * 3] * ic - canvas[o]) * alpha
                canvas[o + 1] += (accColour[k * 3 + 1] * ic - canvas[o + 1]) * alpha
                canvas[o + 2] += (accColour[k * 3 + 2] * ic - canvas[o + 2]) * alpha
            }
        }
        }
        }
        }
    }

    /// Lighting, colour cast and sensor noise, then 8-bit.
    private func finish(time t: Double, frameIndex: Int) {
        var g = look.gain * (1 + look.lightingSwing * Float(sin(t * look.lightingRate * 6.28)))
        if t >= look.lightStepTime { g *= 1 + look.lightStep }
        let gains = (g * look.colourCast.r, g * look.colourCast.g, g * look.colourCast.b)
        for x in 0..<width { gainRow[3 * x] = gains.0; gainRow[3 * x + 1] = gains.1; gainRow[3 * x + 2] = gains.2 }
        let sigma = look.noiseSigma
        // This frame's sensor noise: a window of the shared table starting anywhere, so frames differ.
        var noiseStart = 3 * Int(rng.next() % UInt64(SensorNoise.pixels))
        let rowFloats = width * 3
        canvas.withUnsafeBufferPointer { srcBuffer in
            gainRow.withUnsafeBufferPointer { gainBuffer in
                let noise = SensorNoise.table.baseAddress!, gain = gainBuffer.baseAddress!
                for y in 0..<height {
                    // The table's slack holds one row of the widest corpus picture (640); a wider picture
                    // (thud-synth sample --size allows up to 4096) starts such a row over from the table's head.
                    if noiseStart + rowFloats > SensorNoise.table.count { noiseStart = 0 }
                    SensorNoise.finishRow(src: srcBuffer.baseAddress! + y * rowFloats, gain: gain, noise: noise + noiseStart,
                                          sigma: sigma, out: rgb.baseAddress! + y * rgbStride, count: rowFloats)
                    noiseStart += rowFloats
                    if noiseStart >= 3 * SensorNoise.pixels { noiseStart -= 3 * SensorNoise.pixels }
                }
            }
        }
        _ = frameIndex
    }

    /// Whether a world point is in the picture and not behind a front occluder (for a hit's `visible` flag).
    public func isVisible(_ p: Vec2) -> Bool {
        let s = toScreen(p)
        guard s.x >= 0, s.x < Double(width), s.y >= 0, s.y < Double(height) else { return false }
        for i in scene.occluders {
            let b = scene.world.bodies[i]
            guard case .polygon(let v) = b.shape else { continue }
            let c = cos(-b.angle), sn = sin(-b.angle)
            let l = (p - b.position).rotated(c, sn)
            let xs = v.map(\.x), ys = v.map(\.y)
            if l.x >= xs.min()! - 0.01 && l.x <= xs.max()! + 0.01 && l.y >= ys.min()! - 0.02 && l.y <= ys.max()! + 0.01 { return false }
        }
        return true
    }
}


/// Sensor noise shared by every renderer: Gaussian samples laid out as RGB triples (luma-correlated noise
/// plus a little per channel, r = n + c/2, g = n, b = n − c/2, as a phone sensor shows), made once per
/// process from a fixed seed. A frame reads a window of it from a start drawn from the clip's own RNG.
/// Why a table laid out like the picture: the final pass over every sample of every frame becomes one
/// multiply-add and a clamp per float, which the compiler vectorises (it was a quarter of the generator's time).
enum SensorNoise {
    /// More than the largest picture (640x360), so a frame never sees the same noise twice.
    static let pixels = 1 << 18
    /// `pixels` triples, then one picture row more, so a row that starts near the end can run on past it.
    static let table: UnsafeBufferPointer<Float> = {
        var rng = Xoshiro256(seed: 0x5EED_0F_5E45_0125)
        let slack = 640 * 3
        let t = UnsafeMutableBufferPointer<Float>.allocate(capacity: pixels * 3 + slack)
        for k in 0..<pixels {
            let n = Float(rng.gaussian()), c = Float(rng.gaussian()) * 0.5
            t[3 * k] = n + c; t[3 * k + 1] = n; t[3 * k + 2] = n - c
        }
        for i in 0..<slack { t[pixels * 3 + i] = t[i] }
        return UnsafeBufferPointer(t)
    }()

    /// out[j] = round(clamp((src[j]·gain[j] + noise[j]·sigma)·255, 0, 255)), for `count` floats of a row.
    @inline(__always)
    static func finishRow(src: UnsafePointer<Float>, gain: UnsafePointer<Float>, noise: UnsafePointer<Float>, sigma: Float,
                          out: UnsafeMutablePointer<UInt8>, count: Int) {
        for j in 0..<count {
            let v = Swift.max(0, Swift.min(255, (src[j] * gain[j] + noise[j] * sigma) * 255))
            // Adding 1.5·2²³ leaves round-to-nearest(v) in the low mantissa bits: a branch-free conversion.
            out[j] = UInt8(truncatingIfNeeded: (v + 12_582_912).bitPattern)
        }
    }
}

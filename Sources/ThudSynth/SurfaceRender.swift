import Foundation

/// A pinhole camera over the surface: panorama pixel coordinates (the picture plus a margin for shake and drift).
struct SurfaceCamera {
    var pos: V3, right: V3, up: V3, fwd: V3
    var focal: Double, cx: Double, cy: Double

    init(pose: SurfaceCameraPose, width: Int, panoWidth: Int, panoHeight: Int) {
        let dir = V3(cos(pose.elevation) * cos(pose.azimuth), cos(pose.elevation) * sin(pose.azimuth), sin(pose.elevation))
        pos = pose.target + dir * pose.distance
        fwd = (pose.target - pos).normalized
        let r0 = fwd.cross(V3(0, 0, 1)).normalized
        let u0 = r0.cross(fwd)
        right = r0 * cos(pose.roll) + u0 * sin(pose.roll)
        up = u0 * cos(pose.roll) - r0 * sin(pose.roll)
        focal = Double(width) / 2 / tan(pose.hfov / 2)
        cx = Double(panoWidth) / 2; cy = Double(panoHeight) / 2
    }

    /// World point → panorama pixel and depth along the view axis.
    @inline(__always) func project(_ p: V3) -> (Double, Double, Double) {
        let r = p - pos
        let z = max(0.02, r.dot(fwd))
        return (cx + focal * r.dot(right) / z, cy - focal * r.dot(up) / z, z)
    }
    @inline(__always) func ray(_ x: Double, _ y: Double) -> V3 { fwd + right * ((x - cx) / focal) - up * ((y - cy) / focal) }
}

/// Hand-held camera motion as a shift of the panorama: a slow drift (the framing wanders by up to a tenth of the
/// picture) and a shake of a few pixels at 1–6 Hz. (A pure shift keeps the per-frame warp one vectorised
/// four-tap blend per sample; the camera's roll is fixed per clip.)
struct HandHeld {
    var shake: [(ax: Double, ay: Double, f: Double, px: Double, py: Double)] = []
    var drift: [(ax: Double, ay: Double, f: Double, px: Double, py: Double)] = []
    var limit = 0.0

    init(width: Int, _ rng: inout Xoshiro256) {
        let px = Double(width) / 640
        let steady = rng.chance(0.2) ? 0.2 : 1
        for _ in 0..<3 {
            shake.append((rng.uniform(0.2, 2.5) * px * steady, rng.uniform(0.2, 2.5) * px * steady, rng.uniform(0.8, 6),
                          rng.uniform(0, 6.3), rng.uniform(0, 6.3)))
        }
        for _ in 0..<2 {
            drift.append((rng.uniform(0, 0.04) * Double(width) * steady, rng.uniform(0, 0.03) * Double(width) * steady, rng.uniform(0.04, 0.3),
                          rng.uniform(0, 6.3), rng.uniform(0, 6.3)))
        }
        limit = 0.1 * Double(width)
    }

    /// (dx, dy, roll, scale) at time t.
    func at(_ t: Double) -> (Double, Double, Double, Double) {
        var dx = 0.0, dy = 0.0
        for s in shake { dx += s.ax * sin(2 * .pi * s.f * t + s.px); dy += s.ay * sin(2 * .pi * s.f * 1.13 * t + s.py) }
        for s in drift { dx += s.ax * sin(2 * .pi * s.f * t + s.px); dy += s.ay * sin(2 * .pi * s.f * 0.87 * t + s.py) }
        dx = max(-limit, min(limit, dx)); dy = max(-limit, min(limit, dy))
        return (dx, dy, 0, 1)
    }
}

/// Draws a SurfaceScene's frames into RGB24: the ground and wall rendered once per clip into a panorama through
/// the camera's homography, warped per frame by the hand-held motion (averaged over the shutter when it moves
/// fast); shadows and capsules drawn on top, each averaged over sub-frame positions inside a real shutter time
/// (motion blur); then vignetting, exposure, colour cast and sensor noise.
final class SurfaceRenderer {
    let scene: SurfaceScene
    let width: Int, height: Int
    let margin: Int
    let panoW: Int, panoH: Int
    let camera: SurfaceCamera
    let handHeld: HandHeld
    /// RGB rows of the panorama (ground and wall through the camera, rendered once per clip).
    var pano: [Float]
    var canvas: [Float]
    var vignette: [Float]
    var shadow: [Float]
    var shadowSample: [Float]
    var accCoverage: [Float] = []
    var accColour: [Float] = []
    public let rgb: UnsafeMutableBufferPointer<UInt8>
    let rgbStride: Int
    var gainRow: [Float]
    var rng: Xoshiro256
    /// Seconds the shutter is open (1/30 … 1/500 s, never longer than the frame interval).
    let shutter: Double
    let noiseSigma: Float
    let gain: Float
    let colourCast: RGB
    let flicker: Float, flickerRate: Double
    let ambient: Float

    init(scene: SurfaceScene, width: Int, height: Int, seed: UInt64) {
        self.scene = scene; self.width = width; self.height = height
        rng = Xoshiro256(seed: seed)
        margin = (Int((0.14 * Double(width)).rounded(.up)) + 1) & ~1
        panoW = width + 2 * margin; panoH = height + 2 * margin
        camera = SurfaceCamera(pose: scene.camera, width: width, panoWidth: panoW, panoHeight: panoH)
        handHeld = HandHeld(width: width, &rng)
        let speeds: [Double] = [30, 50, 60, 60, 100, 125, 250, 500]
        shutter = 1 / rng.pick(speeds)
        // Long exposures mean dim rooms: noisier pictures.
        noiseSigma = Float(rng.uniform(0.003, 0.012) * (shutter > 0.015 ? 2 : 1))
        gain = Float(rng.uniform(0.8, 1.15))
        colourCast = RGB(Float(rng.uniform(0.9, 1.1)), Float(rng.uniform(0.93, 1.05)), Float(rng.uniform(0.85, 1.1)))
        flicker = Float(rng.chance(0.3) ? rng.uniform(0.01, 0.06) : 0); flickerRate = rng.uniform(0.2, 2)
        ambient = Float(rng.uniform(0.85, 1.05))
        pano = [Float](repeating: 0, count: panoW * panoH * 3)
        canvas = [Float](repeating: 0, count: width * height * 3)
        shadow = [Float](repeating: 0, count: width * height)
        shadowSample = [Float](repeating: 0, count: width * height)
        rgbStride = (width * 3 + 63) & ~63
        let bytes = rgbStride * (height + 2) + 256
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        rgb = UnsafeMutableBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self), count: bytes)
        gainRow = [Float](repeating: 0, count: width * 3)
        vignette = [Float](repeating: 1, count: width * height * 3)
        let k = Float(rng.uniform(0.1, 0.45))
        let hw = Float(width) / 2, hh = Float(height) / 2, diag = hw * hw + hh * hh
        for y in 0..<height {
            for x in 0..<width {
                let dx: Float = Float(x) + 0.5 - hw
                let dy: Float = Float(y) + 0.5 - hh
                let r2: Float = dx * dx + dy * dy
                let v: Float = 1 - k * r2 / diag
                for c in 0..<3 { vignette[(y * width + x) * 3 + c] = v }
            }
        }
        drawPanorama()
    }

    deinit { rgb.deallocate() }

    private func drawPanorama() {
        let ground = SurfaceTextures.ground(scene.kind, &rng)
        let wall = SurfaceTextures.wall(&rng)
        let c = camera
        let target = scene.camera.target
        var fh = V3(c.fwd.x, c.fwd.y, 0)
        if fh.length < 1e-6 { fh = V3(1, 0, 0) }
        fh = fh.normalized
        let along = fh.cross(V3(0, 0, 1))
        let wallDistance = rng.uniform(0.6, 2.0)
        let wallPoint = target + fh * wallDistance
        let lamp = target + V3(rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), 0)
        let lampSpread = rng.uniform(0.3, 1.0), lampGain = rng.uniform(0.1, 0.4)
        let wallGain = rng.uniform(0.6, 0.95)
        let texU = rng.uniform(0, 5), texV = rng.uniform(0, 5)
        let skew = rng.uniform(0, 2 * .pi)
        let (cs, sn) = (cos(skew), sin(skew))
        for j in 0..<panoH {
            for i in 0..<panoW {
                var sum = RGB(0, 0, 0)
                for sub in 0..<4 {
                    let x = Double(i) + 0.25 + 0.5 * Double(sub & 1), y = Double(j) + 0.25 + 0.5 * Double(sub >> 1)
                    let d = c.ray(x, y)
                    let sGround = d.z < -1e-9 ? -c.pos.z / d.z : Double.infinity
                    let dn = d.dot(fh)
                    let sWall = dn > 1e-9 ? (wallPoint - c.pos).dot(fh) / dn : Double.infinity
                    if sGround < sWall {
                        let p = c.pos + d * sGround
                        let len = d.length
                        let footprint = sGround * len / c.focal * 0.5 * (len / max(0.05, -d.z)).squareRoot()
                        let u = p.x * cs - p.y * sn + texU, v = p.x * sn + p.y * cs + texV
                        let q = p - lamp
                        let light = 0.8 + lampGain * exp(-(q.x * q.x + q.y * q.y) / (2 * lampSpread * lampSpread))
                        sum = sum + ground.sample(u, v, footprint: footprint) * Float(light)
                    } else if sWall.isFinite {
                        let p = c.pos + d * sWall
                        let footprint = sWall * d.length / c.focal * 0.5
                        // The wall meets the surface in a darker line.
                        let shade = wallGain * (p.z < 0.01 ? 0.7 : 1)
                        sum = sum + wall.sample(p.dot(along) + 3, 5 - p.z, footprint: footprint) * Float(shade)
                    } else {
                        sum = sum + wall.sample(0, 0, footprint: 10) * Float(wallGain)
                    }
                }
                let o = (j * panoW + i) * 3
                pano[o] = sum.r * 0.25; pano[o + 1] = sum.g * 0.25; pano[o + 2] = sum.b * 0.25
            }
        }
    }

    /// Panorama → picture at time t.
    @inline(__always) func toPicture(_ px: Double, _ py: Double, _ m: (Double, Double, Double, Double)) -> (Double, Double) {
        let (dx, dy, roll, s) = m
        let x = px - Double(panoW) / 2, y = py - Double(panoH) / 2
        let c = cos(roll) * s, sn = sin(roll) * s
        return (c * x - sn * y + Double(width) / 2 + dx, sn * x + c * y + Double(height) / 2 + dy)
    }

    /// World point → picture pixel at time t (for a hit's position and visibility).
    func toScreen(_ p: V3, time t: Double) -> (Double, Double) {
        let (x, y, _) = camera.project(p)
        return toPicture(x, y, handHeld.at(t))
    }

    /// A capsule on screen: end centres and radii in picture pixels.
    struct ScreenCapsule { var ax, ay, ar, bx, by, br: Float; var depth: Double }

    func screen(_ c: Capsule, _ m: (Double, Double, Double, Double)) -> ScreenCapsule {
        let (ax, ay, az) = camera.project(c.a), (bx, by, bz) = camera.project(c.b)
        let (pax, pay) = toPicture(ax, ay, m), (pbx, pby) = toPicture(bx, by, m)
        let f = camera.focal * m.3
        return ScreenCapsule(ax: Float(pax), ay: Float(pay), ar: Float(c.ra * f / az), bx: Float(pbx), by: Float(pby), br: Float(c.rb * f / bz),
                             depth: (az + bz) / 2 - c.depthBias)
    }

    func render(time t: Double, interval: Double) {
        let open = min(shutter, interval)
        warp(t, open)
        // Each part's sub-frame count from its own travel on screen while the shutter is open.
        let m0 = handHeld.at(t - open / 2), m1 = handHeld.at(t + open / 2)
        let before = scene.capsules(t - open / 2), after = scene.capsules(t + open / 2)
        var counts: [Int] = []
        for k in before.indices {
            let a = screen(before[k], m0), b = screen(after[k], m1)
            let travel = max(abs(a.ax - b.ax) + abs(a.ay - b.ay), abs(a.bx - b.bx) + abs(a.by - b.by))
            counts.append(max(1, min(12, Int(travel / 1.5) + 1)))
        }
        // Sub-frame poses for each count that occurs (n evenly spaced times inside the shutter).
        var byCount: [Int: [[Capsule]]] = [:]
        var matrices: [Int: [(Double, Double, Double, Double)]] = [:]
        for n in Set(counts) {
            var lists: [[Capsule]] = [], ms: [(Double, Double, Double, Double)] = []
            for k in 0..<n {
                let st = n == 1 ? t : t - open / 2 + open * (Double(k) + 0.5) / Double(n)
                lists.append(scene.capsules(st)); ms.append(handHeld.at(st))
            }
            byCount[n] = lists; matrices[n] = ms
        }
        func samples(_ i: Int) -> [Capsule] { byCount[counts[i]]!.map { $0[i] } }
        func screens(_ i: Int) -> [ScreenCapsule] {
            let n = counts[i], lists = byCount[n]!, ms = matrices[n]!
            return (0..<n).map { screen(lists[$0][i], ms[$0]) }
        }
        let mNow = handHeld.at(t)
        let now = scene.capsules(t)
        // Shadows: at most three sub-frames each (their penumbra blurs them anyway).
        drawShadows(now.indices.map { i -> [(ScreenCapsule, Float, Float, Float)] in
            let n = counts[i], lists = byCount[n]!, ms = matrices[n]!
            let pick = n <= 3 ? Array(0..<n) : [n / 6, n / 2, n - 1 - n / 6]
            return pick.map { shadowOf(lists[$0][i], ms[$0]) }
        })
        // Far parts first; each part's sub-frames averaged and composited over what lies behind it.
        let depth = now.map { screen($0, mNow).depth }
        let order = now.indices.sorted { depth[$0] > depth[$1] }
        for i in order {
            drawCapsule(screens(i), look: scene.looks[now[i].look], length: Float((now[i].b - now[i].a).length))
        }
        _ = samples
        finish(t)
    }

    /// The shadow a capsule casts on the surface along the light: its ends projected to z = 0; softer and fainter
    /// the higher they are. Returns the screen capsule and the softness (px) and darkness at each end.
    func shadowOf(_ c: Capsule, _ m: (Double, Double, Double, Double)) -> (ScreenCapsule, Float, Float, Float) {
        let l = scene.light
        let a = c.a - l * (max(0, c.a.z) / l.z), b = c.b - l * (max(0, c.b.z) / l.z)
        var s = screen(Capsule(a: V3(a.x, a.y, 0), b: V3(b.x, b.y, 0), ra: c.ra, rb: c.rb, look: 0), m)
        let fa = Float(camera.focal * m.3 / camera.project(a).2), fb = Float(camera.focal * m.3 / camera.project(b).2)
        let softA = 0.8 + Float(c.a.z) * 0.12 * fa, softB = 0.8 + Float(c.b.z) * 0.12 * fb
        s.ar += softA * 0.3; s.br += softB * 0.3
        let h = Float(min(c.a.z, c.b.z))
        let dark = Float(scene.shadowDarkness) * max(0.3, 1 - h * 2.5)
        return (s, softA, softB, dark)
    }

    private func warp(_ t: Double, _ open: Double) {
        // Camera motion during the shutter: two shifted copies averaged when it moves more than 3 px.
        let m0 = handHeld.at(t - open / 2), m1 = handHeld.at(t + open / 2)
        let move = abs(m0.0 - m1.0) + abs(m0.1 - m1.1)
        let n = move > 3 ? 2 : 1
        let w = width, h = height, pw = panoW
        let rowFloats = w * 3, panoRow = pw * 3
        canvas.withUnsafeMutableBufferPointer { dst in
        pano.withUnsafeBufferPointer { src in
        vignette.withUnsafeBufferPointer { vig in
            let d = dst.baseAddress!, s = src.baseAddress!, v = vig.baseAddress!
            let inv = 1 / Float(n)
            for k in 0..<n {
                let st = n == 1 ? t : t - open / 2 + open * (Double(k) + 0.5) / Double(n)
                let (dx, dy, _, _) = handHeld.at(st)
                // Picture pixel x shows panorama x + margin − dx: one fractional shift for the whole frame.
                let sx = max(0, min(Double(panoW - w - 1), Double(margin) - dx)), sy = max(0, min(Double(panoH - h - 1), Double(margin) - dy))
                let ix = Int(sx), iy = Int(sy)
                let fx = Float(sx - Double(ix)), fy = Float(sy - Double(iy))
                let w00 = (1 - fx) * (1 - fy) * inv, w01 = fx * (1 - fy) * inv, w10 = (1 - fx) * fy * inv, w11 = fx * fy * inv
                for y in 0..<h {
                    let a = s + (iy + y) * panoRow + ix * 3, b = a + panoRow
                    let row = d + y * rowFloats, vr = v + y * rowFloats
                    if k == 0 {
                        for j in 0..<rowFloats { row[j] = (a[j] * w00 + a[j + 3] * w01 + b[j] * w10 + b[j + 3] * w11) * vr[j] }
                    } else {
                        for j in 0..<rowFloats { row[j] += (a[j] * w00 + a[j + 3] * w01 + b[j] * w10 + b[j + 3] * w11) * vr[j] }
                    }
                }
            }
        }
        }
        }
    }

    /// The x range of picture row y that capsule c (radius padded by `pad`) can cover: the slanted strip around its
    /// axis and its two end discs, clipped to [x0, x1].
    @inline(__always) private func rowRange(_ c: ScreenCapsule, _ py: Float, pad: Float, _ x0: Int, _ x1: Int) -> (Int, Int) {
        let r = max(c.ar, c.br) + pad
        var lo = Float.infinity, hi = -Float.infinity
        let dy = c.by - c.ay, dx = c.bx - c.ax
        if abs(dy) > 1e-3 {
            let u = (py - c.ay) / dy
            if u > -r / abs(dy) - 0.01 && u < 1 + r / abs(dy) + 0.01 {
                let xc = c.ax + u * dx, half = r * (dx * dx + dy * dy).squareRoot() / abs(dy)
                lo = xc - half; hi = xc + half
            }
        } else if abs(py - c.ay) <= r {
            lo = min(c.ax, c.bx) - r; hi = max(c.ax, c.bx) + r
        }
        for (ex, ey) in [(c.ax, c.ay), (c.bx, c.by)] {
            let q = r * r - (py - ey) * (py - ey)
            if q > 0 { let e = q.squareRoot(); lo = min(lo, ex - e); hi = max(hi, ex + e) }
        }
        guard lo <= hi else { return (1, 0) }
        return (max(x0, Int(lo.rounded(.down)) - 1), min(x1, Int(hi.rounded(.up)) + 1))
    }

    @inline(__always) private func bbox(_ c: ScreenCapsule, pad: Float) -> (Int, Int, Int, Int) {
        let x0 = Int((min(c.ax - c.ar, c.bx - c.br) - pad).rounded(.down)), x1 = Int((max(c.ax + c.ar, c.bx + c.br) + pad).rounded(.up))
        let y0 = Int((min(c.ay - c.ar, c.by - c.br) - pad).rounded(.down)), y1 = Int((max(c.ay + c.ar, c.by + c.br) + pad).rounded(.up))
        return (max(0, x0), min(width - 1, x1), max(0, y0), min(height - 1, y1))
    }

    /// One list of sub-frame shadows per part: each part's sub-frames averaged, parts combined by their maximum
    /// (overlapping shadows of one light do not darken twice), then the surface under them darkened.
    private func drawShadows(_ parts: [[(ScreenCapsule, Float, Float, Float)]]) {
        var bx0 = width, bx1 = -1, by0 = height, by1 = -1
        let w = width
        shadow.withUnsafeMutableBufferPointer { acc in
        shadowSample.withUnsafeMutableBufferPointer { tmp in
            for samples in parts {
                var sx0 = width, sx1 = -1, sy0 = height, sy1 = -1
                let inv = 1 / Float(samples.count)
                for (c, softA, softB, dark) in samples {
                    let (x0, x1, y0, y1) = bbox(c, pad: max(softA, softB) + 1)
                    guard x0 <= x1, y0 <= y1 else { continue }
                    sx0 = min(sx0, x0); sx1 = max(sx1, x1); sy0 = min(sy0, y0); sy1 = max(sy1, y1)
                    let dx = c.bx - c.ax, dy = c.by - c.ay
                    let len2 = max(1e-6, dx * dx + dy * dy)
                    let invLen2 = 1 / len2
                    let weight = dark * inv
                    let pad = max(softA, softB) + 1
                    for y in y0...y1 {
                        let py = Float(y) + 0.5
                        let base = y * w
                        let (rx0, rx1) = rowRange(c, py, pad: pad, x0, x1)
                        if rx0 > rx1 { continue }
                        for x in rx0...rx1 {
                            let px = Float(x) + 0.5
                            let u = Swift.max(0, Swift.min(1, ((px - c.ax) * dx + (py - c.ay) * dy) * invLen2))
                            let ex = px - c.ax - u * dx, ey = py - c.ay - u * dy
                            let dist = (ex * ex + ey * ey).squareRoot()
                            let r = c.ar + (c.br - c.ar) * u, soft = softA + (softB - softA) * u
                            tmp[base + x] += Swift.max(0, Swift.min(1, (r - dist) / soft + 0.5)) * weight
                        }
                    }
                }
                guard sx0 <= sx1, sy0 <= sy1 else { continue }
                bx0 = min(bx0, sx0); bx1 = max(bx1, sx1); by0 = min(by0, sy0); by1 = max(by1, sy1)
                for y in sy0...sy1 {
                    for x in sx0...sx1 { acc[y * w + x] = Swift.max(acc[y * w + x], tmp[y * w + x]); tmp[y * w + x] = 0 }
                }
            }
            guard bx0 <= bx1, by0 <= by1 else { return }
            canvas.withUnsafeMutableBufferPointer { cv in
                for y in by0...by1 {
                    for x in bx0...bx1 {
                        let k = 1 - acc[y * w + x]
                        let o = (y * w + x) * 3
                        cv[o] *= k; cv[o + 1] *= k; cv[o + 2] *= k
                        acc[y * w + x] = 0
                    }
                }
            }
        }
        }
    }

    private func drawCapsule(_ samples: [ScreenCapsule], look: CapsuleLook, length: Float) {
        var x0 = width, x1 = -1, y0 = height, y1 = -1
        for c in samples {
            let b = bbox(c, pad: 1)
            x0 = min(x0, b.0); x1 = max(x1, b.1); y0 = min(y0, b.2); y1 = max(y1, b.3)
        }
        guard x0 <= x1, y0 <= y1 else { return }
        let bw = x1 - x0 + 1, bh = y1 - y0 + 1
        if accCoverage.count < bw * bh {
            accCoverage = [Float](repeating: 0, count: bw * bh * 2)
            accColour = [Float](repeating: 0, count: bw * bh * 6)
        }
        let amb = ambient
        let cycles = look.grain * length * 6.2832
        // Grain only where it can be seen (a few pixels across).
        let grained = look.grain > 0 && samples.contains { max($0.ar, $0.br) > 2.5 }
        accCoverage.withUnsafeMutableBufferPointer { cov in
        accColour.withUnsafeMutableBufferPointer { col in
        canvas.withUnsafeMutableBufferPointer { cv in
            for k in 0..<(bw * bh) { cov[k] = 0 }
            for k in 0..<(bw * bh * 3) { col[k] = 0 }
            for c in samples {
                let (sx0, sx1, sy0, sy1) = bbox(c, pad: 1)
                guard sx0 <= sx1, sy0 <= sy1 else { continue }
                let dx = c.bx - c.ax, dy = c.by - c.ay
                let len2 = dx * dx + dy * dy
                let isSphere = len2 < 0.25
                let invLen = isSphere ? 0 : 1 / len2.squareRoot()
                for y in sy0...sy1 {
                    let py = Float(y) + 0.5
                    let (rx0, rx1) = rowRange(c, py, pad: 1, sx0, sx1)
                    if rx0 > rx1 { continue }
                    for x in rx0...rx1 {
                        let px = Float(x) + 0.5
                        let u = isSphere ? 0 : max(0, min(1, ((px - c.ax) * dx + (py - c.ay) * dy) / len2))
                        let ex = px - c.ax - u * dx, ey = py - c.ay - u * dy
                        let dist = (ex * ex + ey * ey).squareRoot()
                        let r = max(0.35, c.ar + (c.br - c.ar) * u)
                        let a = max(0, min(1, r - dist + 0.5))
                        if a <= 0 { continue }
                        // Across the capsule: −1 … 1 (signed for a cylinder, radial for a sphere).
                        let s: Float = isSphere ? min(1, dist / r) : max(-1, min(1, (ex * -dy + ey * dx) * invLen / r))
                        var shade = 0.5 + 0.5 * max(0, 1 - s * s).squareRoot() + (isSphere ? 0 : 0.12 * s)
                        var colour = look.base
                        if grained { colour = look.base.mix(look.second, 0.5 + 0.5 * sinf(u * cycles + s * 1.3)) }
                        colour = colour * (shade * amb)
                        if look.sheen > 0 {
                            let hl = (s + 0.4) * 4
                            shade = look.sheen * max(0, 1 - hl * hl) * 0.5
                            colour = colour + RGB(shade, shade, shade)
                        }
                        let k = (y - y0) * bw + (x - x0)
                        cov[k] += a
                        col[k * 3] += colour.r * a; col[k * 3 + 1] += colour.g * a; col[k * 3 + 2] += colour.b * a
                    }
                }
            }
            let inv = 1 / Float(samples.count)
            for yy in 0..<bh {
                for xx in 0..<bw {
                    let k = yy * bw + xx
                    let c = cov[k]
                    if c <= 0 { continue }
                    let alpha = min(1, c * inv), ic = 1 / c
                    let o = ((y0 + yy) * width + x0 + xx) * 3
                    cv[o] += (col[k * 3] * ic - cv[o]) * alpha
                    cv[o + 1] += (col[k * 3 + 1] * ic - cv[o + 1]) * alpha
                    cv[o + 2] += (col[k * 3 + 2] * ic - cv[o + 2]) * alpha
                }
            }
        }
        }
        }
    }

    /// Exposure, flicker, colour cast and sensor noise, then 8-bit (SensorNoise's vectorised row pass).
    private func finish(_ t: Double) {
        let g = gain * (1 + flicker * Float(sin(t * flickerRate * 6.28)))
        for x in 0..<width { gainRow[3 * x] = g * colourCast.r; gainRow[3 * x + 1] = g * colourCast.g; gainRow[3 * x + 2] = g * colourCast.b }
        var noiseStart = 3 * Int(rng.next() % UInt64(SensorNoise.pixels))
        let rowFloats = width * 3
        let sigma = noiseSigma
        canvas.withUnsafeBufferPointer { src in
            gainRow.withUnsafeBufferPointer { gb in
                for y in 0..<height {
                    if noiseStart + rowFloats > SensorNoise.table.count { noiseStart = 0 }
                    SensorNoise.finishRow(src: src.baseAddress! + y * rowFloats, gain: gb.baseAddress!, noise: SensorNoise.table.baseAddress! + noiseStart,
                                          sigma: sigma, out: rgb.baseAddress! + y * rgbStride, count: rowFloats)
                    noiseStart += rowFloats
                    if noiseStart >= 3 * SensorNoise.pixels { noiseStart -= 3 * SensorNoise.pixels }
                }
            }
        }
    }
}

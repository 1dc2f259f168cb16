import Foundation

// The surface family's ground and wall: a texture tile per clip, cut from a real photograph where one is
// installed (SurfacePhotos) and mixed with procedural structure (planks, tiles, pebbles, weave), with the
// sound of the material it shows.

struct V3: Sendable, Equatable {
    var x: Double, y: Double, z: Double
    @inline(__always) init(_ x: Double, _ y: Double, _ z: Double) { self.x = x; self.y = y; self.z = z }
    static let zero = V3(0, 0, 0)
    @inline(__always) static func + (a: V3, b: V3) -> V3 { V3(a.x + b.x, a.y + b.y, a.z + b.z) }
    @inline(__always) static func - (a: V3, b: V3) -> V3 { V3(a.x - b.x, a.y - b.y, a.z - b.z) }
    @inline(__always) static func * (a: V3, s: Double) -> V3 { V3(a.x * s, a.y * s, a.z * s) }
    @inline(__always) func dot(_ b: V3) -> Double { x * b.x + y * b.y + z * b.z }
    @inline(__always) func cross(_ b: V3) -> V3 { V3(y * b.z - z * b.y, z * b.x - x * b.z, x * b.y - y * b.x) }
    @inline(__always) var length: Double { (x * x + y * y + z * z).squareRoot() }
    @inline(__always) var normalized: V3 { let l = length; return l > 1e-12 ? self * (1 / l) : V3(0, 0, 1) }
}

/// What the ground is: its look recipe, its name in the label, and its sound.
enum SurfaceKind: String, CaseIterable, Sendable {
    case woodTable, tiles, concrete, gravel, grass, cloth, carpet, paper, cork, metalSheet, mat

    var name: String {
        switch self {
        case .woodTable: "a wooden table"; case .tiles: "a tiled floor"; case .concrete: "a concrete floor"
        case .gravel: "gravel"; case .grass: "grass"; case .cloth: "a tablecloth"; case .carpet: "a carpet"
        case .paper: "a sheet of paper"; case .cork: "a cork board"; case .metalSheet: "a metal sheet"; case .mat: "a mat"
        }
    }
    /// The material name in hits/<id>.json.
    var material: String {
        switch self {
        case .woodTable: "wood"; case .tiles, .concrete: "stone"; case .gravel: "gravel"; case .grass: "grass"
        case .cloth, .carpet: "cloth"; case .paper: "cardboard"; case .cork: "cork"; case .metalSheet: "metal"; case .mat: "plastic"
        }
    }
    var modes: ModalSet { SurfaceKind.modes(material) }
    /// Scratch character: brightness of the noise (0 dull … 1 bright) and grain (crackle) rate.
    var scratch: (brightness: Double, grain: Double, level: Double) {
        switch self {
        case .woodTable: (0.45, 0.3, 0.5); case .tiles: (0.8, 0.2, 0.45); case .concrete: (0.75, 1.0, 0.6)
        case .gravel: (0.9, 3.0, 0.8); case .grass: (0.35, 0.8, 0.45); case .cloth: (0.15, 0, 0.25); case .carpet: (0.12, 0, 0.2)
        case .paper: (0.6, 0.4, 0.55); case .cork: (0.3, 0.5, 0.35); case .metalSheet: (0.95, 0.2, 0.5); case .mat: (0.4, 0.1, 0.3)
        }
    }
    static let weights: [(SurfaceKind, Double)] = [(.woodTable, 0.22), (.tiles, 0.09), (.concrete, 0.09), (.gravel, 0.08), (.grass, 0.08),
                                                    (.cloth, 0.1), (.carpet, 0.07), (.paper, 0.07), (.cork, 0.04), (.metalSheet, 0.06), (.mat, 0.1)]

    /// Modal sets of the materials the old family lacks (stone, gravel, grass, cloth, cork, skin); the rest are Material's.
    static func modes(_ material: String) -> ModalSet {
        switch material {
        case "stone": return ModalSet(base: 1800...4000, ratios: [1, 1.6, 2.9, 4.4], decay: 0.008...0.025, noiseShare: 0.6, noiseMs: 2.5)
        case "gravel": return ModalSet(base: 1500...3500, ratios: [1, 1.9, 3.3], decay: 0.005...0.02, noiseShare: 0.75, noiseMs: 9)
        case "grass": return ModalSet(base: 150...400, ratios: [1, 2.3], decay: 0.005...0.015, noiseShare: 0.93, noiseMs: 22)
        case "cloth": return ModalSet(base: 80...200, ratios: [1, 1.8], decay: 0.008...0.02, noiseShare: 0.85, noiseMs: 14)
        case "cork": return ModalSet(base: 200...500, ratios: [1, 2.1], decay: 0.006...0.02, noiseShare: 0.8, noiseMs: 8)
        case "skin": return ModalSet(base: 100...250, ratios: [1, 2.1], decay: 0.01...0.03, noiseShare: 0.7, noiseMs: 8)
        default: return ModalSet.of(Material(rawValue: material) ?? .wood)
        }
    }
}

/// A square RGB texture with mip levels, covering `metres` on a side, mirrored at its edges.
struct TextureTile {
    let size: Int
    let metres: Double
    /// Level k is (size >> k)² RGB floats.
    var levels: [[Float]]

    init(size: Int, metres: Double, fill: (Int, Int) -> RGB) {
        self.size = size; self.metres = metres
        var top = [Float](repeating: 0, count: size * size * 3)
        for j in 0..<size {
            for i in 0..<size {
                let c = fill(i, j)
                let o = (j * size + i) * 3
                top[o] = c.r; top[o + 1] = c.g; top[o + 2] = c.b
            }
        }
        levels = [top]
        var n = size
        while n > 8 {
            let prev = levels[levels.count - 1], m = n / 2
            var next = [Float](repeating: 0, count: m * m * 3)
            for j in 0..<m {
                for i in 0..<m {
                    for c in 0..<3 {
                        let a = prev[((2 * j) * n + 2 * i) * 3 + c], b = prev[((2 * j) * n + 2 * i + 1) * 3 + c]
                        let d = prev[((2 * j + 1) * n + 2 * i) * 3 + c], e = prev[((2 * j + 1) * n + 2 * i + 1) * 3 + c]
                        next[(j * m + i) * 3 + c] = (a + b + d + e) * 0.25
                    }
                }
            }
            levels.append(next)
            n = m
        }
    }

    /// Colour at (u, v) metres; `footprint` is the metres one output sample covers (picks the mip level).
    func sample(_ u: Double, _ v: Double, footprint: Double) -> RGB {
        let texels = footprint / metres * Double(size)
        let level = max(0, min(levels.count - 1, Int(log2(max(1, texels)))))
        let n = size >> level
        let img = levels[level]
        let x = u / metres * Double(n) - 0.5, y = v / metres * Double(n) - 0.5
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let tx = Float(x - fx), ty = Float(y - fy)
        @inline(__always) func mirror(_ v: Int) -> Int {
            let p = ((v % (2 * n)) + 2 * n) % (2 * n)
            return p < n ? p : 2 * n - 1 - p
        }
        let x0 = mirror(Int(fx)), x1 = mirror(Int(fx) + 1), y0 = mirror(Int(fy)), y1 = mirror(Int(fy) + 1)
        @inline(__always) func at(_ i: Int, _ j: Int) -> RGB { let o = (j * n + i) * 3; return RGB(img[o], img[o + 1], img[o + 2]) }
        return at(x0, y0).mix(at(x1, y0), tx).mix(at(x0, y1).mix(at(x1, y1), tx), ty)
    }
}

enum SurfaceTextures {
    /// A crop of a photo as a function of tile texel (i, j) of an n-texel tile: its colour, and its luminance
    /// normalised to zero mean and unit spread over the crop (the photo's fine structure, to modulate a recipe).
    static func crop(_ photo: SurfacePhotos.Photo, n: Int, _ rng: inout Xoshiro256) -> (colour: [RGB], detail: [Float]) {
        let lib = SurfacePhotos.shared
        let side = Double(min(photo.width, photo.height)) * rng.uniform(0.35, 1.0)
        let x0 = rng.uniform(0, Double(photo.width) - side), y0 = rng.uniform(0, Double(photo.height) - side)
        let flip = rng.chance(0.5)
        var colour = [RGB](repeating: RGB(0, 0, 0), count: n * n)
        var lum = [Float](repeating: 0, count: n * n)
        var sum = 0.0, sum2 = 0.0
        for j in 0..<n {
            for i in 0..<n {
                let (a, b) = flip ? (j, i) : (i, j)
                let c = lib.sample(photo, x0 + (Double(a) + 0.5) / Double(n) * side, y0 + (Double(b) + 0.5) / Double(n) * side)
                colour[j * n + i] = c
                let l = 0.3 * c.r + 0.59 * c.g + 0.11 * c.b
                lum[j * n + i] = l
                sum += Double(l); sum2 += Double(l * l)
            }
        }
        let count = Double(n * n)
        let mean = sum / count, sd = max(0.01, (sum2 / count - mean * mean).squareRoot())
        let detail = lum.map { max(-2.5, min(2.5, Float((Double($0) - mean) / sd))) }
        return (colour, detail)
    }

    static func hue(_ rng: inout Xoshiro256, saturation: ClosedRange<Double> = 0.3...0.8, value: ClosedRange<Double> = 0.35...0.9) -> RGB {
        let h = Float(rng.unit()) * 6, s = Float(rng.uniform(saturation.lowerBound, saturation.upperBound))
        let v = Float(rng.uniform(value.lowerBound, value.upperBound))
        let i = Int(h) % 6, f = h - Float(Int(h))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch i {
        case 0: return RGB(v, t, p); case 1: return RGB(q, v, p); case 2: return RGB(p, v, t)
        case 3: return RGB(p, q, v); case 4: return RGB(t, p, v); default: return RGB(v, p, q)
        }
    }

    /// The ground tile for `kind`: a photo where one suits (grass photos for grass, scans for paper, cloth and
    /// cork, any photo for a printed mat), otherwise a procedural recipe modulated by a photo's fine structure.
    static func ground(_ kind: SurfaceKind, _ rng: inout Xoshiro256) -> TextureTile {
        let n = 512
        let photos = SurfacePhotos.shared.photos
        let scans = photos.filter(\.isScan), pictures = photos.filter { !$0.isScan }
        let green = pictures.filter(\.isGreen)
        var metres = rng.uniform(0.7, 1.5)
        // A photo's structure to modulate procedural recipes with (any photo will do: its grain is real).
        let detailSource: SurfacePhotos.Photo? = photos.isEmpty ? nil : rng.pick(photos)
        let detail = detailSource.map { crop($0, n: n, &rng).detail }
        let detailGain = Float(rng.uniform(0.05, 0.22))
        @inline(__always) func d(_ i: Int, _ j: Int) -> Float { detail.map { $0[j * n + i] } ?? 0 }
        let scale = Float(metres) / Float(n)   // metres per texel
        switch kind {
        case .grass where !green.isEmpty, .mat where !pictures.isEmpty:
            let (colour, _) = crop(rng.pick(kind == .grass ? green : pictures), n: n, &rng)
            let gain = Float(rng.uniform(0.75, 1.05))
            // Wallpaper photos are close-ups: a patch of grass or leaves is a few tens of centimetres.
            if kind == .grass { metres = rng.uniform(0.3, 0.7) }
            return TextureTile(size: n, metres: metres) { i, j in colour[j * n + i] * gain }
        case .paper where !scans.isEmpty, .cloth where !scans.isEmpty, .cork where scans.contains(where: { $0.name.contains("Cork") }):
            let source = kind == .cork ? scans.first { $0.name.contains("Cork") }! : rng.pick(scans)
            let (colour, detail) = crop(source, n: n, &rng)
            // Cloth: the scan's weave in a dyed colour; paper and cork as scanned, contrast raised a little.
            let dye = kind == .cloth ? hue(&rng) : RGB(1, 1, 1)
            let k = Float(rng.uniform(0.08, 0.2))
            return TextureTile(size: n, metres: metres) { i, j in
                let c = kind == .cloth ? dye : colour[j * n + i]
                return c * (1 + k * detail[j * n + i])
            }
        default:
            break
        }
        switch kind {
        case .woodTable:
            let wood = RGB(Float(rng.uniform(0.4, 0.78)), Float(rng.uniform(0.26, 0.5)), Float(rng.uniform(0.12, 0.3)))
            let dark = wood * Float(rng.uniform(0.55, 0.8))
            let plank = Float(rng.uniform(0.08, 0.2)), freq = Float(rng.uniform(20, 70))
            let painted = rng.chance(0.2) ? hue(&rng, saturation: 0.05...0.4, value: 0.5...0.95) : nil
            return TextureTile(size: n, metres: metres) { i, j in
                let u = Float(i) * scale, v = Float(j) * scale
                let row = (v / plank).rounded(.down)
                let grain = 0.5 + 0.5 * sinf((v + valueNoise(u * 6 + row * 3, v * 20) * 0.02) * freq * 6.2832 + row * 1.7)
                var c = (painted ?? wood).mix(painted.map { $0 * 0.85 } ?? dark, grain * grain * 0.7)
                let seam = abs(v / plank - row - 0.5)
                if seam > 0.49 { c = c * 0.55 }
                c = c * (0.92 + 0.16 * latticeHash(Int32(row), 7))
                return c * (1 + detailGain * d(i, j))
            }
        case .tiles:
            let tile = Float(rng.uniform(0.08, 0.3))
            let a = hue(&rng, saturation: 0.0...0.35, value: 0.45...0.95), grout = RGB(0.55, 0.53, 0.5) * Float(rng.uniform(0.5, 1.1))
            let checker = rng.chance(0.3) ? hue(&rng, saturation: 0.0...0.3, value: 0.2...0.9) : a
            return TextureTile(size: n, metres: metres) { i, j in
                let u = Float(i) * scale / tile, v = Float(j) * scale / tile
                let fu = u - u.rounded(.down), fv = v - v.rounded(.down)
                let odd = (Int(u.rounded(.down)) + Int(v.rounded(.down))) & 1 == 1
                var c = odd ? checker : a
                if fu < 0.03 || fv < 0.03 { c = grout }
                return c * (1 + detailGain * 0.6 * d(i, j) + 0.05 * (valueNoise(u * 8, v * 8) - 0.5))
            }
        case .concrete, .metalSheet:
            let g = Float(rng.uniform(0.35, 0.75))
            let base = kind == .concrete ? RGB(g, g * Float(rng.uniform(0.95, 1.02)), g * Float(rng.uniform(0.9, 1.02))) : RGB(g, g, g * 1.03)
            return TextureTile(size: n, metres: metres) { i, j in
                let u = Float(i) * scale, v = Float(j) * scale
                let t: Float = kind == .concrete
                    ? valueNoise(u * 30, v * 30) * 0.5 + valueNoise(u * 140, v * 140) * 0.35 + valueNoise(u * 3, v * 3) * 0.4
                    : valueNoise(u * 4, v * 400) * 0.5 + valueNoise(u * 2, v * 2) * 0.3
                return base * (0.75 + 0.4 * t) * (1 + detailGain * 1.5 * d(i, j))
            }
        case .gravel:
            // Pebbles: the nearest of jittered cell centres, shaded as a dome with its own tone.
            let cell = Float(rng.uniform(0.012, 0.03))
            let tone = RGB(Float(rng.uniform(0.45, 0.7)), Float(rng.uniform(0.42, 0.62)), Float(rng.uniform(0.38, 0.58)))
            return TextureTile(size: n, metres: metres) { i, j in
                let u = Float(i) * scale / cell, v = Float(j) * scale / cell
                let cu = Int32(u.rounded(.down)), cv = Int32(v.rounded(.down))
                var best: Float = 9, id: Float = 0
                for dy in -1...1 {
                    for dx in -1...1 {
                        let gx = cu &+ Int32(dx), gy = cv &+ Int32(dy)
                        let px = Float(gx) + latticeHash(gx, gy), py = Float(gy) + latticeHash(gy &+ 91, gx)
                        let dd = (px - u) * (px - u) + (py - v) * (py - v)
                        if dd < best { best = dd; id = latticeHash(gx &+ 13, gy &- 7) }
                    }
                }
                let dome = max(0, 1 - best.squareRoot() * 1.25)
                let c = tone * (0.55 + 0.7 * id) * (0.35 + 0.75 * dome)
                return c * (1 + detailGain * d(i, j))
            }
        case .grass:
            let g = RGB(Float(rng.uniform(0.15, 0.35)), Float(rng.uniform(0.35, 0.6)), Float(rng.uniform(0.08, 0.22)))
            return TextureTile(size: n, metres: metres) { i, j in
                let u = Float(i) * scale, v = Float(j) * scale
                let blades = valueNoise(u * 400, v * 60) * 0.6 + valueNoise(u * 60, v * 300) * 0.4
                return g * (0.5 + 0.9 * blades) * (1 + detailGain * d(i, j))
            }
        default:   // cloth, carpet, paper, cork, mat without photos
            let c0 = kind == .paper ? RGB(0.92, 0.9, 0.85) : kind == .cork ? RGB(0.62, 0.45, 0.28) : hue(&rng)
            let weave = Float(rng.uniform(150, 400))
            metres = min(metres, 0.6)
            return TextureTile(size: n, metres: metres) { i, j in
                let u = Float(i) * scale, v = Float(j) * scale
                var t = valueNoise(u * 80, v * 80) * 0.5
                if kind == .cloth || kind == .carpet { t += 0.25 * sinf(u * weave) * sinf(v * weave) + (kind == .carpet ? valueNoise(u * 600, v * 600) * 0.5 : 0) }
                return c0 * (0.8 + 0.3 * t) * (1 + detailGain * d(i, j))
            }
        }
    }

    /// The wall behind a side view: a photo (a poster, a window, a painting) or a painted wall.
    static func wall(_ rng: inout Xoshiro256) -> TextureTile {
        let n = 128
        let photos = SurfacePhotos.shared.photos
        if !photos.isEmpty && rng.chance(0.6) {
            let (colour, _) = crop(rng.pick(photos), n: n, &rng)
            let dim = Float(rng.uniform(0.5, 0.95))
            return TextureTile(size: n, metres: rng.uniform(0.8, 2.5)) { i, j in colour[j * n + i] * dim }
        }
        let c = hue(&rng, saturation: 0.05...0.4, value: 0.4...0.9)
        return TextureTile(size: n, metres: 1.5) { i, j in c * (0.9 + 0.15 * valueNoise(Float(i) * 0.05, Float(j) * 0.05)) }
    }
}

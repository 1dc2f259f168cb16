// What a body looks like: a base colour, a procedural texture and its scale. Kept apart from physics so
// that the same simulated scene can be drawn many ways (variety is what makes a synthetic corpus transfer).

public struct RGB: Sendable, Equatable {
    public var r: Float, g: Float, b: Float
    public init(_ r: Float, _ g: Float, _ b: Float) { self.r = r; self.g = g; self.b = b }
    static func * (c: RGB, s: Float) -> RGB { RGB(c.r * s, c.g * s, c.b * s) }
    static func + (a: RGB, b: RGB) -> RGB { RGB(a.r + b.r, a.g + b.g, a.b + b.b) }
    func mix(_ o: RGB, _ t: Float) -> RGB { RGB(r + (o.r - r) * t, g + (o.g - g) * t, b + (o.b - b) * t) }
}

public enum Texture: Sendable {
    case plain
    case stripes(frequency: Float, vertical: Bool)
    case woodGrain(frequency: Float)
    case noise(frequency: Float)
    case checker(frequency: Float)
    /// A crop of a real image (PhotoLibrary), scaled to the body; offsets in image pixels.
    case photo(index: Int, pixelsPerMetre: Float, offsetU: Float, offsetV: Float)
}

public struct Appearance: Sendable {
    public var base: RGB
    public var second: RGB
    public var texture: Texture
    /// Fraction of the texture's contrast (0 = plain base colour).
    public var contrast: Float
    /// Specular-ish sheen for glass and metal: a bright band near the top.
    public var sheen: Float
    public init(base: RGB, second: RGB, texture: Texture, contrast: Float, sheen: Float = 0) {
        self.base = base; self.second = second; self.texture = texture; self.contrast = contrast; self.sheen = sheen
    }

    static func random(for material: Material, _ rng: inout Xoshiro256) -> Appearance {
        var look = proceduralLook(for: material, &rng)
        // Printed things (boxes, books, bottles, crates) sometimes wear a crop of a real image.
        let photos = PhotoLibrary.shared.images.count
        if photos > 0 && (material == .cardboard || material == .plastic) && rng.chance(0.3) {
            look.texture = .photo(index: rng.int(0, photos - 1), pixelsPerMetre: Float(rng.uniform(400, 2000)),
                                  offsetU: Float(rng.uniform(0, 320)), offsetV: Float(rng.uniform(0, 180)))
            look.contrast = Float(rng.uniform(0.7, 1))
        }
        return look
    }

    static func proceduralLook(for material: Material, _ rng: inout Xoshiro256) -> Appearance {
        func hue() -> RGB {
            // Saturated but not neon: pick a hue on the colour wheel, then desaturate a little.
            let h = Float(rng.unit()) * 6, s = Float(rng.uniform(0.35, 0.85)), v = Float(rng.uniform(0.35, 0.95))
            let i = Int(h) % 6, f = h - Float(Int(h))
            let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
            switch i {
            case 0: return RGB(v, t, p); case 1: return RGB(q, v, p); case 2: return RGB(p, v, t)
            case 3: return RGB(p, q, v); case 4: return RGB(t, p, v); default: return RGB(v, p, q)
            }
        }
        switch material {
        case .wood:
            let b = RGB(Float(rng.uniform(0.45, 0.75)), Float(rng.uniform(0.28, 0.48)), Float(rng.uniform(0.12, 0.25)))
            return Appearance(base: b, second: b * 0.6, texture: .woodGrain(frequency: Float(rng.uniform(40, 120))),
                              contrast: Float(rng.uniform(0.4, 0.9)))
        case .metal:
            let g = Float(rng.uniform(0.5, 0.85))
            let tint = rng.chance(0.3) ? hue() : RGB(g, g, g * 1.02)
            return Appearance(base: tint, second: tint * 0.7,
                              texture: rng.chance(0.5) ? .stripes(frequency: Float(rng.uniform(8, 30)), vertical: false) : .noise(frequency: 200),
                              contrast: Float(rng.uniform(0.1, 0.5)), sheen: 0.5)
        case .glass:
            let b = RGB(Float(rng.uniform(0.55, 0.8)), Float(rng.uniform(0.7, 0.9)), Float(rng.uniform(0.75, 0.95)))
            return Appearance(base: b, second: b * 0.8, texture: .plain, contrast: 0, sheen: 0.7)
        case .plastic:
            let b = hue()
            let tex: Texture = rng.chance(0.5) ? .plain
                : (rng.chance(0.5) ? .stripes(frequency: Float(rng.uniform(10, 60)), vertical: rng.chance(0.5)) : .checker(frequency: Float(rng.uniform(20, 60))))
            return Appearance(base: b, second: rng.chance(0.5) ? hue() : RGB(0.95, 0.95, 0.95), texture: tex,
                              contrast: Float(rng.uniform(0.3, 1)), sheen: 0.25)
        case .cardboard:
            let b = RGB(Float(rng.uniform(0.55, 0.75)), Float(rng.uniform(0.42, 0.58)), Float(rng.uniform(0.25, 0.38)))
            return Appearance(base: b, second: rng.chance(0.3) ? hue() : b * 0.8,
                              texture: rng.chance(0.6) ? .noise(frequency: Float(rng.uniform(60, 200))) : .stripes(frequency: Float(rng.uniform(5, 20)), vertical: true),
                              contrast: Float(rng.uniform(0.15, 0.5)))
        }
    }

    static func skin(_ rng: inout Xoshiro256) -> Appearance {
        let tones = [RGB(0.93, 0.76, 0.64), RGB(0.80, 0.60, 0.45), RGB(0.62, 0.43, 0.30), RGB(0.42, 0.28, 0.20), RGB(0.96, 0.82, 0.72)]
        let b = rng.pick(tones)
        return Appearance(base: b, second: b * 0.85, texture: .noise(frequency: 60), contrast: 0.15)
    }

    static func sleeve(_ rng: inout Xoshiro256) -> Appearance {
        var a = random(for: .plastic, &rng)
        a.sheen = 0
        a.base = a.base * 0.8
        return a
    }
}

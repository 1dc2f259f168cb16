import Foundation

// The surface family's action: a striker (drumstick, stick, hammer, spoon, a fist) held from off-frame that
// swings down and hits a surface, taps it lightly, scratches along it, stops short of it or moves through the
// air; hands that wave or carry things. Everything is scripted in 3D (metres, z up, the surface at z = 0), so
// every contact time is a key time, exact, and every silent motion is silent by construction.

/// How a capsule is coloured.
struct CapsuleLook: Sendable {
    var base: RGB
    var second: RGB
    /// Stripes along the capsule (wood grain), cycles per metre; 0 for none.
    var grain: Float
    var sheen: Float
}

/// A drawn part: a segment a–b with end radii (a sphere when a == b). `striking` parts can touch the surface.
struct Capsule {
    var a: V3, b: V3
    var ra: Double, rb: Double
    var look: Int
    var striking: Bool = false
    /// Drawn in front of parts at about the same depth (a hand around its stick).
    var depthBias: Double = 0
}

struct Key3 {
    var t: Double
    var p: V3
    var th: Double
    var ease: Ease
}

/// Keyframed pose: a point and an angle, eased into each key as Path does.
struct Track {
    var keys: [Key3] = []
    func at(_ t: Double) -> (V3, Double) {
        guard let first = keys.first else { return (.zero, 0) }
        if t <= first.t { return (first.p, first.th) }
        for i in 1..<max(1, keys.count) where t < keys[i].t {
            let a = keys[i - 1], b = keys[i]
            let u = b.ease.shape((t - a.t) / (b.t - a.t))
            return (a.p + (b.p - a.p) * u, a.th + (b.th - a.th) * u)
        }
        let last = keys[keys.count - 1]
        return (last.p, last.th)
    }
    var end: Double { keys.last?.t ?? 0 }
}

enum StrikerKind: CaseIterable {
    case drumstick, stick, hammer, spoon, fist
    var name: String {
        switch self { case .drumstick: "a drumstick"; case .stick: "a stick"; case .hammer: "a hammer"; case .spoon: "a spoon"; case .fist: "a fist" }
    }
    var material: String {
        switch self { case .drumstick, .stick: "wood"; case .hammer, .spoon: "metal"; case .fist: "skin" }
    }
}

/// One moving thing: a striker with its hand and arm, a hand alone, or a carried object.
final class Actor {
    enum Role { case striker(StrikerKind), hand, object(radius: Double, halfLength: Double, vertical: Bool) }
    let role: Role
    var track = Track()
    /// Horizontal unit vector from the arm's shoulder side towards the action (the arm comes from −reach).
    let reach: V3
    /// Length from the grip (elbow for a fist) to the striking end.
    var length = 0.35
    var radius = 0.009
    var headLength = 0.1, headRadius = 0.015
    var fistRadius = 0.04
    var armRadius = 0.035
    var elbowLift = 0.12
    /// Indices into the scene's looks: striker, head (hammer), skin, sleeve.
    var lookStriker = 0, lookHead = 0, lookSkin = 0, lookSleeve = 0
    /// From the time it has an arm (a hand or a striker).
    var hasArm = true

    init(role: Role, reach: V3) { self.role = role; self.reach = reach }

    /// Unit direction from the grip towards the striking end at angle th below the horizontal.
    @inline(__always) func direction(_ th: Double) -> V3 { V3(reach.x * cos(th), reach.y * cos(th), -sin(th)) }

    func capsules(_ t: Double, into out: inout [Capsule]) {
        let (g, th) = track.at(t)
        switch role {
        case .striker(let kind):
            let d = direction(th)
            switch kind {
            case .drumstick, .stick, .spoon:
                let tip = g + d * length
                out.append(Capsule(a: g - d * 0.07, b: tip, ra: radius * 1.15, rb: kind == .drumstick ? radius * 0.6 : radius, look: lookStriker, striking: true))
                if kind == .drumstick { out.append(Capsule(a: tip, b: tip, ra: radius * 0.85, rb: radius * 0.85, look: lookStriker, striking: true)) }
                if kind == .spoon {
                    let bowl = tip - d * 0.02
                    out.append(Capsule(a: bowl - d * 0.015, b: bowl + d * 0.012, ra: 0.016, rb: 0.014, look: lookStriker, striking: true))
                }
                addHand(at: g, d, into: &out)
            case .hammer:
                let end = g + d * length
                let n = V3(reach.x * sin(th), reach.y * sin(th), cos(th))     // ⟂ the handle, up when it is level
                out.append(Capsule(a: g - d * 0.05, b: end, ra: radius, rb: radius, look: lookStriker))
                out.append(Capsule(a: end - n * (headLength / 2), b: end + n * (headLength * 0.35), ra: headRadius, rb: headRadius * 0.85,
                                   look: lookHead, striking: true))
                addHand(at: g, d, into: &out)
            case .fist:
                // The grip is the elbow: the forearm swings about it and the fist strikes.
                let fist = g + d * length
                out.append(Capsule(a: g, b: fist - d * 0.03, ra: armRadius, rb: armRadius * 0.8, look: lookSleeve))
                out.append(Capsule(a: fist - d * 0.02, b: fist + d * 0.03, ra: fistRadius, rb: fistRadius * 0.9, look: lookSkin, striking: true,
                                   depthBias: 0.01))
                let shoulder = g - reach * 0.28 + V3(0, 0, 0.3)
                out.append(Capsule(a: g, b: shoulder, ra: armRadius * 1.1, rb: armRadius * 1.25, look: lookSleeve))
            }
        case .hand:
            addHand(at: g, V3(reach.x, reach.y, -0.3).normalized, into: &out)
        case .object(let r, let hl, let vertical):
            let axis = vertical ? V3(0, 0, 1) : V3(-reach.y, reach.x, 0)
            out.append(Capsule(a: g - axis * hl, b: g + axis * hl, ra: r, rb: r, look: lookStriker))
        }
    }

    /// A fist around point g (the grip), the forearm and upper arm reaching back out of the picture.
    private func addHand(at g: V3, _ d: V3, into out: inout [Capsule]) {
        guard hasArm else { return }
        out.append(Capsule(a: g - d * 0.025, b: g + d * 0.03, ra: fistRadius, rb: fistRadius * 0.85, look: lookSkin, depthBias: 0.02))
        let elbow = g - reach * 0.27 + V3(0, 0, elbowLift)
        out.append(Capsule(a: g - reach * 0.03, b: elbow, ra: armRadius * 0.85, rb: armRadius, look: lookSleeve, depthBias: 0.01))
        let shoulder = elbow - reach * 0.3 + V3(0, 0, 0.3)
        out.append(Capsule(a: elbow, b: shoulder, ra: armRadius, rb: armRadius * 1.3, look: lookSleeve))
    }

    /// The lowest point of the striking parts at grip g and angle th (the surface is at z = 0).
    func lowest(_ g: V3, _ th: Double) -> (z: Double, at: V3) {
        let saved = track
        track = Track(keys: [Key3(t: 0, p: g, th: th, ease: .linear)])
        var parts: [Capsule] = []
        capsules(0, into: &parts)
        track = saved
        var best = Double.infinity, at = V3.zero
        for c in parts where c.striking {
            if c.a.z - c.ra < best { best = c.a.z - c.ra; at = c.a }
            if c.b.z - c.rb < best { best = c.b.z - c.rb; at = c.b }
        }
        return (best, V3(at.x, at.y, 0))
    }

    /// The angle at which the striking end is `clearance` above the surface for grip g (bisection; the end goes
    /// down monotonically as the angle grows over this range).
    func angle(touching clearance: Double, grip g: V3) -> Double {
        var lo = -0.6, hi = 1.35
        for _ in 0..<60 {
            let mid = (lo + hi) / 2
            if lowest(g, mid).z > clearance { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}

/// A contact of the striker with the surface, found by construction.
struct SurfaceHit {
    var time: Double
    var speed: Double
    var point: V3
    var striker: StrikerKind
    var tap: Bool
}

struct SurfaceScratch {
    var start: Double, end: Double
    var actor: Int
}

/// Where the camera stands, drawn with the scene (the picture size comes later).
struct SurfaceCameraPose {
    var azimuth: Double       // of the camera seen from the target
    var elevation: Double     // radians above the surface
    var distance: Double
    var target: V3
    var hfov: Double
    var roll: Double
}

final class SurfaceScene {
    let template: Template
    var placeholders: [String] = []
    var duration: Double
    var kind: SurfaceKind = .woodTable
    var actors: [Actor] = []
    var looks: [CapsuleLook] = []
    var hits: [SurfaceHit] = []
    var scratches: [SurfaceScratch] = []
    var silentStrokes: [Double] = []
    var camera = SurfaceCameraPose(azimuth: 0, elevation: 1, distance: 0.7, target: .zero, hfov: 1, roll: 0)
    /// Unit vector towards the light (shadows fall along −light).
    var light = V3(0.3, 0.2, 0.9).normalized
    var shadowDarkness = 0.4

    init(template: Template, duration: Double) { self.template = template; self.duration = duration }

    func capsules(_ t: Double) -> [Capsule] {
        var out: [Capsule] = []
        for a in actors { a.capsules(t, into: &out) }
        return out
    }

    /// Horizontal speed of actor i's striking end at time t (for a scratch's loudness).
    func dragSpeed(_ i: Int, _ t: Double) -> Double {
        let h = 0.002
        let (g0, _) = actors[i].track.at(t - h), (g1, _) = actors[i].track.at(t + h)
        let d = g1 - g0
        return (d.x * d.x + d.y * d.y).squareRoot() / (2 * h)
    }
}

/// Builds one surface scene from a seed; like SceneBuilder, a pure function of it.
struct SurfaceSceneBuilder {
    var rng: Xoshiro256
    let scene: SurfaceScene

    init(template: Template, seed: UInt64) {
        rng = Xoshiro256(seed: seed)
        scene = SurfaceScene(template: template, duration: rng.uniform(4.0, 10.0))
    }

    mutating func look(_ l: CapsuleLook) -> Int { scene.looks.append(l); return scene.looks.count - 1 }

    mutating func skinAndSleeve(_ actor: Actor) {
        let tones = [RGB(0.93, 0.76, 0.64), RGB(0.80, 0.60, 0.45), RGB(0.62, 0.43, 0.30), RGB(0.42, 0.28, 0.20), RGB(0.96, 0.82, 0.72)]
        let skin = rng.pick(tones) * Float(rng.uniform(0.85, 1.05))
        actor.lookSkin = look(CapsuleLook(base: skin, second: skin, grain: 0, sheen: 0.1))
        // Bare forearm or a sleeve.
        let sleeve = rng.chance(0.4) ? skin : SurfaceTextures.hue(&rng, saturation: 0.1...0.7, value: 0.15...0.85)
        actor.lookSleeve = look(CapsuleLook(base: sleeve, second: sleeve, grain: 0, sheen: 0))
        actor.fistRadius = rng.uniform(0.032, 0.045)
        actor.armRadius = rng.uniform(0.028, 0.04)
        actor.elbowLift = rng.uniform(0.05, 0.2)
    }

    /// A horizontal unit vector for an arm entering from the right, left or bottom of the picture (towards the camera).
    mutating func armDirection() -> V3 {
        let az = scene.camera.azimuth
        // Camera right and towards-camera directions on the surface.
        let toCam = V3(cos(az), sin(az), 0), right = V3(-sin(az), cos(az), 0)
        let from: V3
        switch rng.int(0, 4) {
        case 0, 1: from = right
        case 2, 3: from = right * -1
        default: from = toCam
        }
        let jitter = rng.uniform(-0.6, 0.6)
        let f = (from + (from.cross(V3(0, 0, 1))) * jitter).normalized
        return f * -1     // reach: from the arm's side towards the action
    }

    mutating func chooseCamera() {
        let above = rng.chance(0.5)
        scene.camera = SurfaceCameraPose(azimuth: rng.uniform(0, 2 * .pi),
                                         elevation: above ? rng.uniform(0.95, 1.45) : rng.uniform(0.38, 0.85),
                                         distance: rng.uniform(0.45, 1.0),
                                         target: V3(rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), 0),
                                         hfov: rng.uniform(0.85, 1.25), roll: rng.gaussian() * 0.04)
        let lightAz = rng.uniform(0, 2 * .pi), lightEl = rng.uniform(0.7, 1.45)
        scene.light = V3(cos(lightEl) * cos(lightAz), cos(lightEl) * sin(lightAz), sin(lightEl))
        scene.shadowDarkness = rng.uniform(0.2, 0.6)
    }

    mutating func chooseSurface() {
        var x = rng.unit() * SurfaceKind.weights.map(\.1).reduce(0, +)
        scene.kind = SurfaceKind.weights.last!.0
        for (k, w) in SurfaceKind.weights { if x < w { scene.kind = k; break }; x -= w }
    }

    /// A random spot for the action, around the target.
    mutating func spot() -> V3 { scene.camera.target + V3(rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12), 0) }

    mutating func build() -> SurfaceScene {
        chooseCamera()
        chooseSurface()
        if scene.template.sounds { buildStriker() } else { buildCarry() }
        // Silent company: another hand waving or passing through in a third of the clips.
        if rng.chance(0.3) { addWaver() }
        return scene
    }

    mutating func buildStriker() {
        let s = scene
        let kind = rng.pick([StrikerKind.drumstick, .drumstick, .stick, .hammer, .spoon, .fist])
        let actor = Actor(role: .striker(kind), reach: armDirection())
        skinAndSleeve(actor)
        switch kind {
        case .drumstick:
            actor.length = rng.uniform(0.33, 0.38); actor.radius = rng.uniform(0.006, 0.0085)
            let w = RGB(Float(rng.uniform(0.7, 0.92)), Float(rng.uniform(0.55, 0.75)), Float(rng.uniform(0.35, 0.5)))
            actor.lookStriker = look(CapsuleLook(base: w, second: w * 0.85, grain: 60, sheen: 0.35))
        case .stick:
            actor.length = rng.uniform(0.25, 0.45); actor.radius = rng.uniform(0.007, 0.013)
            let w = RGB(Float(rng.uniform(0.35, 0.7)), Float(rng.uniform(0.25, 0.5)), Float(rng.uniform(0.12, 0.3)))
            actor.lookStriker = look(CapsuleLook(base: w, second: w * 0.7, grain: 40, sheen: 0.1))
        case .hammer:
            actor.length = rng.uniform(0.22, 0.3); actor.radius = rng.uniform(0.011, 0.015)
            actor.headLength = rng.uniform(0.08, 0.12); actor.headRadius = rng.uniform(0.012, 0.017)
            let handle = rng.chance(0.6) ? RGB(Float(rng.uniform(0.5, 0.75)), Float(rng.uniform(0.35, 0.5)), 0.2) : SurfaceTextures.hue(&rng)
            actor.lookStriker = look(CapsuleLook(base: handle, second: handle * 0.8, grain: 30, sheen: 0.2))
            let g = Float(rng.uniform(0.35, 0.6))
            actor.lookHead = look(CapsuleLook(base: RGB(g, g, g * 1.04), second: RGB(g, g, g), grain: 0, sheen: 0.8))
        case .spoon:
            actor.length = rng.uniform(0.15, 0.2); actor.radius = 0.005
            let g = Float(rng.uniform(0.6, 0.85))
            actor.lookStriker = look(CapsuleLook(base: RGB(g, g, g * 1.03), second: RGB(g, g, g), grain: 0, sheen: 0.9))
        case .fist:
            actor.length = rng.uniform(0.24, 0.3)
        }
        s.actors.append(actor)
        let index = s.actors.count - 1
        s.placeholders = [s.kind.name, kind.name]

        // The grip height gives the striker's angle at contact (steeper for a fist and a hammer).
        let thContact = kind == .fist ? rng.uniform(0.5, 0.9) : rng.uniform(0.3, 0.8)
        let gz = actor.length * sin(thContact) + (kind == .fist ? actor.fistRadius : 0.005)
        var x = spot()
        var g = x - actor.reach * (actor.length * cos(thContact)) + V3(0, 0, gz)
        let thC = actor.angle(touching: 0, grip: g)
        // Correct the grip so the first contact is at the chosen spot.
        let off = actor.lowest(g, thC).at - x
        g = g - V3(off.x, off.y, 0)
        var keys: [Key3] = []
        var t = 0.0
        var th = thC - rng.uniform(0.3, 0.7)
        func add(_ dt: Double, _ p: V3, _ a: Double, _ e: Ease) { t += dt; keys.append(Key3(t: t, p: p, th: a, ease: e)) }
        // Enter from off-frame, or already there.
        if rng.chance(0.6) {
            keys.append(Key3(t: 0, p: g - actor.reach * rng.uniform(0.3, 0.5) + V3(0, 0, 0.1), th: th - 0.3, ease: .linear))
            add(rng.uniform(0.3, 0.9), g, th, .inOut)
        } else {
            keys.append(Key3(t: 0, p: g, th: th, ease: .linear))
        }
        let end = s.duration - 0.35
        var sounding = 0
        func strike() {
            // Wind up, swing down (accelerating) to contact, rebound.
            let delta = rng.uniform(0.3, 1.1)
            add(rng.uniform(0.12, 0.4), g, thC - delta, .inOut)
            add(rng.uniform(0.07, 0.16), g, thC, .accelerate)
            s.hits.append(contact(actor, g, thC, at: t, kind: kind, tap: false, keys: keys))
            add(rng.uniform(0.06, 0.14), g, thC - rng.uniform(0.15, 0.4), .decelerate)
            th = keys.last!.th
            sounding += 1
            // Sometimes a quick double stroke.
            if rng.chance(0.2) {
                add(rng.uniform(0.05, 0.1), g, thC, .accelerate)
                s.hits.append(contact(actor, g, thC, at: t, kind: kind, tap: false, keys: keys))
                add(rng.uniform(0.08, 0.15), g, thC - rng.uniform(0.2, 0.45), .decelerate)
                th = keys.last!.th
            }
        }
        while t < end - 0.6 {
            let r = rng.unit()
            if r < 0.30 || (sounding == 0 && t > end - 2) {
                strike()
            } else if r < 0.44 {
                // Light taps near the surface.
                let lift = rng.uniform(0.03, 0.12)
                add(rng.uniform(0.15, 0.35), g, thC - lift, .inOut)
                for _ in 0..<rng.int(1, 4) {
                    add(rng.uniform(0.06, 0.13), g, thC, .accelerate)
                    s.hits.append(contact(actor, g, thC, at: t, kind: kind, tap: true, keys: keys))
                    add(rng.uniform(0.1, 0.3), g, thC - lift * rng.uniform(0.7, 1.3), .inOut)
                    sounding += 1
                }
                th = keys.last!.th
            } else if r < 0.58 {
                // A scratch: set down softly (zero speed at contact), drag along, lift softly.
                add(rng.uniform(0.2, 0.45), g, thC, .decelerate)
                let start = t
                let dir = V3(rng.uniform(-1, 1), rng.uniform(-1, 1), 0).normalized
                for k in 0..<rng.int(1, 4) {
                    let step = dir * (rng.uniform(0.04, 0.14) * (k % 2 == 0 ? 1 : -1))
                    var ng = g + step
                    // Stay near the target: the striking end is about length·cos(angle) ahead of the grip.
                    let c = ng + actor.reach * (actor.length * cos(thC)) - s.camera.target
                    if (c.x * c.x + c.y * c.y).squareRoot() > 0.2 { ng = g - step }
                    g = ng
                    add(rng.uniform(0.2, 0.6), g, thC, .inOut)
                }
                s.scratches.append(SurfaceScratch(start: start, end: t, actor: index))
                add(rng.uniform(0.15, 0.35), g, thC - rng.uniform(0.2, 0.5), .inOut)
                th = keys.last!.th
            } else if r < 0.72 {
                // A silent stroke: a swing that stops 2–8 cm short of the surface.
                let clearance = rng.uniform(0.02, 0.08)
                let thF = actor.angle(touching: clearance, grip: g)
                add(rng.uniform(0.12, 0.35), g, thC - rng.uniform(0.4, 1.0), .inOut)
                add(rng.uniform(0.12, 0.25), g, thF, .inOut)
                s.silentStrokes.append(t)
                add(rng.uniform(0.1, 0.3), g, thC - rng.uniform(0.3, 0.6), .inOut)
                th = keys.last!.th
            } else if r < 0.84 {
                // Move to another spot through the air.
                let nx = spot()
                g = g + V3(nx.x - x.x, nx.y - x.y, 0)
                x = nx
                th = thC - rng.uniform(0.3, 0.8)
                add(rng.uniform(0.3, 0.8), g, th, .inOut)
            } else if r < 0.92 {
                add(rng.uniform(0.2, 1.0), g, th, .linear)
            } else {
                // Twirl in the air: small quick swings far above the surface.
                for _ in 0..<rng.int(2, 4) {
                    add(rng.uniform(0.08, 0.18), g + V3(0, 0, rng.uniform(0, 0.04)), thC - rng.uniform(0.5, 0.9), .inOut)
                }
                add(rng.uniform(0.1, 0.2), g, th, .inOut)
            }
        }
        if sounding == 0 { strike() }
        // Rest, or leave the picture.
        if rng.chance(0.5) { add(rng.uniform(0.4, 0.8), g - actor.reach * 0.45 + V3(0, 0, 0.15), th - 0.3, .inOut) }
        actor.track = Track(keys: keys)
        s.duration = max(s.duration, min(10, t + 0.3))
    }

    /// The contact at the last key (time `at`): speed of the striking end from the script.
    func contact(_ actor: Actor, _ g: V3, _ th: Double, at: Double, kind: StrikerKind, tap: Bool, keys: [Key3]) -> SurfaceHit {
        let saved = actor.track
        actor.track = Track(keys: keys)
        let h = 1e-4
        let (g0, th0) = actor.track.at(at - h)
        let z0 = actor.lowest(g0, th0).z
        actor.track = saved
        let point = actor.lowest(g, th).at
        return SurfaceHit(time: at, speed: max(0, z0) / h, point: point, striker: kind, tap: tap)
    }

    /// A hand that waves or passes through in the air; never touches anything.
    mutating func addWaver() {
        let s = scene
        let a = Actor(role: .hand, reach: armDirection())
        skinAndSleeve(a)
        var keys: [Key3] = []
        let out = s.camera.target - a.reach * 0.55 + V3(0, 0, 0.25)
        var t = rng.uniform(0, max(0.1, s.duration - 2.5))
        keys.append(Key3(t: t, p: out, th: 0, ease: .linear))
        let centre = spot() + V3(0, 0, rng.uniform(0.12, 0.3)) - a.reach * 0.1
        t += rng.uniform(0.4, 0.9)
        keys.append(Key3(t: t, p: centre, th: 0, ease: .inOut))
        let side = a.reach.cross(V3(0, 0, 1))
        for k in 0..<rng.int(2, 6) {
            t += rng.uniform(0.15, 0.35)
            keys.append(Key3(t: t, p: centre + side * (k % 2 == 0 ? 0.05 : -0.05) + V3(0, 0, rng.uniform(-0.02, 0.03)), th: 0, ease: .inOut))
        }
        t += rng.uniform(0.4, 0.9)
        keys.append(Key3(t: t, p: out, th: 0, ease: .inOut))
        a.track = Track(keys: keys)
        s.actors.append(a)
    }

    /// Silent templates: a hand carries, lifts, shows, pushes or rolls an object; set down softly, never dropped.
    mutating func buildCarry() {
        let s = scene
        let kinds: [(String, Double, Double, Bool)] = [("a cup", 0.04, 0.035, true), ("a can", 0.033, 0.05, true), ("a bottle", 0.03, 0.09, true),
                                                      ("a ball", 0.035, 0, true), ("a box", 0.045, 0.05, false), ("a phone", 0.012, 0.06, false)]
        var pickable = kinds
        if s.template == .rolling { pickable = kinds.filter { $0.2 == 0 } }
        let (name, r, hl, vertical) = rng.pick(pickable)
        let reach = armDirection()
        let obj = Actor(role: .object(radius: r, halfLength: hl, vertical: vertical), reach: reach)
        obj.hasArm = false
        let colour = SurfaceTextures.hue(&rng, saturation: 0.2...0.9, value: 0.3...0.95)
        obj.lookStriker = look(CapsuleLook(base: colour, second: colour * 0.8, grain: 0, sheen: name == "a can" || name == "a bottle" ? 0.7 : 0.25))
        let hand = Actor(role: .hand, reach: reach)
        skinAndSleeve(hand)
        let restZ = vertical ? hl + r : r
        let az = s.camera.azimuth
        let right = V3(-sin(az), cos(az), 0), toCam = V3(cos(az), sin(az), 0)
        var p0 = spot(); p0.z = restZ
        var objKeys: [Key3] = [Key3(t: 0, p: p0, th: 0, ease: .linear)]
        let grasp = V3(0, 0, vertical ? hl + r * 0.6 : r + 0.02) - reach * (r * 0.4)
        var t = rng.uniform(0.6, 1.4)
        let handStart = p0 - reach * 0.6 + V3(0, 0, 0.3)
        var handKeys: [Key3] = [Key3(t: 0, p: handStart, th: 0, ease: .linear), Key3(t: t, p: p0 + grasp, th: 0, ease: .inOut)]
        objKeys.append(Key3(t: t, p: p0, th: 0, ease: .linear))
        var other: String? = nil
        func move(_ to: V3, _ dt: Double, _ e: Ease = .inOut) {
            t += dt
            objKeys.append(Key3(t: t, p: to, th: 0, ease: e))
            handKeys.append(Key3(t: t, p: to + grasp, th: 0, ease: e))
        }
        var p = p0
        switch s.template {
        case .lifting, .showing:
            p = p + V3(0, 0, rng.uniform(0.08, 0.2)); move(p, rng.uniform(0.5, 1.0))
            if s.template == .showing {
                p = p + toCam * rng.uniform(0.04, 0.12) + V3(0, 0, 0.03); move(p, rng.uniform(0.4, 0.8))
                for k in 0..<rng.int(2, 4) { move(p + right * (k % 2 == 0 ? 0.04 : -0.04), rng.uniform(0.25, 0.5)) }
            }
            move(p + V3(rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), 0.02), rng.uniform(0.5, 1.5))
        case .pushingLeftRight, .pushingRightLeft, .rolling:
            let dir = s.template == .pushingRightLeft ? right * -1 : (s.template == .rolling ? (rng.chance(0.5) ? right : right * -1) : right)
            // Start on the side it leaves from; the hand pushes from behind.
            p = p0 - dir * 0.12
            objKeys = [Key3(t: 0, p: p, th: 0, ease: .linear), Key3(t: t, p: p, th: 0, ease: .linear)]
            let behind = dir * -(r + 0.035) + V3(0, 0, 0.02)
            handKeys = [Key3(t: 0, p: handStart, th: 0, ease: .linear), Key3(t: t, p: p + behind, th: 0, ease: .inOut)]
            let dist = rng.uniform(0.12, 0.3)
            if s.template == .rolling {
                t += 0.35
                let q = p + dir * 0.06
                objKeys.append(Key3(t: t, p: q, th: 0, ease: .accelerate)); handKeys.append(Key3(t: t, p: q + behind, th: 0, ease: .accelerate))
                t += rng.uniform(1.0, 2.0)
                objKeys.append(Key3(t: t, p: q + dir * dist, th: 0, ease: .decelerate))
                handKeys.append(Key3(t: t - 0.6, p: q + behind - reach * 0.1 + V3(0, 0, 0.08), th: 0, ease: .inOut))
            } else {
                t += rng.uniform(0.8, 2.0)
                objKeys.append(Key3(t: t, p: p + dir * dist, th: 0, ease: .inOut)); handKeys.append(Key3(t: t, p: p + dir * dist + behind, th: 0, ease: .inOut))
            }
        default:   // moving closer / away: relative to a second object that stays put
            let (oname, or_, ohl, ov) = rng.pick(kinds.filter { $0.0 != name })
            let o = Actor(role: .object(radius: or_, halfLength: ohl, vertical: ov), reach: reach)
            o.hasArm = false
            let oc = SurfaceTextures.hue(&rng)
            o.lookStriker = look(CapsuleLook(base: oc, second: oc * 0.8, grain: 0, sheen: 0.3))
            let dir = V3(rng.uniform(-1, 1), rng.uniform(-1, 1), 0).normalized
            let near = r + or_ + rng.uniform(0.02, 0.05), far = rng.uniform(0.18, 0.3)
            let anchor = s.camera.target + V3(0, 0, ov ? ohl + or_ : or_)
            o.track = Track(keys: [Key3(t: 0, p: anchor, th: 0, ease: .linear)])
            s.actors.append(o)
            other = oname
            let (from, to) = s.template == .movingCloser ? (far, near) : (near, far)
            p = V3(anchor.x, anchor.y, restZ) + dir * from
            objKeys = [Key3(t: 0, p: p, th: 0, ease: .linear), Key3(t: t, p: p, th: 0, ease: .linear)]
            handKeys = [Key3(t: 0, p: handStart, th: 0, ease: .linear), Key3(t: t, p: p + grasp, th: 0, ease: .inOut)]
            let lift = rng.chance(0.5) ? 0 : rng.uniform(0.01, 0.06)
            move(p + V3(0, 0, lift), 0.25)
            p = V3(anchor.x, anchor.y, restZ) + dir * to
            move(p + V3(0, 0, lift), rng.uniform(0.6, 1.6))
            // Set down with no speed left: silent.
            move(p, 0.3, .decelerate)
        }
        // Let go and withdraw (held things stay held).
        let letGo = s.template != .lifting && s.template != .showing
        if letGo {
            t += rng.uniform(0.3, 0.8)
            handKeys.append(Key3(t: t, p: handKeys.last!.p + V3(0, 0, 0.05), th: 0, ease: .inOut))
            t += rng.uniform(0.5, 1.0)
            handKeys.append(Key3(t: t, p: handKeys.last!.p - reach * 0.5 + V3(0, 0, 0.2), th: 0, ease: .inOut))
        }
        obj.track = Track(keys: objKeys)
        hand.track = Track(keys: handKeys)
        s.actors.append(obj)
        s.actors.append(hand)
        s.placeholders = other.map { [name, $0] } ?? [name]
        s.duration = max(min(s.duration, 10), min(10, max(t, objKeys.last!.t) + 0.5))
    }
}

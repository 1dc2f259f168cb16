import Foundation

/// The labels: Something-Something v2 templates. The first twelve are the sound classes of the original
/// experiment; the rest are silent negatives (things move, nothing strikes) that the class filter drops.
public enum Template: Int, CaseIterable, Sendable {
    case hitting, throwingAgainst, throwingOnto, droppingOnto, droppingInto, droppingBehind, droppingInFront
    case collidingDeflected, deflectedFrom, collidingHalt, pokingStack, movingCollide
    case pushingLeftRight, pushingRightLeft, lifting, movingCloser, movingAway, rolling, showing

    public var text: String {
        switch self {
        case .hitting: return "Hitting [something] with [something]"
        case .throwingAgainst: return "Throwing [something] against [something]"
        case .throwingOnto: return "Throwing [something] onto a surface"
        case .droppingOnto: return "Dropping [something] onto [something]"
        case .droppingInto: return "Dropping [something] into [something]"
        case .droppingBehind: return "Dropping [something] behind [something]"
        case .droppingInFront: return "Dropping [something] in front of [something]"
        case .collidingDeflected: return "[Something] colliding with [something] and both are being deflected"
        case .deflectedFrom: return "[Something] being deflected from [something]"
        case .collidingHalt: return "[Something] colliding with [something] and both come to a halt"
        case .pokingStack: return "Poking a stack of [something] so the stack collapses"
        case .movingCollide: return "Moving [something] and [something] so they collide with each other"
        case .pushingLeftRight: return "Pushing [something] from left to right"
        case .pushingRightLeft: return "Pushing [something] from right to left"
        case .lifting: return "Lifting [something] up completely without letting it drop down"
        case .movingCloser: return "Moving [something] closer to [something]"
        case .movingAway: return "Moving [something] away from [something]"
        case .rolling: return "Letting [something] roll along a flat surface"
        case .showing: return "Showing [something] to the camera"
        }
    }
    /// Whether the template's action makes an impact sound.
    public var sounds: Bool { rawValue < 12 }

    /// The label: the template with its placeholders filled in, as Something-Something writes it.
    public func label(_ placeholders: [String]) -> String {
        var out = text
        for p in placeholders {
            // Fill the first placeholder in reading order; a capitalised one starts the sentence.
            let lower = out.range(of: "[something]"), upper = out.range(of: "[Something]")
            if let u = upper, lower == nil || u.lowerBound < lower!.lowerBound {
                out.replaceSubrange(u, with: p.prefix(1).uppercased() + p.dropFirst())
            } else if let l = lower {
                out.replaceSubrange(l, with: p)
            }
        }
        return out
    }
}

/// A kind of object that can fill a placeholder.
struct ObjectKind {
    var name: String
    var material: Material
    var round: Bool
    /// Width and height ranges in metres (radius = width / 2 for round ones).
    var width: ClosedRange<Double>, height: ClosedRange<Double>
    /// 0 for a box; otherwise an irregular convex polygon with this many corners (stones, nuts).
    var sides = 0

    static let movable: [ObjectKind] = [
        ObjectKind(name: "a ball", material: .plastic, round: true, width: 0.05...0.10, height: 0...0),
        ObjectKind(name: "a tennis ball", material: .plastic, round: true, width: 0.06...0.07, height: 0...0),
        ObjectKind(name: "a marble", material: .glass, round: true, width: 0.02...0.03, height: 0...0),
        ObjectKind(name: "a metal ball", material: .metal, round: true, width: 0.03...0.05, height: 0...0),
        ObjectKind(name: "a wooden block", material: .wood, round: false, width: 0.04...0.10, height: 0.03...0.08),
        ObjectKind(name: "a metal can", material: .metal, round: false, width: 0.06...0.08, height: 0.09...0.12),
        ObjectKind(name: "a glass jar", material: .glass, round: false, width: 0.06...0.09, height: 0.08...0.12),
        ObjectKind(name: "a small box", material: .cardboard, round: false, width: 0.06...0.14, height: 0.04...0.10),
        ObjectKind(name: "a book", material: .cardboard, round: false, width: 0.14...0.22, height: 0.02...0.04),
        ObjectKind(name: "a plastic bottle", material: .plastic, round: false, width: 0.05...0.07, height: 0.14...0.20),
        ObjectKind(name: "a mug", material: .glass, round: false, width: 0.07...0.09, height: 0.08...0.10),
        ObjectKind(name: "a toy car", material: .plastic, round: false, width: 0.08...0.12, height: 0.03...0.05),
        ObjectKind(name: "a spoon", material: .metal, round: false, width: 0.12...0.16, height: 0.008...0.012),
        ObjectKind(name: "a pen", material: .plastic, round: false, width: 0.12...0.15, height: 0.008...0.012),
        ObjectKind(name: "a stone", material: .glass, round: false, width: 0.04...0.08, height: 0.03...0.06, sides: 6),
        ObjectKind(name: "a wooden nut", material: .wood, round: false, width: 0.03...0.05, height: 0.03...0.05, sides: 5),
    ]
    static let receivers: [ObjectKind] = [
        ObjectKind(name: "a box", material: .cardboard, round: false, width: 0.15...0.30, height: 0.08...0.18),
        ObjectKind(name: "a book", material: .cardboard, round: false, width: 0.16...0.26, height: 0.03...0.05),
        ObjectKind(name: "a metal tray", material: .metal, round: false, width: 0.20...0.32, height: 0.015...0.025),
        ObjectKind(name: "a plate", material: .glass, round: false, width: 0.18...0.26, height: 0.015...0.025),
        ObjectKind(name: "a wooden board", material: .wood, round: false, width: 0.20...0.35, height: 0.02...0.04),
        ObjectKind(name: "a plastic crate", material: .plastic, round: false, width: 0.18...0.30, height: 0.10...0.18),
    ]
    static let containers: [ObjectKind] = [
        ObjectKind(name: "a bowl", material: .glass, round: false, width: 0.14...0.20, height: 0.06...0.09),
        ObjectKind(name: "a box", material: .cardboard, round: false, width: 0.16...0.26, height: 0.08...0.16),
        ObjectKind(name: "a bucket", material: .plastic, round: false, width: 0.18...0.26, height: 0.14...0.22),
        ObjectKind(name: "a pot", material: .metal, round: false, width: 0.16...0.24, height: 0.10...0.16),
        ObjectKind(name: "a cup", material: .plastic, round: false, width: 0.09...0.12, height: 0.09...0.12),
    ]
    static let occluders: [ObjectKind] = [
        ObjectKind(name: "a box", material: .cardboard, round: false, width: 0.22...0.34, height: 0.18...0.28),
        ObjectKind(name: "a pillow", material: .cardboard, round: false, width: 0.28...0.40, height: 0.16...0.24),
        ObjectKind(name: "a laptop", material: .metal, round: false, width: 0.26...0.34, height: 0.18...0.24),
        ObjectKind(name: "a folder", material: .plastic, round: false, width: 0.22...0.32, height: 0.22...0.30),
    ]
    static let strikers: [ObjectKind] = [
        ObjectKind(name: "a stick", material: .wood, round: false, width: 0.25...0.35, height: 0.012...0.02),
        ObjectKind(name: "a spoon", material: .metal, round: false, width: 0.15...0.20, height: 0.01...0.015),
        ObjectKind(name: "a pen", material: .plastic, round: false, width: 0.13...0.15, height: 0.009...0.012),
        ObjectKind(name: "a ruler", material: .plastic, round: false, width: 0.25...0.30, height: 0.008...0.012),
        ObjectKind(name: "a hammer", material: .metal, round: false, width: 0.25...0.30, height: 0.02...0.03),
    ]
    static let stackable: [ObjectKind] = [
        ObjectKind(name: "blocks", material: .wood, round: false, width: 0.05...0.09, height: 0.03...0.06),
        ObjectKind(name: "boxes", material: .cardboard, round: false, width: 0.08...0.14, height: 0.05...0.09),
        ObjectKind(name: "books", material: .cardboard, round: false, width: 0.14...0.20, height: 0.025...0.04),
        ObjectKind(name: "cans", material: .metal, round: false, width: 0.06...0.08, height: 0.09...0.11),
        ObjectKind(name: "cups", material: .plastic, round: false, width: 0.07...0.09, height: 0.08...0.10),
    ]
}

/// A simulated scene before rendering: the world with its scripts, the framing, and the label.
public final class Scene {
    public let template: Template
    public var placeholders: [String] = []
    public let world = World()
    public var duration: Double
    public var appearances: [Appearance] = []
    /// Static bodies drawn in front of the action: an impact behind them is hidden.
    public var occluders: [Int] = []
    /// Scripted impacts (held objects banged together) are added to the world by the builder.
    /// Framing in world metres: the horizontal centre and the visible width; the floor line sits at
    /// `floorFraction` of the picture height from the top.
    public var viewCenterX = 0.0
    public var viewWidth = 0.8
    public var floorFraction = 0.72
    /// The highest point the action reaches (m above the floor); it must stay in the picture.
    public var viewTop = 0.3

    init(template: Template, duration: Double) { self.template = template; self.duration = duration }

    @discardableResult
    func add(_ body: Body, _ look: Appearance) -> Int {
        var b = body
        b.appearance = appearances.count
        appearances.append(look)
        return world.add(b)
    }
}

/// Builds one scene per template from a seed. Every number that varies comes from the generator passed
/// in, so a scene is a pure function of its seed.
struct SceneBuilder {
    var rng: Xoshiro256
    let scene: Scene
    let floorMaterial: Material

    init(template: Template, seed: UInt64) {
        rng = Xoshiro256(seed: seed)
        scene = Scene(template: template, duration: rng.uniform(2.0, 5.0))
        floorMaterial = rng.pick([Material.wood, .wood, .plastic, .cardboard, .metal, .glass])
        // Floor: a wide static slab whose top is y = 0. Its look is drawn by the renderer's floor, not as a body.
        var floor = Body(shape: .box(20, 1), kind: .fixed, material: floorMaterial, position: Vec2(0, -0.5))
        floor.collisionMask = 0xFFFF_FFFF
        floor.name = "floor"
        floor.depth = -100
        scene.add(floor, Appearance(base: RGB(0, 0, 0), second: RGB(0, 0, 0), texture: .plain, contrast: 0))
    }

    mutating func size(_ k: ObjectKind) -> (Double, Double) {
        let w = rng.uniform(k.width.lowerBound, k.width.upperBound)
        let h = k.round ? w : rng.uniform(k.height.lowerBound, k.height.upperBound)
        return (w, h)
    }

    /// A free object resting on the floor (or at `y` for its bottom) at x.
    mutating func object(_ k: ObjectKind, x: Double, bottom: Double = 0, kind: BodyKind = .dynamic, depth: Double = 0) -> (Int, Double, Double) {
        let (w, h) = size(k)
        var shape: Shape = k.round ? .circle(radius: w / 2) : .box(w, h)
        if k.sides >= 3 {
            // Corners at even angles with radii jittered by at most 15 %: always convex for ≤ 8 corners.
            var v: [Vec2] = []
            let turn = rng.uniform(0, 2 * Double.pi)
            for c in 0..<k.sides {
                let a = turn + 2 * Double.pi * Double(c) / Double(k.sides)
                let r = rng.uniform(0.85, 1.0)
                v.append(Vec2(cos(a) * w / 2 * r, sin(a) * h / 2 * r))
            }
            // Centre on the area centroid, so the body rotates about its centre of mass.
            var area = 0.0, cx = 0.0, cy = 0.0
            for c in 0..<v.count {
                let p = v[c], q = v[(c + 1) % v.count], cr = p.cross(q)
                area += cr / 2; cx += (p.x + q.x) * cr / 6; cy += (p.y + q.y) * cr / 6
            }
            let centroid = Vec2(cx / area, cy / area)
            v = v.map { $0 - centroid }
            // Stand it on its flattest-facing edge: an object balanced on a corner would tip over at the
            // start and knock in a clip that should be silent.
            var best = 0, bestY = Double.infinity
            for c in 0..<v.count {
                let e = v[(c + 1) % v.count] - v[c]
                let n = Vec2(e.y, -e.x).normalized
                if n.y < bestY { bestY = n.y; best = c }
            }
            let e = v[(best + 1) % v.count] - v[best]
            let n = Vec2(e.y, -e.x).normalized
            let theta = -Double.pi / 2 - atan2(n.y, n.x)
            v = v.map { $0.rotated(cos(theta), sin(theta)) }
            shape = .polygon(v)
        }
        var lowest = -h / 2
        if case .polygon(let v) = shape { lowest = v.map(\.y).min() ?? lowest }
        var b = Body(shape: shape, kind: kind, material: k.material, position: Vec2(x, bottom - lowest))
        b.name = k.name
        b.depth = depth
        let i = scene.add(b, Appearance.random(for: k.material, &rng))
        return (i, w, h)
    }

    /// A hand (a rounded block with an arm reaching out of the picture) following `path`; it pushes
    /// objects but never knocks (skin on things is quiet). `fromRight` says where the arm comes from.
    mutating func hand(_ path: Path, fromRight: Bool, fromAbove: Bool = false, touches: Bool = true, depth: Double = 5) -> Int {
        let skin = Appearance.skin(&rng)
        let sleeve = Appearance.sleeve(&rng)
        let hw = rng.uniform(0.07, 0.09), hh = rng.uniform(0.045, 0.06)
        var h = Body(shape: .box(hw, hh), kind: .kinematic, material: .plastic, position: path.pose(0).0)
        h.path = path; h.sounds = false; h.name = "hand"; h.depth = depth
        h.collisionMask = touches ? 0xFFFF_FFFF : 0
        // The arm: a long sleeve rectangle behind the hand, no collisions.
        let armLength = 1.2
        var armPath = path
        let dir = fromAbove ? Vec2(0, armLength / 2 + hh / 2) : Vec2((fromRight ? 1 : -1) * (armLength / 2 + hw / 2 - 0.01), 0.02)
        for k in armPath.keys.indices { armPath.keys[k].position = armPath.keys[k].position + dir }
        var arm = Body(shape: fromAbove ? .box(hw * 0.9, armLength) : .box(armLength, hh * 1.1), kind: .kinematic,
                       material: .plastic, position: armPath.pose(0).0)
        arm.path = armPath; arm.sounds = false; arm.collisionMask = 0; arm.name = "arm"; arm.depth = depth - 0.1
        scene.add(arm, sleeve)
        return scene.add(h, skin)
    }

    /// Path helper: keyframes as (time, x, y) with an ease into each key.
    static func path(_ keys: [(Double, Double, Double, Ease)], angle: Double = 0) -> Path {
        Path(keys.map { Path.Key(time: $0.0, position: Vec2($0.1, $0.2), angle: angle, ease: $0.3) })
    }

    /// Holds body `i` along `path` (its centre) until `release` (infinity = never let go).
    func hold(_ i: Int, _ path: Path, release: Double = .infinity) {
        scene.world.bodies[i].path = path
        scene.world.bodies[i].releaseTime = release
    }

    func halfHeight(_ i: Int) -> Double {
        switch scene.world.bodies[i].shape {
        case .circle(let r): return r
        case .polygon(let v): return v.map(\.y).max() ?? 0
        }
    }
    func halfWidth(_ i: Int) -> Double {
        switch scene.world.bodies[i].shape {
        case .circle(let r): return r
        case .polygon(let v): return v.map(\.x).max() ?? 0
        }
    }

    /// A hand grasping held body `i` from the side along the object's own path (offset so it touches the side).
    mutating func handHolding(_ i: Int, _ objPath: Path, fromRight: Bool) {
        var p = objPath
        let off = (halfWidth(i) + 0.035) * (fromRight ? 1 : -1)
        for k in p.keys.indices { p.keys[k].position = p.keys[k].position + Vec2(off, 0.01) }
        // After the release the hand keeps moving a little and then withdraws.
        if let last = p.keys.last {
            p.keys.append(Path.Key(time: last.time + 0.6, position: last.position + Vec2(off * 3, 0.15), angle: 0, ease: .inOut))
        }
        _ = hand(p, fromRight: fromRight, touches: false)
    }

    /// Frames the action: the centre and width so the given x range fits with a margin.
    mutating func frame(_ a: Double, _ b: Double, top: Double) {
        let x0 = min(a, b), x1 = max(a, b)
        scene.floorFraction = rng.uniform(0.6, 0.85)
        // Wide enough for the action; the renderer zooms out further if `viewTop` would not fit above the
        // floor line in the picture's aspect ratio (chosen later, with the size).
        let span = max(x1 - x0, 0.25)
        scene.viewWidth = span * rng.uniform(1.0, 1.3)
        scene.viewTop = top * rng.uniform(1.05, 1.2)
        scene.viewCenterX = (x0 + x1) / 2 + rng.uniform(-0.06, 0.06) * span
    }

    mutating func build() -> Scene {
        let s = scene
        let side: Double = rng.chance(0.5) ? 1 : -1     // mirror most scenes so motion goes both ways
        let T = s.duration
        switch s.template {
        case .hitting:
            let target = rng.pick(ObjectKind.movable.filter { !$0.round && $0.width.upperBound > 0.05 })
            let (obj, w, _) = object(target, x: 0)
            let strikerKind = rng.pick(ObjectKind.strikers)
            let (sl, st) = size(strikerKind)
            // The striker comes down on the object's top, tilted, and bounces back up; one to three strikes.
            let strikes = rng.int(1, 3)
            let tilt = side * rng.uniform(0.05, 0.35)
            // Place the stick by its lowest corner: that corner comes down onto the object's top, 1 mm into
            // it so the contact is certain, and the stick turns back at once (a strike, not a press).
            let dirAlong = Vec2(cos(tilt), sin(tilt))
            let corners = [Vec2(-sl / 2, -st / 2), Vec2(sl / 2, -st / 2), Vec2(sl / 2, st / 2), Vec2(-sl / 2, st / 2)]
                .map { $0.rotated(cos(tilt), sin(tilt)) }
            let low = corners.min { $0.y < $1.y }!
            var keys: [Path.Key] = []
            let startT = rng.uniform(0.3, 0.8)
            let raise = rng.uniform(0.08, 0.2)
            let contactY = s.world.bodies[obj].position.y + halfHeight(obj) - 0.001   // the real top (stones are not boxes)
            let tipX = rng.uniform(-w / 4, w / 4)
            let center = { (y: Double) in Vec2(tipX, y) - low }
            keys.append(.init(time: 0, position: center(contactY + raise + 0.1), angle: tilt, ease: .linear))
            var t = startT
            for _ in 0..<strikes {
                keys.append(.init(time: t, position: center(contactY + raise), angle: tilt, ease: .inOut))
                t += rng.uniform(0.1, 0.22)
                // The lowest point falls on a physics step boundary: kinematic bodies are placed at step
                // boundaries, so a turn-around inside a step would be averaged away and never touch.
                t = (t * 600).rounded() / 600
                keys.append(.init(time: t, position: center(contactY), angle: tilt, ease: .accelerate))
                // Rest on the object for a moment, as a hand does after a knock (and so the contact is in a frame).
                t += rng.uniform(0.04, 0.12)
                keys.append(.init(time: t, position: center(contactY + 0.002), angle: tilt, ease: .decelerate))
                t += rng.uniform(0.12, 0.25)
                keys.append(.init(time: t, position: center(contactY + raise), angle: tilt, ease: .decelerate))
                t += rng.uniform(0.05, 0.3)
            }
            keys.append(.init(time: t + 0.4, position: center(contactY + raise + 0.15), angle: tilt, ease: .inOut))
            var stick = Body(shape: .box(sl, st), kind: .kinematic, material: strikerKind.material, position: keys[0].position, angle: tilt)
            stick.path = Path(keys); stick.name = strikerKind.name; stick.depth = 4
            s.add(stick, Appearance.random(for: strikerKind.material, &rng))
            // The hand holds the far end of the striker.
            var handKeys = keys
            for k in handKeys.indices { handKeys[k].position = handKeys[k].position + dirAlong * (side * sl * 0.42); handKeys[k].angle = 0 }
            _ = hand(Path(handKeys), fromRight: side > 0, touches: false)
            s.placeholders = [target.name, strikerKind.name]
            s.duration = min(5, max(T, t + 0.5))   // clips stay within 2–5 s
            frame(-w, w + sl * 0.8, top: contactY + raise + 0.1)
            _ = obj

        case .throwingAgainst, .deflectedFrom:
            let thrown = rng.pick(ObjectKind.movable.filter { $0.width.upperBound < 0.15 })
            let wallKind = rng.pick(ObjectKind.receivers + ObjectKind.occluders)
            var (ww, wh) = size(wallKind)
            if s.template == .throwingAgainst { swap(&ww, &wh) }     // stood on end: a wall to throw against
            ww = max(0.04, min(ww, 0.08)); wh = max(wh, 0.2)
            let wallX = -side * rng.uniform(0.2, 0.35)
            let tiltAngle = s.template == .deflectedFrom ? side * rng.uniform(0.3, 0.7) : 0
            var wall = Body(shape: .box(ww, wh), kind: .fixed, material: wallKind.material,
                            position: Vec2(wallX, wh / 2 * cos(tiltAngle)), angle: tiltAngle)
            wall.name = wallKind.name; wall.depth = -1
            s.add(wall, Appearance.random(for: wallKind.material, &rng))
            let (obj, _, oh) = object(thrown, x: side * 0.25, bottom: 0)
            let release = rng.uniform(0.5, 1.2)
            let vx = -side * rng.uniform(1.2, 3.0), vy = rng.uniform(0.3, 1.5)
            let startY = rng.uniform(0.12, 0.3)
            let p0 = Vec2(side * 0.25 + side * 0.05, oh / 2)
            let pr = Vec2(side * 0.18, startY)
            let windup = 0.25
            let path = Path([
                .init(time: 0, position: p0, angle: 0, ease: .linear),
                .init(time: release - windup, position: pr + Vec2(side * 0.12, -0.02), angle: 0, ease: .inOut),
                .init(time: release, position: pr, angle: 0, ease: .accelerate),
                .init(time: release + 0.01, position: pr + Vec2(vx, vy) * 0.01, angle: 0, ease: .linear),
            ])
            hold(obj, path, release: release)
            handHolding(obj, path, fromRight: side > 0)
            s.placeholders = [thrown.name, wallKind.name]
            frame(min(wallX, side * 0.3), max(wallX, side * 0.3), top: wh)

        case .throwingOnto:
            let thrown = rng.pick(ObjectKind.movable)
            let (obj, _, oh) = object(thrown, x: side * 0.3)
            let release = rng.uniform(0.4, 1.0)
            let startY = rng.uniform(0.15, 0.35)
            let v = Vec2(-side * rng.uniform(0.8, 2.2), rng.uniform(-0.5, 1.2))
            let pr = Vec2(side * 0.2, startY)
            let path = Path([
                .init(time: 0, position: Vec2(side * 0.3, oh / 2), angle: 0, ease: .linear),
                .init(time: release - 0.3, position: pr + Vec2(side * 0.1, 0.05), angle: 0, ease: .inOut),
                .init(time: release, position: pr, angle: 0, ease: .accelerate),
                .init(time: release + 0.01, position: pr + v * 0.01, angle: 0, ease: .linear),
            ])
            hold(obj, path, release: release)
            handHolding(obj, path, fromRight: side > 0)
            s.placeholders = [thrown.name]
            frame(-side * 0.4, side * 0.3, top: startY + 0.2)

        case .droppingOnto, .droppingInto, .droppingBehind, .droppingInFront:
            let dropped = rng.pick(ObjectKind.movable.filter { $0.width.upperBound < 0.13 })
            let baseX = rng.uniform(-0.05, 0.05)
            var targetTop = 0.0
            var otherName = ""
            switch s.template {
            case .droppingOnto:
                let k = rng.pick(ObjectKind.receivers)
                let (_, _, h) = object(k, x: baseX, kind: rng.chance(0.5) ? .fixed : .dynamic)
                targetTop = h; otherName = k.name
            case .droppingInto:
                let k = rng.pick(ObjectKind.containers)
                let (w, h) = size(k)
                let wall = 0.008
                let look = Appearance.random(for: k.material, &rng)
                // A U of three slabs; the cross-section shows the inside (side view).
                for (dx, bw, bh, by) in [(0.0, w, wall, wall / 2), (-w / 2 + wall / 2, wall, h, h / 2), (w / 2 - wall / 2, wall, h, h / 2)] {
                    var b = Body(shape: .box(bw, bh), kind: .fixed, material: k.material, position: Vec2(baseX + dx, by))
                    b.name = k.name; b.depth = 1
                    s.add(b, look)
                }
                targetTop = h; otherName = k.name
            case .droppingBehind, .droppingInFront:
                let k = rng.pick(ObjectKind.occluders)
                let (w, h) = size(k)
                var b = Body(shape: .box(w, h), kind: .fixed, material: k.material, position: Vec2(baseX, h / 2))
                b.collisionMask = 0
                b.name = k.name
                b.depth = s.template == .droppingBehind ? 3 : -3
                let i = s.add(b, Appearance.random(for: k.material, &rng))
                if s.template == .droppingBehind { s.occluders.append(i) }
                targetTop = h; otherName = k.name
            default: break
            }
            let (obj, w, h) = object(dropped, x: baseX + side * 0.3)
            if s.template == .droppingBehind { s.world.bodies[obj].depth = -2 }
            let release = rng.uniform(0.7, 1.6)
            let dropHeight = targetTop + h / 2 + rng.uniform(0.06, 0.3)
            let above = Vec2(baseX + rng.uniform(-0.02, 0.02) * (s.template == .droppingInto ? 0.3 : 1), dropHeight)
            let path = Path([
                .init(time: 0, position: Vec2(baseX + side * 0.3, h / 2), angle: 0, ease: .linear),
                .init(time: release - 0.15, position: above, angle: 0, ease: .inOut),
                .init(time: release, position: above, angle: 0, ease: .linear),
            ])
            hold(obj, path, release: release)
            handHolding(obj, path, fromRight: side > 0)
            s.placeholders = [dropped.name, otherName]
            frame(baseX - 0.2, baseX + side * 0.35, top: dropHeight + 0.1)
            _ = w

        case .collidingDeflected, .collidingHalt:
            let halt = s.template == .collidingHalt
            let kinds = ObjectKind.movable.filter { halt ? !$0.round : true }
            let ka = rng.pick(kinds), kb = rng.pick(kinds)
            // Close enough that sliding friction (about μg = 4 m/s²) cannot stop them before they meet.
            let gapA = rng.uniform(0.02, 0.05), gapB = rng.uniform(0.02, 0.05)
            let (a, wa, _) = object(ka, x: 0)
            let (b, wb, _) = object(kb, x: 0)
            s.world.bodies[a].position.x = -(wa / 2 + gapA)
            s.world.bodies[b].position.x = wb / 2 + gapB
            let gap = max(wa / 2 + gapA, wb / 2 + gapB)
            if halt {
                s.world.bodies[a].restitution = 0; s.world.bodies[b].restitution = 0
                // Equal and opposite momenta, so the pair stops dead on contact.
                let ma = 1 / s.world.bodies[a].invMass, mb = 1 / s.world.bodies[b].invMass
                let m = (ma + mb) / 2
                s.world.bodies[a].invMass = 1 / m; s.world.bodies[b].invMass = 1 / m
            } else {
                s.world.bodies[a].restitution = rng.uniform(0.6, 0.85); s.world.bodies[b].restitution = rng.uniform(0.6, 0.85)
            }
            let release = rng.uniform(0.4, 0.9)
            let speed = rng.uniform(1.2, 2.0)
            for (i, dir) in [(a, 1.0), (b, -1.0)] {
                let p0 = s.world.bodies[i].position
                // Wind up from further out and let go at the resting spot, still apart, at `speed`
                // (an accelerating ease over 0.2 s covering speed × 0.1 m ends at exactly `speed`).
                let path = Path([
                    .init(time: 0, position: p0 - Vec2(dir * speed * 0.1, 0), angle: 0, ease: .linear),
                    .init(time: release - 0.2, position: p0 - Vec2(dir * speed * 0.1, 0), angle: 0, ease: .linear),
                    .init(time: release, position: p0, angle: 0, ease: .accelerate),
                    .init(time: release + 0.01, position: p0 + Vec2(dir * speed * 0.01, 0), angle: 0, ease: .linear),
                ])
                hold(i, path, release: release)
                handHolding(i, path, fromRight: dir < 0)
            }
            s.placeholders = [ka.name, kb.name]
            frame(-gap - 0.15, gap + 0.15, top: 0.3)

        case .pokingStack:
            let k = rng.pick(ObjectKind.stackable)
            let (w, h) = size(k)
            let count = rng.int(3, 5)
            let look = Appearance.random(for: k.material, &rng)
            var y = 0.0
            var top = 0
            for n in 0..<count {
                var b = Body(shape: .box(w * rng.uniform(0.9, 1.1), h), kind: .dynamic, material: k.material,
                             position: Vec2(rng.uniform(-0.006, 0.006), y + h / 2))
                b.name = k.name
                var l = look
                if rng.chance(0.5) { l = Appearance.random(for: k.material, &rng) }
                top = s.add(b, l)
                y += h
                _ = n
            }
            // A finger pokes the top of the stack sideways, quickly enough to topple it.
            let pokeT = rng.uniform(0.5, 1.2)
            let pokeY = y - h * rng.uniform(0.3, 0.6)
            let startX = side * (w / 2 + 0.1)
            let contactX = side * (w / 2 + 0.04)
            let speed = rng.uniform(0.8, 1.6)
            let path = SceneBuilder.path([
                (0, startX + side * 0.2, pokeY + 0.1, .linear),
                (pokeT - 0.1, startX, pokeY, .inOut),
                (pokeT, contactX + side * 0.005, pokeY, .linear),
                (pokeT + 0.12, contactX - side * speed * 0.12, pokeY, .linear),
                (pokeT + 0.6, startX + side * 0.2, pokeY + 0.15, .inOut),
            ])
            _ = hand(path, fromRight: side > 0)
            s.placeholders = [k.name]
            frame(-w - 0.45, w + 0.45, top: y + 0.1)
            _ = top

        case .movingCollide:
            let ka = rng.pick(ObjectKind.movable), kb = rng.pick(ObjectKind.movable)
            let (a, wa, ha) = object(ka, x: -0.2)
            let (b, wb, hb) = object(kb, x: 0.2)
            let lift = rng.uniform(0.05, 0.2)
            let y = max(ha, hb) / 2 + lift
            let meetX = rng.uniform(-0.03, 0.03)
            var keysA: [(Double, Double, Double, Ease)] = [(0, -0.2, ha / 2, .linear), (0.5, -0.22, y, .inOut)]
            var keysB: [(Double, Double, Double, Ease)] = [(0, 0.2, hb / 2, .linear), (0.5, 0.22, y, .inOut)]
            var t = rng.uniform(0.6, 0.9)
            let bangs = rng.int(1, 3)
            for _ in 0..<bangs {
                let approach = rng.uniform(0.15, 0.3)
                let back = rng.uniform(0.04, 0.12)
                keysA.append((t, meetX - wa / 2 - back, y, .inOut)); keysB.append((t, meetX + wb / 2 + back, y, .inOut))
                t += approach
                // Arrive touching, still moving (accelerating ease): the exact contact time is this key's.
                keysA.append((t, meetX - wa / 2, y, .accelerate)); keysB.append((t, meetX + wb / 2, y, .accelerate))
                let pa = SceneBuilder.path(keysA), pb = SceneBuilder.path(keysB)
                let va = pa.velocity(t - 2e-4).0, vb = pb.velocity(t - 2e-4).0
                s.world.addScriptedImpact(Impact(time: t, speed: abs(va.x - vb.x), point: Vec2(meetX, y), bodyA: a, bodyB: b))
                t += 0.05
                keysA.append((t, meetX - wa / 2 - 0.02, y, .decelerate)); keysB.append((t, meetX + wb / 2 + 0.02, y, .decelerate))
                t += rng.uniform(0.1, 0.3)
            }
            keysA.append((t + 0.4, -0.15, y + 0.05, .inOut)); keysB.append((t + 0.4, 0.15, y + 0.05, .inOut))
            let pa = SceneBuilder.path(keysA), pb = SceneBuilder.path(keysB)
            hold(a, pa); hold(b, pb)
            handHolding(a, pa, fromRight: false); handHolding(b, pb, fromRight: true)
            s.placeholders = [ka.name, kb.name]
            s.duration = min(5, max(T, t + 0.6))
            frame(-0.3, 0.3, top: y + 0.15)

        case .pushingLeftRight, .pushingRightLeft:
            let dir: Double = s.template == .pushingLeftRight ? 1 : -1
            let k = rng.pick(ObjectKind.movable.filter { !$0.round })
            let start = -dir * rng.uniform(0.1, 0.2)
            let (obj, w, h) = object(k, x: start)
            let distance = rng.uniform(0.15, 0.35)
            let handW = 0.04
            let hx = start - dir * (w / 2 + handW + 0.002)
            let hy = min(h, 0.05) / 2 + 0.025
            let t0 = rng.uniform(0.3, 0.8), t1 = min(T - 0.3, t0 + rng.uniform(1.0, 2.5))
            let path = SceneBuilder.path([
                (0, hx - dir * 0.15, hy + 0.08, .linear),
                (t0, hx, hy, .inOut),
                (t1, hx + dir * distance, hy, .inOut),
                (t1 + 0.5, hx + dir * distance - dir * 0.1, hy + 0.12, .inOut),
            ])
            _ = hand(path, fromRight: dir < 0)
            s.placeholders = [k.name]
            frame(min(start, start + dir * distance) - 0.1, max(start, start + dir * distance) + 0.1, top: 0.25)
            _ = obj

        case .lifting, .showing:
            let k = rng.pick(ObjectKind.movable)
            let (obj, _, h) = object(k, x: rng.uniform(-0.1, 0.1))
            let p0 = s.world.bodies[obj].position
            let tg = rng.uniform(0.4, 1.0)
            let liftH = rng.uniform(0.12, 0.3)
            var keys: [(Double, Double, Double, Ease)] = [(0, p0.x, p0.y, .linear), (tg, p0.x, p0.y, .linear),
                                                          (tg + rng.uniform(0.5, 1.0), p0.x + rng.uniform(-0.05, 0.05), p0.y + liftH, .inOut)]
            if s.template == .showing {
                var t = keys.last!.0
                for _ in 0..<rng.int(1, 3) {
                    t += rng.uniform(0.3, 0.6)
                    keys.append((t, p0.x + rng.uniform(-0.08, 0.08), p0.y + liftH + rng.uniform(-0.04, 0.06), .inOut))
                }
            }
            let path = SceneBuilder.path(keys)
            hold(obj, path)
            var handPath = path
            // The hand arrives before it grasps.
            handPath.keys[0].position = handPath.keys[0].position + Vec2(side * 0.15, 0.15)
            handHolding(obj, handPath, fromRight: side > 0)
            s.placeholders = [k.name]
            frame(p0.x - 0.2, p0.x + 0.2, top: liftH + h + 0.1)

        case .movingCloser, .movingAway:
            let k = rng.pick(ObjectKind.movable), other = rng.pick(ObjectKind.receivers + ObjectKind.movable)
            let (_, ow, _) = object(other, x: 0, kind: .fixed)
            let (obj, w, h) = object(k, x: side * 0.3)
            let near = side * (ow / 2 + w / 2 + rng.uniform(0.03, 0.08))
            let far = side * rng.uniform(0.3, 0.45)
            let (from, to) = s.template == .movingCloser ? (far, near) : (near, far)
            s.world.bodies[obj].position = Vec2(from, h / 2)
            let t0 = rng.uniform(0.3, 0.8), t1 = min(T - 0.2, t0 + rng.uniform(0.8, 2.0))
            let lift = rng.chance(0.5) ? 0.0 : rng.uniform(0.01, 0.08)
            let path = SceneBuilder.path([(0, from, h / 2, .linear), (t0, from, h / 2, .linear),
                                          (t0 + 0.2, from, h / 2 + lift, .inOut),
                                          (t1 - 0.2, to, h / 2 + lift, .inOut), (t1, to, h / 2, .inOut)])
            hold(obj, path)
            handHolding(obj, path, fromRight: side > 0)
            s.placeholders = [k.name, other.name]
            frame(min(near, far) - 0.1, max(near, far) + 0.1, top: 0.25)

        case .rolling:
            let k = rng.pick(ObjectKind.movable.filter { $0.round })
            let (obj, w, _) = object(k, x: side * 0.3)
            let release = rng.uniform(0.4, 1.0)
            let v = -side * rng.uniform(0.2, 0.5)
            let p0 = s.world.bodies[obj].position
            let path = Path([
                .init(time: 0, position: p0, angle: 0, ease: .linear),
                .init(time: release - 0.3, position: p0, angle: 0, ease: .linear),
                .init(time: release, position: p0 + Vec2(v * 0.15, 0), angle: 0, ease: .accelerate),
                .init(time: release + 0.01, position: p0 + Vec2(v * 0.16, 0), angle: 0, ease: .linear),
            ])
            hold(obj, path, release: release)
            handHolding(obj, path, fromRight: side > 0)
            s.placeholders = [k.name]
            frame(-side * 0.4, side * 0.35, top: 0.2)
            _ = w
        }
        return s
    }
}

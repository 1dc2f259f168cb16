import Foundation

// A small 2D rigid-body world in metres and seconds, side view (y up, the floor's top at y = 0).
// Contacts are speculative (Box2D's idea): a pair closer than what it can travel in one step gets a
// constraint that lets it close the gap exactly but not pass through, so nothing tunnels. An approach
// faster than `impactSpeed` is an impact: its exact time is solved analytically inside the step from
// the gap and the approach speed (t = gap / speed under the step's constant velocity), which is what
// the sound is placed at, sample-accurately. Slower contacts (resting, sliding, rolling) are silent.

public struct Vec2: Sendable, Equatable {
    public var x: Double, y: Double
    @inline(__always) public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
    public static let zero = Vec2(0, 0)
    @inline(__always) public static func + (a: Vec2, b: Vec2) -> Vec2 { Vec2(a.x + b.x, a.y + b.y) }
    @inline(__always) public static func - (a: Vec2, b: Vec2) -> Vec2 { Vec2(a.x - b.x, a.y - b.y) }
    @inline(__always) public static func * (a: Vec2, s: Double) -> Vec2 { Vec2(a.x * s, a.y * s) }
    @inline(__always) public static func * (s: Double, a: Vec2) -> Vec2 { Vec2(a.x * s, a.y * s) }
    @inline(__always) public static prefix func - (a: Vec2) -> Vec2 { Vec2(-a.x, -a.y) }
    @inline(__always) public func dot(_ b: Vec2) -> Double { x * b.x + y * b.y }
    @inline(__always) public func cross(_ b: Vec2) -> Double { x * b.y - y * b.x }
    @inline(__always) public var length: Double { (x * x + y * y).squareRoot() }
    @inline(__always) public var perp: Vec2 { Vec2(-y, x) }
    @inline(__always) public func rotated(_ c: Double, _ s: Double) -> Vec2 { Vec2(c * x - s * y, s * x + c * y) }
    @inline(__always) public var normalized: Vec2 { let l = length; return l > 1e-12 ? self * (1 / l) : Vec2(0, 1) }
}

/// Angular velocity (scalar) crossed with a vector.
@inline(__always) func crossSV(_ w: Double, _ v: Vec2) -> Vec2 { Vec2(-w * v.y, w * v.x) }

public enum Material: String, Sendable, CaseIterable, Codable {
    case wood, metal, plastic, glass, cardboard
    /// Bounciness; cardboard is dead, glass and metal ring and bounce.
    var restitution: Double {
        switch self { case .wood: 0.45; case .metal: 0.5; case .plastic: 0.6; case .glass: 0.55; case .cardboard: 0.2 }
    }
    var friction: Double {
        switch self { case .wood: 0.5; case .metal: 0.3; case .plastic: 0.4; case .glass: 0.25; case .cardboard: 0.6 }
    }
    /// kg per m² of the 2D shape (a slab a few centimetres deep).
    var areaDensity: Double {
        switch self { case .wood: 30; case .metal: 80; case .plastic: 20; case .glass: 50; case .cardboard: 6 }
    }
}

public enum Shape: Sendable {
    case circle(radius: Double)
    /// Convex, counter-clockwise, in body coordinates around the centre of mass.
    case polygon([Vec2])

    public static func box(_ w: Double, _ h: Double) -> Shape {
        .polygon([Vec2(-w / 2, -h / 2), Vec2(w / 2, -h / 2), Vec2(w / 2, h / 2), Vec2(-w / 2, h / 2)])
    }
    var boundingRadius: Double {
        switch self {
        case .circle(let r): return r
        case .polygon(let v): return v.map(\.length).max() ?? 0
        }
    }
    func massProperties(density: Double) -> (mass: Double, inertia: Double) {
        switch self {
        case .circle(let r):
            let m = density * Double.pi * r * r
            return (m, 0.5 * m * r * r)
        case .polygon(let v):
            // Fan triangulation around the origin (the centre), exact for convex polygons.
            var area = 0.0, inertia = 0.0
            for i in 0..<v.count {
                let a = v[i], b = v[(i + 1) % v.count]
                let cr = a.cross(b)
                area += 0.5 * cr
                inertia += cr * (a.dot(a) + a.dot(b) + b.dot(b)) / 12
            }
            return (density * area, density * inertia)
        }
    }
}

public enum Ease: Sendable {
    case linear, inOut, accelerate, decelerate

    /// Progress `u` (0…1) between two keys reshaped by the easing: the one curve 2D paths and 3D poses share.
    func shape(_ u: Double) -> Double {
        switch self {
        case .linear: return u
        case .inOut: return u * u * (3 - 2 * u)
        case .accelerate: return u * u
        case .decelerate: return 1 - (1 - u) * (1 - u)
        }
    }
}

/// Scripted motion for hands, sticks and held objects: keyframes of position and angle.
public struct Path: Sendable {
    public struct Key: Sendable { public var time: Double; public var position: Vec2; public var angle: Double; public var ease: Ease }
    public var keys: [Key]
    public init(_ keys: [Key]) { self.keys = keys }
    public init(at p: Vec2, angle: Double = 0) { keys = [Key(time: 0, position: p, angle: angle, ease: .linear)] }

    public func pose(_ t: Double) -> (Vec2, Double) {
        guard let first = keys.first else { return (.zero, 0) }
        if t <= first.time { return (first.position, first.angle) }
        for i in 1..<max(1, keys.count) where t < keys[i].time {
            let a = keys[i - 1], b = keys[i]
            let u = b.ease.shape((t - a.time) / (b.time - a.time))
            return (a.position + (b.position - a.position) * u, a.angle + (b.angle - a.angle) * u)
        }
        let last = keys[keys.count - 1]
        return (last.position, last.angle)
    }
    /// Velocity by central difference; used when a held object is let go and when a stick strikes.
    public func velocity(_ t: Double) -> (Vec2, Double) {
        let h = 1e-4
        let (p0, a0) = pose(t - h), (p1, a1) = pose(t + h)
        return ((p1 - p0) * (1 / (2 * h)), (a1 - a0) / (2 * h))
    }
}

public enum BodyKind: Sendable { case dynamic, fixed, kinematic }

public struct Body: Sendable {
    public var shape: Shape
    public var kind: BodyKind
    public var material: Material
    public var position: Vec2
    public var angle: Double = 0
    public var velocity: Vec2 = .zero
    public var angularVelocity: Double = 0
    public var invMass: Double = 0
    public var invInertia: Double = 0
    /// Bit set of depth layers: two bodies touch only if their masks overlap (an object dropped behind an
    /// occluder must not land on it). 0 = decoration that touches nothing.
    public var collisionMask: UInt32 = 1
    /// Kinematic bodies follow this path; a held object follows it until `releaseTime`, then falls freely.
    public var path: Path?
    public var releaseTime: Double = .infinity
    /// Index into the scene's appearance table (colour, texture), and draw order (larger in front).
    public var appearance: Int = 0
    public var depth: Double = 0
    public var name: String = ""
    /// Whether contacts involving this body can sound (a hand's skin on an object does not knock).
    public var sounds: Bool = true
    /// Bounciness; starts as the material's, scenes override it ("both come to a halt" needs a dead pair).
    public var restitution: Double

    public init(shape: Shape, kind: BodyKind, material: Material, position: Vec2, angle: Double = 0) {
        self.shape = shape; self.kind = kind; self.material = material
        self.position = position; self.angle = angle
        restitution = material.restitution
        if kind == .dynamic { setMass() }
    }
    mutating func setMass() {
        let (m, i) = shape.massProperties(density: material.areaDensity)
        invMass = 1 / m; invInertia = 1 / i
    }
    @inline(__always) func worldVertices() -> [Vec2] {
        guard case .polygon(let v) = shape else { return [] }
        let c = cos(angle), s = sin(angle)
        return v.map { position + $0.rotated(c, s) }
    }
    @inline(__always) func velocityAt(_ p: Vec2) -> Vec2 { velocity + crossSV(angularVelocity, p - position) }
}

/// One sounding contact, with everything the sound and the label need.
public struct Impact: Sendable {
    public var time: Double
    /// Normal approach speed in m/s at the moment of contact.
    public var speed: Double
    public var point: Vec2
    public var bodyA: Int, bodyB: Int
    /// 0…1, grows with speed and saturates (so that a hard throw is loud but not clipped).
    public var strength: Double { 1 - exp(-speed / 2.5) }
}

struct Contact {
    var a: Int, b: Int
    var normal: Vec2       // from a towards b
    var point: Vec2
    var separation: Double // > 0 gap, < 0 penetration
    var rA = Vec2.zero, rB = Vec2.zero
    var normalMass = 0.0, tangentMass = 0.0
    var targetSeparatingSpeed = 0.0
    var normalImpulse = 0.0, tangentImpulse = 0.0
    var friction = 0.0
}

public final class World {
    public var bodies: [Body] = []
    public var gravity = Vec2(0, -9.81)
    /// Normal approach speed above which a contact is an impact (sounds); below it is resting/sliding.
    public var impactSpeed = 0.18
    public private(set) var time = 0.0
    public private(set) var impacts: [Impact] = []
    public let dt: Double
    let iterations = 10
    /// Last impact time per body pair, so the two corners of a box landing flat make one knock, not two.
    private var lastImpact: [Int: Double] = [:]
    private var contacts: [Contact] = []
    /// Pairs touching (gap under 1 mm) in the previous step, and this step's. A pair already in contact
    /// (a box pushed across another, a rocking stack) scrapes and chatters; only a clearly harder blow
    /// counts as a new knock there, or every solver wobble would be a sound.
    private var touchingBefore = Set<Int>(), touchingNow = Set<Int>()

    public init(stepsPerSecond: Double = 600) { dt = 1 / stepsPerSecond }

    @discardableResult
    public func add(_ b: Body) -> Int { bodies.append(b); return bodies.count - 1 }

    public func run(until end: Double) {
        while time < end - 1e-12 { step() }
    }

    public func step() {
        let t0 = time, t1 = time + dt
        // Kinematic and held bodies: velocity that carries them to the scripted pose at t1.
        for i in bodies.indices {
            if bodies[i].kind == .dynamic && bodies[i].path != nil && t0 >= bodies[i].releaseTime {
                // Let go: keep the hand's velocity, then it is a free body.
                let (v, w) = bodies[i].path!.velocity(bodies[i].releaseTime)
                bodies[i].velocity = v; bodies[i].angularVelocity = w
                bodies[i].path = nil
            }
            guard let path = bodies[i].path else { continue }
            let (p1, a1) = path.pose(t1)
            let (p0, a0) = path.pose(t0)
            bodies[i].position = p0; bodies[i].angle = a0
            bodies[i].velocity = (p1 - p0) * (1 / dt)
            bodies[i].angularVelocity = (a1 - a0) / dt
        }
        for i in bodies.indices where bodies[i].kind == .dynamic && bodies[i].path == nil {
            bodies[i].velocity = bodies[i].velocity + gravity * dt
            // A little rolling/air resistance so bodies settle instead of rolling forever.
            bodies[i].angularVelocity *= 0.9995
        }
        collectContacts(t0)
        for _ in 0..<iterations { solveVelocities() }
        for i in bodies.indices where bodies[i].kind != .fixed {
            bodies[i].position = bodies[i].position + bodies[i].velocity * dt
            bodies[i].angle += bodies[i].angularVelocity * dt
        }
        time = t1
    }

    @inline(__always) private func isFree(_ i: Int) -> Bool { bodies[i].kind == .dynamic && bodies[i].path == nil }

    private func collectContacts(_ t0: Double) {
        contacts.removeAll(keepingCapacity: true)
        swap(&touchingBefore, &touchingNow)
        touchingNow.removeAll(keepingCapacity: true)
        let n = bodies.count
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let A = bodies[i], B = bodies[j]
                guard A.collisionMask & B.collisionMask != 0 else { continue }
                guard isFree(i) || isFree(j) else { continue }   // two scripted/static bodies never interact
                let relSpeed = (A.velocity - B.velocity).length
                    + abs(A.angularVelocity) * A.shape.boundingRadius + abs(B.angularVelocity) * B.shape.boundingRadius
                let margin = 0.004 + relSpeed * dt * 1.5
                let dist = (B.position - A.position).length
                if dist > A.shape.boundingRadius + B.shape.boundingRadius + margin { continue }
                let start = contacts.count
                generateContacts(i, j, margin: margin)
                if contacts.count > start { prepare(start..<contacts.count, t0) }
            }
        }
    }

    private func generateContacts(_ i: Int, _ j: Int, margin: Double) {
        let A = bodies[i], B = bodies[j]
        switch (A.shape, B.shape) {
        case (.circle(let ra), .circle(let rb)):
            let d = B.position - A.position
            let len = d.length
            let n = d.normalized
            let sep = len - ra - rb
            if sep < margin { contacts.append(Contact(a: i, b: j, normal: n, point: A.position + n * ra, separation: sep)) }
        case (.polygon, .circle(let rb)):
            let (sep, n, p) = pointPolygon(B.position, A.worldVertices())
            if sep - rb < margin { contacts.append(Contact(a: i, b: j, normal: n, point: p, separation: sep - rb)) }
        case (.circle(let ra), .polygon):
            let (sep, n, p) = pointPolygon(A.position, B.worldVertices())
            if sep - ra < margin { contacts.append(Contact(a: i, b: j, normal: -n, point: p, separation: sep - ra)) }
        case (.polygon, .polygon):
            let va = A.worldVertices(), vb = B.worldVertices()
            var found: [Contact] = []
            for v in vb {
                let (sep, n, _) = pointPolygon(v, va)
                if sep < margin { found.append(Contact(a: i, b: j, normal: n, point: v, separation: sep)) }
            }
            for v in va {
                let (sep, n, _) = pointPolygon(v, vb)
                if sep < margin { found.append(Contact(a: i, b: j, normal: -n, point: v, separation: sep)) }
            }
            // Keep the two deepest: a face-on-face stack needs two points, more only fights itself.
            found.sort { $0.separation < $1.separation }
            contacts.append(contentsOf: found.prefix(2))
        }
    }

    /// Signed distance from p to a convex CCW polygon, the outward normal at the nearest feature, and that point.
    private func pointPolygon(_ p: Vec2, _ v: [Vec2]) -> (Double, Vec2, Vec2) {
        var maxFace = -Double.infinity, faceNormal = Vec2(0, 1)
        var bestDist = Double.infinity, bestPoint = p
        for k in 0..<v.count {
            let a = v[k], b = v[(k + 1) % v.count]
            let e = b - a
            let n = Vec2(e.y, -e.x).normalized          // outward for CCW
            let s = (p - a).dot(n)
            if s > maxFace { maxFace = s; faceNormal = n }
            let u = max(0, min(1, (p - a).dot(e) / e.dot(e)))
            let q = a + e * u
            let d = (p - q).length
            if d < bestDist { bestDist = d; bestPoint = q }
        }
        if maxFace <= 0 { return (maxFace, faceNormal, p - faceNormal * maxFace) }   // inside
        return (bestDist, (p - bestPoint).normalized, bestPoint)
    }

    private func prepare(_ range: Range<Int>, _ t0: Double) {
        var pairSpeed = 0.0, pairPoint = Vec2.zero, pairGap = 0.0
        let key = contacts[range.lowerBound].a * 4096 + contacts[range.lowerBound].b
        let wasTouching = touchingBefore.contains(key)
        let threshold = wasTouching ? impactSpeed * 4 : impactSpeed
        for k in range {
            var c = contacts[k]
            let A = bodies[c.a], B = bodies[c.b]
            let ima = isFree(c.a) ? A.invMass : 0, imb = isFree(c.b) ? B.invMass : 0
            let iia = isFree(c.a) ? A.invInertia : 0, iib = isFree(c.b) ? B.invInertia : 0
            c.rA = c.point - A.position; c.rB = c.point - B.position
            let rnA = c.rA.cross(c.normal), rnB = c.rB.cross(c.normal)
            c.normalMass = 1 / max(1e-12, ima + imb + iia * rnA * rnA + iib * rnB * rnB)
            let t = c.normal.perp
            let rtA = c.rA.cross(t), rtB = c.rB.cross(t)
            c.tangentMass = 1 / max(1e-12, ima + imb + iia * rtA * rtA + iib * rtB * rtB)
            c.friction = (A.material.friction * B.material.friction).squareRoot()
            let approach = -(B.velocityAt(c.point) - A.velocityAt(c.point)).dot(c.normal)
            let gap = max(0, c.separation)
            if c.separation < 0.001 { touchingNow.insert(key) }
            if approach > threshold && approach * dt >= gap && c.separation > -0.01 {
                // Touches within this step: bounce with restitution (dead below the impact speed).
                // A pair that was already touching (an object pressed into the table by a strike) does not
                // bounce off each other: that is the press being undone, not a second collision.
                let e = wasTouching ? 0 : min(A.restitution, B.restitution)
                c.targetSeparatingSpeed = e * approach
                if approach > pairSpeed { pairSpeed = approach; pairPoint = c.point; pairGap = gap }
            } else if c.separation >= 0 {
                c.targetSeparatingSpeed = -c.separation / dt      // may close the gap, not cross it
            } else {
                // Push out gently: slower than an impact, so recovering from a press never re-lands audibly.
                c.targetSeparatingSpeed = min(impactSpeed * 0.5, 0.2 * (-c.separation - 0.0005) / dt)
                c.targetSeparatingSpeed = max(0, c.targetSeparatingSpeed)
            }
            contacts[k] = c
        }
        guard pairSpeed > 0 else { return }
        let a = contacts[range.lowerBound].a, b = contacts[range.lowerBound].b
        guard bodies[a].sounds && bodies[b].sounds else { return }
        let when = t0 + pairGap / pairSpeed      // exact contact time under the step's constant velocity
        if let last = lastImpact[key], when - last < (wasTouching ? 0.06 : 0.02) { return }
        lastImpact[key] = when
        // The same blow reaching a third body (a struck object knocking the table it rests on) within a few
        // milliseconds is one knock, not two.
        if let prev = impacts.last(where: { when - $0.time < 0.004 && ($0.bodyA == a || $0.bodyB == a || $0.bodyA == b || $0.bodyB == b) }),
           prev.time <= when { return }
        impacts.append(Impact(time: when, speed: pairSpeed, point: pairPoint, bodyA: a, bodyB: b))
    }

    private func solveVelocities() {
        for k in contacts.indices {
            var c = contacts[k]
            let fa = isFree(c.a), fb = isFree(c.b)
            var A = bodies[c.a], B = bodies[c.b]
            let ima = fa ? A.invMass : 0, imb = fb ? B.invMass : 0
            let iia = fa ? A.invInertia : 0, iib = fb ? B.invInertia : 0
            // Normal: separating speed must reach the target; impulses only push.
            var dv = B.velocity + crossSV(B.angularVelocity, c.rB) - A.velocity - crossSV(A.angularVelocity, c.rA)
            let vn = dv.dot(c.normal)
            var lambda = c.normalMass * (c.targetSeparatingSpeed - vn)
            let newImpulse = max(0, c.normalImpulse + lambda)
            lambda = newImpulse - c.normalImpulse
            c.normalImpulse = newImpulse
            var P = c.normal * lambda
            A.velocity = A.velocity - P * ima; A.angularVelocity -= iia * c.rA.cross(P)
            B.velocity = B.velocity + P * imb; B.angularVelocity += iib * c.rB.cross(P)
            // Friction: Coulomb cone on the accumulated normal impulse.
            dv = B.velocity + crossSV(B.angularVelocity, c.rB) - A.velocity - crossSV(A.angularVelocity, c.rA)
            let t = c.normal.perp
            var lt = -c.tangentMass * dv.dot(t)
            let maxF = c.friction * c.normalImpulse
            let newT = max(-maxF, min(maxF, c.tangentImpulse + lt))
            lt = newT - c.tangentImpulse
            c.tangentImpulse = newT
            P = t * lt
            A.velocity = A.velocity - P * ima; A.angularVelocity -= iia * c.rA.cross(P)
            B.velocity = B.velocity + P * imb; B.angularVelocity += iib * c.rB.cross(P)
            if fa { bodies[c.a].velocity = A.velocity; bodies[c.a].angularVelocity = A.angularVelocity }
            if fb { bodies[c.b].velocity = B.velocity; bodies[c.b].angularVelocity = B.angularVelocity }
            contacts[k] = c
        }
    }

    /// An impact between two held objects, whose contact time the script knows exactly (held objects follow
    /// their paths and do not go through the solver).
    public func addScriptedImpact(_ i: Impact) { impacts.append(i) }

}

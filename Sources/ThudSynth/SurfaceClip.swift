import Foundation

/// Which kind of scene a clip is.
public enum SceneFamily: String, Sendable, CaseIterable {
    /// The 2D rigid-body scenes (side view) of Scenes.swift.
    case rigid
    /// Perspective scenes of a textured surface seen from above or at an angle by a hand-held camera, struck,
    /// tapped and scratched by a held striker (SurfaceScene).
    case surface
}

/// One clip of the surface family: scene, pictures and sound, written like ClipGenerator's.
public final class SurfaceClip: ClipWriting {
    public let template: Template
    public let seed: UInt64
    public let options: ClipOptions
    let scene: SurfaceScene
    var rng: Xoshiro256
    public private(set) var audio: [Float] = []
    public private(set) var record: ClipRecord
    /// Room tone, babble, off-screen knocks, camera click; off (tests) leaves the action's own sound alone.
    var ambience = true

    /// The template the surface family acts for a planned one: every sound template becomes a striker scene
    /// ("Hitting [surface] with [striker]"), silent templates keep theirs (a hand carries, pushes, lifts, shows).
    public static func template(for planned: Template) -> Template { planned.sounds ? .hitting : planned }

    public init(template: Template, seed: UInt64, id: String = "0", options: ClipOptions = ClipOptions()) {
        let t = SurfaceClip.template(for: template)
        self.template = t; self.seed = seed; self.options = options
        rng = Xoshiro256(seed: seed)
        var builder = SurfaceSceneBuilder(template: t, seed: rng.next())
        scene = builder.build()
        if let d = options.duration { scene.duration = d }
        record = ClipRecord.planned(id: id, template: t, placeholders: scene.placeholders, seed: seed, options: options,
                                    duration: scene.duration)
        record.family = SceneFamily.surface.rawValue
        record.surface = scene.kind.name
    }

    @discardableResult
    public func write(to path: String) throws -> ClipRecord {
        let size = options.width.map { ($0, options.height ?? $0 * 3 / 4) } ?? rng.pick(corpusSizes)
        let fps = options.frameRate ?? rng.pick(corpusFrameRates)
        let variable = options.frameRate == nil && rng.chance(0.25)
        let duration = scene.duration
        let renderer = SurfaceRenderer(scene: scene, width: size.0, height: size.1, seed: rng.next())
        var frameTimes: [Double] = []
        var t = 0.0
        while t < duration - 1e-9 {
            frameTimes.append(t)
            t += variable ? (1 / fps) * rng.uniform(0.65, 1.35) : 1 / fps
            if !variable { t = Double(frameTimes.count) / fps }
        }

        let sampleRate = rng.chance(0.5) ? 44100 : 48000
        let channels = rng.chance(0.5) ? 1 : 2
        var synth = SoundtrackSynth(duration: duration, sampleRate: sampleRate, channels: channels, seed: rng.next())
        let loudness = rng.uniform(0.45, 1.0)
        let surfaceModes = scene.kind.modes
        var hits: [HitRecord] = []
        for h in scene.hits where h.time < duration - 0.005 {
            let strength = 1 - exp(-h.speed / 2.5)
            let (sx, sy) = renderer.toScreen(h.point, time: h.time)
            let visible = sx >= 0 && sx < Double(size.0) && sy >= 0 && sy < Double(size.1)
            hits.append(HitRecord(time: h.time, strength: strength, visible: visible, speed: h.speed,
                                  materials: [h.striker.material, scene.kind.material], x: sx / Double(size.0), y: sy / Double(size.1)))
            let pan = max(-1, min(1, (sx / Double(size.0)) * 2 - 1)) * 0.7
            let amp = loudness * (0.03 + 0.65 * pow(strength, 1.3))
            let strikerSize: Double
            switch h.striker { case .fist: strikerSize = 0.1; case .hammer: strikerSize = 0.08; case .spoon: strikerSize = 0.04; default: strikerSize = 0.15 }
            synth.addStrike(time: h.time, amplitude: amp * 0.4, modes: SurfaceKind.modes(h.striker.material), size: strikerSize, pan: pan, hardness: strength)
            synth.addStrike(time: h.time, amplitude: amp * 0.6, modes: surfaceModes, size: 0.3, pan: pan, hardness: strength)
            if scene.kind == .gravel {
                // Pebbles knocked about just after the blow.
                for _ in 0..<rng.int(2, 5) {
                    synth.addStrike(time: h.time + rng.uniform(0.002, 0.03), amplitude: amp * rng.uniform(0.05, 0.2), modes: surfaceModes,
                                    size: rng.uniform(0.01, 0.03), pan: pan, hardness: strength)
                }
            }
        }
        var scratches: [ScratchRecord] = []
        for s in scene.scratches where s.start < duration {
            let (sx, _) = renderer.toScreen(scene.actors[s.actor].track.at(s.start).0, time: s.start)
            let pan = max(-1, min(1, (sx / Double(size.0)) * 2 - 1)) * 0.7
            let character = scene.kind.scratch
            let actor = s.actor
            let sceneRef = scene
            synth.addScratch(from: s.start, to: min(s.end, duration), level: loudness * character.level * 0.4, brightness: character.brightness,
                             grain: character.grain, pan: pan) { sceneRef.dragSpeed(actor, $0) }
            scratches.append(ScratchRecord(start: s.start, end: s.end, material: scene.kind.material))
        }
        var offscreen: [OffscreenSound] = []
        var click: Double?
        if ambience { (offscreen, click) = addAmbience(&synth, duration: duration, loudness: loudness, rng: &rng) }
        synth.limit()
        audio = synth.buffer

        record.width = size.0; record.height = size.1; record.frameRate = fps; record.variableFrameRate = variable
        record.frameCount = frameTimes.count; record.sampleRate = sampleRate; record.channels = channels
        record.hits = hits; record.offscreenSounds = offscreen; record.cameraClick = click
        record.scratches = scratches
        record.silentStrokes = scene.silentStrokes.filter { $0 < duration }
        // Phones compress harder than the rigid family's fixed crf 25.
        let crf = rng.int(23, 30)
        record.contentHash = try encodeClip(path: path, width: size.0, height: size.1, fps: fps, crf: crf, frameTimes: frameTimes,
                                            duration: duration, audio: audio, sampleRate: sampleRate, channels: channels,
                                            fault: options.fault, rng: &rng) { _, ft, interval in
            renderer.render(time: ft, interval: interval)
            return (UnsafeBufferPointer(renderer.rgb), renderer.rgbStride)
        }
        return record
    }
}

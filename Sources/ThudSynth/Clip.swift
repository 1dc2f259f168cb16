import Foundation
import ThudMedia
import ThudBase

/// How a clip is deliberately broken, so that training's faulty-video removal has something to remove.
public enum Fault: String, Codable, Sendable, CaseIterable {
    case none
    case noAudio = "no_audio"            // written without an audio stream
    case corruptAudio = "corrupt_audio"  // audio packets scrambled: the stream exists but does not decode
    case truncated                       // the finished file cut short
}

public struct HitRecord: Codable, Sendable, Equatable {
    /// Seconds from the start of the clip: the exact contact time the sound starts at.
    public var time: Double
    /// 0…1 from the normal approach speed (1 − exp(−v / 2.5 m/s)).
    public var strength: Double
    /// In the picture and not hidden behind an occluder.
    public var visible: Bool
    public var speed: Double
    public var materials: [String]
    /// Where in the picture (0…1 across, 0…1 down; may lie outside for off-screen hits).
    public var x: Double, y: Double
}

/// A sound with no cause in the picture (a door, a knock next door, a beep).
public struct OffscreenSound: Codable, Sendable, Equatable {
    public var time: Double
    public var kind: String
    public var level: Double
}

/// Everything recorded about one clip: hits/<id>.json.
public struct ClipRecord: Codable, Sendable {
    public var id: String
    public var template: String
    public var label: String
    public var placeholders: [String]
    public var seed: UInt64
    public var fault: Fault
    public var duration: Double
    public var width: Int, height: Int
    public var frameRate: Double
    public var variableFrameRate: Bool
    public var frameCount: Int
    public var sampleRate: Int, channels: Int
    public var hits: [HitRecord]
    public var offscreenSounds: [OffscreenSound]
    public var cameraClick: Double?
    /// FNV-1a over the rendered RGB24 frames and the synthesized float audio, before encoding: the
    /// generator's own determinism, independent of the encoder's.
    public var contentHash: String = ""
    /// "surface" for the perspective striker family (SurfaceClip); absent for the 2D rigid-body scenes.
    public var family: String? = nil
    /// Surface family: where the striker was dragged along the surface (a continuous noise, no onset: not hits).
    public var scratches: [ScratchRecord]? = nil
    /// Surface family: times a swing stopped short of the surface (silent strokes).
    public var silentStrokes: [Double]? = nil
    /// Surface family: what was struck ("a wooden table") and with what ("a drumstick").
    public var surface: String? = nil
}

extension ClipRecord {
    /// A clip's record before it is rendered and sounded: what the scene and the options decide; the picture, the
    /// sound and the hits are filled in as the clip is made (both scene families start from it).
    static func planned(id: String, template: Template, placeholders: [String], seed: UInt64, options: ClipOptions,
                        duration: Double) -> ClipRecord {
        ClipRecord(id: id, template: template.text, label: template.label(placeholders), placeholders: placeholders,
                   seed: seed, fault: options.fault, duration: duration, width: 0, height: 0, frameRate: 0,
                   variableFrameRate: false, frameCount: 0, sampleRate: 0, channels: 0, hits: [], offscreenSounds: [], cameraClick: nil)
    }
}

/// A drag of the striker along the surface: noise while it lasts, never a hit.
public struct ScratchRecord: Codable, Sendable, Equatable {
    public var start: Double, end: Double
    public var material: String
}

/// What a caller may pin down; anything nil is drawn from the clip's seed.
public struct ClipOptions: Sendable {
    public var width: Int?, height: Int?
    public var frameRate: Double?
    public var duration: Double?
    public var fault: Fault = .none
    public init(width: Int? = nil, height: Int? = nil, frameRate: Double? = nil, duration: Double? = nil, fault: Fault = .none) {
        self.width = width; self.height = height; self.frameRate = frameRate; self.duration = duration; self.fault = fault
    }
}

public enum SynthError: Error, CustomStringConvertible {
    case cannotWrite(String, String)
    public var description: String {
        switch self { case .cannotWrite(let path, let why): return "\(path): cannot write: \(why)" }
    }
    public var exitCode: Int32 { 74 }
}

/// The sizes of the corpus (the issue asks for 320x240 … 640x360) and its frame rates.
public let corpusSizes: [(Int, Int)] = [(320, 240), (384, 288), (426, 240), (480, 270), (480, 360), (512, 288), (640, 360)]
public let corpusFrameRates: [Double] = [15, 20, 24, 25, 30]

/// One simulated, rendered and synthesized clip.
public final class ClipGenerator {
    public let scene: Scene
    public let template: Template
    public let seed: UInt64
    public let options: ClipOptions
    var rng: Xoshiro256
    /// Body poses per physics step: (x, y, angle) × bodies, step 0 at t = 0.
    var history: [Double] = []
    var bodyCount = 0
    public private(set) var audio: [Float] = []
    public private(set) var record: ClipRecord

    public init(template: Template, seed: UInt64, id: String = "0", options: ClipOptions = ClipOptions()) {
        self.template = template; self.seed = seed; self.options = options
        rng = Xoshiro256(seed: seed)
        var builder = SceneBuilder(template: template, seed: rng.next())
        scene = builder.build()
        if let d = options.duration { scene.duration = d }
        record = ClipRecord.planned(id: id, template: template, placeholders: scene.placeholders, seed: seed, options: options,
                                    duration: scene.duration)
        simulate()
    }

    private func simulate() {
        let w = scene.world
        bodyCount = w.bodies.count
        let steps = Int((scene.duration / w.dt).rounded(.up)) + 2
        history.reserveCapacity(steps * bodyCount * 3)
        func snap() { for b in w.bodies { history.append(b.position.x); history.append(b.position.y); history.append(b.angle) } }
        snap()
        for _ in 0..<steps { w.step(); snap() }
    }

    /// Pose of body i at time t, linear between physics steps (600 Hz, finer than any frame or sub-frame).
    func pose(_ i: Int, _ t: Double) -> (Vec2, Double) {
        let dt = scene.world.dt
        let last = history.count / (bodyCount * 3) - 1
        let f = max(0, min(Double(last), t / dt))
        let k0 = min(last - 1, Int(f)), u = f - Double(k0)
        let a = (k0 * bodyCount + i) * 3, b = ((k0 + 1) * bodyCount + i) * 3
        return (Vec2(history[a] + (history[b] - history[a]) * u, history[a + 1] + (history[b + 1] - history[a + 1]) * u),
                history[a + 2] + (history[b + 2] - history[a + 2]) * u)
    }

    /// Renders, synthesizes and writes the clip to `path` (MP4: H.264 + AAC). Returns its record.
    @discardableResult
    public func write(to path: String) throws -> ClipRecord {
        // Picture settings.
        let size = options.width.map { ($0, options.height ?? $0 * 3 / 4) } ?? rng.pick(corpusSizes)
        let fps = options.frameRate ?? rng.pick(corpusFrameRates)
        let variable = options.frameRate == nil && rng.chance(0.25)
        let look = CameraLook.random(width: size.0, height: size.1, &rng)
        let renderer = Renderer(scene: scene, look: look, seed: rng.next())
        var frameTimes: [Double] = []
        var t = 0.0
        while t < scene.duration - 1e-9 {
            frameTimes.append(t)
            // Variable frame rate: phone cameras stretch and squeeze intervals (±35 %), times still increase.
            t += variable ? (1 / fps) * rng.uniform(0.65, 1.35) : 1 / fps
            if !variable { t = Double(frameTimes.count) / fps }
        }

        // Hits: every sounding impact inside the clip.
        let sampleRate = rng.chance(0.5) ? 44100 : 48000
        let channels = rng.chance(0.5) ? 1 : 2
        var hits: [HitRecord] = []
        var synth = SoundtrackSynth(duration: scene.duration, sampleRate: sampleRate, channels: channels, seed: rng.next())
        let loudness = rng.uniform(0.45, 1.0)
        let bodies = scene.world.bodies
        for imp in scene.world.impacts where imp.time < scene.duration - 0.005 {
            let s = renderer.toScreen(imp.point)
            let a = bodies[imp.bodyA], b = bodies[imp.bodyB]
            hits.append(HitRecord(time: imp.time, strength: imp.strength, visible: renderer.isVisible(imp.point),
                                  speed: imp.speed, materials: [a.material.rawValue, b.material.rawValue],
                                  x: s.x / Double(size.0), y: s.y / Double(size.1)))
            let pan = max(-1, min(1, (s.x / Double(size.0)) * 2 - 1)) * 0.7
            let amp = loudness * (0.03 + 0.65 * pow(imp.strength, 1.3))
            // Both bodies ring; the lighter one (more likely the moving one) a little more.
            let (ra, rb) = (a.shape.boundingRadius * 2, b.name == "floor" ? 0.3 : b.shape.boundingRadius * 2)
            synth.addStrike(time: imp.time, amplitude: amp * 0.6, material: a.material, size: ra, pan: pan, hardness: imp.strength)
            synth.addStrike(time: imp.time, amplitude: amp * 0.4, material: b.material, size: rb, pan: pan, hardness: imp.strength)
        }
        let (offscreen, click) = addAmbience(&synth, duration: scene.duration, loudness: loudness, rng: &rng)
        synth.limit()
        audio = synth.buffer

        record.width = size.0; record.height = size.1; record.frameRate = fps; record.variableFrameRate = variable
        record.frameCount = frameTimes.count; record.sampleRate = sampleRate; record.channels = channels
        record.hits = hits; record.offscreenSounds = offscreen; record.cameraClick = click

        record.contentHash = try encodeClip(path: path, width: size.0, height: size.1, fps: fps, crf: 25, frameTimes: frameTimes,
                                            duration: scene.duration, audio: audio, sampleRate: sampleRate, channels: channels,
                                            fault: options.fault, rng: &rng) { k, ft, interval in
            renderer.render(time: ft, interval: interval, frameIndex: k, pose: pose)
            return (UnsafeBufferPointer(renderer.rgb), renderer.rgbStride)
        }
        return record
    }
}


/// What a generated clip offers the corpus writer.
protocol ClipWriting: AnyObject {
    func write(to path: String) throws -> ClipRecord
}
extension ClipGenerator: ClipWriting {}

/// What real recordings have besides the action: room tone (sometimes hum), babble in a third of the clips,
/// off-screen knocks in a quarter, a camera click at the end in three tenths. Both families use it.
func addAmbience(_ synth: inout SoundtrackSynth, duration: Double, loudness: Double, rng: inout Xoshiro256) -> ([OffscreenSound], Double?) {
    // Never quieter than a real room through a phone microphone (ClipCheck calls under −70 dBFS silent).
    let bgLevel = pow(10, rng.uniform(-58, -40) / 20)
    synth.addBackground(level: bgLevel, hum: rng.chance(0.2))
    if rng.chance(0.35) {
        let t0 = rng.uniform(0, duration * 0.5)
        synth.addBabble(level: pow(10, rng.uniform(-40, -24) / 20), from: t0, to: rng.uniform(t0 + 0.8, duration + 1))
    }
    var offscreen: [OffscreenSound] = []
    if rng.chance(0.25) {
        for _ in 0..<rng.int(1, 2) {
            let when = rng.uniform(0.1, duration - 0.1)
            let level = loudness * rng.uniform(0.03, 0.35)
            let material = rng.pick(Material.allCases)
            synth.addStrike(time: when, amplitude: level, material: material, size: rng.uniform(0.05, 0.6), pan: rng.uniform(-1, 1))
            offscreen.append(OffscreenSound(time: when, kind: "knock_\(material.rawValue)", level: level))
        }
    }
    var click: Double?
    if rng.chance(0.3) {
        let when = duration - rng.uniform(0.04, 0.09)
        synth.addCameraClick(time: when, level: rng.uniform(0.05, 0.3))
        click = when
    }
    return (offscreen, click)
}

/// Encodes frames and audio to `path` (H.264 + AAC, or a deliberately faulty file) and returns the content hash of
/// what it handed the encoder. `render(k, time, interval)` draws frame k and returns its RGB24 rows and stride.
func encodeClip(path: String, width: Int, height: Int, fps: Double, crf: Int, frameTimes: [Double], duration: Double,
                audio: [Float], sampleRate: Int, channels: Int, fault: Fault, rng: inout Xoshiro256,
                render: (Int, Double, Double) -> (UnsafeBufferPointer<UInt8>, Int)) throws -> String {
    let count = audio.count / channels
    let writer: MediaWriter
    do {
        writer = try MediaWriter(path: path, video: VideoEncodeSettings(width: width, height: height, nominalFrameRate: fps, crf: crf),
                                 audio: fault == .noAudio ? nil : AudioEncodeSettings(sampleRate: sampleRate, channels: channels,
                                                                                     garblePackets: fault == .corruptAudio))
    } catch let e as MediaError { throw SynthError.cannotWrite(path, e.problem)
    } catch { throw SynthError.cannotWrite(path, "\(error)") }
    var hashValue = ""
    do {
        var hash = FNV1aWords()
        audio.withUnsafeBytes { hash.add($0) }
        var audioDone = 0   // samples (per channel) already handed to the writer
        for (k, ft) in frameTimes.enumerated() {
            let interval = (k + 1 < frameTimes.count ? frameTimes[k + 1] : duration) - ft
            let (rgb, stride) = render(k, ft, interval)
            // Whole rows with their slack (always zero): one pass, eight bytes at a time.
            hash.add(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(rgb)[0..<(height * stride)]))
            try writer.writeVideoFrame(rgb: rgb, stride: stride, time: ft)
            // Keep audio a little ahead of video so the muxer interleaves evenly.
            if fault != .noAudio {
                let upTo = min(count, Int((ft + interval + 0.1) * Double(sampleRate)))
                if upTo > audioDone {
                    try audio.withUnsafeBufferPointer {
                        try writer.writeAudio(interleaved: UnsafeBufferPointer(rebasing: $0[(audioDone * channels)..<(upTo * channels)]))
                    }
                    audioDone = upTo
                }
            }
        }
        if fault != .noAudio && audioDone < count {
            try audio.withUnsafeBufferPointer {
                try writer.writeAudio(interleaved: UnsafeBufferPointer(rebasing: $0[(audioDone * channels)...]))
            }
        }
        try writer.finish()
        hashValue = String(hash.value, radix: 16)
    } catch let e as MediaError { throw SynthError.cannotWrite(path, e.problem)
    } catch { throw SynthError.cannotWrite(path, "\(error)") }
    if fault == .truncated {
        // Cut the finished file at 30–70 %: the moov atom (faststart puts it first) survives, media data does not.
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attrs[.size] as? NSNumber)?.intValue ?? 0
        let keep = Int(Double(size) * rng.uniform(0.3, 0.7))
        guard let h = FileHandle(forWritingAtPath: path) else { throw SynthError.cannotWrite(path, "cannot reopen to truncate") }
        try h.truncate(atOffset: UInt64(keep))
        try h.close()
    }
    return hashValue
}

extension SynthError: OneLineError {
    public var message: String { description }
}

import Foundation

/// One vibration mode of a struck object: a sinusoid with an exponential decay.
public struct Mode: Equatable {
    public var frequency: Double  // Hz
    public var decay: Double      // time constant τ in seconds (amplitude e^(−t/τ))
    public var amplitude: Double  // relative, before normalization
}

/// A timbre for `--voice`: a few modes plus a short noise burst (the contact transient).
/// Numbers are hand-tuned to be recognisable, not measured from real objects: wood is low and
/// dead, metal rings with inharmonic partials, glass is high and bright, drum is a low thump
/// with a loud burst, click is a few milliseconds of tick.
public struct VoiceSpec: Equatable {
    public var name: String
    public var modes: [Mode]
    public var noiseAmplitude: Double
    public var noiseDecay: Double     // seconds
    public var duration: Double       // seconds; the table length

    public static let wood = VoiceSpec(name: "wood", modes: [
        Mode(frequency: 185, decay: 0.060, amplitude: 1.0),
        Mode(frequency: 432, decay: 0.040, amplitude: 0.6),
        Mode(frequency: 815, decay: 0.022, amplitude: 0.35),
        Mode(frequency: 1270, decay: 0.014, amplitude: 0.2),
    ], noiseAmplitude: 0.5, noiseDecay: 0.003, duration: 0.25)

    public static let metal = VoiceSpec(name: "metal", modes: [
        Mode(frequency: 523, decay: 0.60, amplitude: 1.0),
        Mode(frequency: 1393, decay: 0.45, amplitude: 0.7),
        Mode(frequency: 2471, decay: 0.30, amplitude: 0.5),
        Mode(frequency: 3812, decay: 0.20, amplitude: 0.35),
        Mode(frequency: 5217, decay: 0.14, amplitude: 0.2),
    ], noiseAmplitude: 0.3, noiseDecay: 0.002, duration: 1.0)

    public static let glass = VoiceSpec(name: "glass", modes: [
        Mode(frequency: 1790, decay: 0.35, amplitude: 1.0),
        Mode(frequency: 4760, decay: 0.20, amplitude: 0.5),
        Mode(frequency: 8930, decay: 0.11, amplitude: 0.25),
    ], noiseAmplitude: 0.25, noiseDecay: 0.0015, duration: 0.6)

    public static let drum = VoiceSpec(name: "drum", modes: [
        Mode(frequency: 92, decay: 0.180, amplitude: 1.0),
        Mode(frequency: 146, decay: 0.120, amplitude: 0.7),
        Mode(frequency: 211, decay: 0.080, amplitude: 0.45),
        Mode(frequency: 332, decay: 0.050, amplitude: 0.3),
    ], noiseAmplitude: 0.9, noiseDecay: 0.012, duration: 0.4)

    public static let click = VoiceSpec(name: "click", modes: [
        Mode(frequency: 2500, decay: 0.004, amplitude: 1.0),
        Mode(frequency: 4200, decay: 0.003, amplitude: 0.6),
    ], noiseAmplitude: 0.8, noiseDecay: 0.001, duration: 0.02)

    /// The names `--voice` accepts, in the order help text should list them.
    public static let all: [VoiceSpec] = [.wood, .metal, .glass, .drum, .click]
    public static var names: [String] { all.map(\.name) }

    /// Looks a voice up by its `--voice` name (case-insensitive).
    public static func named(_ name: String) throws -> VoiceSpec {
        let key = name.lowercased()
        guard let v = all.first(where: { $0.name == key }) else {
            throw SoundError("unknown voice '\(name)': expected one of \(names.joined(separator: ", "))", exitCode: 64)
        }
        return v
    }
}

/// A voice rendered once, at init, into a table at the device's sample rate. Playing a hit is
/// then `gain × table`, which is cheap and never allocates on the audio thread.
public struct KnockTable {
    public let name: String
    public let sampleRate: Int
    /// Peak-normalized samples in [−1, 1]; the first is clearly non-zero (the strike) and the
    /// last is exactly zero (a raised-cosine fade ends it, so cutting the table never clicks).
    public let samples: ContiguousArray<Float>
    public var frames: Int { samples.count }

    public init(_ spec: VoiceSpec, sampleRate: Int) {
        precondition(sampleRate > 0)
        let n = max(8, Int((spec.duration * Double(sampleRate)).rounded()))
        var out = ContiguousArray<Double>(repeating: 0, count: n)
        let nyquistGuard = 0.45 * Double(sampleRate)  // modes above this would alias at low rates
        for mode in spec.modes where mode.frequency < nyquistGuard {
            let w = 2 * Double.pi * mode.frequency / Double(sampleRate)
            let k = exp(-1 / (mode.decay * Double(sampleRate)))
            var env = mode.amplitude
            for i in 0..<n {
                out[i] += env * sin(w * Double(i))
                env *= k
            }
        }
        // Deterministic noise (xorshift32) so every run and every test sees the same knock.
        var state: UInt32 = 0x9E37_79B9
        let kn = exp(-1 / (spec.noiseDecay * Double(sampleRate)))
        var envN = spec.noiseAmplitude
        for i in 0..<n {
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            let white = i == 0 ? 1.0 : Double(state) / Double(UInt32.max) * 2 - 1
            out[i] += envN * white
            envN *= kn
        }
        let peak = out.reduce(0) { max($0, abs($1)) }
        let fade = max(1, n / 10)
        var table = ContiguousArray<Float>(repeating: 0, count: n)
        for i in 0..<n {
            var v = out[i] / peak
            let fromEnd = n - 1 - i
            if fromEnd < fade {  // raised-cosine fade to exactly zero at the last sample
                let x = Double(fromEnd) / Double(fade)
                v *= 0.5 - 0.5 * cos(Double.pi * x)
            }
            table[i] = Float(v)
        }
        // The strike transient: a knock must start audibly at its first sample so that its
        // onset is sample-exact (and a test can find it) even at low strength.
        table[0] = max(table[0], 0.5)
        table[n - 1] = 0
        self.name = spec.name
        self.sampleRate = sampleRate
        self.samples = table
    }

    /// Linear gain for a hit strength in 0...1: −30 dB at 0 up to about −2 dB at 1 (a dB scale
    /// because loudness is perceived logarithmically; headroom left for overlapping knocks).
    @inline(__always)
    public static func gain(forStrength strength: Float) -> Float {
        let s = min(max(strength, 0), 1)
        return 0.8 * powf(10, -(1 - s) * 30 / 20)
    }
}

extension KnockTable {
    /// One knock of voice `voice` (wood when the name is unknown) at `sampleRate`, scaled by the strength curve: what
    /// `--sonify` plays for a hit, for `thud render --knock` to mix in.
    public static func knock(voice: String, sampleRate: Int, strength: Float) -> [Float] {
        let table = KnockTable((try? VoiceSpec.named(voice)) ?? .wood, sampleRate: sampleRate)
        let gain = gain(forStrength: strength)
        return table.samples.map { $0 * gain }
    }
}

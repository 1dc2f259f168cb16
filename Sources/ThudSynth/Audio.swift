import Foundation

/// Modal parameters per material: frequency ratios of the first modes and their decay times. A struck
/// object rings at a few damped sinusoids; metal and glass ring long and inharmonic, wood and cardboard
/// are short thuds (from Van den Doel & Pai's modal synthesis, with hand-tuned values).
struct ModalSet {
    var base: ClosedRange<Double>          // fundamental for a 5 cm object, Hz
    var ratios: [Double]
    var decay: ClosedRange<Double>         // seconds, of the fundamental; higher modes decay faster
    var noiseShare: Double                 // how much of the hit is the broadband contact burst
    var noiseMs: Double

    static func of(_ m: Material) -> ModalSet {
        switch m {
        case .wood: return ModalSet(base: 350...900, ratios: [1, 2.57, 4.1, 5.9], decay: 0.03...0.09, noiseShare: 0.5, noiseMs: 6)
        case .metal: return ModalSet(base: 900...2600, ratios: [1, 2.76, 5.40, 8.93, 1.51], decay: 0.15...0.5, noiseShare: 0.25, noiseMs: 3)
        case .plastic: return ModalSet(base: 500...1300, ratios: [1, 1.93, 3.2], decay: 0.02...0.06, noiseShare: 0.55, noiseMs: 5)
        case .glass: return ModalSet(base: 1400...3200, ratios: [1, 2.32, 4.25, 6.63], decay: 0.1...0.35, noiseShare: 0.3, noiseMs: 2)
        case .cardboard: return ModalSet(base: 120...350, ratios: [1, 1.7, 2.6], decay: 0.012...0.035, noiseShare: 0.75, noiseMs: 10)
        }
    }
}

/// Writes a clip's soundtrack: impacts at their exact times, plus the mess of a real recording.
struct SoundtrackSynth {
    let sampleRate: Int
    let channels: Int
    let count: Int
    var buffer: [Float]     // interleaved
    var rng: Xoshiro256

    init(duration: Double, sampleRate: Int, channels: Int, seed: UInt64) {
        self.sampleRate = sampleRate; self.channels = channels
        count = Int((duration * Double(sampleRate)).rounded(.up))
        buffer = [Float](repeating: 0, count: count * channels)
        rng = Xoshiro256(seed: seed)
    }

    /// Adds a mono signal starting at exact time `t` (seconds; sub-sample accurate: every mode's phase and
    /// envelope are evaluated at n/rate − t), panned by `pan` in [-1, 1].
    mutating func addStrike(time t: Double, amplitude: Double, material: Material, size: Double, pan: Double, hardness: Double = 1) {
        addStrike(time: t, amplitude: amplitude, modes: ModalSet.of(material), size: size, pan: pan, hardness: hardness)
    }

    /// The same with any modal set (the surface family's grass, gravel, cloth, stone, skin).
    mutating func addStrike(time t: Double, amplitude: Double, modes set: ModalSet, size: Double, pan: Double, hardness: Double = 1) {
        // Smaller objects ring higher (roughly 1/size for a plate or bar).
        let sizeFactor = pow(0.05 / max(0.01, size), 0.7)
        let f0 = rng.uniform(set.base.lowerBound, set.base.upperBound) * sizeFactor
        let d0 = rng.uniform(set.decay.lowerBound, set.decay.upperBound)
        let nyquist = Double(sampleRate) * 0.45
        var modes: [(w: Double, decay: Double, amp: Double)] = []
        for (k, r) in set.ratios.enumerated() {
            let f = f0 * r * rng.uniform(0.97, 1.03)
            guard f < nyquist else { continue }
            let amp = (k == 0 ? 1.0 : rng.uniform(0.2, 0.8) / Double(k)) * (1 - set.noiseShare)
            modes.append((2 * Double.pi * f / Double(sampleRate), d0 / (1 + 0.6 * Double(k)), amp))
        }
        let start = Int((t * Double(sampleRate)).rounded(.up))
        guard start < count else { return }
        let frac = Double(start) / Double(sampleRate) - t      // ≥ 0: where the first sample falls after t
        let longest = modes.map(\.decay).max() ?? 0.01
        let length = min(count - start, Int((longest * 7 + set.noiseMs / 1000 * 4) * Double(sampleRate)))
        let gl = Float(amplitude * (pan <= 0 ? 1 : cos(pan * Double.pi / 2)))
        let gr = Float(amplitude * (pan >= 0 ? 1 : cos(-pan * Double.pi / 2)))
        var mono = [Float](repeating: 0, count: max(0, length))
        // Modes by a rotating phasor (one complex multiply per sample) that starts at the exact phase.
        for m in modes {
            let r = exp(-1 / (m.decay * Double(sampleRate)))
            let cr = cos(m.w) * r, sr = sin(m.w) * r
            let phase0 = m.w * frac * Double(sampleRate)
            let env0 = exp(-frac / m.decay) * m.amp
            var re = cos(phase0) * env0, im = sin(phase0) * env0
            for n in 0..<length {
                mono[n] += Float(im)
                let nre = re * cr - im * sr
                im = re * sr + im * cr
                re = nre
            }
        }
        // The contact burst: a few ms of noise, brighter for hard materials and strong hits.
        let burstTau = set.noiseMs / 1000
        var lp = 0.0
        let alpha = min(1, 0.25 + 0.6 * hardness)
        for n in 0..<length {
            let tau = Double(n) / Double(sampleRate) + frac
            let env = exp(-tau / burstTau)
            if env < 1e-4 { break }
            lp += alpha * (rng.uniform(-1, 1) - lp)
            mono[n] += Float(lp * env * set.noiseShare * 2.5)
        }
        mix(mono, at: start, left: gl, right: gr)
    }

    /// A scratch: a striker dragged along a surface from `t0` to `t1`. Band-limited noise whose level follows the
    /// drag speed (`speed(t)`, m/s), with crackle (grains) for rough surfaces; it fades in and out over 30–60 ms, so
    /// it has no impact onset.
    mutating func addScratch(from t0: Double, to t1: Double, level: Double, brightness: Double, grain: Double, pan: Double,
                             speed: (Double) -> Double) {
        let sr = Double(sampleRate)
        let start = max(0, Int((t0 * sr).rounded(.up))), end = min(count, Int(t1 * sr))
        guard end > start + 8 else { return }
        var mono = [Float](repeating: 0, count: end - start)
        let fade = rng.uniform(0.03, 0.06)
        var lp = 0.0, lp2 = 0.0, env = 0.0, crackle = 0.0
        let alpha = 0.05 + 0.6 * brightness          // one-pole low-pass: dull cloth … bright gravel
        let envAlpha = 1 / (0.02 * sr)               // 20 ms smoothing of the speed-driven level
        var v = 0.0
        for n in 0..<mono.count {
            if n % 32 == 0 { v = speed(Double(start + n) / sr) }
            let tt = Double(start + n) / sr
            let ramp = min(1, (tt - t0) / fade, (t1 - tt) / fade)
            let target = max(0, ramp) * min(1.5, pow(v / 0.3, 0.8))
            env += envAlpha * (target - env)
            let w = rng.uniform(-1, 1)
            lp += alpha * (w - lp)
            lp2 += 0.3 * (lp - lp2)
            var x = (lp - lp2 * 0.6) * 1.8
            // Grains: sparse clicks whose rate grows with speed (gravel, sand, rough paper).
            if grain > 0 && rng.unit() < grain * v * 400 / sr { crackle = rng.uniform(-1, 1) * 2.5 }
            x += crackle
            crackle *= 0.82
            mono[n] = Float(x * env * level)
        }
        mix(mono, at: start, left: Float(pan <= 0 ? 1 : 1 - pan * 0.7), right: Float(pan >= 0 ? 1 : 1 + pan * 0.7))
    }

    mutating func mix(_ mono: [Float], at start: Int, left: Float, right: Float) {
        for n in 0..<mono.count where start + n < count && start + n >= 0 {
            if channels == 1 { buffer[start + n] += mono[n] * left }
            else { buffer[(start + n) * 2] += mono[n] * left; buffer[(start + n) * 2 + 1] += mono[n] * right }
        }
    }

    /// Room tone: low-passed noise (pink-ish) and sometimes mains hum.
    mutating func addBackground(level: Double, hum: Bool) {
        var lp1 = 0.0, lp2 = 0.0
        let humF = rng.chance(0.5) ? 50.0 : 60.0
        let humAmp = hum ? level * rng.uniform(0.3, 1.5) : 0
        for n in 0..<count {
            let w = rng.uniform(-1, 1)
            lp1 += 0.08 * (w - lp1)
            lp2 += 0.5 * (w - lp2)
            var s = (lp1 * 2.5 + lp2 * 0.4) * level
            if hum { let tt = Double(n) / Double(sampleRate); s += humAmp * (sin(2 * .pi * humF * tt) + 0.4 * sin(2 * .pi * 3 * humF * tt)) }
            let f = Float(s)
            if channels == 1 { buffer[n] += f } else { buffer[2 * n] += f; buffer[2 * n + 1] += f * 0.9 + Float(rng.uniform(-1, 1) * level * 0.2) }
        }
    }

    /// Talking-like babble: a glottal pulse train through three formant resonators whose targets change
    /// per syllable, with syllable-rate amplitude modulation and pauses between phrases.
    mutating func addBabble(level: Double, from t0: Double, to t1: Double) {
        let vowels: [(Double, Double, Double)] = [(730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480),
                                                   (300, 870, 2240), (570, 840, 2410), (660, 1720, 2410)]
        let sr = Double(sampleRate)
        let start = max(0, Int(t0 * sr)), end = min(count, Int(t1 * sr))
        guard end > start else { return }
        var mono = [Float](repeating: 0, count: end - start)
        let f0base = rng.uniform(95, 230)
        var phase = 0.0
        // Biquad band-pass state per formant.
        var z1 = [Double](repeating: 0, count: 3), z2 = [Double](repeating: 0, count: 3)
        var syllableEnd = 0, syllableLen = 1, inPause = false
        var formants = vowels[0]
        for n in 0..<mono.count {
            if n >= syllableEnd {
                inPause = rng.chance(0.15)
                syllableLen = Int(sr * (inPause ? rng.uniform(0.15, 0.5) : rng.uniform(0.12, 0.28)))
                syllableEnd = n + syllableLen
                formants = rng.pick(vowels)
            }
            let u = 1 - Double(syllableEnd - n) / Double(syllableLen)
            let env = inPause ? 0 : sin(Double.pi * u) * sin(Double.pi * u)
            let f0 = f0base * (1 + 0.1 * sin(Double(n) / sr * 3.1) + 0.05 * (u - 0.5))
            phase += f0 / sr
            var src = 0.0
            if phase >= 1 { phase -= 1; src = 1 }
            src += rng.uniform(-0.05, 0.05)
            var out = 0.0
            for (k, fc) in [formants.0, formants.1, formants.2].enumerated() {
                // RBJ band-pass (constant 0 dB peak), bandwidth ~ 80–120 Hz.
                let w = 2 * Double.pi * fc / sr, q = fc / 100, al = sin(w) / (2 * q)
                let a0 = 1 + al
                let b0 = al / a0, a1 = -2 * cos(w) / a0, a2 = (1 - al) / a0
                let y = b0 * src + z1[k]
                z1[k] = -a1 * y + z2[k]
                z2[k] = -b0 * src - a2 * y
                out += y / Double(k + 1)
            }
            mono[n] = Float(out * env * level * 6)
        }
        let pan = rng.uniform(-0.8, 0.8)
        mix(mono, at: start, left: Float(pan <= 0 ? 1 : 1 - pan), right: Float(pan >= 0 ? 1 : 1 + pan))
    }

    /// A phone's shutter-like click: two very short bursts 8–20 ms apart with a small high ring.
    mutating func addCameraClick(time t: Double, level: Double) {
        let sr = Double(sampleRate)
        let gap = rng.uniform(0.008, 0.02)
        for (k, tt) in [t, t + gap].enumerated() {
            let start = Int(tt * sr)
            let len = Int(0.012 * sr)
            var mono = [Float](repeating: 0, count: len)
            var prev = 0.0
            for n in 0..<len {
                let w = rng.uniform(-1, 1)
                let hp = w - prev; prev = w               // first difference: a bright click
                let e = exp(-Double(n) / (0.0015 * sr))
                mono[n] = Float((hp * 0.7 + 0.5 * sin(2 * .pi * 3200 * Double(n) / sr)) * e * level * (k == 0 ? 1 : 0.6))
            }
            mix(mono, at: start, left: 1, right: 1)
        }
    }

    /// Scales down if the mix would clip (a soft safety, not a normaliser: quiet clips stay quiet).
    mutating func limit() {
        var peak: Float = 0
        for v in buffer { peak = max(peak, abs(v)) }
        if peak > 0.95 { let g = 0.95 / peak; for i in buffer.indices { buffer[i] *= g } }
    }
}

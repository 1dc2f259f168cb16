import Foundation

/// What `--sonify` plays.
public enum SonifyMode: String, CaseIterable {
    /// A knock for each hit event.
    case hits
    /// Noise shaped by the predicted envelope itself (one value per 12 Hz step).
    case envelope
}

/// Mixes knocks (and the envelope-shaped noise) into periods of 16-bit samples.
///
/// Used only by the sink thread. Everything is allocated in `init`; `trigger`, `setEnvelope`
/// and `render` never allocate (aubio-style `init` → `process`).
final class SoundRenderer {
    let table: KnockTable
    let mode: SonifyMode
    let sampleRate: Int
    let maxFrames: Int

    /// Polyphony: a fixed number of slots. When all are busy a new hit steals the slot that has
    /// played longest (it is the quietest, having decayed most).
    let voiceSlots: Int
    private let positions: UnsafeMutablePointer<Int>   // -1 = slot free
    private let gains: UnsafeMutablePointer<Float>
    private let mix: UnsafeMutablePointer<Float>

    // Envelope mode: one-pole smoothing towards the latest step value. τ = 15 ms: fast enough
    // that a new step is heard at once (no added step of latency as a linear ramp would add),
    // slow enough that the 12 Hz staircase does not buzz.
    private var envelopeTarget: Float = 0
    private var envelopeLevel: Float = 0
    private let envelopeCoefficient: Float
    private var noiseState: UInt32 = 0x2545_F491

    init(table: KnockTable, mode: SonifyMode, maxFrames: Int, voiceSlots: Int = 16) {
        self.table = table
        self.mode = mode
        self.sampleRate = table.sampleRate
        self.maxFrames = maxFrames
        self.voiceSlots = voiceSlots
        positions = .allocate(capacity: voiceSlots)
        positions.initialize(repeating: -1, count: voiceSlots)
        gains = .allocate(capacity: voiceSlots)
        gains.initialize(repeating: 0, count: voiceSlots)
        mix = .allocate(capacity: maxFrames)
        mix.initialize(repeating: 0, count: maxFrames)
        envelopeCoefficient = Float(exp(-1 / (0.015 * Double(table.sampleRate))))
    }

    deinit {
        positions.deallocate()
        gains.deallocate()
        mix.deallocate()
    }

    /// Starts a knock at the first frame of the next rendered block.
    func trigger(strength: Float) {
        guard strength > 0 else { return }
        var slot = 0
        var oldest = -1
        for i in 0..<voiceSlots {
            if positions[i] < 0 { slot = i; oldest = -1; break }
            if positions[i] > oldest { oldest = positions[i]; slot = i }
        }
        positions[slot] = 0
        gains[slot] = KnockTable.gain(forStrength: strength)
    }

    /// Sets the envelope value (0...1) the noise level glides to.
    func setEnvelope(_ value: Float) {
        envelopeTarget = value.isFinite ? min(max(value, 0), 1) : 0
    }

    /// True when nothing is sounding (used to let the last knock finish on a draining stop).
    var isSilent: Bool {
        for i in 0..<voiceSlots where positions[i] >= 0 { return false }
        return envelopeLevel == 0 && envelopeTarget == 0
    }

    /// Renders `frames` frames into `out`, each sample repeated over `channels` channels.
    func render(into out: UnsafeMutablePointer<Int16>, frames: Int, channels: Int) {
        precondition(frames <= maxFrames)
        mix.update(repeating: 0, count: frames)
        table.samples.withUnsafeBufferPointer { t in
            let length = t.count
            for v in 0..<voiceSlots {
                var p = positions[v]
                if p < 0 { continue }
                let g = gains[v]
                let n = min(frames, length - p)
                for i in 0..<n { mix[i] += g * t[p + i] }
                p += n
                positions[v] = p >= length ? -1 : p
            }
        }
        if mode == .envelope {
            let a = envelopeCoefficient
            var level = envelopeLevel
            let target = envelopeTarget
            var s = noiseState
            for i in 0..<frames {
                level = target + a * (level - target)
                s ^= s << 13; s ^= s >> 17; s ^= s << 5
                let white = Float(Int32(bitPattern: s)) * (1 / 2_147_483_648.0)
                mix[i] += 0.5 * level * white
            }
            // Flush to exact zero once below half an LSB (0.5 × level × 32767 < 0.5), where every
            // sample already rounds to 0, so a zero envelope is true digital silence and the
            // renderer reports itself silent (the exponential would never reach 0 by itself).
            if target == 0 && level < 3e-5 { level = 0 }
            envelopeLevel = level
            noiseState = s
        }
        var o = 0
        for i in 0..<frames {
            let scaled = (mix[i] * 32767).rounded()
            let sample = Int16(max(-32768, min(32767, scaled)))
            for _ in 0..<channels { out[o] = sample; o += 1 }
        }
    }
}

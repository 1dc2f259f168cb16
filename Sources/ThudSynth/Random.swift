import Foundation
import ThudBase

// Our own PRNG so that a corpus is a pure function of its seed on every platform and Swift version
// (Foundation's and the standard library's generators make no such promise).

// SplitMix64 (ThudBase.splitMix64) derives independent seeds (clip seeds from the corpus seed) and seeds xoshiro.

/// Mixes several words into one seed; used so that (corpus seed, split, index) maps to an unrelated scene seed.
public func mixSeed(_ words: UInt64...) -> UInt64 {
    var state: UInt64 = 0x5EED_7075_0000_0003
    var out: UInt64 = 0
    for w in words {
        state ^= w
        out = splitMix64(&state)
        state ^= out
    }
    return out
}

/// xoshiro256** by Blackman and Vigna: fast, good statistical quality, 256 bits of state.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        s0 = splitMix64(&sm); s1 = splitMix64(&sm); s2 = splitMix64(&sm); s3 = splitMix64(&sm)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 53 bits.
    @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    @inline(__always)
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Uniform integer in lo...hi (tiny modulo bias is irrelevant here and keeps it branch-free).
    @inline(__always)
    public mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }

    @inline(__always)
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// Standard normal by Box–Muller (one value; the second is dropped to keep the state simple).
    public mutating func gaussian() -> Double {
        let u1 = max(unit(), 1e-300), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    public mutating func pick<T>(_ items: [T]) -> T { items[int(0, items.count - 1)] }
}

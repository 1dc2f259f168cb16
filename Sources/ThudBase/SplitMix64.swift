// SplitMix64 (Steele, Lea, Flood): our own generator so that random models, training orders and synthetic corpora are
// a pure function of their seed on every platform and Swift version (the standard library makes no such promise).

/// One SplitMix64 step: advances `state` and returns the next output.
@inline(__always)
public func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Small, fast, seedable generator (SplitMix64) so random models are identical on every machine.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always)
    public mutating func next() -> UInt64 { splitMix64(&state) }
    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
}

/// 64-bit FNV-1a over bytes: the stable, unseeded hash the project keys things by — a folder clip's split (Dataset),
/// a decode cache entry (FeatureCache), a training run's settings and clips (TrainingSettings, TrainingData). Swift's
/// own Hasher is seeded per process, so it cannot name anything that outlives one run.
public struct FNV1a {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }

    /// The word's four bytes, least significant first (the same on every machine).
    public mutating func add(_ word: UInt32) {
        withUnsafeBytes(of: word.littleEndian) { add($0) }
    }

    /// The value as 16 hex digits.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// FNV-1a's loop over 64-bit little-endian words instead of bytes (bytes only for the tail): NOT the same hash as
/// `FNV1a` for the same input. A cheap, stable fingerprint of large buffers — thud-synth records one over every
/// clip's rendered frames and audio — because byte-wise hashing of every frame cost 8 % of the generator's time.
public struct FNV1aWords {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        let words = bytes.count / 8
        for k in 0..<words { h = (h ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self))) &* 0x0000_0100_0000_01B3 }
        for b in bytes[(words * 8)...] { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        value = h
    }
}

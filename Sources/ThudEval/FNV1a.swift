import Foundation

/// 64-bit FNV-1a: the stable, unseeded hash the project keys things by — a folder clip's split (Dataset), a decode
/// cache entry (FeatureCache), a training run's settings and clips (TrainingSettings, TrainingData). Swift's own
/// Hasher is seeded per process, so it cannot name anything that outlives one run.
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
    public var hex: String { String(format: "%016llx", value) }
}

import XCTest
import ThudBase

/// Fixed outputs, computed with the copies these replaced (ThudEval's FNV1a, ThudSynth's word-wise FNV1a, ThudModel's
/// SplitMix64, ThudSynth's splitMix64) before they moved here: cache keys, fingerprints, random models and generated
/// corpora depend on every bit of them.
final class StableHashTests: XCTestCase {
    let data: [UInt8] = Array("Thud: hears video.".utf8) + (0..<37).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 7) }

    func testFNV1aBytesIsUnchanged() {
        var h = FNV1a()
        XCTAssertEqual(h.hex, "cbf29ce484222325")
        h.add(data)
        XCTAssertEqual(h.hex, "b860a4e1af3d983f")
        h.add(UInt32(0xDEAD_BEEF))
        XCTAssertEqual(h.hex, "d373ae1dd01fffe1")
        XCTAssertEqual(h.value, 0xd373_ae1d_d01f_ffe1)
    }

    func testFNV1aWordsIsUnchanged() {
        var w = FNV1aWords()
        XCTAssertEqual(w.value, 0xcbf2_9ce4_8422_2325)
        data.withUnsafeBytes { w.add($0) }   // 55 bytes: six words and a 7-byte tail
        XCTAssertEqual(w.value, 0x3aab_cbd3_9eab_9770)
        let floats: [Float] = (0..<10).map { Float($0) * 0.25 - 1 }
        var f = FNV1aWords()
        floats.withUnsafeBytes { f.add($0) }
        XCTAssertEqual(String(f.value, radix: 16), "a7b8b6c9a02be94f")
    }

    func testTheTwoHashesDifferOnTheSameInput() {
        var b = FNV1a(), w = FNV1aWords()
        b.add(data)
        data.withUnsafeBytes { w.add($0) }
        XCTAssertNotEqual(b.value, w.value)
    }

    func testSplitMix64SequencesAreUnchanged() {
        var r = SplitMix64(seed: 9)
        XCTAssertEqual((0..<4).map { _ in r.next() },
                       [0xaeaf_52fe_be70_6064, 0xc02d_8a5e_87af_ea62, 0x43ec_2be5_44b5_89b6, 0xc8e9_8cd6_9731_6060])
        XCTAssertEqual(r.nextUnitFloat(), 0.2625534)
        var state: UInt64 = 42
        XCTAssertEqual((0..<3).map { _ in splitMix64(&state) }, [0xbdd7_3226_2feb_6e95, 0x28ef_e333_b266_f103, 0x4752_6757_130f_9f52])
    }
}

final class BaseHelpersTests: XCTestCase {
    func testFrameSize() {
        XCTAssertTrue(FrameSize.parse("320x240")! == (320, 240))
        XCTAssertTrue(FrameSize.parse("64X48")! == (64, 48))
        XCTAssertTrue(FrameSize.parse("\(FrameSize.maxSide)x2")! == (FrameSize.maxSide, 2))
        XCTAssertNil(FrameSize.parse("1x1"), "help and the decoder say 2…8192 a side")
        XCTAssertNil(FrameSize.parse("\(FrameSize.maxSide)x1"))
        for bad in ["", "320", "320x", "x240", "0x240", "320x-1", "320x240x3", "axb", "\(FrameSize.maxSide + 1)x10"] {
            XCTAssertNil(FrameSize.parse(bad), bad)
        }
    }

    func testPercentiles() {
        XCTAssertTrue(Percentiles.median([]).isNaN)
        XCTAssertTrue(Percentiles.nearestRank([], 0.5).isNaN)
        XCTAssertEqual(Percentiles.median([1, 2, 9]), 2)
        XCTAssertEqual(Percentiles.median([1, 2, 4, 9]), 3)
        let hundred = (0..<101).map(Double.init)
        XCTAssertEqual(Percentiles.nearestRank(hundred, 0.99), 99)
        XCTAssertEqual(Percentiles.nearestRank(hundred, 0), 0)
        XCTAssertEqual(Percentiles.nearestRank(hundred, 1), 100)
    }

    func testFormatting() {
        XCTAssertEqual(Format.duration(42.4), "42s")
        XCTAssertEqual(Format.duration(187), "3m07s")
        XCTAssertEqual(Format.duration(3900), "1h05m")
        XCTAssertEqual(Format.duration(.infinity), "?")
        XCTAssertEqual(Format.optional(nil), "-")
        XCTAssertEqual(Format.optional(0.123456), "0.1235")
        XCTAssertEqual(Format.fixed(1.0 / 12, 6), "0.083333")
        XCTAssertEqual(Format.fixed(-2.5, 0), "-2")
        XCTAssertEqual(Format.fixed(.nan, 2), "nan")
        XCTAssertEqual(Format.fixed(-.infinity, 2), "-inf")
    }

    func testMonotonicClockAgreesWithItself() {
        let s0 = MonotonicClock.seconds(), n = MonotonicClock.nanos(), s1 = MonotonicClock.seconds()
        XCTAssertLessThanOrEqual(s0, Double(n) * 1e-9 + 1e-6)
        XCTAssertLessThanOrEqual(Double(n) * 1e-9, s1 + 1e-6)
    }
}

import Foundation
@testable import ThudSound

/// A knock found in the written PCM.
struct FoundKnock: Equatable {
    var start: Int
    var maxError: Int  // worst |written − expected| over the knock, in LSB
}

/// Splits a recording into knocks: a knock starts at the first non-zero sample after silence and
/// lasts exactly `table.frames`; its samples are compared with `gain × table`. Any non-zero
/// sample outside a knock would start an extra knock, so "count matches" also proves that
/// nothing but silence lies between knocks.
func findKnocks(in pcm: [Int16], table: KnockTable, strengths: [Float]) -> [FoundKnock] {
    var found: [FoundKnock] = []
    var i = 0
    while i < pcm.count {
        if pcm[i] == 0 { i += 1; continue }
        let k = found.count
        let gain = KnockTable.gain(forStrength: k < strengths.count ? strengths[k] : 1)
        var worst = 0
        for j in 0..<table.frames where i + j < pcm.count {
            let expected = Int((gain * table.samples[j] * 32767).rounded())
            worst = max(worst, abs(Int(pcm[i + j]) - expected))
        }
        if i + table.frames > pcm.count { worst = Int.max }  // truncated knock
        found.append(FoundKnock(start: i, maxError: worst))
        i += table.frames
    }
    return found
}

import Foundation
import XCTest
import ThudModel
@testable import ThudTrain
import ThudBase

enum TrainFixtures {
    static func url(_ name: String, _ ext: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"),
                      "missing fixture \(name).\(ext) (run tools/reference/grad_fixtures.py)")
    }
}

/// The tiny architecture of the tests: 16×16 input, conv [4, 8], LSTM 2×16, head [8, 4] (same as the fixture).
let tinyArchitecture = ModelArchitecture(
    input: InputSpec(width: 16, height: 16), encoder: .conv(channels: [4, 8]),
    lstmHidden: 16, lstmLayers: 2, headHidden: [8, 4])

/// Uniform floats in [lo, hi) from a seeded generator.
func randomFloats(_ count: Int, _ rng: inout SplitMix64, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
    (0..<count).map { _ in lo + (hi - lo) * rng.nextUnitFloat() }
}

/// Frames with a bright square that appears at `hitSteps` (over mild noise), and the envelope that spikes there —
/// a tiny version of the real task: the hit is visible in the frame difference.
func squareTask(width: Int, height: Int, steps: Int, hitSteps: Set<Int>, seed: UInt64)
    -> (frames: [UInt8], targets: [Float]) {
    var rng = SplitMix64(seed: seed)
    var frames = [UInt8](repeating: 0, count: width * height * steps)
    var targets = [Float](repeating: 0.02, count: steps)
    let x0 = Int(rng.next() % UInt64(width - 8)), y0 = Int(rng.next() % UInt64(height - 8))
    for t in 0..<steps {
        let on = hitSteps.contains(t)
        for y in 0..<height {
            for x in 0..<width {
                var v = 40 + Int(rng.next() % 20)
                if on && x >= x0 && x < x0 + 8 && y >= y0 && y < y0 + 8 { v = 230 }
                frames[(t * height + y) * width + x] = UInt8(v)
            }
        }
        if on { targets[t] = 1 } else if hitSteps.contains(t - 1) { targets[t] = 0.3 }
    }
    return (frames, targets)
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

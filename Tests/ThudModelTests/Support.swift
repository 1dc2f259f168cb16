import Foundation
import XCTest
@testable import ThudModel
import ThudBase

enum FixtureFiles {
    static func url(_ name: String, _ ext: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"),
                      "missing fixture \(name).\(ext) (run tools/reference/make_fixtures.py)")
    }
}

/// Largest |a − b| over two equal-length vectors.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// A small architecture for fast tests (32×32 input).
let smallConvArchitecture = ModelArchitecture(
    input: InputSpec(width: 32, height: 32), encoder: .conv(channels: [4, 8, 8, 8]),
    lstmHidden: 16, lstmLayers: 2, headHidden: [16, 8])

/// Deterministic frames with a moving bright square over noise.
func syntheticFrames(width: Int, height: Int, count: Int, seed: UInt64 = 7) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var out = [UInt8](repeating: 0, count: width * height * count)
    for t in 0..<count {
        let sx = (t * 3) % max(width - 6, 1), sy = (t * 5) % max(height - 6, 1)
        for y in 0..<height {
            for x in 0..<width {
                var v = 30 + Int(rng.next() % 40)
                if x >= sx && x < sx + 6 && y >= sy && y < sy + 6 { v = 220 }
                out[(t * height + y) * width + x] = UInt8(v)
            }
        }
    }
    return out
}

extension StreamingModel {
    /// Steps over packed frames, returning every envelope (test helper).
    func stepAll(_ frames: [UInt8], from: Int = 0, count: Int) -> [Float] {
        frames.withUnsafeBufferPointer { fp in
            (from..<(from + count)).map { t in
                step(frame: UnsafeBufferPointer(rebasing: fp[(t * frameByteCount)..<((t + 1) * frameByteCount)]))
            }
        }
    }
}

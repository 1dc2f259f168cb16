import XCTest
import ThudMedia
import ThudTestSupport

/// The corpus generator writes clips on two threads at once; the same input must give the same bytes.
final class WriterDeterminismTests: XCTestCase {
    func write(_ path: String, seed: UInt64) throws {
        let w = 160, h = 120
        let writer = try MediaWriter(path: path, video: VideoEncodeSettings(width: w, height: h, nominalFrameRate: 25, crf: 25), audio: nil)
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        var state = seed
        for f in 0..<50 {
            // A moving gradient with noise: enough texture for the encoder to make real decisions.
            for y in 0..<h {
                for x in 0..<w {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let v = UInt8(truncatingIfNeeded: (x + f * 3) ^ (y * 2)) &+ UInt8(truncatingIfNeeded: state >> 61)
                    let o = (y * w + x) * 3
                    rgb[o] = v; rgb[o + 1] = v &+ 40; rgb[o + 2] = 255 &- v
                }
            }
            try rgb.withUnsafeBufferPointer { try writer.writeVideoFrame(rgb: $0, stride: w * 3, time: Double(f) / 25) }
        }
        try writer.finish()
    }

    func testTwoWritersAtOnceGiveTheSameBytesAsOneAlone() throws {
        let dir = TemporaryDirectory("det")
        try write(dir.path("alone.mp4"), seed: 1)
        let reference = try Data(contentsOf: URL(fileURLWithPath: dir.path("alone.mp4")))
        for round in 0..<3 {
            let group = DispatchGroup()
            for t in 0..<2 {
                group.enter()
                Thread { try? self.write(dir.path("r\(round)-\(t).mp4"), seed: 1); group.leave() }.start()
            }
            group.wait()
            for t in 0..<2 {
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir.path("r\(round)-\(t).mp4"))), reference, "round \(round) thread \(t)")
            }
        }
    }
}

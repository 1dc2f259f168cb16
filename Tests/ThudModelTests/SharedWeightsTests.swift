import XCTest
@testable import ThudModel

/// `thud watch` runs one model state per feed over one copy of the weights: a replica shares the weights and
/// keeps its own state, so feeds stepping at once on different threads give what separate models would.
final class SharedWeightsTests: XCTestCase {
    func testReplicasShareTheWeightsAndStepLikeSeparateModelsEvenOnThreadsAtOnce() throws {
        for arch in [smallConvArchitecture, ModelArchitecture.motionEnergyDefault] {
            let file = ModelFile.random(architecture: arch, seed: 11)
            let original = try StreamingModel(file: file)
            let replicas = (0..<3).map { _ in StreamingModel(sharingWeightsOf: original) }
            XCTAssertEqual(replicas[0].lstm.firstWeight, original.lstm.firstWeight, "one copy of the LSTM weights")
            if let conv = original.encoder as? ConvEncoder {
                XCTAssertEqual((replicas[1].encoder as! ConvEncoder).firstWeight, conv.firstWeight, "one copy of the encoder weights")
            }
            let w = arch.input.width, h = arch.input.height, n = 40
            // Each feed its own frames; the expected values from separately loaded models, one after another.
            let frames = (0..<replicas.count).map { syntheticFrames(width: w, height: h, count: n, seed: UInt64(3 + $0)) }
            let expected: [[Float]] = try frames.map { f in
                let separate = try StreamingModel(file: file)
                return f.withUnsafeBufferPointer { b in (0..<n).map { separate.step(frame: UnsafeBufferPointer(rebasing: b[($0 * w * h)..<(($0 + 1) * w * h)])) } }
            }
            var got = [[Float]](repeating: [], count: replicas.count)
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: replicas.count) { r in
                let values = frames[r].withUnsafeBufferPointer { b in
                    (0..<n).map { replicas[r].step(frame: UnsafeBufferPointer(rebasing: b[($0 * w * h)..<(($0 + 1) * w * h)])) }
                }
                lock.lock(); got[r] = values; lock.unlock()
            }
            XCTAssertEqual(got, expected, "\(arch.encoder.kind)")
        }
    }
}

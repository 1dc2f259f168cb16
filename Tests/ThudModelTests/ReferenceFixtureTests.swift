// Swift vs the PyTorch reference (tools/reference/make_fixtures.py): every step's features, LSTM h and c of both
// layers, and envelope agree to 1e-5, across 40 steps of carried state, a reset(), and 8 more steps. Three models:
// the conv encoder, the motion-energy encoder, and the conv encoder with the previous-difference plane.
import Foundation
import XCTest
import ThudBase
@testable import ThudModel

private struct Fixture: Decodable {
    var model: String
    var frames: String
    var width: Int
    var height: Int
    var steps: Int
    var resetBefore: Int
    var features: [[Float]]
    var h: [[[Float]]]
    var c: [[[Float]]]
    var envelope: [Float]
}

final class ReferenceFixtureTests: XCTestCase {
    private let tolerance: Float = 1e-5

    private func load(_ tag: String) throws -> (Fixture, StreamingModel, [UInt8]) {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: FixtureFiles.url("fixture_\(tag)", "json")))
        let model = try StreamingModel(path: FixtureFiles.url("fixture_\(tag)", "thud").path)
        let frames = [UInt8](try Data(contentsOf: FixtureFiles.url("frames_32x32", "u8")))
        XCTAssertEqual(frames.count, fixture.steps * fixture.width * fixture.height)
        XCTAssertEqual(model.inputWidth, fixture.width)
        return (fixture, model, frames)
    }

    private func checkStreaming(_ tag: String, expectedEncoder: EncoderKind) throws {
        let (fx, model, frames) = try load(tag)
        XCTAssertEqual(model.architecture.encoder.kind, expectedEncoder)
        var worst: Float = 0
        for t in 0..<fx.steps {
            if t == fx.resetBefore { model.reset() }
            let env = model.stepAll(frames, from: t, count: 1)[0]
            let dFeat = maxAbsDiff(model.lastFeatures(), fx.features[t])
            XCTAssertLessThan(dFeat, tolerance, "\(tag) step \(t): features")
            for l in 0..<2 {
                let dh = maxAbsDiff(model.hiddenState(layer: l), fx.h[t][l])
                let dc = maxAbsDiff(model.cellState(layer: l), fx.c[t][l])
                XCTAssertLessThan(dh, tolerance, "\(tag) step \(t): h layer \(l)")
                XCTAssertLessThan(dc, tolerance, "\(tag) step \(t): c layer \(l)")
                worst = max(worst, dh, dc)
            }
            XCTAssertEqual(env, fx.envelope[t], accuracy: tolerance, "\(tag) step \(t): envelope")
            worst = max(worst, dFeat, abs(env - fx.envelope[t]))
        }
        // The fixture must exercise real dynamics, or agreement would prove little.
        XCTAssertGreaterThan(fx.envelope.max()! - fx.envelope.min()!, 0.05)
        print("\(tag): worst |swift − torch| over \(fx.steps) steps = \(worst)")
    }

    func testConvModelMatchesPyTorchStepByStepAcrossReset() throws {
        try checkStreaming("conv", expectedEncoder: .conv)
    }

    /// The third plane: zero on the first two steps after each reset, then the previous step's difference.
    func testPreviousDifferencePlaneModelMatchesPyTorchStepByStepAcrossReset() throws {
        try checkStreaming("conv3", expectedEncoder: .conv)
        let (_, model, _) = try load("conv3")
        XCTAssertEqual(model.architecture.encoder.inputPlaneCount, 3)
        XCTAssertEqual(model.architecture.encoder.differenceGain, 4)
    }

    func testMotionEnergyModelMatchesPyTorchStepByStepAcrossReset() throws {
        try checkStreaming("motion", expectedEncoder: .motionEnergy)
    }

    func testBatchPathMatchesPyTorch() throws {
        for tag in ["conv", "motion", "conv3"] {
            let (fx, model, frames) = try load(tag)
            let n = model.frameByteCount
            // The reset splits the stream into two independent batches.
            let first = frames.withUnsafeBufferPointer {
                model.runBatch(frames: UnsafeBufferPointer(rebasing: $0[0..<(fx.resetBefore * n)]), count: fx.resetBefore)
            }
            let second = frames.withUnsafeBufferPointer {
                model.runBatch(frames: UnsafeBufferPointer(rebasing: $0[(fx.resetBefore * n)...]),
                               count: fx.steps - fx.resetBefore)
            }
            XCTAssertLessThan(maxAbsDiff(first + second, fx.envelope), tolerance, tag)
        }
    }

    func testPythonWrittenHeaderIsReadable() throws {
        let file = try ModelFile.read(path: FixtureFiles.url("fixture_conv", "thud").path)
        XCTAssertEqual(file.header.architecture.encoder.convChannels, [4, 8, 8, 8])
        XCTAssertEqual(file.header.training.command, "python3 tools/reference/make_fixtures.py")
        XCTAssertEqual(file.header.stepRateHz, StepRate.hz)
        XCTAssertNotNil(file.header.provenance["torch"])
    }
}

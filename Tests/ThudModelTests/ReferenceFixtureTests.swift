// Swift vs the PyTorch reference (tools/reference/make_fixtures.py): every step's features, LSTM h and c of both
// layers, and envelope agree to 1e-5, across 40 steps of carried state, a reset(), and 8 more steps. Three models:
// the conv encoder, the motion-energy encoder, and the conv encoder with the previous-difference plane. And the
// per-frame normalised input planes against the twin's (tools/reference/per_frame.py).
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

    /// Per-frame normalisation's planes (3, gain 3) equal the twin's (tools/reference/per_frame.py, which thud_model.py's
    /// encoder uses for a "per-frame" model; make_per_frame_fixture.py) on steps of frames_32x32.u8: step 1 (the frame
    /// before the previous one is the previous one) and step 17; both Swift paths (CHW planes, padded HWC).
    func testPerFrameNormalisationPlanesMatchTheReference() throws {
        struct Planes: Decodable {
            struct Step: Decodable { var step: Int; var planes: [Float] }
            var width: Int, height: Int, gain: Float, steps: [Step]
        }
        let fx = try JSONDecoder().decode(Planes.self, from: Data(contentsOf: FixtureFiles.url("per_frame_planes", "json")))
        let frames = [UInt8](try Data(contentsOf: FixtureFiles.url("frames_32x32", "u8")))
        let w = fx.width, h = fx.height, n = w * h
        XCTAssertEqual(fx.steps.count, 2)
        for s in fx.steps {
            let chw = FloatBuffer(count: 3 * n), padded = FloatBuffer(count: Kernels.paddedHWCCount(channels: 3, height: h, width: w))
            frames.withUnsafeBufferPointer { fp in
                let c = fp.baseAddress! + s.step * n, p = fp.baseAddress! + (s.step - 1) * n
                let b = fp.baseAddress! + (s.step >= 2 ? s.step - 2 : s.step - 1) * n
                Kernels.encoderInputPlanes(current: c, previous: p, beforePrevious: b, count: n, differenceGain: fx.gain,
                                           withPreviousDifference: true, perFrame: true, into: chw.pointer)
                Kernels.encoderInputPaddedHWC(current: c, previous: p, beforePrevious: b, height: h, width: w,
                                              differenceGain: fx.gain, withPreviousDifference: true, perFrame: true,
                                              into: padded.pointer)
            }
            XCTAssertLessThan(maxAbsDiff(chw.array, s.planes), 1e-6, "step \(s.step)")
            var hwcAsCHW = [Float](repeating: 0, count: 3 * n)
            for y in 0..<h { for x in 0..<w { for k in 0..<3 {
                hwcAsCHW[(k * h + y) * w + x] = padded.pointer[((y + 1) * (w + 2) + x + 1) * 3 + k]
            } } }
            XCTAssertLessThan(maxAbsDiff(hwcAsCHW, s.planes), 1e-6, "step \(s.step), padded HWC")
            XCTAssertGreaterThan(s.planes[n..<(2 * n)].map(abs).max()!, 0.5, "step \(s.step): the difference must move")
        }
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

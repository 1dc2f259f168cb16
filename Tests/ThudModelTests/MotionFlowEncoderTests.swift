import XCTest
import ThudBase
@testable import ThudModel

/// MotionFlowEncoder on frames whose halves are known exactly: a random texture drawn at half resolution and
/// doubled, so the 2×2 means give it back and a shift of 2k full pixels is a shift of k half pixels.
final class MotionFlowEncoderTests: XCTestCase {
    static let size = 32, half = 16, radius = 2

    static func architecture() -> ModelArchitecture {
        var a = ModelArchitecture.motionFlowDefault
        a.input = InputSpec(width: size, height: size)
        a.encoder = .motionFlow(rows: 2, cols: 2, activeThresholdLevels: 10, searchRadius: radius)
        return a
    }

    /// The texture shifted right by `shift` half pixels (new columns on the left get fresh texture), doubled.
    static func frame(shift: Int, brightness: Int = 0) -> [UInt8] {
        var rng = SplitMix64(seed: 9)
        let texture = (0..<(half * (half + 8))).map { _ in UInt8(40 + rng.next() % 170) }   // 8 spare columns
        var out = [UInt8](repeating: 0, count: size * size)
        for y in 0..<size { for x in 0..<size {
            let tx = x / 2 - shift + 8
            out[y * size + x] = UInt8(Int(texture[(y / 2) * (half + 8) + tx]) + brightness)
        } }
        return out
    }

    func features(_ enc: MotionFlowEncoder, current: [UInt8], previous: [UInt8], beforePrevious: [UInt8]) -> [Float] {
        var out = [Float](repeating: -1, count: enc.featureCount)
        current.withUnsafeBufferPointer { c in previous.withUnsafeBufferPointer { p in beforePrevious.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { enc.encode(current: c, previous: p, beforePrevious: b, into: $0.baseAddress!) }
        } } }
        return out
    }

    /// (energy, dx, dy, change, residual) of each of the 4 cells.
    func cells(_ f: [Float]) -> [[Float]] { (0..<4).map { Array(f[($0 * 5)..<($0 * 5 + 5)]) } }

    func testSizesAndValidation() {
        let a = Self.architecture()
        XCTAssertEqual(MotionFlowEncoder(architecture: a).featureCount, 4 * 5 + 4)
        XCTAssertEqual(a.featureCount, 24)
        XCTAssertNil(a.validationProblem())
        var tooFine = a
        tooFine.encoder = .motionFlow(rows: 17, cols: 2)
        XCTAssertNotNil(tooFine.validationProblem(), "17 rows do not fit 16 half-resolution rows")
        var noRadius = a
        noRadius.encoder.flowSearchRadius = nil
        XCTAssertNotNil(noRadius.validationProblem())
        XCTAssertTrue(a.encoder.readsFrameBeforePrevious)
        XCTAssertFalse(ModelArchitecture.motionEnergyDefault.encoder.readsFrameBeforePrevious)
        XCTAssertFalse(ModelArchitecture.default.encoder.readsFrameBeforePrevious)
    }

    func testAShiftedTextureMovesEveryCellByTheShift() {
        let enc = MotionFlowEncoder(architecture: Self.architecture())
        let f = features(enc, current: Self.frame(shift: 2), previous: Self.frame(shift: 0), beforePrevious: Self.frame(shift: 0))
        for (i, c) in cells(f).enumerated() {
            XCTAssertGreaterThan(c[0], 0.05, "cell \(i) changed")
            XCTAssertEqual(c[1], 1, "cell \(i): dx = 2 half pixels = the radius")
            XCTAssertEqual(c[2], 0, "cell \(i): dy")
            XCTAssertEqual(c[3], 1, "cell \(i): the motion started (from 0 to 2)")
            XCTAssertEqual(c[4], 0, "cell \(i): a pure shift leaves nothing unexplained")
        }
        XCTAssertEqual(f[22], 1, "every cell moved")
        XCTAssertEqual(f[23], 1, "largest change")
    }

    func testAMotionThatStopsOrTurnsShowsAsChange() {
        let enc = MotionFlowEncoder(architecture: Self.architecture())
        let steady = features(enc, current: Self.frame(shift: 2), previous: Self.frame(shift: 1), beforePrevious: Self.frame(shift: 0))
        for c in cells(steady) { XCTAssertEqual(c[1], 0.5); XCTAssertEqual(c[3], 0, "steady motion: no change") }
        let stopped = features(enc, current: Self.frame(shift: 2), previous: Self.frame(shift: 2), beforePrevious: Self.frame(shift: 0))
        for c in cells(stopped) { XCTAssertEqual(c[0], 0); XCTAssertEqual(c[1], 0); XCTAssertEqual(c[3], 1, "2 half pixels to 0") }
        let turned = features(enc, current: Self.frame(shift: 0), previous: Self.frame(shift: 2), beforePrevious: Self.frame(shift: 0))
        for c in cells(turned) { XCTAssertEqual(c[1], -1); XCTAssertEqual(c[3], 2, "+2 to −2 half pixels") }
        XCTAssertEqual(turned[23], 2)
    }

    func testASmallExposureChangeIsNoMotionAndALargeOneIsResidual() {
        let enc = MotionFlowEncoder(architecture: Self.architecture())
        let still = Self.frame(shift: 0)
        let dimmer = features(enc, current: Self.frame(shift: 0, brightness: 4), previous: still, beforePrevious: still)
        for c in cells(dimmer) {
            XCTAssertEqual(c[0], 4 / 255, accuracy: 1e-6)
            XCTAssertEqual(c[1], 0); XCTAssertEqual(c[2], 0); XCTAssertEqual(c[3], 0)
        }
        XCTAssertEqual(dimmer[22], 0, "nothing moved")
        // A flash: 40 levels brighter everywhere. No shift explains it; whatever shift wins, most of it stays.
        let flash = features(enc, current: Self.frame(shift: 0, brightness: 40), previous: still, beforePrevious: still)
        for c in cells(flash) { XCTAssertGreaterThan(c[4], 20 / 255) }
    }

    func testTheReplicaAndTheStreamingModelSeeTheSameFeatures() throws {
        let a = Self.architecture()
        let enc = MotionFlowEncoder(architecture: a)
        let frames = [Self.frame(shift: 0), Self.frame(shift: 1), Self.frame(shift: 3), Self.frame(shift: 3)]
        let model = try StreamingModel(file: ModelFile.random(architecture: a, seed: 3))
        XCTAssertTrue(model.encoder is MotionFlowEncoder)
        let replica = try XCTUnwrap(model.encoder.replica() as? MotionFlowEncoder)
        for t in frames.indices {
            _ = frames[t].withUnsafeBufferPointer { model.step(frame: $0) }
            // A missing earlier frame is the one after it (FrameEncoder.encode).
            let previous = frames[max(t - 1, 0)], before = frames[max(t - 2, 0)]
            let expected = features(enc, current: frames[t], previous: previous, beforePrevious: before)
            XCTAssertEqual(model.lastFeatures(), expected, "step \(t)")
            XCTAssertEqual(features(replica, current: frames[t], previous: previous, beforePrevious: before), expected)
        }
        XCTAssertEqual(Array(model.lastFeatures()[0..<5]), [0, 0, 0, 1, 0], "step 3 stands still after a shift of 2 half pixels")
    }
}

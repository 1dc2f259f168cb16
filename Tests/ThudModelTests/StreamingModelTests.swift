// Streaming behaviour: state carries between calls, reset() restarts exactly, streaming equals batch, outputs are
// envelopes in [0, 1], and both encoders sit behind the same protocol.
import XCTest
@testable import ThudModel

final class StreamingModelTests: XCTestCase {
    func testStreamingEqualsBatchOnDefaultSizedModel() throws {
        // The default runtime architecture (64×64, conv 8-16-32-32, LSTM 2×128), 30 steps.
        let model = try StreamingModel(file: .random(architecture: .default, seed: 1))
        let frames = syntheticFrames(width: 64, height: 64, count: 30)
        let streamed = model.stepAll(frames, count: 30)
        let batched = frames.withUnsafeBufferPointer { model.runBatch(frames: $0, count: 30) }
        XCTAssertLessThan(maxAbsDiff(streamed, batched), 1e-5)
        XCTAssertTrue(streamed.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// A float16 model steps its LSTM on the half weights (gemvHalf) and gives, step for step, what the float32 model
    /// of the same (rounded) weights gives, within float32 summation order; its replicas share the half weights; and
    /// its values stay near the unrounded model's.
    func testAFloat16ModelStepsLikeTheFloat32ModelOfItsWeights() throws {
        let original = ModelFile.random(architecture: .default, seed: 3)
        let halfFile = try XCTUnwrap(original.roundedToFloat16())
        var widened = halfFile
        widened.header.weightStorage = .float32
        let half = try StreamingModel(file: halfFile), same = try StreamingModel(file: widened)
        let unrounded = try StreamingModel(file: original)
        XCTAssertNotNil(half.lstm.layers[0].halfWeight)
        XCTAssertNil(same.lstm.layers[0].halfWeight)
        let replica = StreamingModel(sharingWeightsOf: half)
        XCTAssertTrue(replica.lstm.layers[0].halfWeight === half.lstm.layers[0].halfWeight)
        let frames = syntheticFrames(width: 64, height: 64, count: 40)
        let a = half.stepAll(frames, count: 40), b = same.stepAll(frames, count: 40)
        let c = replica.stepAll(frames, count: 40), d = unrounded.stepAll(frames, count: 40)
        XCTAssertLessThan(maxAbsDiff(a, b), 1e-5)
        XCTAssertEqual(a, c)
        XCTAssertLessThan(maxAbsDiff(a, d), 2e-3)
        XCTAssertGreaterThan(maxAbsDiff(a, d), 0, "the weights were rounded")
    }

    /// A model with an output delay of 1: EnvelopeStream puts the output after frame k + 1 on step k, describes the
    /// last step from the last frame held still, and the batch path (training's validation, thud-train's test
    /// figures) gives the same values on the same steps.
    func testADelayedModelsValuesLandOnTheStepsTheyDescribe() throws {
        try checkDelayedValuesLandOnTheirSteps(previousDifferencePlane: false)
    }

    /// The same with the previous-difference plane: the last frame held still has a zero difference and the last
    /// real difference as its previous one, in the stream and in the batch path alike.
    func testADelayedModelWithThePreviousDifferencePlaneDescribesItsStepsAlikeStreamingAndBatched() throws {
        try checkDelayedValuesLandOnTheirSteps(previousDifferencePlane: true)
    }

    /// A live clock skips steps when the loop falls behind: the stream carries each frame's own step number and time
    /// through the model's delay, onto the step it describes and onto the hit whose peak it is, so no caller keeps a
    /// second count. The values are the same as for consecutive steps (the model sees the same frames).
    func testSkippedStepNumbersAndTimesTravelThroughTheDelayToStepsAndHits() throws {
        // The weight-free motion encoder: the flashes below reach the random LSTM undiminished.
        var arch = ModelArchitecture.motionEnergyDefault
        arch.input = InputSpec(width: 32, height: 32)
        arch.outputDelaySteps = 2
        let file = ModelFile.random(architecture: arch, seed: 11)
        let n = 10
        // Flashes on some frames, dark ones between: the random model's output rises and falls with them.
        let frames = (0..<n).flatMap { t in [UInt8](repeating: [0, 3, 4, 7].contains(t) ? 0 : 255, count: 1024) }
        let labels = [0, 1, 2, 5, 6, 7, 11, 12, 20, 21]
        // Every local maximum of the envelope is a hit (no threshold, no gap), so the random model's wiggles give some.
        let picker = PeakPicker.Configuration(detection: .level, sensitivity: 0, margin: -1, minStrength: 0, minGapSteps: 1)
        func run(_ steps: [Int]?) throws -> (described: [DescribedStep], last: HitEvent?) {
            let stream = EnvelopeStream(model: try StreamingModel(file: file), picker: picker)
            var out: [DescribedStep] = []
            try frames.withUnsafeBufferPointer { fp in
                for t in 0..<n {
                    let frame = UnsafeBufferPointer(rebasing: fp[(t * 1024)..<((t + 1) * 1024)])
                    if let d = try stream.process(frame: frame, step: steps?[t], time: steps.map { Double($0[t]) / 12 + 0.001 }) { out.append(d) }
                }
            }
            let last = try stream.finish { out.append($0) }
            return (out, last)
        }
        let plain = try run(nil), skipped = try run(labels)
        XCTAssertEqual(plain.described.map(\.step), Array(0..<n))
        XCTAssertEqual(plain.described.map(\.time), (0..<n).map { Double($0) / 12 })
        XCTAssertEqual(skipped.described.map(\.step), labels, "each described step is the one its frame came with")
        XCTAssertEqual(skipped.described.map(\.time), labels.map { Double($0) / 12 + 0.001 })
        XCTAssertEqual(skipped.described.map(\.envelope), plain.described.map(\.envelope))
        let plainHits = plain.described.compactMap(\.hit) + (plain.last.map { [$0] } ?? [])
        let skippedHits = skipped.described.compactMap(\.hit) + (skipped.last.map { [$0] } ?? [])
        XCTAssert(plainHits.contains { labels[$0.step] != $0.step }, "a hit after a skip: \(plainHits.map(\.step))")
        XCTAssertEqual(skippedHits.map(\.step), plainHits.map { labels[$0.step] }, "a hit carries its peak's own step")
        XCTAssertEqual(skippedHits.map(\.time), plainHits.map { Double(labels[$0.step]) / 12 + 0.001 })
        XCTAssertEqual(skippedHits.map(\.strength), plainHits.map(\.strength))
    }

    private func checkDelayedValuesLandOnTheirSteps(previousDifferencePlane: Bool) throws {
        var arch = smallConvArchitecture
        arch.onsetOutput = true
        if previousDifferencePlane { arch.encoder.previousDifferencePlane = true }
        var delayedArch = arch
        delayedArch.outputDelaySteps = 1
        let undelayedFile = ModelFile.random(architecture: arch, seed: 9)
        var delayedFile = undelayedFile
        delayedFile.header.architecture = delayedArch
        let raw = try StreamingModel(file: undelayedFile)
        let delayed = try StreamingModel(file: delayedFile)
        XCTAssertEqual(delayed.outputDelaySteps, 1)
        let n = 9
        let frames = syntheticFrames(width: 32, height: 32, count: n)
        // The same network frame by frame, then once more on the last frame: what each output describes is one step back.
        var rawEnvelope = raw.stepAll(frames, count: n), rawOnsets: [Float] = []
        rawEnvelope.append(raw.stepAll(frames, from: n - 1, count: 1)[0])
        raw.reset()
        for t in 0..<n { _ = raw.stepAll(frames, from: t, count: 1); rawOnsets.append(raw.lastOnset) }
        _ = raw.stepAll(frames, from: n - 1, count: 1); rawOnsets.append(raw.lastOnset)

        let picker = PeakPicker.Configuration(minStrength: 0, minRise: 0, minGapSteps: 1)
        let stream = EnvelopeStream(model: delayed, picker: picker)
        XCTAssertEqual(stream.latencySteps, 2)
        var described: [DescribedStep] = []
        try frames.withUnsafeBufferPointer { fp in
            for t in 0..<n {
                let d = try stream.process(frame: UnsafeBufferPointer(rebasing: fp[(t * 1024)..<((t + 1) * 1024)]))
                if t == 0 { XCTAssertNil(d, "the first frame's output describes the time before the stream") }
                if let d { described.append(d) }
            }
        }
        XCTAssertEqual(described.count, n - 1)
        let finalHit = try stream.finish { described.append($0) }
        XCTAssertEqual(described.map(\.step), Array(0..<n))
        XCTAssertEqual(described.map(\.envelope), Array(rawEnvelope.dropFirst()))
        XCTAssertEqual(described.map(\.onset), Array(rawOnsets.dropFirst()))
        // The picker saw the described values in step order: the hits a fresh picker finds on them.
        let expectedHits = PeakPicker.hits(envelope: described.map(\.envelope), configuration: picker)
        XCTAssertEqual(described.compactMap(\.hit) + (finalHit.map { [$0] } ?? []), expectedHits)
        let batch = frames.withUnsafeBufferPointer { delayed.runBatchOutputs(frames: $0, count: n) }
        XCTAssertLessThan(maxAbsDiff(batch.envelope, described.map(\.envelope)), 1e-5)
        XCTAssertLessThan(maxAbsDiff(try XCTUnwrap(batch.onsets), described.map(\.onset)), 1e-5)
        // A stream of one frame still describes its one step.
        stream.reset()
        XCTAssertNil(try frames.withUnsafeBufferPointer { try stream.process(frame: UnsafeBufferPointer(rebasing: $0[0..<1024])) })
        var one: [Int] = []
        _ = try stream.finish { one.append($0.step) }
        XCTAssertEqual(one, [0])
    }

    func testResetRestartsExactlyAndStateCarriesOtherwise() throws {
        let model = try StreamingModel(file: .random(architecture: smallConvArchitecture, seed: 2))
        let frames = syntheticFrames(width: 32, height: 32, count: 20)
        let first = model.stepAll(frames, count: 10)
        XCTAssertEqual(model.stepIndex, 10)
        // Without reset the same frames give different outputs: the LSTM state (and previous frame) carried over.
        let carried = model.stepAll(frames, count: 10)
        XCTAssertGreaterThan(maxAbsDiff(first, carried), 1e-4)
        model.reset()
        XCTAssertEqual(model.stepIndex, 0)
        XCTAssertEqual(model.hiddenState(layer: 1), [Float](repeating: 0, count: 16))
        XCTAssertEqual(model.stepAll(frames, count: 10), first)
    }

    func testFirstStepSeesZeroDifference() throws {
        // Motion energy of the very first frame is zero whatever the frame: there is no previous frame yet.
        let model = try StreamingModel(file: .random(architecture: .motionEnergyDefault, seed: 3))
        let frames = syntheticFrames(width: 64, height: 64, count: 2)
        _ = model.stepAll(frames, count: 1)
        let f = model.lastFeatures()
        XCTAssertEqual(Array(f.prefix(64)), [Float](repeating: 0, count: 64))
        XCTAssertGreaterThan(f[65], 0)   // mean brightness is not zero
        _ = model.stepAll(frames, from: 1, count: 1)
        XCTAssertGreaterThan(model.lastFeatures()[64], 0)   // now there is motion
    }

    func testTimingsAreRecordedOnlyWhenAsked() throws {
        let model = try StreamingModel(file: .random(architecture: smallConvArchitecture, seed: 4))
        let frames = syntheticFrames(width: 32, height: 32, count: 2)
        _ = model.stepAll(frames, count: 1)
        XCTAssertEqual(model.lastTimings, StepTimings())
        model.recordsTimings = true
        _ = model.stepAll(frames, from: 1, count: 1)
        XCTAssertGreaterThan(model.lastTimings.encoder, 0)
        XCTAssertGreaterThan(model.lastTimings.total, model.lastTimings.lstm)
    }

    func testFrameSizeComesFromHeader() throws {
        var architecture = ModelArchitecture.default
        architecture.input.width = 40
        architecture.input.height = 24
        let file = ModelFile.random(architecture: architecture, seed: 5)
        let model = try StreamingModel(file: file)
        XCTAssertEqual(model.frameByteCount, 40 * 24)
        XCTAssertTrue(model.encoder is ConvEncoder)
        // The features the architecture promises are the ones its encoder writes at that size.
        XCTAssertEqual(model.encoder.featureCount, file.header.architecture.featureCount)
    }
}

final class MotionEnergyEncoderTests: XCTestCase {
    func testHandMadeFramePairGivesExpectedCellAndGlobalFeatures() {
        var a = ModelArchitecture.motionEnergyDefault
        a.input = InputSpec(width: 8, height: 8)
        a.encoder = .motionEnergy(rows: 2, cols: 2, activeThresholdLevels: 10)
        let enc = MotionEnergyEncoder(architecture: a)
        XCTAssertEqual(enc.featureCount, 8)
        var previous = [UInt8](repeating: 100, count: 64)
        var current = previous
        // Top-right cell (rows 0..<4, cols 4..<8): 4 pixels change by 255 − 100 = 155 levels; one more by 5 levels.
        for (y, x) in [(0, 4), (1, 5), (2, 6), (3, 7)] { current[y * 8 + x] = 255 }
        current[0 * 8 + 7] = 105
        previous[63] = 100
        var out = [Float](repeating: -1, count: 8)
        current.withUnsafeBufferPointer { c in
            previous.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { enc.encode(current: c, previous: p, beforePrevious: p, into: $0.baseAddress!) }
            }
        }
        let topRight = Float(4 * 155 + 5) / Float(16 * 255)
        XCTAssertEqual(out[0], 0); XCTAssertEqual(out[1], topRight, accuracy: 1e-7)
        XCTAssertEqual(out[2], 0); XCTAssertEqual(out[3], 0)
        XCTAssertEqual(out[4], Float(4 * 155 + 5) / Float(64 * 255), accuracy: 1e-7)       // mean |diff|
        XCTAssertEqual(out[5], Float(60 * 100 + 4 * 255 + 5) / Float(64 * 255), accuracy: 1e-7) // brightness
        XCTAssertEqual(out[6], 4.0 / 64.0)        // the 5-level change is below the threshold of 10
        XCTAssertEqual(out[7], topRight, accuracy: 1e-7)     // max cell
    }
}

import XCTest
@testable import ThudEval
@testable import ThudModel
@testable import ThudTrain

/// Issue 26's training levers: augmentation that a resumed run repeats, dataset shares per batch, jittered windows,
/// per-dataset validation.
final class AugmentationTests: XCTestCase {
    /// A frame with a bright square on a mid-gray ground, moved `shift` pixels right.
    func squareFrame(width: Int, height: Int, shift: Int) -> [UInt8] {
        (0..<(width * height)).map { i in
            let x = i % width, y = i / width
            return (8 + shift...16 + shift).contains(x) && (10...18).contains(y) ? 220 : 90
        }
    }

    func testAugmentationIsAPureFunctionOfSeedEpochAndWindowAndKeepsCleanWindowsClean() {
        let settings = AugmentationSettings(strength: 1)
        let draws = (0..<300).map { WindowAugmentation.draw(settings, seed: 7, epoch: 3, window: $0) }
        XCTAssertEqual(draws, (0..<300).map { WindowAugmentation.draw(settings, seed: 7, epoch: 3, window: $0) })
        XCTAssertNotEqual(draws, (0..<300).map { WindowAugmentation.draw(settings, seed: 7, epoch: 4, window: $0) })
        let clean = draws.filter(\.isIdentity).count
        XCTAssert((30...90).contains(clean), "about a fifth stay clean: \(clean) of 300")
        XCTAssert(draws.contains { $0.blurPasses > 0 } && draws.contains { $0.noise > 0 } && draws.contains { $0.blockiness > 0 }
                  && draws.contains { $0.repeatChance > 0 } && draws.contains { $0.shake > 0 })
        XCTAssert((0..<50).allSatisfy { WindowAugmentation.draw(AugmentationSettings(strength: 0), seed: 7, epoch: 1, window: $0).isIdentity })

        var frames = squareFrame(width: 32, height: 32, shift: 0)
        let original = frames
        WindowAugmentation.identity.apply(frames: &frames, count: 1, width: 32, height: 32)
        XCTAssertEqual(frames, original, "the identity leaves frames as they are")
    }

    /// Each part does what it says on a frame whose content is known.
    func testEachAugmentationChangesTheFrameAsItsNameSays() {
        let w = 32, h = 32
        let base = squareFrame(width: w, height: h, shift: 0)
        func applied(_ a: WindowAugmentation, _ frames: [UInt8]? = nil, count: Int = 1) -> [UInt8] {
            var f = frames ?? base
            a.apply(frames: &f, count: count, width: w, height: h)
            return f
        }
        func mean(_ p: ArraySlice<UInt8>) -> Double { Double(p.reduce(0) { $0 + Int($1) }) / Double(p.count) }
        var bright = WindowAugmentation(); bright.brightness = 0.1
        XCTAssertEqual(mean(applied(bright)[...]), mean(base[...]) + 25.5, accuracy: 1)
        var contrast = WindowAugmentation(); contrast.contrast = 0.5
        let c = applied(contrast)
        XCTAssertEqual(Int(c[12 * w + 12]) - Int(c[0]), (220 - 90) / 2, accuracy: 2, "half the contrast: half the step")
        var zoom = WindowAugmentation(); zoom.a00 = 0.5; zoom.a11 = 0.5
        let z = applied(zoom)
        XCTAssertGreaterThan(z.filter { $0 > 150 }.count, 3 * base.filter { $0 > 150 }.count, "a 2x zoom about the centre quadruples the square")
        var blur = WindowAugmentation(); blur.blurPasses = 1
        let b = applied(blur)
        XCTAssert(b[14 * w + 7] > 90 && b[14 * w + 7] < 220, "the square's edge is softened")
        XCTAssertEqual(mean(b[...]), mean(base[...]), accuracy: 1, "blur keeps the mean")
        var blocky = WindowAugmentation(); blocky.blockiness = 1
        let k = applied(blocky)
        XCTAssertEqual(Set(k[(8 * w)..<(8 * w + 8)]).count, 1, "one level per 8x8 block")
        var noisy = WindowAugmentation(); noisy.noise = 5; noisy.frameSeed = 3
        let two = base + base
        let n = applied(noisy, two, count: 2)
        XCTAssertNotEqual(Array(n[0..<(w * h)]), Array(n[(w * h)...]), "new noise every frame: a still scene's difference is not zero")
        XCTAssertEqual(applied(noisy, two, count: 2), n, "the same draw gives the same noise")
        var repeats = WindowAugmentation(); repeats.repeatChance = 1
        let moving = base + squareFrame(width: w, height: h, shift: 4) + squareFrame(width: w, height: h, shift: 8)
        let r = applied(repeats, moving, count: 3)
        XCTAssertEqual(Array(r[(2 * w * h)...]), base, "every frame repeats the first: a camera that dropped them")
        var shaky = WindowAugmentation(); shaky.shake = 1.5; shaky.frameSeed = 9
        let still = base + base + base
        let s = applied(shaky, still, count: 3)
        XCTAssert(Array(s[0..<(w * h)]) != Array(s[(w * h)..<(2 * w * h)]) || Array(s[(w * h)..<(2 * w * h)]) != Array(s[(2 * w * h)...]),
                  "a shaking camera moves a still scene")
    }

    /// A conv model of one layer on 4×4 frames: enough to run windows and validation through.
    var tinyArchitecture: ModelArchitecture {
        var architecture = ModelArchitecture.default
        architecture.input = InputSpec(width: 4, height: 4)
        architecture.encoder.convChannels = [2]
        return architecture
    }

    func preparedClip(id: String, source: Int, steps: Int, width: Int = 4, height: Int = 4) -> PreparedClip {
        var clip = DatasetClip(id: id, path: "\(id).mp4", template: "t", label: "t", split: .train, hitsPath: nil)
        clip.source = source
        return PreparedClip(clip: clip, steps: steps, width: width, height: height,
                            frames: (0..<(steps * width * height)).map { UInt8($0 % 251) },
                            targets: (0..<steps).map { Float($0 % 7) / 7 }, db: [Float](repeating: -20, count: steps),
                            onsets: [Float](repeating: 0, count: steps), trueHits: nil)
    }

    /// --dataset-share 1,1: a dataset of 2 windows and one of 30 each fill half of every batch; the small one's
    /// windows come round again in new orders; the epoch keeps its length; the order is the seed's.
    func testDatasetSharesFillEveryBatchInProportionAndStartOverWhenADatasetRunsOut() {
        let sources = [0, 0] + Array(repeating: 1, count: 30)
        let order = TrainingRun.sharedOrder(sources: sources, shares: [1, 1], batchSize: 8, seed: 5)
        XCTAssertEqual(order.count, 32, "the epoch keeps its length")
        for b in 0..<4 {
            let batch = order[(b * 8)..<(b * 8 + 8)]
            XCTAssertEqual(batch.filter { sources[$0] == 0 }.count, 4, "batch \(b): half from the small dataset")
        }
        XCTAssertEqual(Set(order.filter { sources[$0] == 1 }).count, 16, "the large one's windows do not repeat within the epoch")
        XCTAssertEqual(order, TrainingRun.sharedOrder(sources: sources, shares: [1, 1], batchSize: 8, seed: 5))
        XCTAssertNotEqual(order, TrainingRun.sharedOrder(sources: sources, shares: [1, 1], batchSize: 8, seed: 6))
        let third = TrainingRun.sharedOrder(sources: sources, shares: [1, 2], batchSize: 6, seed: 5)
        XCTAssertEqual(third.filter { sources[$0] == 0 }.count, 11, "a third of 32, rounding carried over the batches")
        let none = TrainingRun.sharedOrder(sources: sources, shares: [0, 1], batchSize: 8, seed: 5)
        XCTAssertFalse(none.contains { sources[$0] == 0 }, "a share of 0 leaves a dataset out of training")
    }

    /// --window-jitter moves windows within their clip, by seed, epoch and window; --augment changes a window's
    /// frames but never its targets; both leave the fingerprint of a run without them as it was.
    func testJitteredWindowsStayInTheirClipAndAugmentationNeverTouchesTargets() throws {
        var settings = TrainingSettings(architecture: tinyArchitecture)
        settings.sequenceLength = 8
        let plainFingerprint = settings.fingerprint
        settings.windowJitter = true
        settings.augmentation = AugmentationSettings(strength: 1)
        XCTAssertNotEqual(settings.fingerprint, plainFingerprint)
        let clip = preparedClip(id: "long", source: 0, steps: 50)
        let run = TrainingRun(settings: settings, train: [clip], validation: [], checkpointPath: "/nonexistent/c",
                              outputPath: "/nonexistent/m", provenance: TrainingProvenance(command: "test", data: "none"))
        var moved = 0
        for epoch in 1...5 {
            for i in run.windows.indices {
                let w = run.jittered(window: i, epoch: epoch)
                XCTAssert(w.start >= 0 && w.start + w.length <= clip.steps)
                XCTAssertEqual(w.length, run.windows[i].length)
                XCTAssertEqual(w, run.jittered(window: i, epoch: epoch))
                if w != run.windows[i] { moved += 1 }
            }
        }
        XCTAssertGreaterThan(moved, run.windows.count * 2, "most windows move")
        let order = run.order(epoch: 1)
        for b in 0..<run.batchCount {
            for (index, sequence) in zip(run.members(b, of: order), run.batch(b, of: order, epoch: 1)) {
                let w = run.jittered(window: index, epoch: 1)
                XCTAssertEqual(sequence.targets, Array(clip.targets[w.start..<(w.start + w.length)]))
                XCTAssertEqual(sequence.frames.count, w.length * 16)
            }
            XCTAssertEqual(run.batch(b, of: order, epoch: 1).map(\.frames), run.batch(b, of: order, epoch: 1).map(\.frames),
                           "windows are augmented side by side, each by its own draw: the same batch every time")
        }
        XCTAssert((0..<run.batchCount).contains { b in
            zip(run.members(b, of: order), run.batch(b, of: order, epoch: 1)).contains { index, sequence in
                let w = run.jittered(window: index, epoch: 1)
                return sequence.frames != Array(clip.frames[(w.start * 16)..<((w.start + w.length) * 16)])
            }
        }, "some window's frames are augmented")
    }

    /// --choose-on: validation reports each dataset, and the model kept is chosen on the named one's figures.
    func testValidationIsReportedPerDatasetAndChoosesOnTheNamedOne() throws {
        var settings = TrainingSettings(architecture: tinyArchitecture)
        settings.chooseOn = 1
        let clips = [preparedClip(id: "a", source: 0, steps: 30), preparedClip(id: "b", source: 1, steps: 30),
                     preparedClip(id: "c", source: 1, steps: 30)]
        let run = TrainingRun(settings: settings, train: clips, validation: clips, checkpointPath: "/nonexistent/c",
                              outputPath: "/nonexistent/m", provenance: TrainingProvenance(command: "test", data: "none"))
        let result = try XCTUnwrap(run.validate(clips))
        XCTAssertEqual(result.bySource[0]?.clips, 1)
        XCTAssertEqual(result.bySource[1]?.clips, 2)
        let one = try XCTUnwrap(result.bySource[1])
        XCTAssertEqual(result.selectionScore(chooseOn: 1), one.hits.f1 + (one.meanR ?? 0), accuracy: 1e-12)
        XCTAssertEqual(result.selectionScore(chooseOn: nil), result.hits.f1 + (result.meanR ?? 0), accuracy: 1e-12)
    }
}

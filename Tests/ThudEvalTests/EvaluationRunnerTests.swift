import XCTest
@testable import ThudEval
import ThudMedia
import ThudModel
import ThudTestSupport

/// The evaluation runner on a small Something-Something-layout dataset (real encoded clips with clicks, a hit
/// list per clip, and faulty clips), with a random-weight model: there is no trained model yet.
final class EvaluationRunnerTests: XCTestCase {
    static let dir = TemporaryDirectory("eval-runner")
    static var made: TinyDataset.Made!
    static var dataset: Dataset!

    override class func setUp() {
        super.setUp()
        made = try! TinyDataset.write(root: dir.path("ds"), good: ["train": 2, "validation": 0, "test": 2])
        dataset = try! Dataset.load(made.root)
    }

    override class func tearDown() { dir.cleanup(); super.tearDown() }

    func model() throws -> StreamingModel { try StreamingModel(file: ModelFile.random(architecture: .default, seed: 7)) }

    func clips(_ split: DatasetSplit) throws -> [DatasetClip] {
        let filter = try ClassFilter.parse("sound")
        return Self.dataset.clips.filter { $0.split == split && filter.accepts($0) }
    }

    func testTestSplitGivesEveryFigureForEveryPredictor() throws {
        let selected = try clips(.test)
        XCTAssertEqual(selected.count, 2)
        let (evaluations, failures) = EvaluationRun.run(clips: selected, evaluator: ClipEvaluator(model: try model()))
        XCTAssertEqual(failures.count, 0, "\(failures.map(\.message))")
        XCTAssertEqual(evaluations.count, 2)
        for e in evaluations {
            // 2.5 s of video and audio: ceil(12 · 2.5) = 30 steps.
            XCTAssertEqual(e.steps, 30)
            XCTAssertEqual(e.target.count, 30)
            XCTAssertEqual(e.truthSource, .hitList)
            // TinyDataset's clicks: 0.4 + (id % 5)·0.1 and 1.6 + (id % 3)·0.1 s → step ⌊12·t⌋.
            let id = Int(e.clip.id)!
            let clicks = [0.4 + Double(id % 5) * 0.1, 1.6 + Double(id % 3) * 0.1]
            XCTAssertEqual(e.trueHits, clicks.map { Int(($0 * 12).rounded(.down)) })
            XCTAssertEqual(Set(e.results.keys), Set(Predictor.allCases))
            for p in Predictor.allCases {
                let r = e.result(p)
                XCTAssertEqual(r.envelope.count, 30, "\(p)")
                XCTAssertEqual(r.score.steps, 30)
                XCTAssertTrue(r.score.meanAbsoluteError.isFinite && r.score.bce.isFinite, "\(p)")
                XCTAssertEqual(r.score.trueHits, 2, "\(p)")
                XCTAssertTrue(r.envelope.allSatisfy { (0...1).contains($0) }, "\(p)")
            }
            XCTAssertNotNil(e.result(.model).score.r)
            XCTAssertNotNil(e.result(.model).score.averagePrecision)
            XCTAssertNotNil(e.result(.motionEnergy).score.r)

            // The oracle is the ceiling: r = 1 and every hit found.
            let oracle = e.result(.oracle)
            XCTAssertEqual(oracle.score.r!, 1, accuracy: 1e-9)
            XCTAssertEqual(oracle.score.bestLag, 0)
            XCTAssertEqual(oracle.score.hits.f1, 1)
            XCTAssertEqual(oracle.score.meanAbsoluteError, 0)
            XCTAssertEqual(oracle.envelope, e.target)

            // The constant has no r (undefined), no hits, and the verdict counts its r as 0: bad.
            let constant = e.result(.constant)
            XCTAssertNil(constant.score.r)
            XCTAssertEqual(constant.hits, [])
            XCTAssertEqual(constant.score.hits.recall, 0)
            XCTAssertEqual(constant.verdict, .bad)
        }
        let report = EvaluationReport(dataset: "tiny", split: "test", classFilter: "sound", modelPath: "random", settings: EvaluationSettings(),
                                      selected: 2, evaluations: evaluations, failures: failures)
        XCTAssertEqual(report.aggregate(.oracle).meanR!, 1, accuracy: 1e-5)
        XCTAssertEqual(report.aggregate(.oracle).hits.f1, 1)
        XCTAssertEqual(report.aggregate(.oracle).originalScore, 1)
        XCTAssertNil(report.aggregate(.constant).meanR)
        XCTAssertEqual(report.aggregate(.constant).originalScore, -1)
        XCTAssertNotNil(report.aggregate(.model).meanR)
    }

    func testTheModelPathMatchesStreamingTheModelByHand() throws {
        // The runner's model envelope is exactly `thud predict`'s: the model stepped over the same 12 Hz frames.
        let clip = try clips(.test)[0]
        let m = try model()
        let e = try ClipEvaluator(model: m).evaluate(clip)
        let fresh = try model()
        let picker = PeakPicker()
        var expected: [Float] = [], hits: [Int] = []
        _ = try MediaInput(path: clip.path).decode(video: VideoStepRequest(width: fresh.inputWidth, height: fresh.inputHeight), audio: false, onStep: { step in
            let v = fresh.step(frame: step.pixels)
            expected.append(v)
            if let h = picker.process(v) { hits.append(h.step) }
            return true
        })
        if let h = picker.finish() { hits.append(h.step) }
        XCTAssertEqual(e.result(.model).envelope, Array(expected.prefix(e.steps)))
        XCTAssertEqual(e.result(.model).hits, hits.filter { $0 < e.steps })
        // Reset per clip: evaluating again with the same evaluator gives the same figures.
        let again = try ClipEvaluator(model: m).evaluate(clip)
        XCTAssertEqual(again.result(.model).envelope, e.result(.model).envelope)
    }

    func testFaultyClipsAreCountedAndNamedNotFatal() throws {
        let selected = try clips(.train)   // 2 good + no_audio, corrupt_audio, truncated
        XCTAssertEqual(selected.count, 5)
        var named: [String] = []
        let (evaluations, failures) = EvaluationRun.run(clips: selected, evaluator: ClipEvaluator(model: try model()),
                                                        failed: { named.append($0.id) })
        XCTAssertEqual(evaluations.count, 2)
        XCTAssertEqual(failures.count, 3)
        XCTAssertEqual(named, failures.map(\.id))
        let byID = Dictionary(uniqueKeysWithValues: failures.map { ($0.id, $0) })
        let faultyIDs = selected.map(\.id).filter { id in !evaluations.contains { $0.clip.id == id } }
        XCTAssertEqual(Set(byID.keys), Set(faultyIDs))
        for f in failures {
            XCTAssertTrue(f.message.hasPrefix(f.path), f.message)
            XCTAssertFalse(f.problem.isEmpty)
            XCTAssertFalse(f.message.contains("\n"))
        }
        XCTAssertTrue(failures.contains { $0.problem.contains("no audio stream") }, "\(failures.map(\.problem))")
        XCTAssertTrue(failures.contains { $0.problem.contains("audio") && $0.problem.contains("decod") }, "\(failures.map(\.problem))")
        let report = EvaluationReport(dataset: "tiny", split: "train", classFilter: "sound", modelPath: "random", settings: EvaluationSettings(),
                                      selected: selected.count, evaluations: evaluations, failures: failures)
        let text = report.text()
        XCTAssertTrue(text.contains("2 scored, 3 failed, of 5 selected"), text)
        for f in failures { XCTAssertTrue(text.contains(f.id) && text.contains(f.problem), text) }
    }

    func testWithoutAHitListTrueHitsAreTheTargetsPeaks() throws {
        var clip = try clips(.test)[0]
        clip.hitsPath = nil
        let e = try ClipEvaluator(model: try model()).evaluate(clip)
        XCTAssertEqual(e.truthSource, .targetPeaks)
        XCTAssertEqual(e.trueHits, EnvelopePeakRule().peaks(e.target))
        XCTAssertFalse(e.trueHits.isEmpty, "the clicks make peaks")
        XCTAssertEqual(e.result(.oracle).score.averagePrecision, 1)
    }

    func testAnUnreadableHitListFailsTheClipNamingTheFile() throws {
        var clip = try clips(.test)[0]
        let broken = Self.dir.path("broken-hits.json")
        try Data("not json".utf8).write(to: URL(fileURLWithPath: broken))
        clip.hitsPath = broken
        XCTAssertThrowsError(try ClipEvaluator(model: try model()).evaluate(clip)) { error in
            let f = error as? ClipFailure
            XCTAssertEqual(f?.path, broken)
            XCTAssertTrue(f?.problem.contains("hit list cannot be read") ?? false)
        }
    }

    func testHitListStepsAreTheSharedGroundTruthRule() throws {
        // Impacts 1 step apart merge into the stronger; hidden ones count by default (the scene's hits, as in
        // training), not with --hits visible.
        let path = Self.dir.path("hits-merge.json")
        let json = #"{"hits": [{"time": 0.99, "strength": 0.2, "visible": true}, {"time": 1.05, "strength": 0.9, "visible": true}, {"time": 0.5, "strength": 1, "visible": false}, {"time": 2.0, "strength": 0.5}]}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        var clip = try clips(.test)[0]
        clip.hitsPath = path
        let e = try ClipEvaluator(model: try model()).evaluate(clip)
        XCTAssertEqual(e.truthSource, .hitList)
        XCTAssertEqual(e.trueHits, [6, 12, 24])
        var settings = EvaluationSettings()
        settings.hitSet = .visible
        XCTAssertEqual(try ClipEvaluator(model: try model(), settings: settings).evaluate(clip).trueHits, [12, 24])
    }

    func testMotionEnergyEnvelopeIsCausalAndScaledByItsRunningMaximum() {
        let w = 16, h = 16
        func frame(_ v: UInt8, box: Int? = nil) -> [UInt8] {
            var f = [UInt8](repeating: v, count: w * h)
            if let b = box { for y in 4..<8 { for x in b..<(b + 4) { f[y * w + x] = 255 } } }
            return f
        }
        let frames = [frame(0), frame(0), frame(0, box: 2), frame(0, box: 3), frame(0, box: 3), frame(0, box: 8), frame(0)]
        func run(_ n: Int) -> [Float] {
            let m = MotionEnergyEnvelope(width: w, height: h)
            return frames.prefix(n).map { f in f.withUnsafeBufferPointer { m.step(frame: $0) } }
        }
        let all = run(frames.count)
        XCTAssertEqual(all[0], 0)                 // no previous frame: no motion
        XCTAssertEqual(all[1], 0)
        XCTAssertEqual(all[2], 1)                 // first motion is its own running maximum
        XCTAssertEqual(all[4], 0)                 // still picture
        XCTAssertTrue(all.allSatisfy { (0...1).contains($0) })
        // The box moving by one column changes 8 pixels vs 16 appearing: half the first energy.
        XCTAssertEqual(all[3], 0.5, accuracy: 1e-6)
        // Causal: each value is the same whether or not later frames exist.
        for n in 1...frames.count { XCTAssertEqual(run(n), Array(all.prefix(n))) }
    }

    func testAModelThatSeesTheHitsIsScoredAtTheirPeakSteps() throws {
        let path = Self.dir.path("box.mp4")
        try MotionDetectorModel.writeClip(path: path)
        let clip = DatasetClip(id: "box", path: path, template: TinyDataset.soundTemplate, label: "box", split: .test, hitsPath: nil)
        let e = try ClipEvaluator(model: try MotionDetectorModel.model()).evaluate(clip)
        XCTAssertEqual(e.steps, 36)
        XCTAssertEqual(e.trueHits, [12, 24], "clicks at 1 s and 2 s")
        let m = e.result(.model)
        XCTAssertEqual(m.hits, [12, 24], "hits scored at their peak step, not the step they are reported on")
        XCTAssertEqual(m.score.hits.f1, 1)
        XCTAssertEqual(m.score.hits.meanDelay, 0)
        XCTAssertEqual(m.score.averagePrecision, 1)
        XCTAssertGreaterThan(m.score.r!, 0.6)
        XCTAssertEqual(m.verdict, .good)
        // The weight-free baseline sees the same two changes.
        XCTAssertEqual(e.result(.motionEnergy).hits, [12, 24])
        // Each change starts from stillness: motion onset flags them too.
        XCTAssertEqual(e.result(.motionOnset).hits, [12, 24])
    }

    func testConstantLevelIsTheTrainingSplitsMeanTarget() throws {
        let train = try clips(.train)
        let mean = try XCTUnwrap(EvaluationRun.trainingMeanTarget(train))
        XCTAssertEqual(mean.clips, 2, "the faulty training clips are skipped")
        var sum = 0.0, count = 0
        for clip in train.prefix(2) {
            let audio = try MediaInput(path: clip.path).decode(video: nil, audio: true).audio!
            let e = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
            sum += e.values.reduce(0.0) { $0 + Double($1) }; count += e.count
        }
        XCTAssertEqual(Double(mean.level), sum / Double(count), accuracy: 1e-6)
        XCTAssertNil(EvaluationRun.trainingMeanTarget([]))
    }
}

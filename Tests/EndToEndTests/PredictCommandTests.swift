import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport

/// `thud predict` as a user runs it, checked against the library run in-process on the same frames.
final class PredictCommandTests: XCTestCase {
    let dir = TemporaryDirectory("predict")

    lazy var modelPath: String = {
        let path = dir.path("random.thud")
        try! ModelFile.random(architecture: .default, seed: 42).write(to: path)
        return path
    }()

    func clip(seconds: Double = 3, fps: Int = 25) throws -> String {
        let path = dir.path("clip-\(fps).mp4")
        if !FileManager.default.fileExists(atPath: path) {
            try FrameCounterClip.write(path: path, times: (0..<Int(seconds * Double(fps))).map { Double($0) / Double(fps) },
                                       width: 192, height: 128, nominalFrameRate: Double(fps),
                                       audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [1], audioSeconds: seconds)
        }
        return path
    }

    func testOneFlushedJSONLinePerStepMatchingTheLibrary() throws {
        let path = try clip()
        let r = try Executable.run("thud", ["predict", "--model", modelPath, path])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, 36)

        // The same path in-process: decode at the model's size, step the model, pick peaks.
        let model = try StreamingModel(path: modelPath)
        let picker = PeakPicker()
        var expected: [(Float, HitEvent?)] = []
        _ = try MediaInput(path: path).decode(video: VideoStepRequest(width: model.inputWidth, height: model.inputHeight), audio: false, onStep: { step in
            let e = model.step(frame: step.pixels)
            expected.append((e, picker.process(e)))
            return true
        })
        XCTAssertEqual(expected.count, r.lines.count)
        for (k, line) in r.lines.enumerated() {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let hit = o["hit"] as! Bool
            XCTAssertEqual(Set(o.keys), hit ? ["t", "envelope", "hit", "strength"] : ["t", "envelope", "hit"])
            XCTAssertEqual(o["t"] as! Double, Double(k) / 12, accuracy: 1e-6)
            XCTAssertEqual(o["envelope"] as! Double, Double(expected[k].0), accuracy: 1e-6)
            XCTAssertEqual(hit, expected[k].1 != nil, "step \(k)")
            if let h = expected[k].1 { XCTAssertEqual(o["strength"] as! Double, Double(h.strength), accuracy: 1e-6) }
        }
    }

    func testCSVAndStdin() throws {
        let path = try clip()
        let csv = try Executable.run("thud", ["predict", "--model", modelPath, "--format", "csv", path])
        XCTAssertEqual(csv.lines.first, "t,envelope,hit,strength")
        XCTAssertEqual(csv.lines.count, 37)
        let file = try Executable.run("thud", ["predict", "--model", modelPath, path])
        let pipe = try Executable.run("thud", ["predict", "--model", modelPath, "-"], stdinFile: path)
        XCTAssertEqual(pipe.status, 0, pipe.stderrText)
        XCTAssertEqual(file.stdout, pipe.stdout)
    }

    func testBundledModelIsFoundThroughTHUD_MODEL() throws {
        let r = try Executable.run("thud", ["predict", try clip()], environment: ["THUD_MODEL": modelPath])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, 36)
    }

    func testBadModelFilesGiveExitCode20AndNothingOnStdout() throws {
        let path = try clip()
        let corrupt = dir.path("corrupt.thud")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: modelPath))
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        let truncated = dir.path("truncated.thud")
        try bytes.prefix(1000).write(to: URL(fileURLWithPath: truncated))
        for bad in [dir.path("missing.thud"), corrupt, truncated, path] {
            let r = try Executable.run("thud", ["predict", "--model", bad, path])
            XCTAssertEqual(r.status, 20, "\(bad): \(r.stderrText)")
            XCTAssertTrue(r.stdout.isEmpty)
            XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1)
            XCTAssertTrue(r.stderrText.contains(bad), r.stderrText)
        }
        let badThreshold = try Executable.run("thud", ["predict", "--model", modelPath, "--threshold", "3", path])
        XCTAssertEqual(badThreshold.status, 64)
        XCTAssertTrue(badThreshold.stdout.isEmpty)
    }

    /// A model with the onset output and --detection onset: hits are the peaks of that output, and
    /// --detection onset is refused, in one line with exit 64, for a model without one.
    func testAnOnsetModelFlagsThePeaksOfItsOnsetOutput() throws {
        let path = try clip()
        let onsetModel = dir.path("onset.thud")
        var file = ModelFile.random(architecture: .defaultWithOnsets, seed: 7)
        // A random model's outputs barely move on this clip. Make the onset logit 2000 × (envelope logit − its mean
        // over the clip), so its wiggles clear the picker's adaptive threshold.
        let probe = try StreamingModel(file: file)
        var logits: [Double] = []
        _ = try MediaInput(path: path).decode(video: VideoStepRequest(width: probe.inputWidth, height: probe.inputHeight), audio: false, onStep: { step in
            let e = Double(probe.step(frame: step.pixels))
            logits.append(log(e / (1 - e)))
            return true
        })
        let mean = Float(logits.reduce(0, +) / Double(logits.count)), gain: Float = 2000
        let w = try XCTUnwrap(file.tensors.firstIndex { $0.name == "head.fc2.weight" })
        let b = try XCTUnwrap(file.tensors.firstIndex { $0.name == "head.fc2.bias" })
        XCTAssertEqual(file.tensors[w].shape, [2, 32])
        for i in 0..<32 { file.tensors[w].values[32 + i] = gain * file.tensors[w].values[i] }
        file.tensors[b].values[1] = gain * (file.tensors[b].values[0] - mean)
        try file.write(to: onsetModel)
        // --min-rise 0: any peak of the onset output above the adaptive threshold is a hit.
        let r = try Executable.run("thud", ["predict", "--model", onsetModel, "--detection", "onset", "--min-rise", "0", path])
        XCTAssertEqual(r.status, 0, r.stderrText)
        let model = try StreamingModel(path: onsetModel)
        // The hits the library's model and picker give for this clip: what thud must flag, line by line.
        func libraryHits(_ config: PeakPicker.Configuration) throws -> [Bool] {
            let picker = PeakPicker(configuration: config)
            model.reset()
            var hits: [Bool] = []
            _ = try MediaInput(path: path).decode(video: VideoStepRequest(width: model.inputWidth, height: model.inputHeight), audio: false, onStep: { step in
                let e = model.step(frame: step.pixels)
                hits.append(picker.process(e, onset: model.lastOnset) != nil)
                return true
            })
            return hits
        }
        func flags(_ run: Executable.Result) -> [Bool] {
            run.lines.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["hit"] as? Bool ?? false }
        }
        var config = PeakPicker.Configuration.defaults(for: .onset)
        config.minRise = 0
        let expected = try libraryHits(config)
        XCTAssertEqual(r.lines.count, expected.count)
        let flagged = flags(r)
        XCTAssertEqual(flagged, expected)
        XCTAssertGreaterThan(flagged.filter { $0 }.count, 0, "the test needs hits to mean much")
        // --sensitivity sets the adaptive threshold: at 0 the same stream through a picker set so, and more hits.
        let loose = try Executable.run("thud", ["predict", "--model", onsetModel, "--detection", "onset", "--min-rise", "0",
                                                 "--sensitivity", "0", path])
        XCTAssertEqual(loose.status, 0, loose.stderrText)
        config.sensitivity = 0
        let looseFlagged = flags(loose)
        XCTAssertEqual(looseFlagged, try libraryHits(config))
        XCTAssertGreaterThan(looseFlagged.filter { $0 }.count, flagged.filter { $0 }.count)
        let badSensitivity = try Executable.run("thud", ["predict", "--model", onsetModel, "--sensitivity", "101", path])
        XCTAssertEqual(badSensitivity.status, 64)
        XCTAssertTrue(badSensitivity.stdout.isEmpty)

        // The same picker recorded in the file (thud-train set-picker) is thud's default for it; --detection still
        // chooses another detector, with that detector's defaults.
        let set = try Executable.run("thud-train", ["set-picker", onsetModel, "--detection", "onset", "--min-rise", "0"])
        XCTAssertEqual(set.status, 0, set.stderrText)
        XCTAssertTrue(set.stderrText.contains("onset, threshold 0.0, min-rise 0.0"), set.stderrText)
        XCTAssertEqual(try ModelFile.read(path: onsetModel).header.picker?.detection, .onset)
        let byDefault = try Executable.run("thud", ["predict", "--model", onsetModel, path])
        XCTAssertEqual(byDefault.status, 0, byDefault.stderrText)
        XCTAssertEqual(byDefault.stdout, r.stdout)
        let rise = try Executable.run("thud", ["predict", "--model", onsetModel, "--detection", "rise", path])
        let unrecorded = dir.path("onset-unrecorded.thud")
        try file.write(to: unrecorded)   // the same weights, no recorded picker: the rise detector's defaults
        XCTAssertEqual(rise.stdout, try Executable.run("thud", ["predict", "--model", unrecorded, path]).stdout)
        let wrongModel = try Executable.run("thud-train", ["set-picker", modelPath, "--detection", "onset"])
        XCTAssertEqual(wrongModel.status, 64)
        XCTAssertEqual(wrongModel.stderrText.split(separator: "\n").count, 1)
        XCTAssertNil(try ModelFile.read(path: modelPath).header.picker, "a refused change leaves the file as it was")

        let refused = try Executable.run("thud", ["predict", "--model", modelPath, "--detection", "onset", path])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stdout.isEmpty)
        XCTAssertEqual(refused.stderrText.split(separator: "\n").count, 1)
        XCTAssertTrue(refused.stderrText.contains(modelPath), refused.stderrText)
    }

    /// A model with an output delay of 1 (`thud-train --output-delay 1`): still one line per step, each at its own
    /// step's time with the value the model gave for it one frame later, and the last step's value from the last
    /// frame held still.
    func testADelayedModelWritesEachStepAtItsOwnTime() throws {
        let path = try clip()
        var file = ModelFile.random(architecture: .default, seed: 42)
        file.header.architecture.outputDelaySteps = 1
        let delayed = dir.path("delayed.thud")
        try file.write(to: delayed)
        let r = try Executable.run("thud", ["predict", "--model", delayed, path])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, 36)
        // The undelayed network frame by frame, then once more on the last frame.
        let model = try StreamingModel(path: modelPath)
        var raw: [Float] = [], last: [UInt8] = []
        _ = try MediaInput(path: path).decode(video: VideoStepRequest(width: model.inputWidth, height: model.inputHeight), audio: false, onStep: { step in
            raw.append(model.step(frame: step.pixels))
            last = Array(step.pixels)
            return true
        })
        raw.append(last.withUnsafeBufferPointer { model.step(frame: $0) })
        for (k, line) in r.lines.enumerated() {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(o["t"] as! Double, Double(k) / 12, accuracy: 1e-6)
            XCTAssertEqual(o["envelope"] as! Double, Double(raw[k + 1]), accuracy: 1e-6, "step \(k)")
        }
    }

    /// Lines arrive while the input is still being written: half a Matroska stream gives the first steps.
    func testPredictStreamsFromAPipe() throws {
        let path = dir.path("long.mkv")
        try FrameCounterClip.write(path: path, times: (0..<450).map { Double($0) / 30 }, width: 320, height: 240, nominalFrameRate: 30)
        let r = try Executable.feedHalfThenRest("thud", ["predict", "--model", modelPath, "-"], input: try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertTrue(String(decoding: r.early, as: UTF8.self).hasPrefix("{\"t\": 0.000000,"))
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(String(decoding: r.all, as: UTF8.self).split(separator: "\n").count, 180)
    }
}

/// `--sonify` through real ALSA with no sound card: `default` routed to the file plugin.
final class PredictSonifyTests: XCTestCase {
    let dir = TemporaryDirectory("sonify")

    func testKnocksAreWrittenAndAMissingDeviceIsOneLineOrAWarning() throws {
        let model = dir.path("m.thud")
        try ModelFile.random(architecture: .default, seed: 3).write(to: model)
        let clip = dir.path("clip.mp4")
        try FrameCounterClip.write(path: clip, times: (0..<50).map { Double($0) / 25 }, nominalFrameRate: 25)
        let raw = dir.path("out.raw")
        let conf = dir.path("asoundrc")
        try """
        pcm.null { type null }
        pcm.!default { type file slave.pcm "null" file "\(raw)" format "raw" }
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let env = ["ALSA_CONFIG_PATH": conf]
        // threshold 0, level detection: the random model's small wiggles become hits, so there is something to play.
        let r = try Executable.run("thud", ["predict", "--model", model, "--threshold", "0", "--detection", "level", "--sonify", clip],
                                   environment: env)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, 24)
        let hits = r.lines.filter { $0.contains("\"hit\": true") }.count
        let pcm = try Data(contentsOf: URL(fileURLWithPath: raw))
        XCTAssertGreaterThan(pcm.count, 48000 * 2)   // about two seconds of S16 mono, paced in real time
        XCTAssertEqual(pcm.contains { $0 != 0 }, hits > 0, "knocks iff hits (\(hits) hits)")
        XCTAssertTrue(r.stderrText.contains("thud: sound: latency"), r.stderrText)

        let missing = try Executable.run("thud", ["predict", "--model", model, "--sonify", "--audio-device", "hw:77", clip], environment: env)
        XCTAssertEqual(missing.status, 40)
        XCTAssertTrue(missing.stdout.isEmpty)
        XCTAssertEqual(missing.stderrText.split(separator: "\n").count, 1, missing.stderrText)
        let optional = try Executable.run("thud", ["predict", "--model", model, "--sonify=optional", "--audio-device", "hw:77", clip], environment: env)
        XCTAssertEqual(optional.status, 0)
        XCTAssertEqual(optional.lines.count, 24)
        XCTAssertTrue(optional.stderrText.contains("warning: sound disabled"), optional.stderrText)
        let badVoice = try Executable.run("thud", ["predict", "--model", model, "--sonify", "--voice", "kazoo", clip], environment: env)
        XCTAssertEqual(badVoice.status, 64)
    }
}

import XCTest
import ThudModel
import ThudTrain
import ThudMedia
import ThudTestSupport

/// `thud-train prepare` on a small dataset with faulty clips: the report and the cache.
final class TrainCommandTests: XCTestCase {
    let dir = TemporaryDirectory("train-e2e")

    func testPrepareReportsTheFilterAndTheFaultyClipsAndThenReadsTheCache() throws {
        let data = try TinyDataset.write(root: dir.path("ds"))
        let cache = dir.path("cache")
        let first = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertEqual(first.status, 0, first.stderrText)
        let report = first.stderrText
        // train: 4 good + 1 silent template + 3 faulty = 8 → 7 after the filter → 4 usable.
        XCTAssertTrue(report.contains("train              8                   7                      4"), report)
        XCTAssertTrue(report.contains("no audio stream: 1"), report)
        XCTAssertTrue(report.contains("audio does not decode: 1"), report)
        XCTAssertTrue(report.contains("not a readable video (empty, corrupt or truncated): 1"), report)
        XCTAssertTrue(report.contains("validation         3                   2                      2"), report)
        XCTAssertTrue(report.contains("(0 clips from the cache)"), report)
        let second = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertEqual(second.status, 0)
        XCTAssertTrue(second.stderrText.contains("(8 clips from the cache)"), second.stderrText)
        // All classes: the silent-template clips come back.
        let all = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache, "--classes", "all"])
        XCTAssertTrue(all.stderrText.contains("train              8                   8                      5"), all.stderrText)
        // Two folders are one dataset: the counts add up, each clip in its own folder's split, and the first
        // folder's clips come from the cache (the second's ids repeat the first's: the cache keys on the file).
        let more = try TinyDataset.write(root: dir.path("ds2"), good: ["train": 2, "validation": 1])
        let both = try Executable.run("thud-train", ["prepare", data.root, more.root, "--cache", cache])
        XCTAssertEqual(both.status, 0, both.stderrText)
        XCTAssertTrue(both.stderrText.contains("\(data.root) + \(more.root)"), both.stderrText)
        XCTAssertTrue(both.stderrText.contains("train             14                  12                      6"), both.stderrText)
        XCTAssertTrue(both.stderrText.contains("validation         5                   3                      3"), both.stderrText)
        XCTAssertTrue(both.stderrText.contains("(8 clips from the cache)"), both.stderrText)
        // A second folder that is not there is refused in one line naming it, as the first would be.
        let missing = try Executable.run("thud-train", ["prepare", data.root, dir.path("not-here"), "--cache", cache])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertEqual(missing.stderrText.split(separator: "\n").count, 1, missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("not-here"), missing.stderrText)
    }

    /// The cache keys on the file a path leads to: a video reached through a symbolic link shares its target's
    /// entry, and a target rewritten in place is decoded again (the link's own size and time never change).
    func testALinkedVideoIsCachedByItsTarget() throws {
        let fm = FileManager.default
        let real = dir.path("real"), linked = dir.path("linked")
        try fm.createDirectory(atPath: real + "/knocks", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: linked + "/knocks", withIntermediateDirectories: true)
        func writeClip(seconds: Double) throws {
            let times = (0..<Int(seconds * 25)).map { Double($0) / 25 }
            _ = try FrameCounterClip.write(path: real + "/knocks/a.mp4", times: times, width: 96, height: 64, nominalFrameRate: 25,
                                           audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [0.5, 1.5],
                                           audioSeconds: seconds)
        }
        try writeClip(seconds: 2.5)
        try fm.createSymbolicLink(atPath: linked + "/knocks/a.mp4", withDestinationPath: real + "/knocks/a.mp4")
        let cache = dir.path("link-cache")
        func prepare(_ root: String) throws -> String {
            let r = try Executable.run("thud-train", ["prepare", root, "--classes", "all", "--cache", cache])
            XCTAssertEqual(r.status, 0, r.stderrText)
            return r.stderrText
        }
        XCTAssertTrue(try prepare(real).contains("(0 clips from the cache)"))
        XCTAssertTrue(try prepare(linked).contains("(1 clips from the cache)"))
        // The target rewritten (a longer clip) under the unchanged link: decoded again, not the old entry.
        Thread.sleep(forTimeInterval: 1.1)
        try writeClip(seconds: 3.5)
        XCTAssertTrue(try prepare(linked).contains("(0 clips from the cache)"))
    }

    func testAMissingDatasetIsOneLine() throws {
        let r = try Executable.run("thud-train", ["prepare", dir.path("nothing-here")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("nothing-here"))
    }

    /// `thud-train average`: the mean of the inputs' weights, written only when every input fits; each refusal one
    /// line naming the file, and no output.
    func testAverageWritesTheMeanOfModelsThatFitAndNothingOtherwise() throws {
        func write(_ name: String, _ architecture: ModelArchitecture, seed: UInt64, warmStart: String?) throws -> String {
            var file = ModelFile.random(architecture: architecture, seed: seed)
            if let warmStart { file.header.provenance["settings"] = "{\"warmStart\":\"\(warmStart)\"}" }
            try file.write(to: dir.path(name))
            return dir.path(name)
        }
        let a = try write("a.thud", .default, seed: 1, warmStart: "stage1.thud")
        let b = try write("b.thud", .default, seed: 2, warmStart: "stage1.thud")
        let out = dir.path("mean.thud")
        let r = try Executable.run("thud-train", ["average", a, b, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(r.stdout.isEmpty)
        XCTAssertFalse(r.stderrText.contains("warning"), r.stderrText)
        let mean = try ModelFile.read(path: out)
        let first = try ModelFile.read(path: a), second = try ModelFile.read(path: b)
        for (index, tensor) in mean.tensors.enumerated() {
            let expected = zip(first.tensors[index].values, second.tensors[index].values).map { Float((Double($0) + Double($1)) / 2) }
            XCTAssertEqual(tensor.values, expected, tensor.name)
        }
        XCTAssertTrue(mean.header.training.command.hasPrefix("thud-train average "), mean.header.training.command)
        XCTAssertNoThrow(try StreamingModel(path: out))

        // Another warm start: written, with a warning that says why it may be worse.
        let c = try write("c.thud", .default, seed: 3, warmStart: "elsewhere.thud")
        let warned = try Executable.run("thud-train", ["average", a, c, "--out", dir.path("warned.thud")])
        XCTAssertEqual(warned.status, 0, warned.stderrText)
        XCTAssertTrue(warned.stderrText.contains("warning: the models do not record one and the same --warm-start"), warned.stderrText)

        // Refusals: another architecture, a missing file, one model only. Nothing is written.
        let onset = try write("onset.thud", .defaultWithOnsets, seed: 4, warmStart: "stage1.thud")
        let refusedOut = dir.path("refused.thud")
        for (arguments, status, named) in [([a, onset], Int32(20), onset), ([a, dir.path("missing.thud")], 20, dir.path("missing.thud")),
                                           ([a], 64, "at least two models")] {
            let refused = try Executable.run("thud-train", ["average"] + arguments + ["--out", refusedOut])
            XCTAssertEqual(refused.status, status, refused.stderrText)
            XCTAssertTrue(refused.stdout.isEmpty)
            if status == 20 {   // a usage error (64) is followed by ArgumentParser's usage lines
                XCTAssertEqual(refused.stderrText.split(separator: "\n").count, 1, refused.stderrText)
            }
            XCTAssertTrue(refused.stderrText.contains(named), refused.stderrText)
            XCTAssertFalse(FileManager.default.fileExists(atPath: refusedOut))
        }
    }
}

/// A whole (tiny) training run through the CLI: epochs, the best model written, a checkpoint, resume.
final class TrainRunTests: XCTestCase {
    let dir = TemporaryDirectory("train-run")

    /// A tiny dataset in ds-TAG and the flags of a one-epoch run on it with its own cache, for the tests of one option.
    private func oneEpochRun(_ tag: String, trainClips: Int) throws -> (root: String, common: [String]) {
        let data = try TinyDataset.write(root: dir.path("ds-\(tag)"), good: ["train": trainClips, "validation": 1], seconds: 2)
        return (data.root, ["train", data.root, "--cache", dir.path("cache-\(tag)"), "--epochs", "1", "--batch-size", "2",
                            "--sequence-length", "12", "--seed", "7"])
    }

    func testTrainWritesALoadableModelAndResumesToTheSameWeights() throws {
        let data = try TinyDataset.write(root: dir.path("ds"), good: ["train": 4, "validation": 2, "test": 1], seconds: 2)
        let common = ["train", data.root, "--cache", dir.path("cache"), "--epochs", "3", "--batch-size", "2",
                      "--sequence-length", "12", "--seed", "7"]
        let whole = try Executable.run("thud-train", common + ["--out", dir.path("whole.thud")])
        XCTAssertEqual(whole.status, 0, whole.stderrText)
        XCTAssertTrue(whole.stderrText.contains("epoch 3/3"), whole.stderrText)
        XCTAssertTrue(whole.stderrText.contains("test: 1 clips"), whole.stderrText)
        let predict = try Executable.run("thud", ["predict", "--model", dir.path("whole.thud"), data.root + "/videos/101.mp4"])
        XCTAssertEqual(predict.status, 0, predict.stderrText)
        XCTAssertEqual(predict.lines.count, 24)

        // Interrupted after 1 epoch's worth of batches (the hidden test hook), then resumed.
        let first = try Executable.run("thud-train", common + ["--out", dir.path("resumed.thud"), "--stop-after-batches", "5"])
        XCTAssertEqual(first.status, 130, first.stderrText)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.path("resumed.thud.checkpoint")))
        let second = try Executable.run("thud-train", common + ["--out", dir.path("resumed.thud"), "--resume"])
        XCTAssertEqual(second.status, 0, second.stderrText)
        XCTAssertTrue(second.stderrText.contains("resumed from"), second.stderrText)
        let a = try Checkpoint.read(path: dir.path("whole.thud.checkpoint"))
        let b = try Checkpoint.read(path: dir.path("resumed.thud.checkpoint"))
        XCTAssertEqual(a.state.epochsDone, 3)
        XCTAssertEqual(b.state.epochsDone, 3)
        XCTAssertEqual(a.tensors, b.tensors, "a resumed run must end with the same weights and optimizer state")
        XCTAssertEqual(a.state.history.map(\.trainLoss), b.state.history.map(\.trainLoss))
        XCTAssertEqual(try ModelFile.read(path: dir.path("whole.thud")).tensors, try ModelFile.read(path: dir.path("resumed.thud")).tensors)

        // A finished 2-epoch run, resumed with --epochs 3, ends where the 3-epoch run did: the epoch count is not
        // part of the settings a checkpoint must match.
        func commonWith(_ option: String, _ value: String) -> [String] {
            var args = common
            args[args.firstIndex(of: option)! + 1] = value
            return args
        }
        let short = try Executable.run("thud-train", commonWith("--epochs", "2") + ["--out", dir.path("extended.thud")])
        XCTAssertEqual(short.status, 0, short.stderrText)
        XCTAssertEqual(try Checkpoint.read(path: dir.path("extended.thud.checkpoint")).state.epochsDone, 2)
        let extended = try Executable.run("thud-train", common + ["--out", dir.path("extended.thud"), "--resume"])
        XCTAssertEqual(extended.status, 0, extended.stderrText)
        XCTAssertTrue(extended.stderrText.contains("2 epochs done"), extended.stderrText)
        XCTAssertTrue(extended.stderrText.contains("epoch 3/3"), extended.stderrText)
        let c = try Checkpoint.read(path: dir.path("extended.thud.checkpoint"))
        XCTAssertEqual(c.state.epochsDone, 3)
        XCTAssertEqual(c.tensors, a.tensors, "an extended run must end with the weights of the longer run")
        XCTAssertEqual(c.state.history.map(\.trainLoss), a.state.history.map(\.trainLoss))
        // Other settings still refuse the checkpoint, in one line naming it, and leave it as it was.
        let other = try Executable.run("thud-train", commonWith("--seed", "8") + ["--out", dir.path("extended.thud"), "--resume"])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertEqual(other.stderrText.split(separator: "\n").filter { $0.contains("other settings") }.count, 1, other.stderrText)
        XCTAssertEqual(try Checkpoint.read(path: dir.path("extended.thud.checkpoint")).tensors, a.tensors)
        // So do other clips: a second dataset folder added to the same settings, in one line, the checkpoint as it was.
        let more = try TinyDataset.write(root: dir.path("ds-more"), good: ["train": 1, "validation": 0], seconds: 2)
        var withMore = common
        withMore.insert(more.root, at: 2)
        let otherData = try Executable.run("thud-train", withMore + ["--out", dir.path("extended.thud"), "--resume"])
        XCTAssertNotEqual(otherData.status, 0)
        let refusal = otherData.stderrText.split(separator: "\n").filter { $0.contains("other data") }
        XCTAssertEqual(refusal.count, 1, otherData.stderrText)
        XCTAssertTrue(refusal.first?.contains("4 train and 2 validation clips then, 5 and 2 now") == true, otherData.stderrText)
        XCTAssertEqual(try Checkpoint.read(path: dir.path("extended.thud.checkpoint")).tensors, a.tensors)
        XCTAssertEqual(try Checkpoint.read(path: dir.path("extended.thud.checkpoint")).state.epochsDone, 3)

        // kill -9 in the middle of the second epoch: the checkpoint of the first survives intact, and
        // resuming from it ends with the same weights as the run never interrupted.
        let killed = try Executable.run("thud-train", common + ["--out", dir.path("killed.thud"), "--kill-after-batches", "6"])
        XCTAssertEqual(killed.status, 9, killed.stderrText)   // terminated by SIGKILL
        let survivor = try Checkpoint.read(path: dir.path("killed.thud.checkpoint"))
        XCTAssertEqual(survivor.state.epochsDone, 1)
        let again = try Executable.run("thud-train", common + ["--out", dir.path("killed.thud"), "--resume"])
        XCTAssertEqual(again.status, 0, again.stderrText)
        XCTAssertEqual(try Checkpoint.read(path: dir.path("killed.thud.checkpoint")).tensors, a.tensors)
    }

    /// The onset architecture, warm-started from a default model: the file says it has the onset output, predict
    /// uses it, and a warm start from something that does not fit is one line, with nothing written.
    func testAnOnsetModelTrainsFromAWarmStartAndPredicts() throws {
        let (root, common) = try oneEpochRun("onset", trainClips: 3)
        let base = try Executable.run("thud-train", common + ["--out", dir.path("base.thud")])
        XCTAssertEqual(base.status, 0, base.stderrText)
        let onset = try Executable.run("thud-train", common + ["--out", dir.path("onset.thud"), "--architecture", "default-onset",
                                                               "--warm-start", dir.path("base.thud"),
                                                               "--onset-target-gain", "3", "--mirror"])
        XCTAssertEqual(onset.status, 0, onset.stderrText)
        XCTAssertTrue(onset.stderrText.contains("starting from the weights of"), onset.stderrText)
        let header = try ModelFile.read(path: dir.path("onset.thud")).header
        XCTAssertEqual(header.architecture.onsetOutput, true)
        let settings = try XCTUnwrap(header.provenance["settings"])
        XCTAssertTrue(settings.contains("\"mirror\":true") && settings.contains("\"onsetTargetGain\":3"), settings)
        // The model kept is chosen by the hits thud picks by default (the envelope's rise); the onset output's F1 is
        // reported beside it, in the epoch line and the file.
        XCTAssertTrue(settings.contains("\"detection\":\"rise\""), settings)
        XCTAssertTrue(onset.stderrText.contains("(onset output "), onset.stderrText)
        XCTAssertNotNil(try ModelFile.read(path: dir.path("onset.thud")).header.provenance["validation_onset_output_hit_f1"])
        XCTAssertFalse(base.stderrText.contains("onset output"), base.stderrText)

        // A gain that is not a positive number is refused before any data is prepared, and nothing is written.
        let zeroGain = try Executable.run("thud-train", common + ["--out", dir.path("zero.thud"), "--architecture", "default-onset",
                                                                  "--onset-target-gain", "0"])
        XCTAssertEqual(zeroGain.status, 64, zeroGain.stderrText)
        XCTAssertTrue(zeroGain.stderrText.contains("--onset-target-gain must be a positive number"), zeroGain.stderrText)
        XCTAssertFalse(zeroGain.stderrText.contains("prepared"), zeroGain.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("zero.thud")))
        // So is a learning-rate decay that would grow the rate.
        let growing = try Executable.run("thud-train", common + ["--out", dir.path("zero.thud"), "--learning-rate-decay", "1.5"])
        XCTAssertEqual(growing.status, 64, growing.stderrText)
        XCTAssertTrue(growing.stderrText.contains("--learning-rate-decay must be within"), growing.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("zero.thud")))
        let predict = try Executable.run("thud", ["predict", "--model", dir.path("onset.thud"), root + "/videos/101.mp4"])
        XCTAssertEqual(predict.status, 0, predict.stderrText)
        XCTAssertEqual(predict.lines.count, 24)

        let bad = try Executable.run("thud-train", common + ["--out", dir.path("bad.thud"), "--architecture", "motion-energy",
                                                             "--warm-start", dir.path("base.thud")])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderrText.split(separator: "\n").filter { $0.contains("warm start") }.count, 1, bad.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("bad.thud")))
    }

    func testInputSizeConvChannelsAndLSTMHiddenShapeTheModelAndThudPredictsAtThatSize() throws {
        let (root, common) = try oneEpochRun("size", trainClips: 2)
        let run = try Executable.run("thud-train", common + ["--out", dir.path("fine.thud"), "--input-size", "48x40",
                                                             "--conv-channels", "4,8,8,8,8", "--lstm-hidden", "24"])
        XCTAssertEqual(run.status, 0, run.stderrText)
        let file = try ModelFile.read(path: dir.path("fine.thud"))
        let arch = file.header.architecture
        XCTAssertEqual(arch.input.width, 48)
        XCTAssertEqual(arch.input.height, 40)
        XCTAssertEqual(arch.encoder.convChannels, [4, 8, 8, 8, 8])
        XCTAssertEqual(arch.featureCount, 8 * 2 * 2)   // 40x48 halved five times: 2x2
        XCTAssertEqual(arch.lstmHidden, 24)
        XCTAssertEqual(file.tensor(named: "lstm.weight_hh_l1")?.shape, [4 * 24, 24])
        let predict = try Executable.run("thud", ["predict", "--model", dir.path("fine.thud"), root + "/videos/101.mp4"])
        XCTAssertEqual(predict.status, 0, predict.stderrText)
        XCTAssertEqual(predict.lines.count, 24)

        // Bad shapes are refused by the parser, before any data is prepared, with one line naming the option.
        for (option, value, message) in [("--input-size", "96", "--input-size must be WxH"),
                                         ("--conv-channels", "8,x", "--conv-channels must be a comma list"),
                                         ("--conv-channels", "8,0", "conv encoder needs"),
                                         ("--lstm-hidden", "0", "lstmHidden 0 out of range")] {
            let bad = try Executable.run("thud-train", common + ["--out", dir.path("bad-size.thud"), option, value])
            XCTAssertEqual(bad.status, 64, bad.stderrText)
            XCTAssertTrue(bad.stderrText.contains(message), bad.stderrText)
            XCTAssertFalse(bad.stderrText.contains("prepared"), bad.stderrText)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("bad-size.thud")))
        }
    }

    /// --previous-difference: the model file records the third plane, a two-plane model warm-starts it, thud
    /// predicts with it; the weight-free encoder has no planes to add one to.
    func testThePreviousDifferencePlaneTrainsFromATwoPlaneModelAndThudPredictsWithIt() throws {
        let (root, common) = try oneEpochRun("pd", trainClips: 2)
        let base = try Executable.run("thud-train", common + ["--out", dir.path("two.thud")])
        XCTAssertEqual(base.status, 0, base.stderrText)
        let run = try Executable.run("thud-train", common + ["--out", dir.path("three.thud"), "--previous-difference",
                                                             "--warm-start", dir.path("two.thud")])
        XCTAssertEqual(run.status, 0, run.stderrText)
        XCTAssertTrue(run.stderrText.contains("starting from the weights of"), run.stderrText)
        let file = try ModelFile.read(path: dir.path("three.thud"))
        XCTAssertEqual(file.header.architecture.encoder.previousDifferencePlane, true)
        XCTAssertEqual(file.tensor(named: "encoder.conv0.weight")?.shape, [8, 3, 3, 3])
        let predict = try Executable.run("thud", ["predict", "--model", dir.path("three.thud"), root + "/videos/101.mp4"])
        XCTAssertEqual(predict.status, 0, predict.stderrText)
        XCTAssertEqual(predict.lines.count, 24)

        let bad = try Executable.run("thud-train", common + ["--out", dir.path("bad-pd.thud"), "--architecture",
                                                             "motion-energy", "--previous-difference"])
        XCTAssertEqual(bad.status, 64, bad.stderrText)
        XCTAssertTrue(bad.stderrText.contains("--previous-difference needs a conv architecture"), bad.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("bad-pd.thud")))
    }
}

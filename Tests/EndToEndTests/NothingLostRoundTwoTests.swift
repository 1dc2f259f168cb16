import XCTest
import ThudMedia
import ThudModel
import ThudTrain
import ThudTestSupport

/// Issue 36, "Nothing lost, nothing hangs (round two)": each defect of the issue, reproduced as a user met it, ends
/// in one true line and a documented exit code, with nothing half-written and nothing lost.
final class NothingLostRoundTwoTests: XCTestCase {
    static let dir = TemporaryDirectory("nothing-lost-2")
    var dir: TemporaryDirectory { Self.dir }
    override class func tearDown() { dir.cleanup(); super.tearDown() }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    static let model: String = {
        let path = dir.path("random.thud")
        try! ModelFile.random(architecture: .default, seed: 3).write(to: path)
        return path
    }()

    /// A clip with sound (clicks), written once per name.
    func clip(_ name: String, seconds: Double = 4, fps: Int = 25) throws -> String {
        let path = dir.path(name)
        if !FileManager.default.fileExists(atPath: path) {
            try FrameCounterClip.write(path: path, times: FrameCounterClip.times(fpsNumerator: fps, seconds: seconds), width: 160, height: 96,
                                       codec: .h264, nominalFrameRate: Double(fps), audio: AudioEncodeSettings(sampleRate: 44100, channels: 1),
                                       clicks: stride(from: 0.5, to: seconds, by: 1).map { $0 }, audioSeconds: seconds)
        }
        return path
    }

    /// The files of the test folder whose names contain `part`.
    func leftovers(_ part: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains(part) }
    }

    // MARK: 1. A diverged run never replaces the good model

    func testARunThatDivergesAfterAGoodEpochLeavesTheOldModelAndSaysWhatItKept() throws {
        // One batch an epoch: epoch 1 ends with finite (absurd) weights, epoch 2's loss is infinite.
        let data = try TinyDataset.write(root: dir.path("diverge-ds"), good: ["train": 2, "validation": 1], seconds: 2)
        let out = dir.path("good.thud")
        try ModelFile.random(architecture: .default, seed: 9).write(to: out)
        let before = try bytes(out)
        let r = try Executable.run("thud-train", ["train", data.root, "--cache", dir.path("diverge-cache"), "--epochs", "3",
                                                  "--batch-size", "16", "--sequence-length", "12", "--learning-rate", "1e30", "--out", out])
        XCTAssertFalse(r.signaled, r.stderrText)
        XCTAssertEqual(r.status, 65, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("epoch 1/3"), "epoch 1 must end well for this test to mean anything: \(r.stderrText)")
        XCTAssertEqual(try bytes(out), before, "the model at --out must stay untouched by a run that did not end well")
        let errorLines = r.stderrText.split(separator: "\n").filter { $0.hasPrefix("thud-train:") }
        XCTAssertEqual(errorLines.count, 1, r.stderrText)
        let line = String(errorLines.first ?? "")
        XCTAssertTrue(line.contains("diverged in epoch 2"), line)
        XCTAssertTrue(line.contains("\(out) is as it was"), line)
        XCTAssertTrue(line.contains("holds epoch 1"), line)
        XCTAssertFalse(line.contains("nothing written"), "the checkpoint was written: \(line)")
        XCTAssertEqual(try Checkpoint.read(path: out + ".checkpoint").state.epochsDone, 1, "the line says the checkpoint holds epoch 1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".best"), "the diverged run's best-so-far is removed")
        XCTAssertFalse(r.stderrText.contains("best, saved"), "nothing was saved at --out: \(r.stderrText)")
    }

    func testAnInterruptedRunLeavesTheOldModelUntilItsResumedRunEnds() throws {
        let data = try TinyDataset.write(root: dir.path("stop-ds"), good: ["train": 4, "validation": 1], seconds: 2)
        let out = dir.path("kept.thud")
        try ModelFile.random(architecture: .default, seed: 5).write(to: out)
        let before = try bytes(out)
        let common = ["train", data.root, "--cache", dir.path("stop-cache"), "--epochs", "2", "--batch-size", "2",
                      "--sequence-length", "12", "--seed", "7", "--out", out]
        let first = try Executable.run("thud-train", common + ["--stop-after-batches", "5"])
        XCTAssertEqual(first.status, 130, first.stderrText)
        XCTAssertEqual(try bytes(out), before, "an interrupted run leaves --out as it was")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + ".best"), first.stderrText)
        XCTAssertTrue(first.stderrText.contains("the best model so far is in \(out).best"), first.stderrText)
        XCTAssertNoThrow(try ModelFile.read(path: out + ".best"))
        let second = try Executable.run("thud-train", common + ["--resume"])
        XCTAssertEqual(second.status, 0, second.stderrText)
        XCTAssertNotEqual(try bytes(out), before, "the run ended well: its best model is at --out")
        XCTAssertNoThrow(try ModelFile.read(path: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".best"))
    }
}

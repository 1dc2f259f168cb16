import XCTest
import ThudModel
import ThudMedia
import ThudTestSupport

/// `thud-train adapt` as a user runs it on a folder of their own clips (as `thud record` leaves them), and the
/// promise that `thud` (record included) never links the trainer.
final class AdaptCommandTests: XCTestCase {
    let dir = TemporaryDirectory("adapt-e2e")

    /// Four 3 s clips named like thud record's, each with clicks, and a small starting model with a recorded picker.
    private func userFolder() throws -> (folder: String, model: String, picker: PeakPicker.Configuration) {
        let folder = dir.path("mine")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 1...4 {
            let times = (0..<75).map { Double($0) / 25 }
            try FrameCounterClip.write(path: "\(folder)/rec-20261203-120000-00\(i).mkv", times: times, width: 96, height: 64,
                                       nominalFrameRate: 25, audio: AudioEncodeSettings(sampleRate: 48000, channels: 1, codec: .flac),
                                       clicks: [0.5 + 0.1 * Double(i), 1.7], audioSeconds: 3, format: "matroska")
        }
        var file = ModelFile.random(architecture: ModelArchitecture(input: InputSpec(width: 16, height: 16), encoder: .conv(channels: [4, 8]),
                                                                    lstmHidden: 16, lstmLayers: 2, headHidden: [8, 4]), seed: 4)
        var picker = PeakPicker.Configuration()
        picker.minRise = 0.07
        picker.minStrength = 0.2
        file.header.picker = picker
        let model = dir.path("start.thud")
        try file.write(to: model)
        return (folder, model, picker)
    }

    func testAdaptReportsBeforeAndAfterOnTheLastClipAndKeepsTheModelsPicker() throws {
        let (folder, model, picker) = try userFolder()
        let out = dir.path("models/mine.thud")
        let r = try Executable.run("thud-train", ["adapt", folder, "--from", model, "--out", out, "--cache", dir.path("cache"),
                                                  "--epochs", "3", "--keep-worse"], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("on 3 clip(s) (9.0 s), holding out 1 (3.0 s): before r "), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("held out (1 clip(s), 3.0 s): r "), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("→"), r.stderrText)
        let adapted = try ModelFile.read(path: out)
        let start = try ModelFile.read(path: model)
        XCTAssertEqual(adapted.header.architecture, start.header.architecture)
        XCTAssertEqual(adapted.header.picker?.minRise, picker.minRise, "the starting model's picker is kept")
        XCTAssertEqual(adapted.header.picker?.minStrength, picker.minStrength)
        XCTAssertTrue(adapted.header.training.command.contains("adapt"), adapted.header.training.command)
        // The conv encoder does not move (the default --move lstm+head); the LSTM does.
        for t in start.tensors {
            let a = try XCTUnwrap(adapted.tensor(named: t.name))
            if t.name.hasPrefix("encoder.") { XCTAssertEqual(a.values, t.values, t.name) }
        }
        XCTAssertNotEqual(adapted.tensor(named: "lstm.weight_hh_l0")?.values, start.tensor(named: "lstm.weight_hh_l0")?.values)
        // Nothing else is left next to it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path("models")), ["mine.thud"])
        // The model runs in thud.
        let p = try Executable.run("thud", ["predict", "--model", out, "\(folder)/rec-20261203-120000-001.mkv"])
        XCTAssertEqual(p.status, 0, p.stderrText)
        XCTAssertEqual(p.lines.count, 36)
    }

    func testSeedsWritesTheMeanOfEachSeedsFineTuneWithTheStartsPicker() throws {
        let (folder, model, picker) = try userFolder()
        func adapt(_ out: String, _ options: [String]) throws -> String {
            let r = try Executable.run("thud-train", ["adapt", folder, "--from", model, "--out", dir.path(out), "--cache", dir.path("cache"),
                                                      "--epochs", "3", "--keep-worse"] + options, timeout: 600)
            XCTAssertEqual(r.status, 0, r.stderrText)
            return r.stderrText
        }
        _ = try adapt("seed1.thud", ["--seed", "1"])
        _ = try adapt("seed2.thud", ["--seed", "2"])
        let log = try adapt("soup/mean.thud", ["--seed", "1", "--seeds", "2"])
        XCTAssertTrue(log.contains("the mean of 2 seeds, best epochs "), log)
        let one = try ModelFile.read(path: dir.path("seed1.thud")), two = try ModelFile.read(path: dir.path("seed2.thud"))
        let mean = try ModelFile.read(path: dir.path("soup/mean.thud"))
        XCTAssertNotEqual(one.tensor(named: "lstm.weight_hh_l0")?.values, two.tensor(named: "lstm.weight_hh_l0")?.values, "two seeds, two models")
        for t in one.tensors {
            let other = try XCTUnwrap(two.tensor(named: t.name)), m = try XCTUnwrap(mean.tensor(named: t.name))
            for i in t.values.indices {
                XCTAssertEqual(m.values[i], (t.values[i] + other.values[i]) / 2, accuracy: 1e-6, "\(t.name)[\(i)]")
            }
        }
        XCTAssertEqual(mean.header.picker, picker, "the starting model's picker is kept")
        XCTAssertEqual(mean.header.architecture, one.header.architecture)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path("soup")), ["mean.thud"], "no seed's file is left")
        let bad = try Executable.run("thud-train", ["adapt", folder, "--seeds", "0"])
        XCTAssertEqual(bad.status, 64, bad.stderrText)
        XCTAssertTrue(bad.stderrText.contains("--seeds must be between 1 and 16"), bad.stderrText)
    }

    func testWithoutKeepWorseAModelThatDoesNotBeatTheStartIsNotWritten() throws {
        let (folder, model, _) = try userFolder()
        let out = dir.path("worse.thud")
        // Moving nothing but the head at a learning rate too small to matter: never better than the start.
        let r = try Executable.run("thud-train", ["adapt", folder, "--from", model, "--out", out, "--cache", dir.path("cache"),
                                                  "--epochs", "2", "--move", "head", "--learning-rate", "1e-12"], timeout: 600)
        XCTAssertEqual(r.status, 3, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("not written"), r.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".adapting"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".adapting.checkpoint"))
    }

    func testBadInputsAreOneLineAndTheirExitCodes() throws {
        let (folder, _, _) = try userFolder()
        let missing = try Executable.run("thud-train", ["adapt", folder, "--from", dir.path("nope.thud"), "--out", dir.path("x.thud")])
        XCTAssertEqual(missing.status, 20, missing.stderrText)
        XCTAssertEqual(missing.stderrText.split(separator: "\n").count, 1, missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("nope.thud"), missing.stderrText)
        let empty = dir.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let none = try Executable.run("thud-train", ["adapt", empty, "--from", dir.path("start.thud"), "--out", dir.path("x.thud")])
        XCTAssertEqual(none.status, 11, none.stderrText)
        XCTAssertEqual(none.stderrText.split(separator: "\n").count, 1, none.stderrText)
        XCTAssertTrue(none.stderrText.contains(empty), none.stderrText)
        let usage = try Executable.run("thud-train", ["adapt", folder, "--move", "encoder"])
        XCTAssertEqual(usage.status, 64, usage.stderrText)
    }

    /// `thud` (with `record`) never links ThudTrain: thud-train stays the only trainer.
    func testThudDoesNotLinkTheTrainer() throws {
        let thud = Executable.url("thud").path
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/nm") else { throw XCTSkip("nm is not available") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        p.arguments = [thud]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let symbols = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(symbols.contains("ThudRuntime8Recorder"), "record is in thud")
        XCTAssertFalse(symbols.contains("9ThudTrain"), "no ThudTrain symbol in thud")
    }
}

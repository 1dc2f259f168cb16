import XCTest
import ThudModel
import ThudMedia
import ThudTestSupport

/// `thud-train fp16` as a user runs it: a model's weights stored in half precision, written only when its validation
/// scores stay put, and the result run by `thud`.
final class Float16CommandTests: XCTestCase {
    let dir = TemporaryDirectory("fp16-e2e")

    /// Three 3 s clips with clicks (split.tsv: one train, two validation) and a small float32 model with a picker.
    private func fixture() throws -> (folder: String, model: String) {
        let folder = dir.path("clips")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var split = "file\tsplit\n"
        for i in 1...3 {
            let times = (0..<75).map { Double($0) / 25 }
            try FrameCounterClip.write(path: "\(folder)/clip\(i).mkv", times: times, width: 96, height: 64, nominalFrameRate: 25,
                                       audio: AudioEncodeSettings(sampleRate: 48000, channels: 1, codec: .flac),
                                       clicks: [0.4 + 0.2 * Double(i), 1.9], audioSeconds: 3, format: "matroska")
            split += "clip\(i).mkv\t\(i == 1 ? "train" : "validation")\n"
        }
        try split.write(toFile: "\(folder)/split.tsv", atomically: true, encoding: .utf8)
        var file = ModelFile.random(architecture: ModelArchitecture(input: InputSpec(width: 16, height: 16), encoder: .conv(channels: [8, 8]),
                                                                    lstmHidden: 32, lstmLayers: 2, headHidden: [8]), seed: 5)
        var picker = PeakPicker.Configuration()
        picker.minRise = 0.02
        file.header.picker = picker
        let model = dir.path("start.thud")
        try file.write(to: model)
        return (folder, model)
    }

    func testWrittenWhenTheValidationScoresStayAndRunByThud() throws {
        let (folder, model) = try fixture()
        let out = dir.path("half.thud")
        let r = try Executable.run("thud-train", ["fp16", folder, "--model", model, "--out", out, "--cache", dir.path("cache")], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("validation (2 clips, 6 s): r "), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("\(out): written"), r.stderrText)
        let start = try ModelFile.read(path: model), half = try ModelFile.read(path: out)
        XCTAssertEqual(half.header.weightStorage, .float16)
        XCTAssertEqual(half.header.architecture, start.header.architecture)
        XCTAssertEqual(half.header.picker, start.header.picker)
        XCTAssertTrue(half.header.provenance["float16"]?.contains("rounded from \(model)") ?? false, "\(half.header.provenance)")
        XCTAssertEqual(half.tensors, start.roundedToFloat16()?.tensors)
        let size = { (p: String) in try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int }
        XCTAssertLessThan(try size(out), try size(model) * 6 / 10)
        // thud runs it, on the same steps as the float32 model, with values close to its.
        let a = try Executable.run("thud", ["predict", "--model", out, "\(folder)/clip2.mkv"])
        let b = try Executable.run("thud", ["predict", "--model", model, "\(folder)/clip2.mkv"])
        XCTAssertEqual(a.status, 0, a.stderrText)
        let envelopes = { (lines: [String]) in
            lines.compactMap { line -> Double? in
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return object?["envelope"] as? Double
            }
        }
        XCTAssertEqual(envelopes(a.lines).count, 36, a.stderrText)
        XCTAssertEqual(envelopes(b.lines).count, 36, b.stderrText)
        for (x, y) in zip(envelopes(a.lines), envelopes(b.lines)) { XCTAssertEqual(x, y, accuracy: 2e-3) }
        // Converting it again is refused: it already is float16.
        let again = try Executable.run("thud-train", ["fp16", folder, "--model", out, "--cache", dir.path("cache")])
        XCTAssertEqual(again.status, 64, again.stderrText)
        XCTAssertEqual(again.stderrText.split(separator: "\n").count, 1, again.stderrText)
        XCTAssertTrue(again.stderrText.contains(out), again.stderrText)
    }

    func testNotWrittenWhenTheScoresMoveMoreThanTheTolerance() throws {
        let (folder, model) = try fixture()
        let out = dir.path("strict.thud")
        // Rounding moves r by far more than 1e-9.
        let r = try Executable.run("thud-train", ["fp16", folder, "--model", model, "--out", out, "--cache", dir.path("cache"),
                                                  "--tolerance", "1e-9"], timeout: 600)
        XCTAssertEqual(r.status, 3, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("\(out): not written: r moved"), r.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let missing = try Executable.run("thud-train", ["fp16", folder, "--model", dir.path("nope.thud")])
        XCTAssertEqual(missing.status, 20, missing.stderrText)
        XCTAssertEqual(missing.stderrText.split(separator: "\n").count, 1, missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("nope.thud"), missing.stderrText)
    }
}

import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport

/// `thud eval` and `thud render` as a user runs them, on a TinyDataset and a random-weight model.
final class EvalRenderTests: XCTestCase {
    static let dir = TemporaryDirectory("eval-e2e")
    static let dataset: String = {
        try! TinyDataset.write(root: dir.path("ds"), good: ["train": 2, "validation": 1, "test": 2])
        return dir.path("ds")
    }()
    static let model: String = {
        let path = dir.path("random.thud")
        try! ModelFile.random(architecture: .default, seed: 5).write(to: path)
        return path
    }()

    override class func tearDown() { dir.cleanup(); super.tearDown() }

    func testEvalPrintsBothTablesAndWritesJSONChartsAndPage() throws {
        let out = Self.dir.path("report.json"), plots = Self.dir.path("plots"), html = Self.dir.path("report.html")
        let r = try Executable.run("thud", ["eval", "--model", Self.model, Self.dataset, "--out", out, "--plots", plots, "--html", html])
        XCTAssertEqual(r.status, 0, r.stderrText)
        let text = r.stdoutText
        XCTAssertTrue(text.contains("clips: 2 scored, 0 failed, of 2 selected"), text)
        for p in ["model", "motion-energy", "constant", "oracle"] {
            XCTAssertTrue(r.lines.contains { $0.hasPrefix(p + " ") }, "row for \(p)\n\(text)")
        }
        let classRow = try XCTUnwrap(r.lines.first { $0.hasPrefix("Dropping [something] onto [something]") })
        XCTAssertEqual(classRow.split(separator: " ", omittingEmptySubsequences: true)[4], "2", "samples column: \(classRow)")
        XCTAssertTrue(text.contains("good (+1): r ≥ 0.6"), "the score's rule is stated")
        XCTAssertTrue(text.contains("hits/<id>.json"))

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        XCTAssertEqual((json["clips"] as! [Any]).count, 2)
        let oracle = (json["aggregate"] as! [String: Any])["oracle"] as! [String: Any]
        XCTAssertEqual(oracle["f1"] as? Double, 1)
        XCTAssertEqual(oracle["r_fisher_mean"] as! Double, 1, accuracy: 1e-5)
        XCTAssertTrue(((json["aggregate"] as! [String: Any])["constant"] as! [String: Any])["r_fisher_mean"] is NSNull)

        let charts = try FileManager.default.contentsOfDirectory(atPath: plots).sorted()
        XCTAssertEqual(charts.count, 3, "\(charts)")
        XCTAssertTrue(charts.contains("classes.png"))
        for c in charts {
            let head = try Data(contentsOf: URL(fileURLWithPath: plots + "/" + c)).prefix(4)
            XCTAssertEqual(head, Data([0x89, 0x50, 0x4E, 0x47]), c)
        }
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "data:image/png;base64,").count - 1, 3)
        XCTAssertEqual(page.components(separatedBy: "<table>").count - 1, 3)
    }

    func testThePageRendersInHeadlessChromium() throws {
        let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipIf(browser == nil, "chromium is not installed (apt-get install -y chromium); tools/eval/screenshot.sh needs it")
        let html = Self.dir.path("shot.html"), shot = Self.dir.path("shot.png")
        let r = try Executable.run("thud", ["eval", "--model", Self.model, Self.dataset, "--html", html])
        XCTAssertEqual(r.status, 0, r.stderrText)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = Process()
        script.executableURL = root.appendingPathComponent("tools/eval/screenshot.sh")
        // Tall enough to reach the charts below the tables and the notes (the page has grown since 1400 did).
        script.arguments = [html, shot, "1000x2400"]
        script.standardOutput = FileHandle.nullDevice
        try script.run()
        script.waitUntilExit()
        XCTAssertEqual(script.terminationStatus, 0)
        // The screenshot is the page's size and not blank: dark text, coloured bars and charts on white.
        let input = try MediaInput(path: shot)
        XCTAssertEqual(input.info.video?.width, 1000)
        XCTAssertEqual(input.info.video?.height, 2400)
        var dark = 0, coloured = 0
        _ = try input.decode(video: VideoStepRequest(width: 250, height: 600, pixelFormat: .rgb24), audio: false, onStep: { step in
            for i in stride(from: 0, to: step.pixels.count, by: 3) {
                let (r, g, b) = (Int(step.pixels[i]), Int(step.pixels[i + 1]), Int(step.pixels[i + 2]))
                if r + g + b < 300 { dark += 1 }
                if max(r, g, b) - min(r, g, b) > 80 { coloured += 1 }
            }
            return false
        })
        XCTAssertGreaterThan(dark, 200, "text and tables drawn")
        XCTAssertGreaterThan(coloured, 100, "charts drawn")
    }

    func testFaultyClipsAreNamedAndTheRunStillSucceeds() throws {
        let r = try Executable.run("thud", ["eval", "--model", Self.model, Self.dataset, "--split", "train"])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(r.stdoutText.contains("clips: 2 scored, 3 failed, of 5 selected"), r.stdoutText)
        XCTAssertTrue(r.stdoutText.contains("Failed clips (3)"))
        // One warning line per failed clip on stderr, naming it; no progress bar (stderr is not a terminal).
        let warnings = r.stderrText.split(separator: "\n")
        XCTAssertEqual(warnings.count, 3, r.stderrText)
        XCTAssertTrue(warnings.allSatisfy { $0.hasPrefix("thud: warning: clip ") && $0.contains(".mp4: ") })
        XCTAssertFalse(r.stderrText.contains("\r"))
    }

    func testBadInputsGetOneLineAndTheirExitCode() throws {
        let missing = try Executable.run("thud", ["eval", "--model", Self.model, Self.dir.path("nope")])
        XCTAssertEqual(missing.status, 10)
        XCTAssertEqual(missing.stderrText, "thud: \(Self.dir.path("nope")): no such dataset folder\n")
        XCTAssertEqual(missing.stderrText.split(separator: "\n").count, 1, missing.stderrText)
        XCTAssertTrue(missing.stdout.isEmpty)
        let notADataset = try Executable.run("thud", ["eval", "--model", Self.model, Self.model])
        XCTAssertEqual(notADataset.status, 11, notADataset.stderrText)
        // Every clip failing is still reported, but the run has no result: exit 11, like training with no usable clips.
        let allBad = Self.dir.path("all-bad/cls")
        try FileManager.default.createDirectory(atPath: allBad, withIntermediateDirectories: true)
        try Data("text".utf8).write(to: URL(fileURLWithPath: allBad + "/a.mp4"))
        let none = try Executable.run("thud", ["eval", "--model", Self.model, Self.dir.path("all-bad")])
        XCTAssertEqual(none.status, 11, none.stderrText)
        XCTAssertTrue(none.stdoutText.contains("clips: 0 scored, 1 failed, of 1 selected"))
        XCTAssertTrue(none.stderrText.hasSuffix("no clip could be scored (1 failed, named above)\n"), none.stderrText)
        let badModel = try Executable.run("thud", ["eval", "--model", Self.dir.path("nope.thud"), Self.dataset])
        XCTAssertEqual(badModel.status, 20, badModel.stderrText)
        let noClips = try Executable.run("thud", ["eval", "--model", Self.model, Self.dataset, "--classes", "Spinning [something]"])
        XCTAssertEqual(noClips.status, 64, noClips.stderrText)
        XCTAssertTrue(noClips.stderrText.contains("no clips"))
        let unwritable = try Executable.run("thud", ["eval", "--model", Self.model, Self.dataset, "--out", Self.dir.path("no/such/dir/r.json")])
        XCTAssertEqual(unwritable.status, 74, unwritable.stderrText)
        XCTAssertTrue(unwritable.stdout.isEmpty, "fails before the run, nothing printed")
        let clipAsDataset = try Executable.run("thud", ["render", "--model", Self.model, Self.dataset, "--out", Self.dir.path("x.mp4")])
        XCTAssertEqual(clipAsDataset.status, 10, clipAsDataset.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.dir.path("x.mp4")))
    }

    func testRenderWritesAVideoWithAudioAndAGIF() throws {
        let tests = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dataset + "/test.json"))) as! [[String: Any]]
        let clip = Self.dataset + "/videos/\(tests[0]["id"] as! String).mp4"
        XCTAssertTrue(FileManager.default.fileExists(atPath: clip))
        let out = Self.dir.path("render.mp4")
        let r = try Executable.run("thud", ["render", clip, "--model", Self.model, "--out", out, "--gif", "--knock", "--voice", "metal"])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(r.stdoutText.hasPrefix("wrote \(out) and \(Self.dir.path("render.gif")): 30 frames"), r.stdoutText)
        let input = try MediaInput(path: out)
        XCTAssertNotNil(input.info.audio)
        let summary = try input.decode(video: VideoStepRequest(width: 16, height: 16), audio: true)
        XCTAssertEqual(summary.steps, 30)
        XCTAssertEqual(Double(summary.audio!.samples.count) / Double(summary.audio!.sampleRate), 2.5, accuracy: 0.05)
        let badVoice = try Executable.run("thud", ["render", clip, "--model", Self.model, "--out", Self.dir.path("v.mp4"), "--knock", "--voice", "tuba"])
        XCTAssertEqual(badVoice.status, 64)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.dir.path("v.mp4")))
        XCTAssertEqual(try MediaInput(path: Self.dir.path("render.gif")).decode(video: VideoStepRequest(width: 16, height: 16), audio: false).videoFrames, 30)
    }
}

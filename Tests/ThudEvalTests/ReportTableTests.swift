import XCTest
import ThudBase
@testable import ThudEval

/// The tables' rules on hand-made evaluations (no decoding): per-class grouping, samples, the original-style
/// score as the mean verdict, the "all" row, undefined figures, and the rules printed with the figures.
final class ReportTableTests: XCTestCase {
    /// A clip whose model prediction is `prediction`, scored against `target` with `truth` hits.
    func evaluation(_ id: String, _ cls: String, prediction: [Float], hits: [Int], target: [Float], truth: [Int],
                    source: TruthSource = .hitList) -> ClipEvaluation {
        let clip = DatasetClip(id: id, path: "/data/\(id).mp4", template: cls, label: cls, split: .test, hitsPath: nil)
        func result(_ p: [Float], _ h: [Int]) -> PredictorResult {
            PredictorResult(envelope: p, hits: h, score: ClipScore.measure(id: id, className: cls, prediction: p, predictedHits: h, target: target, trueHits: truth))
        }
        return ClipEvaluation(clip: clip, steps: target.count, target: target, trueHits: truth, truthSource: source,
                              results: [.model: result(prediction, hits), .motionEnergy: result(prediction.reversed(), []), .motionOnset: result(prediction.reversed(), []),
                                        .constant: result([Float](repeating: 0.1, count: target.count), []), .oracle: result(target, truth)])
    }

    let target: [Float] = [0, 0.1, 1, 0.3, 0.1, 0, 0, 0.9, 0.2, 0]
    lazy var good = evaluation("g", "Hitting [something] with [something]", prediction: target, hits: [2, 7], target: target, truth: [2, 7])
    // r ≈ 0.6-ish but one of two hits missed: not so good.
    lazy var half = evaluation("h", "Hitting [something] with [something]", prediction: [0, 0.2, 1, 0.3, 0.1, 0, 0.1, 0.4, 0.3, 0.2], hits: [2],
                               target: target, truth: [2, 7])
    lazy var bad = evaluation("b", "Dropping [something] onto [something]", prediction: target.map { 1 - $0 }, hits: [], target: target, truth: [2, 7],
                              source: .targetPeaks)

    func report(failures: [ClipFailure] = []) -> EvaluationReport {
        EvaluationReport(dataset: "/data", split: "test", classFilter: "the 12 sound classes", modelPath: "m.thud", settings: EvaluationSettings(),
                         selected: 3 + failures.count, evaluations: [good, half, bad], failures: failures)
    }

    func testVerdictsOfTheHandMadeClips() {
        XCTAssertEqual(good.result(.model).verdict, .good)
        XCTAssertEqual(half.result(.model).verdict, .notSoGood, "r \(half.result(.model).score.r!)")
        XCTAssertEqual(bad.result(.model).verdict, .bad)
    }

    func testClassTableRowsSamplesAndScore() {
        let t = report().classTable()
        XCTAssertEqual(t.headers.prefix(6), ["class", "samples", "score", "r", "F1", "AP"])
        XCTAssertEqual(t.rows.map { $0[0] }, ["Dropping [something] onto [something]", "Hitting [something] with [something]", "all"])
        XCTAssertEqual(t.rows.map { $0[1] }, ["1", "2", "3"])
        // Score = mean verdict: Dropping −1; Hitting (+1 + 0)/2; all (+1 + 0 − 1)/3.
        XCTAssertEqual(t.rows.map { $0[2] }, ["-1.00", "+0.50", "+0.00"])
        let column = { (name: String) in t.headers.firstIndex(of: name)! }
        // The constant's r is undefined, shown as n/a; the oracle's r and F1 are 1.
        XCTAssertEqual(Set(t.rows.map { $0[column("const r")] }), [ReportFormat.missing])
        XCTAssertEqual(Set(t.rows.map { $0[column("oracle r")] }), ["1.000"])
        XCTAssertEqual(Set(t.rows.map { $0[column("oracle F1")] }), ["1.000"])
        // The model's F1 on Hitting pools the two clips' hits: 3 found of 4, no false ones → 6/7.
        XCTAssertEqual(t.rows[1][column("F1")], String(format: "%.3f", 6.0 / 7.0))
        XCTAssertEqual(t.rulesBefore, [2])
    }

    func testPredictorTableHasEveryPredictorInOrder() {
        let t = report().predictorTable()
        XCTAssertEqual(t.rows.map { $0[0] }, ["model", "motion-energy", "motion-onset", "constant", "oracle"])
        let score = t.headers.firstIndex(of: "score")!, counts = t.headers.firstIndex(of: "good/ns/bad")!
        XCTAssertEqual(t.rows[0][score], "+0.00")
        XCTAssertEqual(t.rows[0][counts], "1/1/1")
        XCTAssertEqual(t.rows[4][score], "+1.00")
        XCTAssertEqual(t.rows[3][t.headers.firstIndex(of: "r (z-mean)")!], ReportFormat.missing)
    }

    func testNothingScoredShowsNoFigures() throws {
        let empty = EvaluationReport(dataset: "/data", split: "test", classFilter: "all", modelPath: "m.thud", settings: EvaluationSettings(),
                                     selected: 1, evaluations: [], failures: [ClipFailure(id: "x", path: "/data/x.mp4", problem: "no audio stream")])
        for row in empty.predictorTable().rows { XCTAssertEqual(Set(row.dropFirst(2)), [ReportFormat.missing], "\(row)") }
        XCTAssertEqual(empty.classTable().rows.count, 1)
        XCTAssertEqual(Set(empty.classTable().rows[0].dropFirst(2)), [ReportFormat.missing])
        let o = try JSONSerialization.jsonObject(with: empty.jsonData()) as! [String: Any]
        XCTAssertEqual((o["aggregate"] as! [String: Any])["model"] as? [String: Int], ["clips": 0])
    }

    func testPerClipTableOnlyWhenAsked() {
        let t = report().clipTable()
        XCTAssertEqual(t.rows.map { $0[0] }, ["g", "h", "b"])
        XCTAssertEqual(t.rows.map { $0[t.headers.firstIndex(of: "verdict")!] }, ["+1", "+0", "-1"])
        XCTAssertEqual(t.rows.map { $0[t.headers.firstIndex(of: "from")!] }, ["list", "list", "peaks"])
        XCTAssertFalse(report().text().contains("Per clip"))
        XCTAssertTrue(report().text(perClip: true).contains("Per clip"))
    }

    func testTextIsAlignedAndStatesTheRules() {
        let failure = ClipFailure(id: "x9", path: "/data/x9.mp4", problem: "no audio stream")
        let text = report(failures: [failure]).text()
        XCTAssertTrue(text.contains(OriginalVerdict.rule))
        XCTAssertTrue(text.contains(EnvelopePeakRule.statement), "one clip took its hits from the target's peaks")
        XCTAssertTrue(text.contains("hits/<id>.json for 2 clips: " + GroundTruthHits.rule))
        XCTAssertTrue(text.contains("3 scored, 1 failed, of 4 selected"))
        XCTAssertTrue(text.contains("x9: /data/x9.mp4: no audio stream"))
        // Right-aligned numeric columns end at the same character position on every row of a table.
        let table = report().classTable().text().split(separator: "\n").map(String.init)
        let header = table[0]
        let samplesEnd = header.range(of: "samples")!.upperBound.utf16Offset(in: header)
        for line in table where !line.hasPrefix("-") {
            let chars = Array(line.utf16)
            XCTAssertNotEqual(chars[samplesEnd - 1], UInt16(UInt8(ascii: " ")), line)
            XCTAssertEqual(chars[samplesEnd], UInt16(UInt8(ascii: " ")), line)
        }
    }

    func testJSONHasPerClipAndAggregateFiguresWithNullsForUndefined() throws {
        let failure = ClipFailure(id: "x9", path: "/data/x9.mp4", problem: "no audio stream")
        let o = try JSONSerialization.jsonObject(with: report(failures: [failure]).jsonData()) as! [String: Any]
        XCTAssertEqual(o["scored"] as? Int, 3)
        let failed = o["failed"] as! [[String: Any]]
        XCTAssertEqual(failed.first?["id"] as? String, "x9")
        let clips = o["clips"] as! [[String: Any]]
        XCTAssertEqual(clips.map { $0["id"] as! String }, ["g", "h", "b"])
        let predictors = clips[0]["predictors"] as! [String: Any]
        XCTAssertEqual(Set(predictors.keys), Set(Predictor.allCases.map(\.rawValue)))
        let constant = predictors["constant"] as! [String: Any]
        XCTAssertTrue(constant["r"] is NSNull)
        XCTAssertEqual((predictors["oracle"] as! [String: Any])["f1"] as? Double, 1)
        XCTAssertEqual((predictors["model"] as! [String: Any])["verdict"] as? Int, 1)
        let aggregate = o["aggregate"] as! [String: Any]
        XCTAssertEqual((aggregate["model"] as! [String: Any])["original_score"] as? Double, 0)
        XCTAssertEqual((o["per_class"] as! [[String: Any]]).map { $0["samples"] as! Int }, [1, 2])
        XCTAssertEqual((o["rules"] as! [String: Any])["original_score"] as? String, OriginalVerdict.rule)
        XCTAssertEqual(clips[2]["true_hits_from"] as? String, "target peaks")
    }

    func testHTMLPageInlinesChartsAndEscapes() throws {
        var r = report()
        r.dataset = "/data/<odd & name>"
        let page = r.htmlPage(charts: ReportCharts(classChart: Data([1, 2, 3]), clipCharts: [("g", Data([4, 5]))]))
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(page.contains("/data/&lt;odd &amp; name&gt;"))
        XCTAssertFalse(page.contains("<odd"))
        XCTAssertTrue(page.contains("src=\"data:image/png;base64,AQID\""))
        XCTAssertTrue(page.contains("src=\"data:image/png;base64,BAU=\""))
        XCTAssertEqual(page.components(separatedBy: "<table>").count - 1, 3)
        XCTAssertFalse(page.contains("http://") || page.contains("https://"), "self-contained")
    }

    func testAtomicFileReplacesAndLeavesNoTemporaryBehind() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.json").path
        try AtomicFile.write(Data("one".utf8), to: path)
        try AtomicFile.write(Data("two".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "two")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["r.json"])
        XCTAssertThrowsError(try AtomicFile.write(Data(), to: dir.appendingPathComponent("missing/r.json").path))
    }
}

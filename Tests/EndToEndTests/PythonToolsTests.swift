import Foundation
import ThudBase
@testable import ThudEval
import ThudModel
import ThudTestSupport
@testable import ThudTrain
import XCTest

/// tools/eval's Python helpers (thud_tools.py, feature_cache.py) against what Swift computes on the same fixtures: the
/// scripts never re-implement what thud does (issue 37, point 5), and these tests are what says they still agree.
/// They run python3 (with numpy, as the scripts need) and skip only where python3 is missing.
final class PythonToolsTests: XCTestCase {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    private static let tools = repository.appendingPathComponent("tools/eval").path

    private func python3() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("python3 is not installed: the Python helpers cannot be checked")
    }

    /// Runs `script` with tools/eval on sys.path and the executables of this build as THUD_BIN; returns its stdout
    /// (JSON) decoded, failing with its stderr.
    private func runPython(_ script: String, input: Any) throws -> Any {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thud-python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputPath = dir.appendingPathComponent("input.json")
        try JSONSerialization.data(withJSONObject: input).write(to: inputPath)
        // The suite's one runner of child processes: output collected on its own threads, a hang a failure.
        let python = try RunningProcess(try python3(), ["-c", "import json, sys\n" + script, inputPath.path],
                                        environment: ["PYTHONPATH": Self.tools, "PYTHONDONTWRITEBYTECODE": "1",
                                                      "THUD_BIN": Executable.url("thud-train").deletingLastPathComponent().path])
        let end = python.waitForExit(timeout: 600)
        guard !end.timedOut, !end.signaled, end.status == 0 else {
            throw NSError(domain: "python3", code: Int(end.status), userInfo: [
                NSLocalizedDescriptionKey: "python3 exited \(end.status)\(end.timedOut ? " (timed out)" : ""): \(python.stderrText)"])
        }
        return try JSONSerialization.jsonObject(with: Data(python.stdoutText.utf8))
    }

    /// The matching fixtures: hand-written cases where closest-first and time-order matching differ, and seeded
    /// random ones (hits a few steps apart, some at the same step).
    private func matchingCases() -> [(predicted: [Int], truth: [Int], tolerance: Int)] {
        var cases: [(predicted: [Int], truth: [Int], tolerance: Int)] = [
            ([1, 2], [2, 3], 1),          // closest first pairs 2–2 and leaves 1 and 3: one match; thud eval two
            ([2, 3], [1, 2], 1),
            ([5], [4, 6], 1),
            ([4, 6], [5], 1),
            ([], [3, 9], 1),
            ([3, 9], [], 1),
            ([], [], 1),
            ([10, 12, 14], [11, 13], 1),
            ([10, 10, 11], [10, 11, 11], 1),
            ([0, 5, 9], [2, 6, 7], 2),
            ([7, 3, 1], [2, 8, 4], 0),
            ([8, 2, 4], [3, 1, 9], 1),  // unsorted both ways
        ]
        var random = SplitMix64(seed: 37)
        for _ in 0..<300 {
            let draw = { (n: Int) -> [Int] in (0..<n).map { _ in Int(random.next() % 30) } }
            let np = Int(random.next() % 7), nt = Int(random.next() % 7)
            cases.append((draw(np), draw(nt), Int(random.next() % 3)))
        }
        return cases
    }

    /// thud_tools.match_hits, matched_true and scores (through `thud-train match-hits`) give ThudEval's HitMetrics
    /// matching exactly: the pairs, the counts and the pooled F1; predicted [1,2] against true [2,3] is two matches.
    func testPythonMatchingIsThudEvals() throws {
        let cases = matchingCases()
        let script = """
        from thud_tools import match_hits, matched_true, scores, true_indices
        cases = json.load(open(sys.argv[1]))
        matches = [None] * len(cases)
        for tolerance in sorted({c["tolerance"] for c in cases}):  # one thud-train process per tolerance
            chosen = [i for i, c in enumerate(cases) if c["tolerance"] == tolerance]
            for i, m in zip(chosen, match_hits([(cases[i]["predicted"], cases[i]["true"]) for i in chosen], tolerance)):
                matches[i] = m
        out = {"matches": matches,
               "matched_true": [sorted(true_indices(c["true"], m["matched"])) for c, m in zip(cases, matches)],
               "pooled": scores([(c["predicted"], c["true"]) for c in cases if c["tolerance"] == 1]),
               "first": sorted(matched_true([1, 2], [2, 3])),
               "hand": [sorted(matched_true(c["predicted"], c["true"], c["tolerance"])) for c in cases[:12]]}
        print(json.dumps(out))
        """
        let input = cases.map { ["predicted": $0.predicted, "true": $0.truth, "tolerance": $0.tolerance] as [String: Any] }
        let out = try XCTUnwrap(runPython(script, input: input) as? [String: Any])
        let matches = try XCTUnwrap(out["matches"] as? [[String: Any]])
        let matchedTrue = try XCTUnwrap(out["matched_true"] as? [[Int]])
        XCTAssertEqual(matches.count, cases.count)
        XCTAssertEqual(out["first"] as? [Int], [0, 1], "predicted [1,2] against true [2,3]: both true hits matched")
        XCTAssertEqual(matches.first?["matched"] as? [[Int]], [[1, 2], [2, 3]])
        XCTAssertEqual(out["hand"] as? [[Int]], Array(matchedTrue.prefix(12)), "matched_true is match_hits for one pair")
        var pooled = HitMatch()
        for (c, (m, found)) in zip(cases, zip(matches, matchedTrue)) {
            let what = "predicted \(c.predicted), true \(c.truth), ±\(c.tolerance)"
            let swift = HitMetrics.match(predicted: c.predicted, truth: c.truth, tolerance: c.tolerance)
            let pairs = HitMetrics.matchedPairs(predicted: c.predicted, truth: c.truth, tolerance: c.tolerance)
            XCTAssertEqual(m["matched"] as? [[Int]], pairs.map { [$0.predicted, $0.truth] }, what)
            XCTAssertEqual(m["tp"] as? Int, swift.truePositives, what)
            XCTAssertEqual(m["fp"] as? Int, swift.falsePositives, what)
            XCTAssertEqual(m["fn"] as? Int, swift.falseNegatives, what)
            XCTAssertEqual(m["precision"] as? Double, swift.precision, what)
            XCTAssertEqual(m["recall"] as? Double, swift.recall, what)
            XCTAssertEqual(try XCTUnwrap(m["f1"] as? Double, what), swift.f1, accuracy: 1e-12, what)
            // matched_true names true hits by index: the same steps as the pairs' true ones, each index once.
            XCTAssertEqual(found.map { c.truth[$0] }.sorted(), pairs.map(\.truth).sorted(), what)
            XCTAssertEqual(Set(found).count, found.count, what)
            if c.tolerance == 1 { pooled = pooled + swift }
        }
        let scores = try XCTUnwrap(out["pooled"] as? [Double])
        XCTAssertEqual(scores.count, 3)
        XCTAssertEqual(scores[0], pooled.f1, accuracy: 1e-9)
        XCTAssertEqual(scores[1], try XCTUnwrap(pooled.precision), accuracy: 1e-9)
        XCTAssertEqual(scores[2], try XCTUnwrap(pooled.recall), accuracy: 1e-9)
    }

    /// thud_tools.pick_hits and f1 (the picker and the matching together, as teacher_ceiling.py and averaging.py
    /// score a setting) against ThudModel's PeakPicker and ThudEval's HitMetrics on the same envelopes.
    func testPythonPickerScoreIsThudsOwn() throws {
        var random = SplitMix64(seed: 2037)
        var clips: [(envelope: [Float], truth: [Int])] = []
        for _ in 0..<6 {
            var envelope = (0..<90).map { _ in 0.03 + 0.04 * random.nextUnitFloat() }
            var truth: [Int] = []
            var k = 4 + Int(random.next() % 6)
            while k < 88 {
                envelope[k] = 0.3 + 0.6 * random.nextUnitFloat()
                envelope[k + 1] = envelope[k] * 0.6
                truth.append(k + Int(random.next() % 3) - 1)
                k += 5 + Int(random.next() % 12)
            }
            clips.append((envelope, truth))
        }
        let script = """
        from thud_tools import pick_hits, f1
        clips = json.load(open(sys.argv[1]))
        print(json.dumps({"hits": pick_hits([(c["envelope"], None, {}) for c in clips]),
                          "score": f1([(c["envelope"], None, c["true"]) for c in clips], detection="rise",
                                      min_strength=0.25, min_rise=0.06, sensitivity=3.0)}))
        """
        let input = clips.map { ["envelope": $0.envelope.map(Double.init), "true": $0.truth] as [String: Any] }
        let out = try XCTUnwrap(runPython(script, input: input) as? [String: Any])
        let hits = try XCTUnwrap(out["hits"] as? [[Int]])
        var setting = PeakPicker.Configuration.defaults(for: .rise)
        setting.minStrength = 0.25
        setting.minRise = 0.06
        setting.sensitivity = 3
        var pooled = HitMatch()
        for (clip, python) in zip(clips, hits) {
            XCTAssertEqual(python, PeakPicker.hits(envelope: clip.envelope, configuration: .defaults(for: .rise)).map(\.step))
            let picked = PeakPicker.hits(envelope: clip.envelope, configuration: setting).map(\.step)
            pooled = pooled + HitMetrics.match(predicted: picked, truth: clip.truth)
        }
        XCTAssertGreaterThan(pooled.truePositives, 0)
        let score = try XCTUnwrap(out["score"] as? [Double])
        XCTAssertEqual(score[0], pooled.f1, accuracy: 1e-9)
        XCTAssertEqual(score[1], try XCTUnwrap(pooled.precision), accuracy: 1e-9)
        XCTAssertEqual(score[2], try XCTUnwrap(pooled.recall), accuracy: 1e-9)
    }

    /// feature_cache.py reads the entry FeatureCache writes, byte for byte what Swift stored; an entry whose header
    /// states a newer version stops it with a line naming the file (the version is read from the entry, not from
    /// FeatureCache.swift's source).
    func testPythonReadsTheFeatureCacheEntrySwiftWrites() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thud-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = try FeatureCache(directory: dir.path, width: 4, height: 3)
        let steps = 5
        let clip = PreparedClip(clip: DatasetClip(id: "c", path: "c.mp4", template: "t", label: "t", split: .validation, hitsPath: nil),
                                steps: steps, width: 4, height: 3, frames: (0..<(steps * 12)).map { UInt8($0 * 3 % 256) },
                                targets: (0..<steps).map { Float($0) / 8 }, db: (0..<steps).map { -60 + Float($0) },
                                onsets: (0..<steps).map { Float($0 % 2) * 0.5 }, trueHits: nil)
        var bytes = cache.encodeEntry(clip)
        let good = dir.appendingPathComponent("good.clip"), newer = dir.appendingPathComponent("newer.clip")
        try Data(bytes).write(to: good)
        bytes[8] = UInt8(FeatureCache.version + 1)
        try Data(bytes).write(to: newer)
        let script = """
        import feature_cache
        paths = json.load(open(sys.argv[1]))
        entry = feature_cache.read_entry(paths["good"])
        out = {k: v.tolist() for k, v in entry.items()} if entry is not None else None
        try:
            feature_cache.read_entry(paths["newer"])
            stopped = None
        except SystemExit as e:
            stopped = str(e)
        print(json.dumps({"entry": out, "stopped": stopped}))
        """
        let out = try XCTUnwrap(runPython(script, input: ["good": good.path, "newer": newer.path]) as? [String: Any])
        let entry = try XCTUnwrap(out["entry"] as? [String: Any], "feature_cache.py did not read Swift's entry")
        XCTAssertEqual((entry["frames"] as? [[[Int]]])?.flatMap { $0.flatMap { $0 } }, clip.frames.map(Int.init))
        XCTAssertEqual((entry["target"] as? [Double])?.map(Float.init), clip.targets)
        XCTAssertEqual((entry["db"] as? [Double])?.map(Float.init), clip.db)
        XCTAssertEqual((entry["onsets"] as? [Double])?.map(Float.init), clip.onsets)
        let stopped = try XCTUnwrap(out["stopped"] as? String, "an entry of a newer version was not refused")
        XCTAssertTrue(stopped.hasPrefix("\(newer.path): feature cache entry version \(FeatureCache.version + 1)"), stopped)
    }

    /// `thud-train match-hits` refuses a bad line with one line naming it, exit 64, as pick-hits does.
    func testMatchHitsRefusesABadLineWithOneLine() throws {
        let bad = try Executable.launch("thud-train", ["match-hits"], timeout: 120,
                                        stdin: .pipe(Data("{\"predicted\":[1],\"true\":[2]}\n{\"predicted\":[1]}\n".utf8)),
                                        stdout: .collect)
        XCTAssertEqual(bad.status, 64)
        XCTAssertEqual(bad.lines, [#"{"matched":[[1,2]],"tp":1,"fp":0,"fn":0,"precision":1.0,"recall":1.0,"f1":1.0}"#])
        XCTAssertTrue(bad.stderrText.hasPrefix("thud-train: stdin line 2: not a match-hits request"), bad.stderrText)
        XCTAssertEqual(bad.stderrText.filter { $0 == "\n" }.count, 1, bad.stderrText)
        let negative = try Executable.launch("thud-train", ["match-hits"], timeout: 120,
                                             stdin: .pipe(Data("{\"predicted\":[],\"true\":[],\"tolerance\":-1}\n".utf8)),
                                             stdout: .collect)
        XCTAssertEqual(negative.status, 64)
        XCTAssertEqual(negative.stderrText, "thud-train: stdin line 1: tolerance -1 is below 0\n")
    }
}

import ArgumentParser
import Foundation
import ThudCommandLine
import ThudEval

/// Thud's own hit matching for scripts: predicted and true hit steps in, the pairs `thud eval` counts out, so no
/// script re-implements the matching (tools/eval/thud_tools.py runs it).
struct MatchHitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match-hits",
        abstract: "Match predicted hits to true hits as `thud eval` does, given as JSON lines (for analysis scripts).",
        discussion: """
        Reads one JSON object per line on stdin: {"predicted": [step, ...], "true": [step, ...], "tolerance": N} \
        (tolerance optional: \(HitMetrics.defaultTolerance) step, thud eval's) and writes one line per input, \
        {"matched": [[predicted, true], ...], "tp": N, "fp": N, "fn": N, "precision": X, "recall": X, "f1": X}: \
        ThudEval's HitMetrics, one to one within ±tolerance steps, the true hits taken in time order, each given the \
        earliest unmatched prediction in its window (the pairs in that order). precision and recall are null when \
        nothing was predicted or nothing was true; f1 is 1 when both lists are empty.
        """)

    private struct Request: Decodable {
        var predicted: [Int]
        var truth: [Int]
        var tolerance: Int?
        enum CodingKeys: String, CodingKey { case predicted, truth = "true", tolerance }
    }

    func run() throws {
        try forEachRequestLine(Request.self, verb: "match-hits") { request, lineNumber in
            let tolerance = request.tolerance ?? HitMetrics.defaultTolerance
            guard tolerance >= 0 else {
                throw UsageError(message: "stdin line \(lineNumber): tolerance \(tolerance) is below 0")
            }
            let pairs = HitMetrics.matchedPairs(predicted: request.predicted, truth: request.truth, tolerance: tolerance)
            let m = HitMetrics.match(predicted: request.predicted, truth: request.truth, tolerance: tolerance)
            let number = { (x: Double?) in x.map { "\($0)" } ?? "null" }
            print("{\"matched\":[\(pairs.map { "[\($0.predicted),\($0.truth)]" }.joined(separator: ","))],"
                  + "\"tp\":\(m.truePositives),\"fp\":\(m.falsePositives),\"fn\":\(m.falseNegatives),"
                  + "\"precision\":\(number(m.precision)),\"recall\":\(number(m.recall)),\"f1\":\(number(m.f1))}")
        }
    }
}

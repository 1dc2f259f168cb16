import ArgumentParser
import Foundation
import ThudCommandLine
import ThudModel

/// Thud's own peak picker for scripts: envelopes in, hit steps out, so no script re-implements the picker.
struct PickHitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pick-hits",
        abstract: "Run thud's peak picker on envelopes given as JSON lines (for analysis scripts).",
        discussion: """
        Reads one JSON object per line on stdin: {"envelope": [...], "onsets": [...] (optional), "detection": \
        "rise"|"level"|"onset"|"onset+rise", "threshold": X, "min_rise": X, "sensitivity": X} (settings optional: \
        the detector's defaults) and writes one line per input, {"hits": [step, ...]}: the steps ThudModel's \
        PeakPicker flags over the whole series, its end included, as `thud eval` scores them (a hit at the very last \
        step is confirmed only after the input, so predict's lines cannot carry it). \
        tools/eval/thud_tools.py runs it for the Python analysis scripts.
        """)

    private struct Request: Decodable {
        var envelope: [Float]
        var onsets: [Float]?
        var detection: PeakPicker.Detection?
        var threshold: Float?
        var min_rise: Float?
        var sensitivity: Float?
    }

    func run() throws {
        try forEachRequestLine(Request.self, verb: "pick-hits") { request, lineNumber in
            if let onsets = request.onsets, onsets.count != request.envelope.count {
                throw UsageError(message: "stdin line \(lineNumber): \(onsets.count) onsets for \(request.envelope.count) envelope values")
            }
            let c = PeakPicker.Configuration.defaults(for: request.detection ?? .rise)
                .overriding(threshold: request.threshold, minRise: request.min_rise, sensitivity: request.sensitivity)
            if let problem = c.validationProblem(hasOnsetOutput: request.onsets != nil) {
                throw UsageError(message: "stdin line \(lineNumber): \(problem)")
            }
            let hits = PeakPicker.hits(envelope: request.envelope, onsets: request.onsets, configuration: c).map(\.step)
            print("{\"hits\":[\(hits.map(String.init).joined(separator: ","))]}")
        }
    }
}

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
        PeakPicker flags over the whole series, its end included, as `thud predict` would. \
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
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if line.isEmpty { continue }
            let request: Request
            do {
                request = try JSONDecoder().decode(Request.self, from: Data(line.utf8))
            } catch {
                throw UsageError(message: "stdin line \(lineNumber): not a pick-hits request (\(error.localizedDescription))")
            }
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

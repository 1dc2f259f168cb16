import ArgumentParser
import Foundation
import ThudCommandLine
import ThudEval
import ThudModel

struct TunePickerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune-picker",
        abstract: "Choose the peak picker's settings on validation clips, from a `thud eval --out` report.",
        discussion: """
        Runs thud's own peak picker over a grid of settings (the level; the rise; the onset output and onset+rise \
        for a model that has one; thresholds, minimum rises, two sensitivities) on the model's envelopes in the \
        report, scores each against the report's true hits as `thud eval` does (one to one, within ±1 step), and \
        prints the best. A test split is refused: settings chosen on test clips would flatter the test figures. \
        With --record M the best settings are written into model M (as `thud-train set-picker` does).

          thud eval DATASET --split validation --model M --out val.json
          thud-train tune-picker val.json --record M
        """)

    @Argument(help: "A report written by `thud eval --out` on validation clips.")
    var report: String

    @Option(help: "How many of the best settings to print.")
    var top = 8

    @Option(help: "Write the best settings into this model file (its recorded picker: thud's default for it).")
    var record: String?

    func validate() throws {
        guard (1...1000).contains(top) else { throw ValidationError("--top must be within 1 and 1000") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: report) else {
            fputs("thud-train: \(report): cannot be read\n", stderr)
            throw ExitStatus.inputUnreadable.exitCode
        }
        let split: String, clips: [PickerClip]
        do {
            (split, clips) = try PickerGrid.clips(fromReport: data)
        } catch {
            fputs("thud-train: \(report): not a thud eval report (\(error.localizedDescription))\n", stderr)
            throw ExitStatus.unusableInput.exitCode
        }
        guard split != "test" else {
            fputs("thud-train: \(report): a test split; choose picker settings on validation clips\n", stderr)
            throw ExitStatus.usage.exitCode
        }
        guard !clips.isEmpty else {
            fputs("thud-train: \(report): no scored clips\n", stderr)
            throw ExitStatus.unusableInput.exitCode
        }
        let hasOnsets = clips.allSatisfy { $0.onsets?.count == $0.envelope.count }
        let ranked = PickerGrid.ranked(clips: clips, hasOnsetOutput: hasOnsets)
        print("\(clips.count) clips (\(split)); \(ranked.count) settings tried; best (F1, P, R):")
        for r in ranked.prefix(top) { print("  " + Self.line(r)) }
        for detection in PeakPicker.Detection.allCases {
            if let best = ranked.first(where: { $0.configuration.detection == detection }) {
                print("best \(detection.rawValue) detector: " + Self.line(best))
            }
        }
        guard let record, let best = ranked.first else { return }
        let console = Console()
        do {
            var file = try ModelFile.read(path: record)
            try SetPickerCommand.record(best.configuration, in: &file, path: record, console: console)
        } catch {
            throw exitWith(error, console: console)
        }
    }

    static func flags(_ c: PeakPicker.Configuration) -> String {
        "--detection \(c.detection.rawValue) --threshold \(c.minStrength) --min-rise \(c.minRise) --sensitivity \(c.sensitivity)"
    }

    static func line(_ r: PickerGridResult) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "  n/a" }
        return "F1 \(f(r.hits.f1))  P \(f(r.hits.precision))  R \(f(r.hits.recall))  \(flags(r.configuration))"
    }
}

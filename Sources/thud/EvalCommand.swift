import ArgumentParser
import ThudCommandLine
import Foundation
import ThudBase
import ThudEval
import ThudMedia
import ThudRuntime
import ThudModel

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score the model on a dataset against the clips' own audio, next to four baselines, with the original's per-class table.",
        discussion: """
        Each clip is decoded once: the model's gray frames and the first audio channel. Per clip and predictor: \
        Pearson r with the target envelope (and the best r over lags -1, 0, +1), MAE, BCE; hits matched one-to-one \
        within ±1 step (precision, recall, F1, mean delay) and the average precision of the envelope's peaks. \
        True hits are the impacts of hits/<id>.json where it exists (--hits), else the target envelope's peaks \
        (the rule is printed). Predictors: the model; motion-energy (weight-free: mean |frame difference|, \
        divided by its running maximum); motion-onset (weight-free: the rise of motion energy, where motion starts); constant (the training split's mean target); oracle (the target \
        itself, the ceiling). The per-class table gives the original's score: the mean of +1 good, 0 not so \
        good, -1 bad per clip, with the rule printed. A clip that cannot be scored is counted and named, and \
        the run goes on.

        DATASET is a Something-Something-layout folder (default split: test, classes: sound) or a folder of \
        videos (default: every clip, every class).
        """)

    @Argument(help: "A Something-Something-layout dataset, or a folder of videos.")
    var dataset: String

    @Option(help: "A .thud model file (default: the bundled models/default.thud).")
    var model: String?

    @Option(help: "train, validation, test or all (default: test; all for a plain folder of videos).")
    var split: String?

    @Option(help: "sound (the 12 sound classes), all, a comma-separated list of templates, or a file of them (default: sound; all for a plain folder).")
    var classes: String?

    @Option(help: "Write per-clip and aggregate figures as JSON to this file.")
    var out: String?

    @Option(help: "Write PNG charts into this folder (created if missing).")
    var plots: String?

    @Option(help: "Write one self-contained HTML page with the tables and charts.")
    var html: String?

    @OptionGroup(title: "Peak picker (the model's, the motion baseline's and the oracle's)") var picker: HitOptions

    @Option(help: "Which of the generator's impacts (hits/<id>.json) are true hits: scene (all of the scene's, in view or hidden behind another object) or visible (only those in view).")
    var hits: GroundTruthHits.HitSet = .scene

    @Flag(help: "Also print one row per clip (the model's figures and verdict, the motion baseline's r and F1).")
    var perClip = false

    @Option(parsing: .unconditional, help: "The constant predictor's level (default: the training split's mean target, else 0.1).")
    var constant: Float?

    func validate() throws {
        if let split, split != "all", DatasetSplit(rawValue: split) == nil {
            throw ValidationError("--split must be train, validation, test or all")
        }
        if let constant, !(0...1).contains(constant) { throw ValidationError("--constant must be between 0 and 1") }
    }

    func run() throws {
        do {
            try checkWritable()
            let modelPath = try ModelLocator.resolve(model)
            let streaming = try StreamingModel(path: modelPath)
            // A missing dataset is "input not found" (10), like a missing clip; a malformed one is 11 (DatasetError's codes).
            let data: Dataset
            do { data = try Dataset.load(dataset) } catch let e as DatasetError { throw lineError(e.description, e.exitCode) }
            let splitName = split ?? (data.layout == .folder ? "all" : DatasetSplit.test.rawValue)
            let filter: ClassFilter
            do { filter = try ClassFilter.parse(classes ?? (data.layout == .folder ? "all" : "sound")) }
            catch { throw lineError("\(classes ?? ""): cannot read the class list (\(error.localizedDescription))", 64) }
            let inSplit = { (c: DatasetClip) in splitName == "all" || c.split.rawValue == splitName }
            let selected = data.clips.filter { inSplit($0) && filter.accepts($0) }
            guard !selected.isEmpty else {
                throw lineError("\(dataset): no clips in split \(splitName) for \(filter.description) (\(data.clips.count) clips in the dataset)", 64)
            }

            var settings = EvaluationSettings()
            settings.picker = try picker.configuration(for: streaming, path: modelPath)
            settings.hitSet = hits
            if let constant {
                settings.constantLevel = constant
                settings.constantSource = "--constant"
            } else {
                let evaluated = Set(selected.map(\.path))
                let training = data.clips.filter { $0.split == .train && filter.accepts($0) && !evaluated.contains($0.path) }
                if let mean = EvaluationRun.trainingMeanTarget(training) {
                    settings.constantLevel = mean.level
                    settings.constantSource = "mean target of \(mean.clips) training clip\(mean.clips == 1 ? "" : "s")"
                }
            }

            let progress = ProgressBar(total: selected.count)
            let (evaluations, failures) = EvaluationRun.run(
                clips: selected, evaluator: ClipEvaluator(model: streaming, settings: settings),
                progress: { done, total, id in progress.show(done: done, current: id) },
                failed: { f in progress.note("thud: warning: clip \(f.id) not scored: \(f.message)") })
            progress.finish()

            let report = EvaluationReport(dataset: dataset, split: splitName, classFilter: filter.description, modelPath: modelPath,
                                          settings: settings, selected: selected.count, evaluations: evaluations, failures: failures)
            LineWriter().write(report.text(perClip: perClip))
            try writeOutputs(report)
            // Failed clips are not fatal, but a run that scored nothing has no result (as thud-train with no usable clips).
            if evaluations.isEmpty {
                throw lineError("\(dataset): no clip could be scored (\(failures.count) failed, named above)", 11)
            }
        } catch {
            throw exitWith(error)
        }
    }

    /// Fails before the (long) run when an output cannot be created, rather than after it.
    private func checkWritable() throws {
        for path in [out, html].compactMap({ $0 }) { try AtomicFile.checkWritable(path) }
        if let plots {
            do { try FileManager.default.createDirectory(atPath: plots, withIntermediateDirectories: true) }
            catch { throw MediaError(.writeFailed, file: plots, "cannot create the plots folder") }
            guard access(plots, W_OK) == 0 else { throw MediaError(.writeFailed, file: plots, "plots folder is not writable") }
        }
    }

    private func writeOutputs(_ report: EvaluationReport) throws {
        if let out {
            try AtomicFile.write(report.jsonData(), to: out)
        }
        guard plots != nil || html != nil else { return }
        let charts = try ReportCharts.make(report, directory: plots, clipLimit: plots != nil ? .max : EvaluationReport.inlineClipChartLimit)
        if let html {
            try AtomicFile.write(Data(report.htmlPage(charts: charts).utf8), to: html)
        }
    }

    private func lineError(_ message: String, _ code: Int32) -> ExitCode {
        fputs("thud: \(message)\n", stderr)
        return ExitCode(code)
    }
}

/// A one-line progress bar on stderr, redrawn in place, only when stderr is a terminal (logs and pipes get
/// just the warnings).
final class ProgressBar {
    let total: Int
    let enabled = isatty(STDERR_FILENO) == 1
    private var drawn = false
    private let started = Date()

    init(total: Int) { self.total = total }

    func show(done: Int, current: String) {
        guard enabled else { return }
        let width = 30, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        // Time left from the mean time per clip so far (clips are similar in length within a dataset).
        let elapsed = Date().timeIntervalSince(started)
        let left = done > 0 ? " ~\(Format.duration(elapsed / Double(done) * Double(total - done))) left" : ""
        fputs("\r\u{1B}[K[\(bar)] \(done)/\(total)\(left) \(current.prefix(40))", stderr)
        drawn = true
    }

    /// A line that must stay (a failed clip): clears the bar, prints, and lets the next update redraw it.
    func note(_ line: String) {
        if enabled && drawn { fputs("\r\u{1B}[K", stderr) }
        fputs(line + "\n", stderr)
    }

    func finish() {
        if enabled && drawn { fputs("\r\u{1B}[K", stderr) }
    }
}

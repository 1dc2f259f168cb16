import ArgumentParser
import ThudCommandLine
import Foundation
import ThudBase
import ThudEval
import ThudMedia
import ThudRuntime
import ThudModel

extension GroundTruthHits.HitSet: ExpressibleByArgument {}

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

    @OptionGroup var model: ModelOptions

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

    @OptionGroup(title: "Peak picker (the model's, the motion baseline's and the oracle's)") var picker: PickerOptions

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
            try EvaluationReport.checkWritable(out: out, html: html, plots: plots)
            let modelPath = try model.path()
            let streaming = try StreamingModel(path: modelPath)
            let plan = try EvaluationPlan(dataset: dataset, split: split, classes: classes, constant: constant)
            let selected = plan.selected
            var settings = plan.settings
            settings.picker = try picker.configuration(for: streaming, path: modelPath)
            settings.hitSet = hits

            let progress = ProgressBar(total: selected.count)
            let (evaluations, failures) = EvaluationRun.run(
                clips: selected, evaluator: ClipEvaluator(model: streaming, settings: settings),
                progress: { done, total, id in progress.show(done: done, current: id) },
                failed: { f in progress.note("thud: warning: clip \(f.id) not scored: \(f.message)") })
            progress.finish()

            let report = EvaluationReport(dataset: dataset, split: plan.splitName, classFilter: plan.filter.description, modelPath: modelPath,
                                          settings: settings, selected: selected.count, evaluations: evaluations, failures: failures)
            try LineWriter().write(report.text(perClip: perClip))
            try report.write(out: out, html: html, plots: plots)
            // Failed clips are not fatal, but a run that scored nothing has no result (as thud-train with no usable clips).
            if evaluations.isEmpty {
                throw MediaError(.notMedia, file: dataset, "no clip could be scored (\(failures.count) failed, named above)")
            }
        } catch {
            throw exitWith(error)
        }
    }
}

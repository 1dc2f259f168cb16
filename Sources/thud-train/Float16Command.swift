import ArgumentParser
import ThudCommandLine
import Foundation
import ThudBase
import ThudEval
import ThudModel
import ThudTrain

struct Float16Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fp16",
        abstract: "Store a model's weights in half precision, if that leaves its validation scores where they were.",
        discussion: """
        Every weight is rounded to the nearest IEEE float16 (the file is half the size; the header says \
        weightStorage float16 and requires "float16Weights", so a Thud too old to know it refuses the file by name \
        instead of misreading it). thud then runs the LSTM, whose weights are most of the model, on the half \
        weights themselves (converted in the FMA loop, float32 sums; tools/bench/model_bench.sh prints the step \
        against float32 in the same run) and the conv encoder and the head on the same values widened. Both models \
        are scored on DATASET's validation clips as training validates (r per clip and hit F1 by the model's own \
        peak picker); OUT is written only if r and hit F1 each move by less than --tolerance (exit 3 otherwise). \
        Choose on validation clips, never test clips.
        """)

    @Argument(help: "Dataset whose validation clips judge the change (its split.tsv or Something-Something split; a plain folder's stable validation share).")
    var dataset: String

    @Option(help: "The float32 model to convert (default: the bundled models/default.thud, found as thud finds it).")
    var model: String?

    @Option(help: "Where the half-precision model is written (default: MODEL with -fp16 before .thud).")
    var out: String?

    @Option(parsing: .unconditional, help: "Largest change of r and of hit F1 on the validation clips that still writes OUT.")
    var tolerance = 0.005

    @Option(help: "sound (the 12 sound classes), all, a comma-separated list of templates, or a file of them.")
    var classes = "all"

    @OptionGroup var decoding: DecodingOptions


    func validate() throws {
        guard tolerance.isFinite, tolerance > 0, tolerance < 1 else { throw ValidationError("--tolerance must be above 0 and below 1") }
    }

    /// MODEL with "-fp16" before its extension.
    func outputPath(model: String) -> String {
        if let out { return out }
        let base = (model as NSString).deletingPathExtension
        return base + "-fp16.thud"
    }

    func run() throws {
        let console = Console()
        let original: ModelFile, half: ModelFile, clips: [PreparedClip]
        let model: String, outputPath: String
        do {
            model = try ModelLocator.resolve(self.model)
            outputPath = self.outputPath(model: model)
            original = try ModelFile.read(path: model)
            guard original.header.weightStorage == .float32 else {
                console.error("model file \(model): already stores float16 weights")
                throw ExitStatus.usage.exitCode
            }
            guard let rounded = original.roundedToFloat16() else {
                console.error("model file \(model): a weight lies beyond half precision's range (±65504); not converted")
                throw ExitStatus.notImproved.exitCode
            }
            half = rounded
            try AtomicFile.checkWritable(outputPath)
            let input = original.header.architecture.input
            let prepared = prepareClips(of: try Dataset.load(dataset), filter: try ClassFilter.parse(classes),
                                            cache: try decoding.cache(width: input.width, height: input.height),
                                            splits: [.validation], jobs: decoding.jobs, console: console)
            clips = prepared.clips(.validation)
            guard !clips.isEmpty else {
                console.error("\(dataset): no usable validation clips to judge the change by")
                throw ExitStatus.unusableInput.exitCode
            }
        } catch {
            throw exitWith(error, console: console)
        }
        // The model's own picker, as `thud` runs it (the rise detector's defaults when none is recorded).
        let picker = original.header.picker ?? PeakPicker.Configuration()
        let before = Adaptation.score(try StreamingModel(file: original, path: model), on: clips, picker: picker)
        let after = Adaptation.score(try StreamingModel(file: half, path: outputPath), on: clips, picker: picker)
        let rChange = abs((after.meanR ?? 0) - (before.meanR ?? 0)), f1Change = abs(after.hits.f1 - before.hits.f1)
        let steps = clips.reduce(0) { $0 + $1.steps }
        let summary = String(format: "validation (%d clips, %.0f s): r %@ → %@, hit F1 %.4f → %.4f", clips.count,
                             Double(steps) / StepRate.hz, Format.optional(before.meanR), Format.optional(after.meanR),
                             before.hits.f1, after.hits.f1)
        console.log(summary)
        guard rChange < tolerance, f1Change < tolerance else {
            console.log(String(format: "%@: not written: r moved %.4f and hit F1 %.4f (--tolerance %.4f)", outputPath,
                               rChange, f1Change, tolerance))
            throw ExitStatus.notImproved.exitCode
        }
        var written = half
        written.header.provenance["float16"] = "rounded from \(model) by \(invokedCommand); \(dataset) \(summary)"
        do {
            try written.write(to: outputPath)
        } catch {
            throw exitWith(error, console: console)
        }
        let size = { (path: String) in ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0 }
        console.log("\(outputPath): written (\(size(outputPath)) bytes, \(model) \(size(model))); run it with `thud predict --model \(outputPath)`")
    }
}

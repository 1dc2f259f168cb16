import ArgumentParser
import Foundation
import ThudEval
import ThudBase
import ThudCommandLine
import ThudMedia
import ThudModel
import ThudTrain

@main
struct ThudTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thud-train",
        abstract: "Teach Thud's model from videos whose own audio track is the label (self-supervised).",
        discussion: """
        DATASET is a folder in Something-Something's layout (labels.json, train.json, validation.json, test.json \
        and videos/), as `thud-synth generate` writes it, or a plain folder of videos of any container FFmpeg \
        reads (each clip's class is its folder's name; a stable share goes to validation). Several DATASETs are \
        used together as one, each clip in its own folder's split.
        """,
        subcommands: [TrainCommand.self, AdaptCommand.self, PrepareCommand.self, SetPickerCommand.self, AverageCommand.self, AugmentSheetCommand.self, TunePickerCommand.self, PickHitsCommand.self, MatchHitsCommand.self, Float16Command.self],
        defaultSubcommand: TrainCommand.self)

    static func main() { CommandLineTool.run(ThudTrainCommand.self, tool: "thud-train") }
}

/// Any error as its one line, `thud-train: …`, after the progress line is cleared, and its documented exit code
/// (ToolExit, as every tool reports errors).
func exitWith(_ error: Error, console: Console) -> ExitCode {
    if !(error is ExitCode) { console.endProgress() }
    return CommandLineTool.exitCode(reporting: error, tool: "thud-train")
}

/// This invocation as a model's provenance records it (`training.command`).
var invokedCommand: String { (["thud-train"] + CommandLine.arguments.dropFirst()).joined(separator: " ") }

/// "WxH" (FrameSize.parse) for `prepare --size` and `train --input-size` (the model's frame size; the cache is keyed
/// by it), or a ValidationError naming the option. Sizes a model cannot use are refused by
/// ModelArchitecture.validationProblem().
func parseFrameSize(_ text: String, option: String) throws -> (width: Int, height: Int) {
    guard let size = FrameSize.parse(text) else {
        throw ValidationError("\(option) must be WxH, not \"\(text)\"")
    }
    return size
}

/// Options shared by `train` and `prepare`: where the data is and how it is filtered and cached.
struct DataOptions: ParsableArguments {
    @Argument(help: "Dataset folder (Something-Something layout or a plain folder of videos). Several folders are used as one dataset, each clip in its own folder's split: more clips from a second `thud-synth generate` run, without copying or renaming anything.")
    var datasets: [String]

    /// The dataset folders as the log and the model's provenance name them.
    var dataset: String { datasets.joined(separator: " + ") }

    @Option(help: "Templates to use: 'sound' (the 12 sound classes of the original experiment), 'all', a comma-separated list, or a file with one template per line.")
    var classes = "sound"

    @OptionGroup var decoding: DecodingOptions

    @Option(parsing: .unconditional, help: "For a plain folder of videos: the share that goes to validation.")
    var validationShare = 0.1

    @Option(parsing: .unconditional, help: "Clips shorter than this many seconds are removed as faulty.")
    var minDuration = ClipCheck.defaultMinimumSeconds

    func validate() throws {
        guard validationShare.isFinite, validationShare >= 0, validationShare < 1 else { throw ValidationError("--validation-share must be at least 0 and below 1") }
        guard minDuration.isFinite, minDuration >= 0 else { throw ValidationError("--min-duration must be a number of seconds, 0 or more") }
    }

    func prepare(width: Int, height: Int, splits: Set<DatasetSplit>, console: Console) throws -> (Dataset, PreparedDataset) {
        let dataset: Dataset
        let filter: ClassFilter
        do {
            dataset = Dataset(combining: try datasets.map { try Dataset.load($0, validationShare: validationShare) })
            filter = try ClassFilter.parse(classes)
        } catch {
            throw exitWith(error, console: console)
        }
        let cache: FeatureCache
        do { cache = try decoding.cache(width: width, height: height, minimumSeconds: minDuration) }
        catch { throw exitWith(error, console: console) }
        console.log("dataset \(self.dataset) (\(dataset.layout.rawValue), \(dataset.clips.count) clips); classes: \(filter.description); cache \(decoding.directory)")
        let started = Date()
        let prepared = prepareClips(of: dataset, filter: filter, cache: cache, splits: splits, jobs: decoding.jobs, console: console)
        let cached = prepared.counts.values.map(\.fromCache).reduce(0, +)
        console.log(String(format: "prepared in %.1f s (%d clips from the cache)", Date().timeIntervalSince(started), cached))
        return (dataset, prepared)
    }
}

/// `--cache` and `--jobs`: where every thud-train command that reads a dataset keeps its decoded clips, and with
/// how many threads it decodes them.
struct DecodingOptions: ParsableArguments {
    @Option(help: "Where decoded clips are cached (default: $XDG_CACHE_HOME/thud/clips or ~/.cache/thud/clips).")
    var cache: String?

    @Option(parsing: .unconditional, help: "Decoding threads.")
    var jobs = 2

    var directory: String { cache ?? FeatureCache.defaultDirectory }

    func validate() throws {
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 256") }
    }

    /// The cache for clips decoded at `width`×`height` (FeatureCacheError, 74, when its folder cannot be made).
    func cache(width: Int, height: Int, minimumSeconds: Double = ClipCheck.defaultMinimumSeconds) throws -> FeatureCache {
        try FeatureCache(directory: directory, width: width, height: height, minimumSeconds: minimumSeconds)
    }
}

/// Reads JSON lines of `Request` from stdin for the analysis-script verbs (pick-hits, match-hits): `body` gets each
/// request and its line number; a line that is not one is a usage error naming the line (64).
func forEachRequestLine<Request: Decodable>(_ type: Request.Type, verb: String, _ body: (Request, Int) throws -> Void) throws {
    var lineNumber = 0
    while let line = readLine(strippingNewline: true) {
        lineNumber += 1
        if line.isEmpty { continue }
        let request: Request
        do {
            request = try JSONDecoder().decode(Request.self, from: Data(line.utf8))
        } catch {
            throw UsageError(message: "stdin line \(lineNumber): not a \(verb) request (\(error.localizedDescription))")
        }
        try body(request, lineNumber)
    }
}

/// The clips of `splits` decoded, or read from `cache`, with the progress line (rate, ETA) and the split report every
/// thud-train command that reads a dataset shows.
func prepareClips(of dataset: Dataset, filter: ClassFilter, cache: FeatureCache, splits: Set<DatasetSplit>, jobs: Int,
                  console: Console) -> PreparedDataset {
    let started = Date()
    let prepared = PreparedDataset.prepare(dataset, filter: filter, cache: cache, splits: splits, jobs: jobs) { done, total in
        let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-9)
        console.progress(String(format: "decoding %d/%d clips  %.1f clips/s  ETA %@", done, total, rate,
                                rate > 0 ? Format.duration(Double(total - done) / rate) : "?"))
    }
    console.endProgress()
    for line in prepared.reportLines() { console.log(line) }
    return prepared
}

/// Log lines on stderr; a progress line redrawn in place on a terminal, throttled plain lines otherwise.
final class Console {
    let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastPlain = Date.distantPast
    private var drawn = false

    func log(_ line: String) {
        endProgress()
        fputs(line + "\n", stderr)
    }

    func error(_ line: String) { log("thud-train: \(line)") }

    func progress(_ line: String) {
        if isTerminal {
            fputs("\r\u{1B}[2K" + line, stderr)
            drawn = true
        } else if Date().timeIntervalSince(lastPlain) >= 10 {
            fputs(line + "\n", stderr)
            lastPlain = Date()
        }
    }

    func endProgress() {
        if drawn { fputs("\r\u{1B}[2K", stderr); drawn = false }
    }
}

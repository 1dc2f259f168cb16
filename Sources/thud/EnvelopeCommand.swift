import ThudBase
import ArgumentParser
import ThudCommandLine
import ThudMedia
import ThudRuntime

struct EnvelopeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envelope",
        abstract: "Print the target envelope of an input's audio: what training teaches the model to predict.",
        discussion: """
        One line per 12 Hz step. The first audio stream's first channel is taken as float, its magnitude is \
        smoothed with a Gaussian (σ = 200 samples at 44.1 kHz, scaled to other rates), averaged over each \
        step's 1/12 s, and scaled by the clip's largest step to [0, 1]; "db" is the unscaled level in dBFS. \
        JSONL lines are {"t": seconds, "envelope": 0..1, "db": dBFS}. The whole clip is read before the first \
        line, since the scale depends on its loudest step.
        """)

    @Argument(help: "A video (or audio) file, or '-' for standard input.")
    var input: String

    @Option(help: "jsonl or csv.")
    var format: OutputFormat = .jsonl

    func run() throws {
        do {
            try StepDump.envelope(try MediaInput(path: input), csv: format == .csv, out: LineWriter(), warn: warnLine)
        } catch {
            throw exitWith(error)
        }
    }
}

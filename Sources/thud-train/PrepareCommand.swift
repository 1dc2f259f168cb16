import ArgumentParser
import ThudEval
import ThudTrain

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Decode and cache a dataset, and report what the class filter and the faulty-video check removed.",
        discussion: "Prints, per split, the original count → after the class filter → after removing faulty videos (no audio stream, audio that does not decode or is silent, too short, no video, unreadable), with the reasons counted. Training does the same before its first epoch; later runs read the cache.")

    @OptionGroup var data: DataOptions

    @Option(help: "Frame size the model will use, WxH.")
    var size = "64x64"

    func run() throws {
        let frame = try parseFrameSize(size, option: "--size")
        _ = try data.prepare(width: frame.width, height: frame.height, splits: Set(DatasetSplit.allCases), console: Console())
    }
}

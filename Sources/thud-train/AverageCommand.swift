import ArgumentParser
import Foundation
import ThudModel
import ThudTrain

struct AverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "average",
        abstract: "Write the mean of the weights of several models of one architecture (a \"model soup\").",
        discussion: """
        Meant for runs of `thud-train train` that start from the same --warm-start and differ only in --seed: \
        their mean runs at the cost of one model and usually scores better than each. Models from different \
        starts need not line up unit for unit (a warning says so); compare the mean with its ingredients on \
        validation clips (`thud eval DATASET --split validation`) before using it. The mean records no peak \
        picker: choose one for it with `thud-train set-picker`. The output is written atomically and only after \
        every input has been read and checked.
        """)

    @Argument(help: "Two or more .thud model files of the same architecture.")
    var models: [String]

    @Option(help: "Where to write the averaged model (.thud).")
    var out: String

    func validate() throws {
        if models.count < 2 { throw ValidationError("average needs at least two models, got \(models.count)") }
    }

    func run() throws {
        let console = Console()
        do {
            let files = try models.map { (path: $0, file: try ModelFile.read(path: $0)) }
            let averaged = try ModelAverage.average(files, command: invokedCommand)
            if let starts = ModelAverage.warmStartsDiffer(files.map(\.file)) {
                let named = zip(models, starts).map { "\($0): \($1 ?? "none recorded")" }.joined(separator: ", ")
                console.log("warning: the models do not record one and the same --warm-start (\(named)); the mean of models trained from different starts is usually worse than each")
            }
            try averaged.write(to: out)
            console.log("\(out): the mean of \(models.count) models' weights; no recorded peak picker (choose one with thud-train set-picker)")
        } catch {
            throw exitWith(error, console: console)
        }
    }
}

import ArgumentParser
import Foundation
import ThudCommandLine
import ThudModel


struct SetPickerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-picker",
        abstract: "Record in a model file the peak picker thud uses for it by default.",
        discussion: """
        Choose the settings on validation clips, never test clips: `thud eval DATASET --split validation --out \
        val.json` and `thud-train tune-picker val.json` score a grid of them (--record writes the best one here). The model's weights are \
        untouched; thud's --detection, --threshold and --min-rise still override what is recorded. The file is \
        replaced atomically.
        """)

    @Argument(help: "The .thud model file to update in place.")
    var model: String

    @Option(help: "What the picker looks at: rise (the envelope's one-step rise), level (the envelope), onset (the model's onset output) or onset+rise (their sum).")
    var detection: PeakPicker.Detection = .rise

    @Option(parsing: .unconditional, help: "Smallest envelope value (0..1) a hit can have (default: the detector's).")
    var threshold: Float?

    @Option(parsing: .unconditional, help: "Smallest one-step rise (rise) or onset output (onset) that can be a hit (default: the detector's).")
    var minRise: Float?

    @Option(parsing: .unconditional, help: "The adaptive threshold: median + this × MAD of the last second of the detection series (default: the detector's).")
    var sensitivity: Float?

    @Flag(help: "Remove the recorded picker: thud falls back to the rise detector's defaults.")
    var clear = false

    func validate() throws {
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be between 0 and 1") }
        if let minRise, !(0...1).contains(minRise) { throw ValidationError("--min-rise must be between 0 and 1") }
        if let sensitivity, !(0...100).contains(sensitivity) { throw ValidationError("--sensitivity must be between 0 and 100") }
    }

    func run() throws {
        let console = Console()
        do {
            var file = try ModelFile.read(path: model)
            if clear {
                file.header.picker = nil
                try file.write(to: model)
                console.log("\(model): no recorded peak picker; thud uses the rise detector's defaults")
                return
            }
            let picker = PeakPicker.Configuration.defaults(for: detection)
                .overriding(threshold: threshold, minRise: minRise, sensitivity: sensitivity)
            try Self.record(picker, in: &file, path: model, console: console)
        } catch {
            throw exitWith(error, console: console)
        }
    }

    /// Writes `picker` into the model file at `path` as its recorded picker (atomically), refusing a detector the
    /// model cannot feed. Shared with `tune-picker --record`.
    static func record(_ picker: PeakPicker.Configuration, in file: inout ModelFile, path: String, console: Console) throws {
        if picker.detection.needsOnsetOutput && !file.header.architecture.hasOnsetOutput {
            console.error("\(path): --detection \(picker.detection.rawValue) needs a model with an onset output; this one has only the envelope")
            throw ExitStatus.usage.exitCode
        }
        file.header.picker = picker
        try file.write(to: path)
        console.log("\(path): thud's default peak picker for this model is now \(picker.detection.rawValue), threshold \(picker.minStrength), min-rise \(picker.minRise), sensitivity \(picker.sensitivity)")
    }
}

import ArgumentParser
import ThudModel
import ThudPipeline

extension PeakPicker.Detection: ExpressibleByArgument {}

/// `--model`: the one way every command that runs a model names it, resolved the same way from any working folder
/// (ModelLocator: the option, else $THUD_MODEL, else the bundled models/default.thud beside the executable's checkout).
public struct ModelOptions: ParsableArguments {
    @Option(help: "A .thud model file (default: $THUD_MODEL, else the bundled models/default.thud).")
    public var model: String?

    @Flag(help: "Live inputs (a camera, network streams): when the model file changes (a learner writing it), load it and swap it in between two steps, with a line on stderr and a JSON line {\"event\": \"model\", ...}; the LSTM starts again from a zero state (the old state means nothing to new weights). A file that does not load is refused with one line and the running model stays.")
    public var reload = false

    public init() {}

    /// The model file's path (ModelFileError, exit 20, when there is none).
    public func path() throws -> String { try ModelLocator.resolve(model) }

    /// --reload's watch over the model file, nil without --reload; a usage error for an input that is not live (a file
    /// is predicted in seconds: there is nothing to swap into).
    public func watch(path: String, model: StreamingModel, liveInput: Bool, warn: @escaping (String) -> Void) throws -> ModelWatch? {
        guard reload else { return nil }
        guard liveInput else { throw UsageError(message: "--reload is for live inputs (a camera, a network stream), not a file") }
        return ModelWatch(path: path, model: model, warn: warn)
    }

    /// The model, loaded and checked (ModelFileError, exit 20).
    public func load() throws -> (path: String, model: StreamingModel) {
        let path = try path()
        return (path, try StreamingModel(path: path))
    }
}

/// The peak picker's settings, shared by every verb that flags hits (predict, live, watch, eval, render). Unset options
/// take the model's own picker when its file records one for the chosen detector (`thud-train set-picker`), else
/// the detector's defaults (PeakPicker.Configuration.defaults); both chosen on validation clips.
public struct PickerOptions: ParsableArguments {
    @Option(help: "What the peak picker looks at: rise (where the envelope jumps up), level (where it is loudest), onset (the model's onset output, for models trained with one) or onset+rise (their sum). Default: the one the model file records, else rise.")
    public var detection: PeakPicker.Detection?

    @Option(parsing: .unconditional, help: "Smallest envelope value (0..1) a hit can have (default: the model file's, else 0.3 for rise, 0.2 for level, 0 for onset and onset+rise).")
    public var threshold: Float?

    @Option(parsing: .unconditional, help: "Smallest one-step rise of the envelope (rise), onset output (onset) or sum of the two (onset+rise) that can be a hit (default: the model file's, else 0.08 for rise, 0.3 for onset, 0.55 for onset+rise).")
    public var minRise: Float?

    @Option(parsing: .unconditional, help: "The adaptive threshold: a hit must beat median + this × MAD (+ 0.05) of the last second of the detection series; higher flags fewer hits in busy passages (default: the model file's, else 3).")
    public var sensitivity: Float?

    public init() {}

    public func validate() throws {
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be between 0 and 1") }
        if let minRise, !(0...1).contains(minRise) { throw ValidationError("--min-rise must be between 0 and 1") }
        if let sensitivity, !(0...100).contains(sensitivity) { throw ValidationError("--sensitivity must be between 0 and 100") }
    }

    /// The settings for this model: the picker its file records (chosen for it on validation clips) unless another
    /// detector is asked for, else the detector's defaults, then the overrides. Throws when a detector needs an
    /// onset output the model lacks.
    public func configuration(for model: StreamingModel, path: String) throws -> PeakPicker.Configuration {
        let recorded = model.header.picker
        let chosen = detection ?? recorded?.detection ?? .rise
        if chosen.needsOnsetOutput && !model.hasOnsetOutput {
            throw UsageError(message: "\(path): --detection \(chosen.rawValue) needs a model with an onset output; this one has only the envelope")
        }
        return (recorded.flatMap { $0.detection == chosen ? $0 : nil } ?? PeakPicker.Configuration.defaults(for: chosen))
            .overriding(threshold: threshold, minRise: minRise, sensitivity: sensitivity)
    }
}

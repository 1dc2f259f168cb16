import ArgumentParser
import ThudCommandLine
import ThudEval
import ThudModel

extension PeakPicker.Detection: ExpressibleByArgument {}
extension GroundTruthHits.HitSet: ExpressibleByArgument {}

/// The peak picker's settings, shared by every verb that flags hits (predict, live, eval, render). Unset options
/// take the model's own picker when its file records one for the chosen detector (`thud-train set-picker`), else
/// the detector's defaults (PeakPicker.Configuration.defaults); both chosen on the generator's validation split.
struct HitOptions: ParsableArguments {
    @Option(help: "What the peak picker looks at: rise (where the envelope jumps up), level (where it is loudest), onset (the model's onset output, for models trained with one) or onset+rise (their sum). Default: the one the model file records, else rise.")
    var detection: PeakPicker.Detection?

    @Option(parsing: .unconditional, help: "Smallest envelope value (0..1) a hit can have (default: the model file's, else 0.3 for rise, 0.2 for level, 0 for onset and onset+rise).")
    var threshold: Float?

    @Option(parsing: .unconditional, help: "Smallest one-step rise of the envelope (rise), onset output (onset) or sum of the two (onset+rise) that can be a hit (default: the model file's, else 0.08 for rise, 0.3 for onset, 0.55 for onset+rise).")
    var minRise: Float?

    @Option(parsing: .unconditional, help: "The adaptive threshold: a hit must beat median + this × MAD (+ 0.05) of the last second of the detection series; higher flags fewer hits in busy passages (default: the model file's, else 3).")
    var sensitivity: Float?

    func validate() throws {
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be between 0 and 1") }
        if let minRise, !(0...1).contains(minRise) { throw ValidationError("--min-rise must be between 0 and 1") }
        if let sensitivity, !(0...100).contains(sensitivity) { throw ValidationError("--sensitivity must be between 0 and 100") }
    }

    /// The settings for this model: the picker its file records (chosen for it on validation clips) unless another
    /// detector is asked for, else the detector's defaults, then --threshold, --min-rise and --sensitivity. Throws when --detection
    /// onset is asked of a model without an onset output.
    func configuration(for model: StreamingModel, path: String) throws -> PeakPicker.Configuration {
        let recorded = model.header.picker
        let chosen = detection ?? recorded?.detection ?? .rise
        if chosen.needsOnsetOutput && !model.hasOnsetOutput {
            throw UsageError(message: "\(path): --detection \(chosen.rawValue) needs a model with an onset output; this one has only the envelope")
        }
        var c = recorded.flatMap { $0.detection == chosen ? $0 : nil } ?? PeakPicker.Configuration.defaults(for: chosen)
        if let threshold { c.minStrength = threshold }
        if let minRise { c.minRise = minRise }
        if let sensitivity { c.sensitivity = sensitivity }
        return c
    }
}

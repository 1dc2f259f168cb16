import ArgumentParser
import ThudModel

extension PeakPicker.Detection: ExpressibleByArgument {}

/// The peak picker's settings, shared by every verb that flags hits (predict, live, eval, render).
struct HitOptions: ParsableArguments {
    @Option(help: "Smallest envelope value (0..1) a hit can have.")
    var threshold: Float = PeakPicker.Configuration().minStrength

    @Option(help: ArgumentHelp("Smallest one-step rise of the envelope (0..1) that can be a hit (--detection rise).",
                               discussion: "The defaults were chosen on the generator's validation split."))
    var minRise: Float = PeakPicker.Configuration().minRise

    @Option(help: "What the peak picker looks at: rise (where the envelope jumps up: a hit is an onset) or level (where it is loudest).")
    var detection: PeakPicker.Detection = PeakPicker.Configuration().detection

    func validate() throws {
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
        guard (0...1).contains(minRise) else { throw ValidationError("--min-rise must be between 0 and 1") }
    }

    func configuration(stepRateHz: Double) -> PeakPicker.Configuration {
        PeakPicker.Configuration(detection: detection, minStrength: threshold, minRise: minRise, stepRateHz: stepRateHz)
    }
}

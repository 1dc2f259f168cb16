// Where described steps go. A sink is told `begin` once before the first step, gets each served step's frame
// (`frame`, for the sinks that keep pictures), every described step in order (`submit`) and every feed event
// (`event`), and `finish` exactly once at the end, on success, on error and after a stop: Pipeline.run owns that
// lifecycle, so no caller closes a sink itself.
import Foundation
import ThudMedia
import ThudModel

/// A consumer of described steps (the printer, the sound, MQTT, a collector for eval and render).
public protocol StepSink {
    /// Before the first step (a CSV header, say); a sink that cannot start throws.
    func begin() throws
    /// The model-sized frame of each served step, before the model sees it; its pixels are valid only during the call.
    /// A sink that keeps pictures (the web page's latest one, a hit's snapshot) copies what it needs; most ignore it.
    func frame(_ step: SourceStep)
    /// One described step; a sink whose output cannot be written throws (the run ends with that error).
    func submit(_ step: DescribedStep) throws
    /// Something happened to a network feed (it was lost; a gap after a reconnect).
    func event(_ event: FeedEvent) throws
    /// The run ended (once; also after an error or a stop).
    func finish()
}

extension StepSink {
    public func begin() throws {}
    public func frame(_ step: SourceStep) {}
    public func event(_ event: FeedEvent) throws {}
    public func finish() {}
}

/// Keeps every described step (eval's and render's model pass), and hands each to `onStep` as it comes.
public final class CollectingSink: StepSink {
    public private(set) var steps: [DescribedStep] = []
    private let onStep: (DescribedStep) -> Void

    public init(onStep: @escaping (DescribedStep) -> Void = { _ in }) { self.onStep = onStep }

    public func submit(_ step: DescribedStep) {
        steps.append(step)
        onStep(step)
    }
}

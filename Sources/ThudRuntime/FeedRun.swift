// predict and live: one input (InputSource: a file, a network stream, a camera) through the pipeline into the
// printer, the sound and further sinks, with what the command says before and after it.
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline
import ThudSound

public enum FeedRun {
    /// Runs `source` through `stream` into the printer (if any), the sound (a file's steps paced to the clock, so
    /// that knocks come out when their hits happen) and `extraSinks` (MQTT), at most `steps` steps. A camera or a
    /// network stream runs until it ends or Ctrl-C / SIGTERM asks it to stop (the steps so far are described, the
    /// sinks finished, and the run ends well); a file until its end (a signal ends the process, as for any filter).
    /// `view` (a camera on a terminal) is drawn at every described step. `note` gets the lines the command prints on
    /// stderr: the camera's format first, the sound's and the source's figures at the end.
    public static func run(_ source: StepSource, stream: EnvelopeStream, printer: StepPrinter?, sonifier: HitSonifier?,
                           extraSinks: [any StepSink] = [], steps: Int? = nil, view: LiveView? = nil, reloader: ModelReloader? = nil,
                           note: @escaping (String) -> Void) throws {
        var sinks: [any StepSink] = printer.map { [$0] } ?? []
        if let sonifier { sinks.append(SoundStepSink(sonifier: sonifier, pacer: source is FileSource ? RealtimePacer() : nil, report: note)) }
        sinks += extraSinks
        let camera = source as? CameraSource
        if let opening = camera?.opening {
            note("\(opening), model input \(stream.model.inputWidth)x\(stream.model.inputHeight)")
        }
        let stopping = source.dropPolicy == .backPressure ? nil : StopOnSignals { _ in source.requestStop() }
        defer { stopping?.cancel() }
        try Pipeline.run(source, stream: stream, sinks: sinks, steps: steps, reloader: reloader) { step, described in
            if let view, let described, let captured = step.captured, let statistics = camera?.session?.statistics {
                view.draw(step: described, statistics: statistics, latency: captured.latency)
            }
        }
        view?.finish()
        if let report = source.report { note(report) }
    }
}

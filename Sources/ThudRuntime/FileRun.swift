// The file loop: a file or pipe (MediaInput) → 12 Hz steps → EnvelopeStream (encoder → LSTM → head → peak picker) →
// sinks. Every step is processed, none is skipped: a slow sink (a reader of stdout, a paced sound) slows the decode
// down instead of filling memory. (A camera has its own loop, LiveLoop, which drops stale steps instead.)
import Foundation
import ThudMedia
import ThudModel

public enum FileRun {
    /// Runs `media` through `stream` into `sinks`, in order, and returns the decode's summary. A delayed model's last
    /// steps are described at the end from the last frame held still; a hit at the very last step is confirmed after
    /// the input, so no step carries it. An input that ends early is an error once its steps are out (exit 12).
    @discardableResult
    public static func run(_ media: MediaInput, stream: EnvelopeStream, sinks: [any StepSink],
                           warn: @escaping (String) -> Void) throws -> DecodeSummary {
        let request = VideoStepRequest(width: stream.model.inputWidth, height: stream.model.inputHeight, pixelFormat: .gray8)
        func emit(_ described: DescribedStep) { for sink in sinks { sink.submit(described) } }
        let summary = try media.decode(video: request, audio: false, warn: warn) { step in
            if let described = try stream.process(frame: step.pixels, step: step.index, time: step.time) { emit(described) }
            return true
        }
        _ = try stream.finish(emit)
        if let error = summary.readError {
            throw MediaError(.truncated, file: media.name, "input ends early (\(error))")
        }
        return summary
    }
}

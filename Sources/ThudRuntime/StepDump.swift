// `thud frames` and `thud envelope`: what the model sees and what it learns, step by step, for scripts.
import Foundation
import ThudBase
import ThudMedia

public enum StepDump {
    public enum FrameOutput { case pixels, index, nothing }

    /// The 12 Hz frames of `media` as raw video on `out` (or one JSON line per step saying which source frame it
    /// shows, or nothing: a decoding benchmark), at most `limit` steps. Returns the timing line (steps, frames,
    /// seconds); an input that ends early is an error once its steps are out (12).
    public static func frames(_ media: MediaInput, request: VideoStepRequest, output: FrameOutput, limit: Int?,
                              out: LineWriter, warn: @escaping (String) -> Void) throws -> String {
        let started = Date()
        let summary = try media.decode(video: request, audio: false, warn: warn) { step in
            switch output {
            case .index:
                try out.write("{\"step\": \(step.index), \"t\": \(fixed(step.time)), \"source_t\": \(fixed(step.sourceTime)), \"source_frame\": \(step.sourceFrameNumber)}")
            case .pixels: try out.write(bytes: step.pixels)
            case .nothing: break
            }
            return limit.map { step.index + 1 < $0 } ?? true
        }
        let seconds = Date().timeIntervalSince(started)
        if let error = summary.readError, !summary.stoppedEarly {
            throw MediaError(.truncated, file: media.name, "input ends early (\(error))")
        }
        return "steps=\(summary.steps) decoded_frames=\(summary.videoFrames) seconds=\(fixed(seconds, 3)) steps_per_second=\(fixed(Double(summary.steps) / max(seconds, 1e-9), 1))"
    }

    /// The training target of `media`'s audio, one line per 12 Hz step: {"t", "envelope", "db"} or CSV.
    public static func envelope(_ media: MediaInput, csv: Bool, out: LineWriter, warn: @escaping (String) -> Void) throws {
        let summary = try media.decode(video: nil, audio: true, warn: warn)
        let audio = summary.audio!
        if let error = summary.readError { throw MediaError(.truncated, file: media.name, "input ends early (\(error))") }
        if audio.decodedFrames == 0 { throw MediaError(.audioUnusable, file: media.name, "audio does not decode") }
        let envelope = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
        if csv { try out.write("t,envelope,db") }
        for k in 0..<envelope.count {
            let t = fixed(StepRate.time(ofStep: k)), e = fixed(Double(envelope.values[k])), db = fixed(Double(envelope.db[k]), 2)
            try out.write(csv ? "\(t),\(e),\(db)" : "{\"t\": \(t), \"envelope\": \(e), \"db\": \(db)}")
        }
    }
}

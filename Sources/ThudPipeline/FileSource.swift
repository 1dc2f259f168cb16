// A file, a pipe or a FIFO (MediaInput) as a step source: decoded in order, every step served (back-pressure).
import Foundation
import ThudBase
import ThudMedia

public final class FileSource: StepSource {
    public let media: MediaInput
    public let request: VideoStepRequest
    /// Also decode the first audio stream (eval and render score and play it): `summary.audio`.
    public let decodesAudio: Bool
    /// An input that ends early is an error once its steps are out (exit 12); eval judges such a clip itself.
    public var failsOnEarlyEnd = true
    private let warn: (String) -> Void
    private let stop = StopRequest()
    /// What the decode found (steps, frames, damage, the audio when asked for).
    public private(set) var summary: DecodeSummary?

    public init(_ media: MediaInput, request: VideoStepRequest, audio: Bool = false, warn: @escaping (String) -> Void) {
        self.media = media; self.request = request; decodesAudio = audio; self.warn = warn
    }

    public var name: String { media.name }
    public var dropPolicy: DropPolicy { .backPressure }
    public func requestStop() { stop.request(SIGTERM) }

    public func serve(_ step: (SourceStep) throws -> Bool, event: (FeedEvent) throws -> Void) throws {
        summary = try media.decode(video: request, audio: decodesAudio, warn: warn) { [stop] video in
            guard stop.signal == nil else { return false }
            return try step(SourceStep(index: video.index, time: video.time, pixels: video.pixels))
        }
    }

    public func end() throws {
        if failsOnEarlyEnd, let error = summary?.readError {
            throw MediaError(.truncated, file: media.name, "input ends early (\(error))")
        }
    }
}

// The network loop: a network stream (NetworkFeed: connect, decode, reconnect) → 12 Hz steps → EnvelopeStream →
// sinks. Like FileRun, every step the stream's timestamps make is processed; unlike a file, the stream may drop and
// come back: the model's pending steps are described before the gap, its state starts afresh after it (a frame from
// before an outage says nothing about the motion after it), and the gap goes to the sinks as an event.
import Foundation
import ThudBase
import ThudMedia
import ThudModel

public enum StreamRun {
    /// Runs `feed` (already connected once when `first` is given) through `stream` into `sinks` until the stream
    /// ends, is stopped (feed.interrupt), or `steps` steps are out. A stream lost for good once steps are out is an
    /// error after them (exit 33).
    @discardableResult
    public static func run(_ feed: NetworkFeed, first: MediaInput?, stream: EnvelopeStream, sinks: [any StepSink],
                           steps: Int? = nil, warn: @escaping (String) -> Void) throws -> FeedSummary {
        func emit(_ described: DescribedStep) { for sink in sinks { sink.submit(described) } }
        var served = 0
        let summary = try feed.run(first: first, warn: warn, event: { event in
            if case .lost = event {
                _ = stream.finish(emit)
                stream.reset()
            }
            for sink in sinks { sink.event(event) }
        }, onStep: { step in
            if let described = stream.process(frame: step.pixels, step: step.index, time: step.time) { emit(described) }
            served += 1
            return steps.map { served < $0 } ?? true
        })
        _ = stream.finish(emit)
        if let reason = summary.lostReason { throw MediaError(.streamLost, file: feed.name, reason) }
        return summary
    }

    /// The run's figures in one line for stderr.
    public static func describe(_ s: FeedSummary, name: String) -> String {
        "\(name): \(s.steps) steps from \(s.videoFrames) frames; \(s.connections) connection\(s.connections == 1 ? "" : "s"), \(s.outages) outage\(s.outages == 1 ? "" : "s"), \(s.missingSteps) steps missing in gaps, \(s.corruptVideoPackets) corrupt packets"
    }
}

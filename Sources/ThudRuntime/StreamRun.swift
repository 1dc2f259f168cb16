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
                           steps: Int? = nil, latency: LatencyRecorder? = nil, throwOnLoss: Bool = true,
                           warn: @escaping (String) -> Void) throws -> FeedSummary {
        // Lines written while a frame is processed count for latency; those described at a loss or at the end (from
        // the last frame held still, after the timeout) do not.
        var inStep = false
        func emit(_ described: DescribedStep) {
            for sink in sinks { sink.submit(described) }
            if inStep { latency?.lineOut(step: described.step) }
        }
        var served = 0
        let summary = try feed.run(first: first, warn: warn, event: { event in
            if case .lost = event {
                _ = try stream.finish(emit)
                stream.reset()
            }
            for sink in sinks { sink.event(event) }
        }, onStep: { step in
            latency?.frameIn(step: step.index, arrival: step.arrival, dueAt: step.dueAt)
            inStep = true
            if let described = try stream.process(frame: step.pixels, step: step.index, time: step.time) { emit(described) }
            inStep = false
            served += 1
            return steps.map { served < $0 } ?? true
        })
        _ = try stream.finish(emit)
        if throwOnLoss, let reason = summary.lostReason { throw MediaError(.streamLost, file: feed.name, reason) }
        return summary
    }

    /// The run's figures in one line for stderr.
    public static func describe(_ s: FeedSummary, name: String) -> String {
        "\(name): \(s.steps) steps from \(s.videoFrames) frames; \(s.connections) connection\(s.connections == 1 ? "" : "s"), \(s.outages) outage\(s.outages == 1 ? "" : "s"), \(s.missingSteps) steps missing in gaps, \(s.corruptVideoPackets) corrupt packets"
    }
}

/// Frame → line latency of one feed: when each step's frame arrived (VideoStep.arrival) to when its line was written
/// (a delayed model's line comes that many frames later). A fixed ring of arrivals and a fixed store of samples: nothing
/// allocated per step.
public final class LatencyRecorder {
    private var arrivals = [Double](repeating: 0, count: 16)
    private var arrivalSteps = [Int](repeating: -1, count: 16)
    private var latest = 0.0
    private var samples: [Double]
    private var processing: [Double]
    private var count = 0

    public init(capacity: Int = 1 << 13) {
        samples = [Double](repeating: 0, count: capacity)
        processing = [Double](repeating: 0, count: capacity)
    }

    func frameIn(step: Int, arrival: Double, dueAt: Double) {
        arrivals[step & 15] = arrival
        arrivalSteps[step & 15] = step
        latest = dueAt
    }

    func lineOut(step: Int) {
        guard arrivalSteps[step & 15] == step, arrivals[step & 15] > 0, latest > 0 else { return }
        let now = MonotonicClock.seconds()
        // Past the store's capacity the samples go round (the latest hours are the ones that matter).
        samples[count % samples.count] = now - arrivals[step & 15]
        processing[count % processing.count] = now - latest
        count += 1
    }

    /// Median, 99th percentile and largest latency in seconds (NaN without samples) from the step's frame to its line
    /// (the 12 Hz clock waits for a later frame, a delayed model for its delay), and from the frame that made the line
    /// due (decode, model, output: Thud's own work). Allocates: for the end of a run.
    public var figures: (median: Double, p99: Double, max: Double) { Self.figures(samples, count) }
    public var processingFigures: (median: Double, p99: Double, max: Double) { Self.figures(processing, count) }

    private static func figures(_ values: [Double], _ count: Int) -> (median: Double, p99: Double, max: Double) {
        let sorted = values.prefix(min(count, values.count)).sorted()
        return (Percentiles.nearestRank(sorted, 0.5), Percentiles.nearestRank(sorted, 0.99), sorted.last ?? .nan)
    }
}

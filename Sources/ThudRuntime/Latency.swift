// Frame → line latency of a network feed, from the pipeline's `observe` hook.
import Foundation
import ThudBase
import ThudModel
import ThudPipeline

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

    /// The step's frame came in (a pipeline step: its arrival, and when the frame that made it due arrived).
    func frameIn(step: Int, arrival: Double, dueAt: Double) {
        arrivals[step & 15] = arrival
        arrivalSteps[step & 15] = step
        latest = dueAt
    }

    /// A line for `step` was written now.
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

    /// The pipeline's observer: a step served, and what was described (and written) while it was processed. Lines
    /// described at a loss or at the end (from the last frame held still, after the timeout) do not count.
    public func observe(_ step: SourceStep, _ described: DescribedStep?) {
        frameIn(step: step.index, arrival: step.arrival, dueAt: step.dueAt)
        if let described { lineOut(step: described.step) }
    }
    public var processingFigures: (median: Double, p99: Double, max: Double) { Self.figures(processing, count) }

    private static func figures(_ values: [Double], _ count: Int) -> (median: Double, p99: Double, max: Double) {
        let sorted = values.prefix(min(count, values.count)).sorted()
        return (Percentiles.nearestRank(sorted, 0.5), Percentiles.nearestRank(sorted, 0.99), sorted.last ?? .nan)
    }
}

import Synchronization
import ThudBase

/// Summary of hit latencies, in seconds.
public struct LatencyStats: Equatable, CustomStringConvertible {
    /// Number of hits measured (the last `LatencyLog.capacity` are summarized).
    public var count: Int
    /// Submission → first sample of the knock written into ALSA (leaves the sink's own buffer).
    public var handoffMedian: Double
    public var handoffMax: Double
    /// Submission → first sample leaving the device buffer towards the DAC: handoff plus the
    /// frames queued ahead of it (`snd_pcm_delay`, or the wall-clock playhead for `null`).
    public var outputMedian: Double
    public var outputMax: Double

    public static let empty = LatencyStats(count: 0, handoffMedian: 0, handoffMax: 0, outputMedian: 0, outputMax: 0)

    public var description: String {
        func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
        return "latency over \(count) hits: output median \(ms(outputMedian)), max \(ms(outputMax)); "
            + "handoff median \(ms(handoffMedian)), max \(ms(handoffMax))"
    }
}

/// Latency samples written by the sink thread into preallocated rings, read by anyone.
/// The writer stores a slot and then publishes the count with a release store; readers take
/// the count with acquire and copy. A reader racing a wrap-around may see one slot being
/// overwritten; that skews a summary by one sample at most, never blocks the audio thread.
final class LatencyLog {
    static let capacity = 4096
    private let handoff = UnsafeMutablePointer<Double>.allocate(capacity: LatencyLog.capacity)
    private let output = UnsafeMutablePointer<Double>.allocate(capacity: LatencyLog.capacity)
    private let written = Atomic<Int>(0)

    init() {
        handoff.initialize(repeating: 0, count: Self.capacity)
        output.initialize(repeating: 0, count: Self.capacity)
    }
    deinit { handoff.deallocate(); output.deallocate() }

    /// Audio thread only.
    @inline(__always)
    func record(handoff h: Double, output o: Double) {
        let n = written.load(ordering: .relaxed)
        handoff[n % Self.capacity] = h
        output[n % Self.capacity] = o
        written.store(n + 1, ordering: .releasing)
    }

    /// Any thread; allocates (never called by the audio thread).
    func summary() -> LatencyStats {
        let n = min(written.load(ordering: .acquiring), Self.capacity)
        guard n > 0 else { return .empty }
        let h = (0..<n).map { handoff[$0] }.sorted()
        let o = (0..<n).map { output[$0] }.sorted()
        return LatencyStats(count: written.load(ordering: .acquiring), handoffMedian: Percentiles.median(h), handoffMax: h.last!,
                            outputMedian: Percentiles.median(o), outputMax: o.last!)
    }

    /// Raw output latencies (seconds), oldest first when not wrapped; for tests and benchmarks.
    func outputSamples() -> [Double] {
        let n = min(written.load(ordering: .acquiring), Self.capacity)
        return (0..<n).map { output[$0] }
    }
}

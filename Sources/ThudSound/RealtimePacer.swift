import ThudBase

/// Holds a faster-than-real-time loop to the stream's own clock.
///
/// Why: `thud predict FILE --sonify` decodes and predicts far faster than 12 steps a second, so
/// without pacing every knock of a clip would come out in one burst. Calling
/// `wait(untilStreamTime: step.time)` before submitting a step's hit makes each knock sound when
/// its step would have been seen. Live capture is already real time and needs no pacer.
public final class RealtimePacer {
    private var originNanos: UInt64 = 0
    private var originStreamTime = 0.0
    private var started = false

    public init() {}

    /// Sleeps until `time` (seconds of stream time) has elapsed since the first call, which
    /// anchors the clock and returns at once. Never sleeps for times already past.
    public func wait(untilStreamTime time: Double) {
        let now = MonotonicClock.nanos()
        if !started {
            started = true
            originNanos = now
            originStreamTime = time
            return
        }
        let due = originNanos &+ UInt64(max(0, time - originStreamTime) * 1e9)
        if due > now { sleepNanos(due - now) }
    }
}

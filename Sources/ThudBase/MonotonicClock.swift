import Glibc

/// CLOCK_MONOTONIC: the clock that never jumps with wall-clock changes. V4L2 stamps capture buffers with it
/// (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC), so frame timestamps and `seconds()` can be subtracted directly; the sound
/// sink's submission and write timestamps come from it, or latency figures would be meaningless.
public enum MonotonicClock {
    /// Seconds since an arbitrary fixed point.
    @inline(__always)
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Nanoseconds since the same fixed point; does not touch the heap (safe on the audio thread).
    @inline(__always)
    public static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

import Glibc

/// CLOCK_MONOTONIC in nanoseconds: submission and write timestamps must come from the same
/// clock that never jumps, or latency figures would be meaningless.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Sleeps without touching the heap (safe on the audio thread).
@inline(__always)
func sleepNanos(_ nanos: UInt64) {
    guard nanos > 0 else { return }
    var request = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

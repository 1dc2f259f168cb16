import Glibc

/// Sleeps without touching the heap (safe on the audio thread).
@inline(__always)
func sleepNanos(_ nanos: UInt64) {
    guard nanos > 0 else { return }
    var request = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

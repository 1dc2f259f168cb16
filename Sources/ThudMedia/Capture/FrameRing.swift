import Glibc
import ThudBase

/// Fixed-capacity ring of model-sized grayscale frames, written by the capture thread and read by the
/// 12 Hz consumer. All memory is allocated in `init`; `push` and `take` only copy (a 96×96 frame is
/// 9 KB, so copying under the lock is cheaper and simpler than handing out slots that could be
/// overwritten while read).
///
/// Policy (newest wins): the ring keeps the last `capacity` frames in timestamp order. A full ring
/// overwrites its oldest frame; the consumer asks for the newest frame at or before a time (causal,
/// never a future frame). Frames that were never handed out before a newer one was are counted as
/// `decimated` (expected when the camera runs faster than 12 Hz, and what happens to stale frames
/// when the consumer falls behind); a frame handed out twice counts as a repeat (camera slower
/// than 12 Hz, e.g. auto-exposure lowering the frame rate).
public final class FrameRing {
    public let capacity: Int
    public let width: Int
    public let height: Int
    public var frameByteCount: Int { width * height }

    let monitor = CaptureMonitor()
    private let pixels: UnsafeMutablePointer<UInt8>
    // Per slot, indexed like `pixels`; fixed-size buffers so pushing never reallocates.
    private let timestamps: UnsafeMutablePointer<Double>
    private let sequences: UnsafeMutablePointer<UInt32>
    private let handedOut: UnsafeMutablePointer<Bool>
    private let accounted: UnsafeMutablePointer<Bool>
    private var head = 0      // slot the next push writes
    private(set) var count = 0

    // Guarded by `monitor`.
    private(set) var failure: CaptureError?
    private(set) var finished = false
    private(set) var pushed = 0
    private(set) var decimated = 0
    private(set) var repeats = 0
    private(set) var reorderedTimestamps = 0
    /// Frames lost before they reached the ring (driver sequence gaps, error buffers); the producer
    /// reports them so the consumer's steps can carry a running total.
    private(set) var lostBeforeRing = 0

    public init(capacity: Int, width: Int, height: Int) {
        precondition(capacity >= 2 && width > 0 && height > 0)
        self.capacity = capacity
        self.width = width
        self.height = height
        pixels = .allocate(capacity: capacity * width * height)
        pixels.initialize(repeating: 0, count: capacity * width * height)
        timestamps = .allocate(capacity: capacity); timestamps.initialize(repeating: 0, count: capacity)
        sequences = .allocate(capacity: capacity); sequences.initialize(repeating: 0, count: capacity)
        handedOut = .allocate(capacity: capacity); handedOut.initialize(repeating: false, count: capacity)
        accounted = .allocate(capacity: capacity); accounted.initialize(repeating: false, count: capacity)
    }

    deinit {
        pixels.deallocate(); timestamps.deallocate(); sequences.deallocate()
        handedOut.deallocate(); accounted.deallocate()
    }

    @inline(__always) private func slot(age i: Int) -> Int {   // i = 0 oldest … count-1 newest
        (head - count + i + capacity * 2) % capacity
    }

    // MARK: producer

    /// Copies one frame in. Timestamps must increase; one that does not (a driver glitch) is moved
    /// just after the newest so the ring's order, and so causality, holds.
    public func push(_ frame: UnsafePointer<UInt8>, timestamp: Double, sequence: UInt32, lostBefore: Int = 0) {
        monitor.lock()
        var ts = timestamp
        if count > 0 {
            let newest = timestamps[slot(age: count - 1)]
            if !(ts > newest) { ts = newest + 1e-6; reorderedTimestamps += 1 }
        }
        if count == capacity {
            let oldest = slot(age: 0)
            if !handedOut[oldest] && !accounted[oldest] { decimated += 1 }
            count -= 1
        }
        let s = head
        (pixels + s * frameByteCount).update(from: frame, count: frameByteCount)
        timestamps[s] = ts
        sequences[s] = sequence
        handedOut[s] = false
        accounted[s] = false
        head = (head + 1) % capacity
        count += 1
        pushed += 1
        lostBeforeRing += lostBefore
        monitor.broadcast()
        monitor.unlock()
    }

    /// Adds frames lost before the ring (sequence gaps, error buffers) without a frame.
    public func noteLost(_ n: Int) {
        monitor.locked { lostBeforeRing += n }
    }

    /// The producer stopped because of `error`: consumers wake and throw it.
    public func fail(_ error: CaptureError) {
        monitor.locked {
            if failure == nil { failure = error }
            monitor.broadcast()
        }
    }

    /// Stop requested: consumers wake and see the end.
    public func finish() {
        monitor.locked { finished = true; monitor.broadcast() }
    }

    // MARK: consumer

    public struct Taken: Equatable {
        public var timestamp: Double
        public var sequence: UInt32
        public var repeated: Bool
    }

    /// The newest frame with timestamp ≤ `time`, copied into `destination` (frameByteCount bytes).
    /// nil when every frame held is newer than `time` (or the ring is empty).
    public func take(atOrBefore time: Double, into destination: UnsafeMutablePointer<UInt8>) -> Taken? {
        monitor.locked { takeLocked(atOrBefore: time, into: destination) }
    }

    func takeLocked(atOrBefore time: Double, into destination: UnsafeMutablePointer<UInt8>) -> Taken? {
        var age = count - 1
        while age >= 0 && timestamps[slot(age: age)] > time { age -= 1 }
        guard age >= 0 else { return nil }
        let s = slot(age: age)
        // Older frames never handed out are now stale for good: newest wins.
        var older = age - 1
        while older >= 0 {
            let o = slot(age: older)
            if handedOut[o] || accounted[o] { break }
            accounted[o] = true
            decimated += 1
            older -= 1
        }
        let repeated = handedOut[s]
        if repeated { repeats += 1 }
        handedOut[s] = true
        destination.update(from: pixels + s * frameByteCount, count: frameByteCount)
        return Taken(timestamp: timestamps[s], sequence: sequences[s], repeated: repeated)
    }

    /// Recording (every frame, in order): the oldest frame newer than `time`, copied into `destination`, waiting
    /// until the monotonic `deadline` for one to arrive. nil when none came by then or the ring was finished (stop);
    /// throws the producer's error once no such frame is left. Frames the ring overwrote before they were taken
    /// show as gaps in `sequence`. `marking: false` (a recorder beside the live loop, `--learn`) leaves the frames'
    /// handed-out marks to the loop's steps, so its repeat and decimation counts stay what they were.
    public func takeNext(after time: Double, into destination: UnsafeMutablePointer<UInt8>, deadline: Double,
                         marking: Bool = true) throws -> Taken? {
        monitor.lock(); defer { monitor.unlock() }
        while true {
            var age = 0
            while age < count && !(timestamps[slot(age: age)] > time) { age += 1 }
            if age < count {
                let s = slot(age: age)
                let repeated = handedOut[s]
                if marking { handedOut[s] = true }
                destination.update(from: pixels + s * frameByteCount, count: frameByteCount)
                return Taken(timestamp: timestamps[s], sequence: sequences[s], repeated: repeated)
            }
            if let failure { throw failure }
            if finished || MonotonicClock.seconds() >= deadline { return nil }
            monitor.wait(until: deadline)
        }
    }

    /// A stop was requested (`finish`): no frame will come any more.
    public var isFinished: Bool { monitor.locked { finished } }

    var oldestTimestampLocked: Double? { count > 0 ? timestamps[slot(age: 0)] : nil }

    public struct Counters: Equatable {
        public var pushed: Int
        public var decimated: Int
        public var repeats: Int
        public var lostBeforeRing: Int
        public var reorderedTimestamps: Int
    }

    public var counters: Counters {
        monitor.locked { Counters(pushed: pushed, decimated: decimated, repeats: repeats,
                                  lostBeforeRing: lostBeforeRing, reorderedTimestamps: reorderedTimestamps) }
    }
}

import Glibc
import ThudBase

/// One 12 Hz step of live capture: the frame the model sees for step `index`.
public struct CapturedStep: Equatable, Sendable {
    /// Step number k; steps skipped because the consumer fell behind leave gaps.
    public var index: Int
    /// k / 12 s: where the step stands on the output clock (0 = the first frame's timestamp).
    public var time: Double
    /// The driver's timestamp of the frame used (CLOCK_MONOTONIC seconds).
    public var frameTimestamp: Double
    /// The same, relative to the first frame (≤ `time`: causal).
    public var frameTime: Double
    /// The driver's sequence number of the frame used.
    public var sequence: UInt32
    /// Seconds from the frame's timestamp to the moment this step was handed out: the frame's age
    /// at the step's time (under one camera frame interval) plus `delay`.
    public var latency: Double
    /// Seconds from the step's own time (t0 + k/12) to the moment it was handed out: the consumer's
    /// wake-up cost, or how late it asked.
    public var delay: Double
    /// The frame was already used by an earlier step (camera slower than 12 Hz).
    public var repeated: Bool
    /// Steps dropped just before this one because the consumer was late (newest wins).
    public var skippedNow: Int
    /// Running totals: frames lost before reaching the ring (driver sequence gaps, error buffers),
    /// and steps skipped because the consumer fell behind.
    public var droppedFrames: Int
    public var skippedSteps: Int
}

/// The consumer side: a 12 Hz clock in the frames' own time base (CLOCK_MONOTONIC). Step k stands at
/// t0 + k/12, t0 being the first frame's timestamp; at that moment it takes the newest frame whose
/// timestamp is ≤ t0 + k/12. The clock never looks at the camera's frame rate, so auto-exposure that
/// slows the camera only makes steps repeat frames, never moves a step.
///
/// Falling behind: if, when asked, a later step is already due, the stale steps are skipped and
/// counted and the newest due step is served (the prediction describes the present).
public final class LiveStepper {
    public let ring: FrameRing
    public private(set) var origin: Double?
    public private(set) var nextIndex = 0
    public private(set) var skippedSteps = 0
    public private(set) var stepsServed = 0
    private var pendingSkips = 0
    /// The pixels of the last step served (ring.width × ring.height, row-major, tightly packed).
    public let pixels: UnsafeMutableBufferPointer<UInt8>

    public init(ring: FrameRing) {
        self.ring = ring
        pixels = .allocate(capacity: ring.frameByteCount)
        pixels.initialize(repeating: 0)
    }

    deinit { pixels.deallocate() }

    public enum Poll: Equatable {
        case step(CapturedStep)
        case waitUntil(Double)     // nothing due before this monotonic time (infinity: no frame yet)
        case finished
    }

    /// Non-blocking: what is due at `now`. Deterministic given `now`, which the tests rely on.
    public func poll(now: Double) throws -> Poll {
        ring.monitor.lock(); defer { ring.monitor.unlock() }
        return try pollLocked(now: now)
    }

    /// Blocks until the next step is due and returns it; nil after the ring is finished (stop). Throws
    /// the capture thread's error, or `stalled` when nothing at all arrives within `timeout`.
    public func nextStep(timeout: Double, device: String = "capture", now clock: () -> Double = MonotonicClock.seconds) throws -> CapturedStep? {
        let giveUp = clock() + timeout
        ring.monitor.lock(); defer { ring.monitor.unlock() }
        while true {
            let now = clock()
            switch try pollLocked(now: now) {
            case .step(let s): return s
            case .finished: return nil
            case .waitUntil(let t):
                if now >= giveUp {
                    throw CaptureError(.stalled, device: device, "no frame within \(Format.fixed(timeout, 1)) s")
                }
                ring.monitor.wait(until: min(t, giveUp))
            }
        }
    }

    private func pollLocked(now: Double) throws -> Poll {
        if let failure = ring.failure { throw failure }
        if ring.finished { return .finished }
        guard let oldest = ring.oldestTimestampLocked else { return .waitUntil(.infinity) }
        if origin == nil { origin = oldest }
        let t0 = origin!
        var k = nextIndex
        // The newest step whose time has come (the epsilon keeps floor() from landing one short at
        // exactly t0 + k/12).
        let latestDue = Int(((now - t0) * StepRate.hz + 1e-9).rounded(.down))
        if latestDue < k { return .waitUntil(t0 + Double(k) / StepRate.hz) }
        var skippedNow = 0
        if latestDue > k {           // late: newest wins
            skippedNow = latestDue - k
            k = latestDue
        }
        let target = t0 + Double(k) / StepRate.hz
        guard let taken = ring.takeLocked(atOrBefore: target, into: pixels.baseAddress!) else {
            // Every frame held is newer than the target (the ring wrapped past it): the first step
            // that has a frame is the earliest causal one.
            let first = Int(((oldest - t0) * StepRate.hz - 1e-9).rounded(.up))
            pendingSkips += first - nextIndex
            nextIndex = first
            return .waitUntil(t0 + Double(first) / StepRate.hz)
        }
        skippedNow += pendingSkips   // steps given up above, while no causal frame was left
        pendingSkips = 0
        skippedSteps += skippedNow
        nextIndex = k + 1
        stepsServed += 1
        return .step(CapturedStep(index: k, time: Double(k) / StepRate.hz,
                                  frameTimestamp: taken.timestamp, frameTime: taken.timestamp - t0,
                                  sequence: taken.sequence, latency: now - taken.timestamp, delay: now - target,
                                  repeated: taken.repeated, skippedNow: skippedNow,
                                  droppedFrames: ring.lostBeforeRing, skippedSteps: skippedSteps))
    }
}

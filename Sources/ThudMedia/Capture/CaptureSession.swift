import Glibc
import ThudBase

/// What live capture should deliver. Sizes are width × height in pixels.
public struct CaptureRequest: Sendable, Equatable {
    /// Camera size to ask for; the offered size nearest to it is used (see `NegotiatedFormat`).
    public var captureWidth = 320
    public var captureHeight = 240
    /// The model's input: frames come out as 8-bit luma of this size.
    public var outputWidth = 64
    public var outputHeight = 64
    /// A specific V4L2 format, or nil to pick the cheapest usable one.
    public var format: FourCC? = nil
    /// Camera frame rate to ask for (nearest offered); nil leaves the driver's.
    public var framesPerSecond: Double? = 30
    /// Driver buffers for memory-mapped streaming.
    public var bufferCount = 4
    /// Frames kept for the 12 Hz consumer.
    public var ringCapacity = 8
    /// Streaming with no frame for this long is an error (exit code 31), never a hang.
    public var stallTimeout: Double = 2.0

    public init(captureWidth: Int = 320, captureHeight: Int = 240, outputWidth: Int = 64, outputHeight: Int = 64,
                format: FourCC? = nil, framesPerSecond: Double? = 30) {
        self.captureWidth = captureWidth
        self.captureHeight = captureHeight
        self.outputWidth = outputWidth
        self.outputHeight = outputHeight
        self.format = format
        self.framesPerSecond = framesPerSecond
    }
}

/// Counters of one capture session.
public struct CaptureStatistics: Sendable, Equatable {
    public var framesCaptured = 0        // buffers dequeued with usable data
    public var framesDroppedByDriver = 0 // gaps in the driver's sequence numbers
    public var errorFrames = 0           // buffers flagged V4L2_BUF_FLAG_ERROR or undecodable, discarded
    public var framesDecimated = 0       // captured but superseded before any step used them
    public var repeatedSteps = 0         // steps that reused a frame (camera slower than 12 Hz)
    public var skippedSteps = 0          // steps dropped because the consumer fell behind
    public var steps = 0
}

/// Live capture from a V4L2 device: a capture thread dequeues buffers, converts each to model-sized
/// luma and pushes it into a `FrameRing`; `nextStep` serves one frame per 12 Hz step (see
/// `LiveStepper` for the clock and the newest-wins policy).
///
///     let session = try CaptureSession(device: "/dev/video0", request: CaptureRequest(outputWidth: 96, outputHeight: 96))
///     try session.start()
///     while let step = try session.nextStep() { use(step, session.pixels) }   // nil after requestStop()
///     session.stop()
///
/// (Thud runs it as ThudPipeline's CameraSource: Pipeline.run feeds each step's pixels to an EnvelopeStream.)
///
/// Errors are `CaptureError` (exit code 30: open/negotiate/start, 31: lost while streaming).
public final class CaptureSession {
    public let device: String
    public let request: CaptureRequest
    public let source: V4L2Source
    /// What the driver actually set.
    public let format: NegotiatedFormat
    public let ring: FrameRing
    private let stepper: LiveStepper
    private let converter: CaptureFrameConverter
    private let scratch: UnsafeMutablePointer<UInt8>

    /// Called with one-line notices (the late-consumer policy, recoverable buffer errors), from the
    /// capture thread or the consumer's. Set it before `start()`. Default: stderr.
    public var log: (String) -> Void = { line in
        var text = line + "\n"
        text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, stderr) }
    }

    private var thread: pthread_t?
    private let stateLock = CaptureMonitor()
    private var stopRequested = false
    private var stopped = false
    // Capture-thread state. The counters are written under `stateLock` so `statistics` can read
    // them from another thread; `lastSequence` is the capture thread's alone.
    private var lastSequence: UInt32?
    private var droppedByDriver = 0
    private var errorFrames = 0
    private var captured = 0
    // The consumer's alone (nextStep).
    private var lastLateLog = -Double.infinity
    private var lateSinceLog = 0

    /// Opens the device and negotiates (exit code 30 on failure). Nothing streams yet.
    public init(device: String, request: CaptureRequest = CaptureRequest()) throws {
        self.device = device
        self.request = request
        guard request.outputWidth > 0, request.outputHeight > 0, request.outputWidth <= 4096, request.outputHeight <= 4096 else {
            throw CaptureError(.cannotNegotiate, device: device, "absurd output size \(request.outputWidth)x\(request.outputHeight)")
        }
        source = try V4L2Source(device: device)
        format = try source.negotiate(request)
        guard let converter = CaptureFrameConverter(format: format.fourcc, width: format.width, height: format.height,
                                                    bytesPerLine: format.bytesPerLine,
                                                    outputWidth: request.outputWidth, outputHeight: request.outputHeight) else {
            source.close()
            throw CaptureError(.cannotNegotiate, device: device, "cannot convert \(format.fourcc) \(format.width)x\(format.height) to \(request.outputWidth)x\(request.outputHeight) luma")
        }
        self.converter = converter
        ring = FrameRing(capacity: max(2, request.ringCapacity), width: request.outputWidth, height: request.outputHeight)
        stepper = LiveStepper(ring: ring)
        scratch = .allocate(capacity: converter.outputByteCount)
        scratch.initialize(repeating: 0, count: converter.outputByteCount)
    }

    deinit {
        stop()
        scratch.deallocate()
    }

    /// The luma of the last step served: outputWidth × outputHeight bytes, row-major. Overwritten
    /// by the next `nextStep`.
    public var pixels: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(stepper.pixels) }

    /// Buffers, STREAMON, and the capture thread (exit code 30 on failure).
    public func start() throws {
        try source.startStreaming(bufferCount: request.bufferCount)
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let session = Unmanaged<CaptureSession>.fromOpaque(raw!).takeRetainedValue()
            session.captureLoop()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<CaptureSession>.fromOpaque(context).release()
            source.stopStreaming()
            throw CaptureError(.cannotStart, device: device, "cannot start the capture thread: \(CaptureError.describe(errno: rc))")
        }
        thread = tid
    }

    /// Blocks until the next 12 Hz step and returns it; `pixels` then holds its frame. nil once a
    /// stop was requested. Throws the capture thread's `CaptureError` (device lost, stalled).
    public func nextStep(timeout: Double? = nil) throws -> CapturedStep? {
        let step = try stepper.nextStep(timeout: timeout ?? request.stallTimeout + 1, device: device)
        if let step, step.skippedNow > 0 {
            // Newest wins: stale steps are dropped so the prediction describes the present. Logged
            // at most once a second so a slow consumer does not also drown in its own log.
            lateSinceLog += step.skippedNow
            if step.frameTimestamp - lastLateLog >= 1 {
                log("capture: consumer fell behind; skipped \(lateSinceLog) stale step(s) (\(step.skippedSteps) in all), serving the newest frame (step \(step.index))")
                lastLateLog = step.frameTimestamp
                lateSinceLog = 0
            }
        }
        return step
    }

    /// Asks the capture thread to stop; `nextStep` returns nil from then on. Safe from any thread
    /// (e.g. a SIGINT/SIGTERM dispatch source); does not block.
    public func requestStop() {
        stateLock.locked {
            stopRequested = true
            // Only while the source is open: after stop() its pipe's fd number may belong to
            // another file.
            if !stopped { source.wake() }
        }
        ring.finish()
    }

    /// Stops and releases everything: the capture thread ends, STREAMOFF, unmap, close. Idempotent.
    public func stop() {
        requestStop()
        let t: pthread_t? = stateLock.locked {
            defer { thread = nil }
            return thread
        }
        if let t { pthread_join(t, nil) }
        stateLock.locked {
            if !stopped { stopped = true; source.close() }
        }
    }

    public var statistics: CaptureStatistics {
        let c = ring.counters
        var s = CaptureStatistics()
        stateLock.locked {
            s.framesCaptured = captured
            s.framesDroppedByDriver = droppedByDriver
            s.errorFrames = errorFrames
        }
        s.framesDecimated = c.decimated
        s.repeatedSteps = c.repeats
        s.skippedSteps = stepper.skippedSteps
        s.steps = stepper.stepsServed
        return s
    }

    // MARK: capture thread

    private func captureLoop() {
        do {
            while !stateLock.locked({ stopRequested }) {
                switch try source.waitForFrame(timeout: request.stallTimeout) {
                case .woken:
                    break
                case .timedOut:
                    // Never a frame at all: the device could not really be started (30); silence
                    // after frames is a loss while streaming (31).
                    if stateLock.locked({ captured == 0 && errorFrames == 0 }) {
                        throw CaptureError(.cannotStart, device: device, "started streaming but delivered no frame within \(Format.fixed(request.stallTimeout, 1)) s")
                    }
                    throw CaptureError(.stalled, device: device, "no frame for \(Format.fixed(request.stallTimeout, 1)) s while streaming")
                case .frame(let frame):
                    try handle(frame)
                }
            }
        } catch let error as CaptureError {
            ring.fail(error)
        } catch {
            ring.fail(CaptureError(.deviceLost, device: device, "\(error)"))
        }
        // Release the driver's buffers as soon as capture ends (also after a device loss); the fd
        // itself is closed by stop().
        source.stopStreaming()
    }

    private func handle(_ frame: V4L2Source.Frame) throws {
        let arrival = MonotonicClock.seconds()
        // Sequence gaps are frames the driver dropped (no free buffer, or the device skipped them).
        // Wrapping arithmetic keeps a 32-bit wrap from looking like four billion drops.
        var lost = 0
        if let last = lastSequence {
            let gap = frame.sequence &- last &- 1
            if gap < 1 << 20 { lost = Int(gap) }
        }
        lastSequence = frame.sequence
        var usable = !frame.error
        if usable {
            usable = converter.convert(frame.data, bytesUsed: frame.bytesUsed, into: scratch)
        }
        // Only monotonic timestamps share the consumer's clock; otherwise (or for a timestamp far
        // from now, e.g. vivid's wrap_timestamp) the dequeue time stands in.
        var ts = frame.timestamp
        if !source.monotonicTimestamps || abs(arrival - ts) > 1.0 { ts = arrival }
        stateLock.locked {
            droppedByDriver += lost
            if usable { captured += 1 } else { errorFrames += 1 }
        }
        if usable {
            ring.push(scratch, timestamp: ts, sequence: frame.sequence, lostBefore: lost)
        } else {
            ring.noteLost(lost + 1)
            log("capture: \(device): discarded frame \(frame.sequence) (\(frame.error ? "driver flagged a buffer error" : "undecodable data")); continuing")
        }
        if try source.requeue(frame) {
            log("capture: \(device): VIDIOC_QBUF of buffer \(frame.index) failed once and succeeded on retry; continuing")
        }
    }
}

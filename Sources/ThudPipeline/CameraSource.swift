// A camera (V4L2 through CaptureSession) as a step source: a capture thread fills a ring, each 12 Hz step takes the
// newest frame at or before its time, and a step the loop reaches late is skipped and counted (newest wins).
import Foundation
import ThudBase
import ThudMedia

/// Where live steps come from: a camera's CaptureSession, or anything that serves 12 Hz steps in order (with gaps
/// where it dropped stale ones) and the pixels of the step it served last (the tests' scripted ring).
public protocol LiveStepSource: AnyObject {
    /// The next step, nil when the source ended (a stop was requested); throws when it was lost.
    func nextStep() throws -> CapturedStep?
    /// The model-sized pixels of the step `nextStep` returned last.
    var pixels: UnsafeBufferPointer<UInt8> { get }
    func start() throws
    func stop()
    func requestStop()
}

extension LiveStepSource {
    public func start() throws {}
    public func stop() {}
    public func requestStop() {}
}

extension CaptureSession: LiveStepSource {
    public func nextStep() throws -> CapturedStep? { try nextStep(timeout: nil) }
}

public final class CameraSource: StepSource {
    public let live: LiveStepSource
    public let name: String
    /// The frame → step latency of the first 100 000 steps, seconds.
    public private(set) var latencies: [Double] = []
    /// Steps served.
    public private(set) var served = 0

    /// Opens the device (negotiates the format; capture starts when the run does).
    public convenience init(device: String, request: CaptureRequest) throws {
        self.init(try CaptureSession(device: device, request: request), name: device)
    }

    public init(_ live: LiveStepSource, name: String) {
        self.live = live
        self.name = name
        latencies.reserveCapacity(4096)
    }

    public var session: CaptureSession? { live as? CaptureSession }
    public var dropPolicy: DropPolicy { .newestWins }
    public func requestStop() { live.requestStop() }

    public func serve(_ step: (SourceStep) throws -> Bool, event: (FeedEvent) throws -> Void) throws {
        try live.start()
        defer { live.stop() }
        while let captured = try live.nextStep() {
            if latencies.count < 100_000 { latencies.append(captured.latency) }
            served += 1
            guard try step(SourceStep(index: captured.index, time: captured.time, pixels: live.pixels, captured: captured)) else { break }
        }
    }

    /// What the camera was opened as, one line (nil for a source that is not a camera).
    public var opening: String? {
        guard let f = session?.format else { return nil }
        let rate = f.framesPerSecond.map { String(format: "%.2f fps", $0) } ?? "driver's rate"
        return "live from \(name): \(f.fourcc) \(f.width)x\(f.height) at \(rate)\(f.emulated ? " (converted by libv4l2)" : "")"
    }

    public var report: String? {
        guard let s = session?.statistics else { return nil }
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : Percentiles.nearestRank(sorted, p) * 1000 }
        return String(format: "%d steps; camera frames %d, dropped by driver %d, error frames %d, stale steps skipped %d; latency frame→step median %.1f ms, p99 %.1f ms",
                      served, s.framesCaptured, s.framesDroppedByDriver, s.errorFrames, s.skippedSteps, pct(0.5), pct(0.99))
    }
}

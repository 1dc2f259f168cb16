// Where 12 Hz steps come from. Three adapters, one per kind of input, each with its own answer to "what if the loop
// falls behind" (DropPolicy): FileSource (a file, a pipe, a FIFO), NetworkSource (a network stream, reconnecting),
// CameraSource (V4L2). InputSource.open picks one for a command-line input.
import Foundation
import ThudMedia
import ThudModel

/// One step as a source serves it: the model-sized frame that stands at the step, and when it came.
public struct SourceStep {
    /// Step number k (a source that skipped or lost steps leaves gaps; none are invented).
    public var index: Int
    /// k / 12 s from the start of the input.
    public var time: Double
    /// The model-sized gray8 frame of the step; valid until the next step is served.
    public var pixels: UnsafeBufferPointer<UInt8>
    /// Monotonic seconds when the step's frame arrived (0: not measured, a file).
    public var arrival: Double = 0
    /// Monotonic seconds when the frame that made the step due arrived (0: not measured).
    public var dueAt: Double = 0
    /// A camera's step as its capture served it (frame timestamp, latency); nil for files and streams.
    public var captured: CapturedStep?

    public init(index: Int, time: Double, pixels: UnsafeBufferPointer<UInt8>, arrival: Double = 0, dueAt: Double = 0,
                captured: CapturedStep? = nil) {
        self.index = index; self.time = time; self.pixels = pixels; self.arrival = arrival; self.dueAt = dueAt; self.captured = captured
    }
}

/// What a source does with steps when the loop that takes them falls behind.
public enum DropPolicy: String, Sendable {
    /// A file or a pipe: nothing is skipped; a slow sink slows the decoding down (the pipe fills) instead of memory.
    case backPressure = "back-pressure: every step, none skipped"
    /// A network stream: it does not wait for us; steps lost in an outage are a gap event after the reconnection,
    /// numbered on the stream's timestamps when they carry on, else on the monotonic clock; none are invented.
    case gapsAfterOutages = "gaps after outages: reconnect, steps of the outage reported, none invented"
    /// A camera: the newest frame wins; a step the loop reaches late is skipped and counted.
    case newestWins = "newest wins: late steps skipped and counted"
}

/// A source of 12 Hz steps.
public protocol StepSource: AnyObject {
    /// The input as messages name it (a file's path, a URL without its password, a device).
    var name: String { get }
    var dropPolicy: DropPolicy { get }
    /// Serves the steps in order to `step` until the input ends, `step` returns false or a stop is requested;
    /// `event` gets what happens to a network feed. Throws when the input fails (it cannot be opened, read, …).
    func serve(_ step: (SourceStep) throws -> Bool, event: (FeedEvent) throws -> Void) throws
    /// After the last steps are described: throws when the input ended badly although its steps are out (a file that
    /// ends early: 12; a stream lost for good: 33).
    func end() throws
    /// Ends `serve` soon, from any thread (a signal's handler).
    func requestStop()
    /// The run's figures in one line (nil: none), for the command to print at the end.
    var report: String? { get }
}

extension StepSource {
    public func end() throws {}
    public var report: String? { nil }
}

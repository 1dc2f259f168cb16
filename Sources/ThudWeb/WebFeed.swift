// One feed as the web page sees it. Its StepSink (WebFeedSink) runs on the feed's prediction thread and only hands
// things over: each described step into a lock-free queue (a full queue drops and counts: the page misses a step, the
// feed never waits), the feed's events into a few fields under a lock taken only on an event, and — only while a
// browser is looking — a copy of the model-sized frame three times a second into the picture buffer. The hub's pump
// thread takes it all from there (WebHub).
import Foundation
import Synchronization
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline

/// One described step on its way to the page: trivial, so that queueing it allocates nothing.
struct WebStep {
    var step: Int32
    var time: Double
    var envelope: Float
    /// The hit's strength when the step flags one (its peak is at `hitStep`), else -1.
    var hit: Float
    var hitStep: Int32
    /// Seconds from the arrival of the frame that made the step due to the step's description (-1: not measured).
    var latency: Float
}

/// What a feed is doing, as the page shows it.
public enum WebFeedState: String, Sendable {
    case starting, streaming, reconnecting, ended
}

/// The state one feed shares between its prediction thread (through WebFeedSink) and the hub's pump thread.
public final class WebFeed: @unchecked Sendable {
    public let name: String
    public let width: Int
    public let height: Int
    let steps = SPSCQueue<WebStep>(capacity: 2048)
    /// Steps the page never got because the queue was full (the pump fell behind).
    let droppedForPage = Atomic<Int>(0)
    /// Set by the hub while a browser asked for pictures lately: only then are frames copied.
    let picturesWanted = Atomic<Bool>(false)

    // Under `lock`: taken per event, per picture copy (a few times a second, a memcpy of one small frame), never per step otherwise.
    private let lock = NSLock()
    private var picture: [UInt8]
    private var pictureSerial = 0
    private var stateValue = WebFeedState.starting
    private var modelValue: String?
    private var learnedSecondsValue: Double?
    private var reconnectsValue = 0
    private var missingStepsValue = 0

    public init(name: String, width: Int, height: Int, model: String?) {
        self.name = name; self.width = width; self.height = height
        picture = [UInt8](repeating: 0, count: width * height)
        modelValue = model
    }

    /// A copy of the newest picture when it is newer than `serial` (the pump's copy buffer, reused).
    func takePicture(newerThan serial: Int, into buffer: inout [UInt8]) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard pictureSerial > serial else { return nil }
        if buffer.count != picture.count { buffer = [UInt8](repeating: 0, count: picture.count) }
        buffer.withUnsafeMutableBufferPointer { dst in picture.withUnsafeBufferPointer { src in dst.baseAddress!.update(from: src.baseAddress!, count: src.count) } }
        return pictureSerial
    }

    fileprivate func storePicture(_ pixels: UnsafeBufferPointer<UInt8>) {
        lock.lock(); defer { lock.unlock() }
        guard pixels.count == picture.count, let src = pixels.baseAddress else { return }
        picture.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: src, count: pixels.count) }
        pictureSerial += 1
    }

    // A feed's events, each under the lock (the pump reads them as one Status).
    fileprivate func setState(_ s: WebFeedState) { lock.lock(); stateValue = s; lock.unlock() }
    fileprivate func noteGap(missing: Int) {
        lock.lock(); reconnectsValue += 1; missingStepsValue += missing; stateValue = .streaming; lock.unlock()
    }
    fileprivate func noteModel(_ file: String, learned: Double?) {
        lock.lock(); modelValue = file; learnedSecondsValue = learned; lock.unlock()
    }

    /// The fields the page and the metrics read, at one moment.
    struct Status {
        var state: WebFeedState
        var model: String?
        var learnedSeconds: Double?
        var reconnects: Int
        var missingSteps: Int
        var pictureSerial: Int
    }

    var status: Status {
        lock.lock(); defer { lock.unlock() }
        return Status(state: stateValue, model: modelValue, learnedSeconds: learnedSecondsValue, reconnects: reconnectsValue,
                      missingSteps: missingStepsValue, pictureSerial: pictureSerial)
    }
}

/// A feed's steps, events and pictures into its WebFeed, on the prediction thread: nothing here waits for the hub,
/// a browser or the network, and nothing allocates per step.
public final class WebFeedSink: StepSink {
    public let feed: WebFeed
    /// A picture every this many steps while pictures are wanted (12 Hz / 4: three a second).
    static let pictureEvery = 4
    private var arrival = 0.0
    private var stepsSincePicture = Int.max / 2

    public init(feed: WebFeed) { self.feed = feed }

    public func begin() { feed.setState(.streaming) }

    public func frame(_ step: SourceStep) {
        // The frame's arrival on the monotonic clock (a file's steps carry none: now).
        arrival = step.dueAt > 0 ? step.dueAt : (step.arrival > 0 ? step.arrival : MonotonicClock.seconds())
        stepsSincePicture += 1
        if stepsSincePicture >= Self.pictureEvery, feed.picturesWanted.load(ordering: .relaxed) {
            stepsSincePicture = 0
            feed.storePicture(step.pixels)
        }
    }

    public func submit(_ step: DescribedStep) {
        let latency = Float(MonotonicClock.seconds() - arrival)
        let item = WebStep(step: Int32(truncatingIfNeeded: step.step), time: step.time, envelope: step.envelope,
                           hit: step.hit?.strength ?? -1, hitStep: Int32(truncatingIfNeeded: step.hit?.step ?? -1), latency: latency)
        if !feed.steps.push(item) { feed.droppedForPage.add(1, ordering: .relaxed) }
    }

    public func event(_ event: FeedEvent) {
        switch event {
        case .lost: feed.setState(.reconnecting)
        case let .gap(from, to, _, _, _): feed.noteGap(missing: max(0, to - from))
        case let .model(_, file, learned): feed.noteModel(file, learned: learned)
        }
    }

    public func finish() { feed.setState(.ended) }
}

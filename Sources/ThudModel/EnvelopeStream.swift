// model → peak picker over a stream of 12 Hz frames, with every value put back on the step it describes. Shared by
// `thud predict`, `live`, `eval` and `render`, so the model's output delay is handled in one place.
//
// Why a delay at all: step k shows the last frame at or before k/12, and its target is the sound of [k/12, (k+1)/12).
// A model without a delay must foresee an impact in that window from the frame before it; a model trained with an
// output delay d (ModelArchitecture.outputDelaySteps) describes step k after the frame of step k + d, when it has
// seen the bounce itself. The price is d steps of latency, exposed as `latencySteps`.
import Foundation
import ThudBase

/// One described step: the envelope (and onset output) of step `step` at `time`, and the hit the picker confirmed
/// with it (its peak is the step described before: PeakPicker.latencySteps). `step` and `time` are the ones the
/// step's frame came with (process(frame:step:time:)), so a live source that skipped steps keeps its own numbering,
/// and so does the hit: its `step` and `time` are its peak's.
public struct DescribedStep: Equatable, Sendable {
    public var step: Int
    public var time: Double
    public var envelope: Float
    public var onset: Float
    public var hit: HitEvent?

    public init(step: Int, time: Double, envelope: Float, onset: Float, hit: HitEvent?) {
        self.step = step; self.time = time; self.envelope = envelope; self.onset = onset; self.hit = hit
    }
}

public final class EnvelopeStream {
    public let model: StreamingModel
    public let picker: PeakPicker
    /// Frames from the frame of a step to the output describing it (the model's output delay).
    public var outputDelaySteps: Int { model.outputDelaySteps }
    /// Frames from the frame of a hit's step to the one whose output confirms it: the model's delay plus the picker's.
    public var latencySteps: Int { model.outputDelaySteps + picker.latencySteps }

    /// Frames fed since init or the last reset (held frames at the end not counted).
    public private(set) var framesSeen = 0

    /// The step number and time each of the last outputDelaySteps + 2 frames came with, by frame count: a delayed
    /// model describes frame k's step while frame k + delay is fed, and its hit's peak is the step described before.
    private let labels: UnsafeMutableBufferPointer<(step: Int, time: Double)>

    /// A stream starts at the start: the model's state is zeroed, as its frame count must agree with the stream's
    /// (a model already stepped by another stream would otherwise describe a step twice).
    public init(model: StreamingModel, picker configuration: PeakPicker.Configuration) {
        self.model = model
        model.reset()
        picker = PeakPicker(configuration: configuration)
        labels = .allocate(capacity: model.outputDelaySteps + 2)
        labels.initialize(repeating: (0, 0))
    }

    deinit { labels.deallocate() }

    /// The next frame of the stream (width × height gray8), showing step `step` at `time` (by default the frame's
    /// count and count / rate: a file's steps come one after another; a live clock passes its own, which may skip).
    /// Returns the step it completes the description of, the one fed outputDelaySteps frames earlier, or nil while
    /// the first `outputDelaySteps` frames are seen (their outputs describe the time before the stream). Allocates
    /// nothing. Throws (ModelFileError, exit 20) when the model's output is not a number: NaN is never an envelope.
    public func process(frame: UnsafeBufferPointer<UInt8>, step: Int? = nil, time: Double? = nil) throws -> DescribedStep? {
        let label = step ?? framesSeen
        labels[framesSeen % labels.count] = (label, time ?? StepRate.time(ofStep: label))
        let envelope = model.step(frame: frame)
        framesSeen += 1
        return try described(envelope)
    }

    /// End of the stream: the steps not yet described (the last `outputDelaySteps`, fewer for a shorter stream), each
    /// from one more step on the last frame held still, then the picker's judgement of the final step (a hit whose
    /// peak it is, or nil). Call once, then `reset()` before reuse.
    public func finish(_ body: (DescribedStep) throws -> Void) throws -> HitEvent? {
        if framesSeen > 0 {
            for _ in 0..<min(outputDelaySteps, framesSeen) {
                if let d = try described(model.stepOnLastFrame()) { try body(d) }
            }
        }
        return picker.finish().map(labelled)
    }

    /// Back to the start of a stream (zero model state, empty picker history).
    public func reset() {
        model.reset()
        picker.reset()
        framesSeen = 0
    }

    private func described(_ envelope: Float) throws -> DescribedStep? {
        // The count of the frame whose step this output describes (held frames at the end count on).
        let frame = model.stepIndex - 1 - outputDelaySteps
        let onset = model.lastOnset
        guard envelope.isFinite, onset.isFinite else {
            let label = labels[(model.stepIndex - 1) % labels.count]
            throw ModelFileError(path: model.path, problem: .nonFiniteOutput("at step \(label.step) (\(Format.fixed(label.time, 3)) s)"))
        }
        guard frame >= 0 else { return nil }
        let label = labels[frame % labels.count]
        return DescribedStep(step: label.step, time: label.time, envelope: envelope, onset: onset,
                             hit: picker.process(envelope, onset: onset).map(labelled))
    }

    /// A hit as the picker reports it (its peak by the picker's own count, which is the frame count here) with the
    /// step number and time its peak's frame came with.
    private func labelled(_ hit: HitEvent) -> HitEvent {
        let label = labels[hit.step % labels.count]
        return HitEvent(step: label.step, time: label.time, strength: hit.strength)
    }
}

/// EnvelopeStream's bookkeeping for a whole clip at once (training's validation, batch runs): the frames with the last
/// one held `delay` more times, and the outputs frame by frame moved onto the steps they describe. Allocates; not for
/// the per-step path.
public enum DelayedOutputs {
    /// `count` packed frames of `frameBytes` bytes, then the last of them `delay` more times.
    public static func holdingLastFrame(_ frames: UnsafeBufferPointer<UInt8>, count: Int, frameBytes: Int, delay: Int) -> [UInt8] {
        precondition(count > 0 && frames.count == count * frameBytes, "need \(count) frames of \(frameBytes) bytes")
        var held: [UInt8] = []
        held.reserveCapacity((count + delay) * frameBytes)
        held.append(contentsOf: frames)
        for _ in 0..<delay { held.append(contentsOf: frames[((count - 1) * frameBytes)..<(count * frameBytes)]) }
        return held
    }

    /// Outputs after each of `count + delay` frames → the `count` steps they describe (the first `delay` outputs
    /// describe the time before the clip).
    public static func onTheirSteps(_ raw: (envelope: [Float], onsets: [Float]?), delay: Int) -> (envelope: [Float], onsets: [Float]?) {
        (Array(raw.envelope.dropFirst(delay)), raw.onsets.map { Array($0.dropFirst(delay)) })
    }
}

// The one loop every input goes through: source → EnvelopeStream (encoder → LSTM → head → peak picker) → sinks.
// predict, live and watch (ThudRuntime), eval and render (ThudEval) all run it; they differ in their source and sinks.
import Foundation
import ThudMedia
import ThudModel

/// What a run of the pipeline did.
public struct PipelineRun: Sendable {
    /// Steps the source served.
    public var served = 0
    /// A hit whose peak is the very last step, confirmed only once the input ended (no step carries it).
    public var lastHit: HitEvent?
}

public enum Pipeline {
    /// Runs `source` through `stream` into `sinks` until the source ends, is stopped, or `steps` steps are served.
    /// Each sink is begun once, given every described step in order, and finished exactly once (also on an error).
    /// A feed that is lost has its delayed last steps described from its last frame before the event reaches the
    /// sinks, and the stream starts afresh for the next connection. `observe` sees each served step with what the
    /// stream described at it (nil while a delayed model has not yet caught up): the live view, latency figures,
    /// eval's baselines.
    @discardableResult
    ///
    /// With a `reloader` (`--reload`), a model file that changed is swapped in between two steps: the running stream
    /// describes its delayed last steps, then the new one takes over (from a zero LSTM state) and every sink gets a
    /// `.model` event.
    public static func run(_ source: StepSource, stream initial: EnvelopeStream, sinks: [any StepSink], steps: Int? = nil,
                           reloader: ModelReloader? = nil,
                           observe: (SourceStep, DescribedStep?) throws -> Void = { _, _ in }) throws -> PipelineRun {
        var stream = initial
        defer { for sink in sinks { sink.finish() } }
        for sink in sinks { try sink.begin() }
        func emit(_ described: DescribedStep) throws { for sink in sinks { try sink.submit(described) } }
        var served = 0
        try source.serve({ step in
            if let reloader, let fresh = reloader.newStream(name: source.name) {
                _ = try stream.finish(emit)
                stream = fresh.stream
                for sink in sinks { try sink.event(.model(atStep: step.index, file: reloader.watch.path, learnedSeconds: fresh.learnedSeconds)) }
            }
            for sink in sinks { sink.frame(step) }
            let described = try stream.process(frame: step.pixels, step: step.index, time: step.time)
            if let described { try emit(described) }
            try observe(step, described)
            served += 1
            return steps.map { served < $0 } ?? true
        }, event: { event in
            if case .lost = event {
                _ = try stream.finish(emit)
                stream.reset()
            }
            for sink in sinks { try sink.event(event) }
        })
        let lastHit = try stream.finish(emit)
        try source.end()
        return PipelineRun(served: served, lastHit: lastHit)
    }
}

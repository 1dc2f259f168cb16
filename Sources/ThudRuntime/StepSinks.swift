// Where described steps go: the printer (predict's lines), the sound (a knock per hit), the live view. Each takes the
// steps in order as the stream describes them; none allocates per step but the printer's line text.
import Foundation
import ThudModel
import ThudSound

/// A consumer of described steps.
public protocol StepSink {
    func submit(_ step: DescribedStep)
    /// The stream ended (the default does nothing).
    func finish()
}

extension StepSink {
    public func finish() {}
}

/// Prints steps as JSON lines or CSV rows, one flushed line each.
public struct StepPrinter: StepSink {
    public let format: OutputFormat
    public let out: LineWriter

    public init(format: OutputFormat, out: LineWriter = LineWriter()) { self.format = format; self.out = out }

    public func begin() {
        if format == .csv { out.write("t,envelope,hit,strength") }
    }

    public func submit(_ s: DescribedStep) {
        let t = fixed(s.time), e = fixed(Double(s.envelope))
        switch format {
        case .jsonl:
            if let hit = s.hit {
                out.write("{\"t\": \(t), \"envelope\": \(e), \"hit\": true, \"strength\": \(fixed(Double(hit.strength)))}")
            } else {
                out.write("{\"t\": \(t), \"envelope\": \(e), \"hit\": false}")
            }
        case .csv:
            out.write("\(t),\(e),\(s.hit != nil ? 1 : 0),\(s.hit.map { fixed(Double($0.strength)) } ?? "")")
        }
    }
}

/// Feeds hits (or the envelope) to the sonifier and reports its figures at the end.
public struct SoundStepSink: StepSink {
    public let sonifier: HitSonifier
    /// A file is predicted far faster than real time; with sound on, steps are paced to the clock so that
    /// knocks come out when their hits happen, not in one burst.
    public let pacer: RealtimePacer?

    public init(sonifier: HitSonifier, pacer: RealtimePacer?) { self.sonifier = sonifier; self.pacer = pacer }

    public func submit(_ step: DescribedStep) {
        pacer?.wait(untilStreamTime: step.time)
        if let hit = step.hit { _ = sonifier.submitHit(strength: hit.strength) }
        _ = sonifier.submitEnvelope(step.envelope)
    }

    public func finish() {
        sonifier.stop(drain: true)
        guard sonifier.isEnabled else { return }
        fputs("thud: sound: \(sonifier.latencyStats); period \(fixed(sonifier.periodSeconds * 1000, 1)) ms, buffer \(fixed(sonifier.bufferSeconds * 1000, 1)) ms; underruns \(sonifier.underruns), suspends \(sonifier.suspends), dropped \(sonifier.dropped)\n", stderr)
    }
}

// The runtime's sinks (ThudPipeline's StepSink): the printer (predict's lines) and the sound (a knock per hit). Each
// takes the steps in order as the stream describes them; none allocates per step but the printer's line text. (The
// terminal view is drawn from the pipeline's observe hook, LiveView.swift; MQTT's sink is ThudMQTT's.)
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline
import ThudSound

/// Prints steps as JSON lines or CSV rows, one flushed line each. With a feed name (`thud watch`) every JSON line
/// starts with `"feed": NAME`. A feed's gap is a JSON line of its own, `{"event": "gap", …}` (CSV has no place for it).
public struct StepPrinter: StepSink {
    public let format: OutputFormat
    public let out: LineWriter
    /// `{"feed": "NAME", ` or `{`: what every JSON line starts with.
    private let open: String

    public init(format: OutputFormat, out: LineWriter = LineWriter(), feed: String? = nil) {
        self.format = format; self.out = out
        open = feed.map { "{\"feed\": \(jsonString($0)), " } ?? "{"
    }

    public func event(_ event: FeedEvent) throws {
        if format == .jsonl, case let .model(step, file, learned) = event {
            try out.write("\(open)\"event\": \"model\", \"t\": \(fixed(StepRate.time(ofStep: step))), \"file\": \(jsonString(file)), \"learned_s\": \(learned.map { fixed($0, 1) } ?? "null")}")
            return
        }
        guard format == .jsonl, case let .gap(from, to, seconds, attempts, onStreamTimestamps) = event else { return }
        let rate = StepRate.hz
        try out.write("\(open)\"event\": \"gap\", \"t\": \(fixed(Double(from) / rate)), \"until\": \(fixed(Double(to) / rate)), \"missing_steps\": \(to - from), \"seconds\": \(fixed(seconds, 3)), \"attempts\": \(attempts), \"resumed_on\": \"\(onStreamTimestamps ? "stream timestamps" : "monotonic clock")\"}")
    }

    public func begin() throws {
        if format == .csv { try out.write("t,envelope,hit,strength") }
    }

    public func submit(_ s: DescribedStep) throws {
        let t = fixed(s.time), e = fixed(Double(s.envelope))
        switch format {
        case .jsonl:
            if let hit = s.hit {
                try out.write("\(open)\"t\": \(t), \"envelope\": \(e), \"hit\": true, \"strength\": \(fixed(Double(hit.strength)))}")
            } else {
                try out.write("\(open)\"t\": \(t), \"envelope\": \(e), \"hit\": false}")
            }
        case .csv:
            try out.write("\(t),\(e),\(s.hit != nil ? 1 : 0),\(s.hit.map { fixed(Double($0.strength)) } ?? "")")
        }
    }
}

/// Feeds hits (or the envelope) to the sonifier and hands its figures to `report` at the end (the command prints them).
public struct SoundStepSink: StepSink {
    public let sonifier: HitSonifier
    /// A file is predicted far faster than real time; with sound on, steps are paced to the clock so that
    /// knocks come out when their hits happen, not in one burst.
    public let pacer: RealtimePacer?
    private let report: (String) -> Void

    public init(sonifier: HitSonifier, pacer: RealtimePacer?, report: @escaping (String) -> Void) {
        self.sonifier = sonifier; self.pacer = pacer; self.report = report
    }

    public func submit(_ step: DescribedStep) {
        pacer?.wait(untilStreamTime: step.time)
        if let hit = step.hit { _ = sonifier.submitHit(strength: hit.strength) }
        _ = sonifier.submitEnvelope(step.envelope)
    }

    public func finish() {
        sonifier.stop(drain: true)
        guard sonifier.isEnabled else { return }
        report("sound: \(sonifier.latencyStats); period \(fixed(sonifier.periodSeconds * 1000, 1)) ms, buffer \(fixed(sonifier.bufferSeconds * 1000, 1)) ms; underruns \(sonifier.underruns), suspends \(sonifier.suspends), dropped \(sonifier.dropped)")
    }
}


/// A name (a feed's, a line of a feeds file) as a one-line message on stderr shows it: as it is, or, when it holds a
/// control character, as the JSON string stdout's lines carry (quoted, escaped), so that it can neither split the
/// line nor drive the terminal.
public func shownName(_ name: String) -> String {
    name.unicodeScalars.contains(where: isControl) ? jsonString(name) : name
}

import ThudBase

/// The 12 Hz output clock (ThudBase's StepRate). Step k stands at time k/12 s (from the input's start) and shows the latest
/// frame whose presentation time is ≤ k/12 — never a future frame. Times are compared exactly, in the
/// stream's integer time base, so a frame at exactly k/12 belongs to step k whatever the frame rate.
///
/// A step is due once a frame *later* than its time has been decoded (only then is the frame before it
/// known to be the latest ≤ k/12), and at the end of the input for every step whose time lies before
/// the end of the last frame. A clip of duration D therefore gives ceil(12·D) steps: floor(12·D), plus
/// one when D is not a whole number of steps (the last, partial step — the "± 1 at the edge").
public struct StepClock: Sendable {
    public let timeBase: TimeBase
    /// The next step not yet emitted.
    public private(set) var nextStep = 0

    public init(timeBase: TimeBase) { self.timeBase = timeBase }

    /// How many steps k ≥ 0 satisfy k/12 < ticks·num/den.
    public func stepsBefore(ticks: Int64) -> Int {
        guard ticks > 0 else { return 0 }
        let (scaled, overflow) = ticks.multipliedReportingOverflow(by: Int64(StepRate.perSecond) * timeBase.num)
        if overflow {
            return Int((Double(ticks) * StepRate.hz * Double(timeBase.num) / Double(timeBase.den)).rounded(.up))
        }
        return Int((scaled + timeBase.den - 1) / timeBase.den)
    }

    /// A frame at `ticks` (relative to the start) was decoded: the steps that are now due, to be shown with
    /// the frame decoded before it.
    public mutating func stepsDue(beforeFrameAt ticks: Int64) -> Range<Int> {
        let end = max(nextStep, stepsBefore(ticks: ticks))
        defer { nextStep = end }
        return nextStep..<end
    }

    /// The input ended; the last frame is shown until `endTicks` (its time plus its duration).
    public mutating func stepsDue(atEndTicks endTicks: Int64) -> Range<Int> {
        stepsDue(beforeFrameAt: endTicks)
    }

}

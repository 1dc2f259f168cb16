// Envelope plots: the mapping from steps and values to pixels, series drawing shared with the render strip,
// and the per-clip PNG chart of `thud eval --plots` (target vs predicted envelope with true and predicted hits).
import Foundation
import ThudBase

/// A rectangle of the canvas showing steps [stepStart, stepEnd] across and values [0, 1] up.
public struct PlotArea: Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public var stepStart: Double, stepEnd: Double

    public init(x: Int, y: Int, width: Int, height: Int, stepStart: Double, stepEnd: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
        self.stepStart = stepStart; self.stepEnd = max(stepEnd, stepStart + 1e-9)
    }

    @inline(__always) public func xOf(step: Double) -> Int {
        x + Int(((step - stepStart) / (stepEnd - stepStart) * Double(width - 1)).rounded())
    }
    @inline(__always) public func yOf(value: Float) -> Int {
        y + height - 1 - Int((Double(max(0, min(1, value))) * Double(height - 1)).rounded())
    }
    /// The steps whose points fall inside the area (one beyond each edge so lines reach the border).
    public func visibleSteps(count: Int) -> Range<Int> {
        let lo = max(0, Int(stepStart.rounded(.down)) - 1), hi = min(count, Int(stepEnd.rounded(.up)) + 2)
        return lo < hi ? lo..<hi : 0..<0
    }
}

extension RenderCanvas {
    /// The series as a polyline over `steps` (clipped to the area).
    public func plotLine(_ values: UnsafeBufferPointer<Float>, steps: Range<Int>, in area: PlotArea, color: RGBColor, thickness: Int = 1) {
        let r = steps.clamped(to: area.visibleSteps(count: values.count))
        guard r.count >= 1 else { return }
        var px = area.xOf(step: Double(r.lowerBound)), py = area.yOf(value: values[r.lowerBound])
        if r.count == 1 { line(px, py, px, py, color: color, thickness: thickness); return }
        for k in r.dropFirst() {
            let nx = area.xOf(step: Double(k)), ny = area.yOf(value: values[k])
            clippedLine(px, py, nx, ny, area: area, color: color, thickness: thickness)
            px = nx; py = ny
        }
    }

    /// The series as a filled area down to zero, column by column (linear between steps).
    public func plotArea(_ values: UnsafeBufferPointer<Float>, steps: Range<Int>, in area: PlotArea, color: RGBColor) {
        let r = steps.clamped(to: 0..<values.count)
        guard r.count >= 2 else { return }
        let x0 = max(area.x, area.xOf(step: Double(r.lowerBound))), x1 = min(area.x + area.width - 1, area.xOf(step: Double(r.upperBound - 1)))
        guard x0 <= x1 else { return }
        let bottom = area.y + area.height
        for px in x0...x1 {
            let s = area.stepStart + Double(px - area.x) / Double(area.width - 1) * (area.stepEnd - area.stepStart)
            let k = Int(s.rounded(.down))
            guard k >= r.lowerBound, k < r.upperBound else { continue }
            let f = Float(s - Double(k))
            let v = k + 1 < r.upperBound ? values[k] * (1 - f) + values[k + 1] * f : values[k]
            let top = area.yOf(value: v)
            fillRect(x: px, y: top, width: 1, height: bottom - top, color: color)
        }
    }

    /// A line whose ends are clipped horizontally to the area (vertical range is already bounded by yOf).
    func clippedLine(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, area: PlotArea, color: RGBColor, thickness: Int) {
        let left = area.x, right = area.x + area.width - 1
        guard max(x0, x1) >= left, min(x0, x1) <= right else { return }
        var ax = x0, ay = y0, bx = x1, by = y1
        if ax < left, bx != ax { ay += (by - ay) * (left - ax) / (bx - ax); ax = left }
        if bx > right, bx != ax { by = ay + (by - ay) * (right - ax) / (bx - ax); bx = right }
        line(ax, ay, bx, by, color: color, thickness: thickness)
    }
}

/// The per-clip chart: target (filled) and model (line) envelopes, the motion baseline (thin), true hits as
/// green ticks under the plot, the model's hits as red triangles above it, seconds along the bottom.
public enum EnvelopeChart {
    public static let size = (width: 960, height: 300)

    public static func draw(_ e: ClipEvaluation) -> RenderCanvas {
        let c = RenderCanvas(width: size.width, height: size.height, background: ChartPalette.paper)
        let m = e.result(.model)
        let title = "\(e.clip.id)  \(e.clip.template)"
        c.text(String(title.prefix(150)), x: 10, y: 8, color: ChartPalette.text)
        let figures = "MODEL R \(ReportFormat.number(m.score.r, 2))  F1 \(ReportFormat.number(m.score.hits.f1, 2))  AP \(ReportFormat.number(m.score.averagePrecision, 2))  VERDICT \(verdictName(m.verdict))   MOTION R \(ReportFormat.number(e.result(.motionEnergy).score.r, 2))   HITS FROM \(e.truthSource.rawValue)"
        c.text(figures, x: 10, y: 20, color: ChartPalette.axis)

        let area = PlotArea(x: 40, y: 46, width: size.width - 56, height: size.height - 46 - 62,
                            stepStart: 0, stepEnd: Double(max(1, e.steps - 1)))
        drawAxes(c, area: area, steps: e.steps)
        let all = 0..<e.steps
        e.target.withUnsafeBufferPointer { t in
            c.plotArea(t, steps: all, in: area, color: ChartPalette.targetFill)
            c.plotLine(t, steps: all, in: area, color: ChartPalette.target)
        }
        e.result(.motionEnergy).envelope.withUnsafeBufferPointer { c.plotLine($0, steps: all, in: area, color: ChartPalette.motion) }
        m.envelope.withUnsafeBufferPointer { c.plotLine($0, steps: all, in: area, color: ChartPalette.model, thickness: 2) }
        for h in e.trueHits {
            let x = area.xOf(step: Double(h))
            c.triangle(x: x, y: area.y + area.height + 3, size: 5, pointingDown: false, color: ChartPalette.trueHit)
            c.fillRect(x: x, y: area.y + area.height + 3, width: 1, height: 6, color: ChartPalette.trueHit)
        }
        for h in m.hits {
            c.triangle(x: area.xOf(step: Double(h)), y: area.y - 8, size: 5, pointingDown: true, color: ChartPalette.predictedHit)
        }
        legend(c, x: 40, y: size.height - 14, items: [("TARGET", ChartPalette.target), ("MODEL", ChartPalette.model), ("MOTION ENERGY", ChartPalette.motion),
                                                    ("TRUE HIT", ChartPalette.trueHit), ("MODEL HIT", ChartPalette.predictedHit)])
        return c
    }

    static func verdictName(_ v: OriginalVerdict) -> String {
        switch v { case .good: return "GOOD (+1)"; case .notSoGood: return "NOT SO GOOD (0)"; case .bad: return "BAD (-1)" }
    }

    static func drawAxes(_ c: RenderCanvas, area: PlotArea, steps: Int) {
        for v: Float in [0, 0.5, 1] {
            let y = area.yOf(value: v)
            c.fillRect(x: area.x, y: y, width: area.width, height: 1, color: ChartPalette.grid)
            c.text(String(format: "%.1f", v), x: area.x - 26, y: y - 3, color: ChartPalette.axis)
        }
        let seconds = StepRate.time(ofStep: steps)
        let every = seconds > 40 ? 10 : seconds > 16 ? 5 : seconds > 8 ? 2 : 1
        var s = 0
        while Double(s * StepRate.perSecond) <= area.stepEnd {
            let x = area.xOf(step: Double(s * StepRate.perSecond))
            c.fillRect(x: x, y: area.y, width: 1, height: area.height, color: ChartPalette.grid)
            let label = "\(s)S"
            c.text(label, x: x - BitmapFont.width(of: label) / 2, y: area.y + area.height + 12, color: ChartPalette.axis)
            s += every
        }
        c.fillRect(x: area.x, y: area.y + area.height, width: area.width, height: 1, color: ChartPalette.axis)
        c.fillRect(x: area.x - 1, y: area.y, width: 1, height: area.height + 1, color: ChartPalette.axis)
    }

    static func legend(_ c: RenderCanvas, x: Int, y: Int, items: [(String, RGBColor)]) {
        var cx = x
        for (label, color) in items {
            c.fillRect(x: cx, y: y, width: 10, height: 7, color: color)
            cx = c.text(label, x: cx + 14, y: y, color: ChartPalette.text) + 16
        }
    }
}

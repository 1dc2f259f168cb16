// The per-class chart of `thud eval --plots`: one row per class (and "all"), three panels of horizontal bars —
// the original-style score (−1…1), the Fisher-mean r (−1…1) and the pooled F1 (0…1) — one bar per predictor.
import Foundation

public enum ClassBarChart {
    static let labelWidth = 300
    static let panelWidth = 200
    static let panelGap = 24
    static let barHeight = 8
    static let rowGap = 12

    static func colour(_ p: Predictor) -> RGBColor {
        switch p {
        case .model: return ChartPalette.model
        case .motionEnergy: return ChartPalette.motion
        case .motionOnset: return ChartPalette.motionOnset
        case .constant: return ChartPalette.constant
        case .oracle: return ChartPalette.oracle
        }
    }

    public static func draw(_ report: EvaluationReport) -> RenderCanvas {
        var rows = report.byClass.map { (name: $0.name, clips: $0.clips) }
        rows.append((name: "all", clips: report.evaluations))
        let predictors = Predictor.allCases
        let rowHeight = predictors.count * barHeight + rowGap
        let top = 44, bottom = 30
        let width = labelWidth + 3 * (panelWidth + panelGap) + 10
        let height = top + rows.count * rowHeight + bottom
        let c = RenderCanvas(width: width, height: height, background: ChartPalette.paper)
        c.text("PER CLASS: SCORE (MEAN VERDICT), R (FISHER MEAN), F1 (POOLED) - ONE BAR PER PREDICTOR", x: 10, y: 8, color: ChartPalette.text)

        let panels: [(title: String, range: ClosedRange<Double>, value: (AggregateScore) -> Double?)] = [
            ("SCORE", -1...1, { $0.originalScore }),
            ("R", -1...1, { $0.meanR }),
            ("F1", 0...1, { $0.hits.f1 }),
        ]
        for (pi, panel) in panels.enumerated() {
            let px = labelWidth + pi * (panelWidth + panelGap)
            c.text(panel.title, x: px, y: 26, color: ChartPalette.axis)
            let lo = panel.range.lowerBound, hi = panel.range.upperBound
            func xOf(_ v: Double) -> Int { px + Int(((max(lo, min(hi, v)) - lo) / (hi - lo) * Double(panelWidth)).rounded()) }
            // Ticks at the ends and at zero/the middle.
            for v in [lo, (lo + hi) / 2, hi] {
                let x = xOf(v)
                c.fillRect(x: x, y: top - 4, width: 1, height: rows.count * rowHeight + 4, color: ChartPalette.grid)
                let label = String(format: v == v.rounded() ? "%.0f" : "%.1f", v)
                c.text(label, x: x - BitmapFont.width(of: label) / 2, y: top + rows.count * rowHeight + 4, color: ChartPalette.axis)
            }
            let zero = xOf(max(lo, 0))
            for (ri, row) in rows.enumerated() {
                let y0 = top + ri * rowHeight
                for (k, p) in predictors.enumerated() {
                    let y = y0 + k * barHeight
                    guard let v = panel.value(report.aggregate(p, clips: row.clips)), v.isFinite else {
                        c.text(ReportFormat.missing, x: zero + 3, y: y, color: ChartPalette.axis)
                        continue
                    }
                    let x = xOf(v)
                    c.fillRect(x: min(x, zero), y: y, width: max(1, abs(x - zero)), height: barHeight - 1, color: colour(p))
                }
            }
            c.fillRect(x: zero, y: top - 4, width: 1, height: rows.count * rowHeight + 4, color: ChartPalette.axis)
        }
        for (ri, row) in rows.enumerated() {
            let y0 = top + ri * rowHeight
            let maxChars = (labelWidth - 20) / BitmapFont.advance
            var label = "\(row.name) (\(row.clips.count))"
            if label.count > maxChars { label = String(row.name.prefix(maxChars - 8)) + ".. (\(row.clips.count))" }
            c.text(label, x: 10, y: y0 + (predictors.count * barHeight - BitmapFont.glyphHeight) / 2, color: ChartPalette.text)
            if ri == rows.count - 1 { c.fillRect(x: 10, y: y0 - rowGap / 2, width: width - 20, height: 1, color: ChartPalette.grid) }
        }
        EnvelopeChart.legend(c, x: 10, y: height - 12, items: predictors.map { ($0.rawValue.uppercased(), colour($0)) })
        return c
    }
}

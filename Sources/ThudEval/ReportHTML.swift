// `thud eval --html report.html`: one self-contained page — the run, both tables, the rules, the per-class chart
// and the per-clip charts inline as base64 PNG data URIs. No scripts, no external files.
import Foundation
import ThudBase

/// The PNG charts of a run, as bytes (written by `thud eval --plots`, inlined by the page).
public struct ReportCharts: Sendable {
    public var classChart: Data?
    public var clipCharts: [(id: String, png: Data)]
    public init(classChart: Data?, clipCharts: [(id: String, png: Data)]) {
        self.classChart = classChart; self.clipCharts = clipCharts
    }

    /// A file name for a clip's chart: the id with anything but letters, digits, '-' and '_' replaced.
    public static func fileName(forClip id: String) -> String {
        let safe = String(id.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" ? Character($0) : "_" })
        return "clip-\(safe).png"
    }
    public static let classFileName = "classes.png"

    /// Draws every chart and encodes it as PNG; with `directory`, the files stay there.
    public static func make(_ report: EvaluationReport, directory: String?, clipLimit: Int = .max) throws -> ReportCharts {
        func encode(_ canvas: RenderCanvas, _ name: String) throws -> Data {
            let png = try canvas.pngData()
            if let directory { try AtomicFile.write(png, to: (directory as NSString).appendingPathComponent(name)) }
            return png
        }
        let classes = report.evaluations.isEmpty ? nil : try encode(ClassBarChart.draw(report), classFileName)
        var clips: [(String, Data)] = []
        for e in report.evaluations.prefix(clipLimit) {
            clips.append((e.clip.id, try encode(EnvelopeChart.draw(e), fileName(forClip: e.clip.id))))
        }
        return ReportCharts(classChart: classes, clipCharts: clips)
    }
}

extension EvaluationReport {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func html(_ t: TextTable, caption: String) -> String {
        var out = "<table>\n<caption>\(escape(caption))</caption>\n<thead><tr>"
        for (h, a) in zip(t.headers, t.alignments) { out += "<th class=\"\(a == .left ? "l" : "r")\">\(escape(h))</th>" }
        out += "</tr></thead>\n<tbody>\n"
        for (i, row) in t.rows.enumerated() {
            out += t.rulesBefore.contains(i) ? "<tr class=\"total\">" : "<tr>"
            for (cell, a) in zip(row, t.alignments) { out += "<td class=\"\(a == .left ? "l" : "r")\">\(escape(cell))</td>" }
            out += "</tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    /// Per-clip charts inlined on the page at most (each is ~10 kB of base64; --plots keeps them all as files).
    public static let inlineClipChartLimit = 200

    public func htmlPage(charts: ReportCharts) -> String {
        let clipCharts = charts.clipCharts.prefix(Self.inlineClipChartLimit)
        var body = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>thud eval: \(Self.escape(dataset))</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #212529; max-width: 1100px; }
        h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
        caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
        th, td { padding: 3px 9px; border-bottom: 1px solid #dee2e6; }
        th { background: #f1f3f5; } .l { text-align: left; } .r { text-align: right; }
        tr.total td { border-top: 2px solid #495057; font-weight: 600; }
        .rules { background: #f8f9fa; border-left: 3px solid #adb5bd; padding: 6px 12px; font-size: 13px; }
        img { display: block; max-width: 100%; border: 1px solid #dee2e6; margin: 6px 0 14px; }
        .failed { color: #c92a2a; }
        </style></head><body>
        <h1>thud eval</h1>
        <p>Dataset <code>\(Self.escape(dataset))</code>, split <b>\(Self.escape(split))</b>, classes: \(Self.escape(classFilter)).<br>
        Model <code>\(Self.escape((modelPath as NSString).lastPathComponent))</code>.<br>
        <b>\(evaluations.count)</b> clips scored, <b>\(failures.count)</b> failed, of \(selected) selected.</p>

        """
        body += Self.html(predictorTable(), caption: "Predictors")
        body += Self.html(classTable(), caption: "Per class, in the original's form (score = mean verdict) next to objective columns")
        body += Self.html(clipTable(), caption: "Per clip (the model; motion baseline's r and F1 alongside)")
        body += "<div class=\"rules\"><p><b>Score.</b> \(Self.escape(Self.scoreStatement))</p>\n"
        body += "<p><b>True hits.</b> \(Self.escape(truthStatement))</p>\n"
        body += "<p><b>Hits.</b> \(Self.escape(Self.hitMatchingStatement))</p>\n"
        body += "<p><b>Peak picker.</b> \(Self.escape(settings.pickerStatement))</p>\n"
        body += "<p><b>r.</b> Pearson r per clip, averaged through Fisher's z; best-lag r is the best over lags −1, 0, +1 steps.</p>\n"
        body += "<p><b>Predictors.</b> " + Predictor.allCases.map { "<i>\($0.rawValue)</i>: \(Self.escape($0.explanation))" }.joined(separator: "; ")
        body += ". Constant level \(ReportFormat.number(Double(settings.constantLevel), 4)) (\(Self.escape(settings.constantSource))).</p></div>\n"
        if !failures.isEmpty {
            body += "<h2 class=\"failed\">Failed clips (\(failures.count))</h2>\n<ul class=\"failed\">\n"
            for f in failures { body += "<li><code>\(Self.escape(f.id))</code>: \(Self.escape(f.message))</li>\n" }
            body += "</ul>\n"
        }
        if let png = charts.classChart {
            body += "<h2>Per class</h2>\n<img alt=\"per-class scores\" src=\"data:image/png;base64,\(png.base64EncodedString())\">\n"
        }
        if !clipCharts.isEmpty {
            body += "<h2>Per clip: target (blue) and predicted (orange) envelopes, true hits (green), model hits (red)</h2>\n"
            if clipCharts.count < evaluations.count {
                body += "<p>The first \(clipCharts.count) of \(evaluations.count) clips.</p>\n"
            }
            for (id, png) in clipCharts {
                body += "<img alt=\"clip \(Self.escape(id))\" src=\"data:image/png;base64,\(png.base64EncodedString())\">\n"
            }
        }
        return body + "</body></html>\n"
    }
}

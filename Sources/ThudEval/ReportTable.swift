// The eval tables as aligned text (stdout), and the same rows as data for the HTML page and the JSON.
import Foundation

/// A table of strings with per-column alignment; renders as aligned text or as HTML.
public struct TextTable: Sendable {
    public enum Alignment: Sendable { case left, right }
    public var headers: [String]
    public var alignments: [Alignment]
    public var rows: [[String]] = []
    /// Rows after which a rule is drawn (e.g. before an "all" row).
    public var rulesBefore: Set<Int> = []

    public init(headers: [String], alignments: [Alignment]) {
        precondition(headers.count == alignments.count)
        self.headers = headers; self.alignments = alignments
    }

    public mutating func add(_ row: [String]) {
        precondition(row.count == headers.count, "row has \(row.count) cells, table has \(headers.count) columns")
        rows.append(row)
    }

    public func text() -> String {
        var widths = headers.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return alignments[i] == .left ? c + pad : pad + c
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = [line(headers), String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))]
        for (i, r) in rows.enumerated() {
            if rulesBefore.contains(i) { out.append(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))) }
            out.append(line(r))
        }
        return out.joined(separator: "\n")
    }
}

/// Number formatting shared by the text, the page and the charts: "n/a" where a figure is undefined.
public enum ReportFormat {
    public static let missing = "n/a"
    public static func number(_ v: Double?, _ digits: Int = 3) -> String {
        guard let v, v.isFinite else { return missing }
        return String(format: "%.\(digits)f", v)
    }
    public static func signed(_ v: Double?, _ digits: Int = 2) -> String {
        guard let v, v.isFinite else { return missing }
        return String(format: "%+.\(digits)f", v)
    }
}

extension EvaluationReport {
    /// One row per predictor: the objective figures and the original-style score.
    public func predictorTable() -> TextTable {
        var t = TextTable(headers: ["predictor", "clips", "r (z-mean)", "best-lag r", "MAE", "BCE", "P", "R", "F1", "AP", "delay", "score", "good/ns/bad"],
                          alignments: [.left] + Array(repeating: .right, count: 12))
        for p in Predictor.allCases {
            let a = aggregate(p)
            // No scored clip: every figure is undefined (AggregateScore's zeros and F1 = 1 would read as results).
            guard a.clips > 0 else { t.add([p.rawValue, "0"] + Array(repeating: ReportFormat.missing, count: 11)); continue }
            t.add([p.rawValue, "\(a.clips)", ReportFormat.number(a.meanR), ReportFormat.number(a.meanBestLagR),
                   ReportFormat.number(a.meanAbsoluteError), ReportFormat.number(a.bce),
                   ReportFormat.number(a.hits.precision), ReportFormat.number(a.hits.recall), ReportFormat.number(a.hits.f1),
                   ReportFormat.number(a.meanAveragePrecision), ReportFormat.signed(a.hits.meanDelay),
                   ReportFormat.signed(a.originalScore), verdictCounts(a)])
        }
        return t
    }

    /// The original's per-class table (class, samples, score) with the model's r/F1/AP and the baselines' r/F1.
    public func classTable() -> TextTable {
        var t = TextTable(headers: ["class", "samples", "score", "r", "F1", "AP", "motion r", "motion F1", "m-onset F1", "const r", "const F1", "oracle r", "oracle F1"],
                          alignments: [.left] + Array(repeating: .right, count: 12))
        func row(_ name: String, _ clips: [ClipEvaluation]) -> [String] {
            guard !clips.isEmpty else { return [name, "0"] + Array(repeating: ReportFormat.missing, count: 11) }
            let m = aggregate(.model, clips: clips), me = aggregate(.motionEnergy, clips: clips), mo = aggregate(.motionOnset, clips: clips)
            let c = aggregate(.constant, clips: clips), o = aggregate(.oracle, clips: clips)
            return [name, "\(clips.count)", ReportFormat.signed(m.originalScore), ReportFormat.number(m.meanR), ReportFormat.number(m.hits.f1),
                    ReportFormat.number(m.meanAveragePrecision), ReportFormat.number(me.meanR), ReportFormat.number(me.hits.f1), ReportFormat.number(mo.hits.f1),
                    ReportFormat.number(c.meanR), ReportFormat.number(c.hits.f1), ReportFormat.number(o.meanR), ReportFormat.number(o.hits.f1)]
        }
        for (name, clips) in byClass { t.add(row(name, clips)) }
        if !t.rows.isEmpty { t.rulesBefore = [t.rows.count] }
        t.add(row("all", evaluations))
        return t
    }

    /// One row per scored clip: the model's figures and verdict next to the motion baseline's r and F1.
    public func clipTable() -> TextTable {
        var t = TextTable(headers: ["clip", "class", "steps", "true hits", "from", "r", "best-lag r", "lag", "hits", "F1", "AP", "verdict", "motion r", "motion F1", "m-onset F1"],
                          alignments: [.left, .left] + Array(repeating: .right, count: 13))
        for e in evaluations {
            let m = e.result(.model), me = e.result(.motionEnergy), mo = e.result(.motionOnset)
            t.add([e.clip.id, String(e.clip.template.prefix(40)), "\(e.steps)", "\(e.trueHits.count)", e.truthSource == .hitList ? "list" : "peaks",
                   ReportFormat.number(m.score.r), ReportFormat.number(m.score.bestLagR), m.score.bestLag.map { String(format: "%+d", $0) } ?? ReportFormat.missing,
                   "\(m.hits.count)", ReportFormat.number(m.score.hits.f1), ReportFormat.number(m.score.averagePrecision),
                   ReportFormat.signed(Double(m.verdict.rawValue), 0), ReportFormat.number(me.score.r), ReportFormat.number(me.score.hits.f1), ReportFormat.number(mo.score.hits.f1)])
        }
        return t
    }

    private func verdictCounts(_ a: AggregateScore) -> String {
        "\(a.verdicts[.good] ?? 0)/\(a.verdicts[.notSoGood] ?? 0)/\(a.verdicts[.bad] ?? 0)"
    }

    /// Where true hits came from, and the rule used where there was no hit list.
    public var truthStatement: String {
        let c = truthCounts
        var parts: [String] = []
        if c.hitList > 0 { parts.append("from hits/<id>.json for \(c.hitList) clip\(c.hitList == 1 ? "" : "s"): \(GroundTruthHits.rule(settings.hitSet))") }
        if c.targetPeaks > 0 { parts.append("peaks of the target envelope for \(c.targetPeaks) clip\(c.targetPeaks == 1 ? "" : "s"): \(EnvelopePeakRule.statement)") }
        return parts.isEmpty ? "none (no clip scored)" : parts.joined(separator: "; ")
    }

    public static let hitMatchingStatement = "predicted hits are placed at the step the causal picker flags (the peak of its detection series; it reports it one step later, after the model's output delay if it has one) and matched one-to-one to true hits within ±\(HitMetrics.defaultTolerance) step; P/R/F1 pool the matches over clips; AP ranks the envelope's local maxima by height; delay = mean (predicted − true) steps of matched hits"

    public static let scoreStatement = "score = mean verdict per clip, +1 good / 0 not so good / −1 bad: " + OriginalVerdict.rule

    /// The whole text printed on stdout (with the per-clip table when asked).
    public func text(perClip: Bool = false) -> String {
        var lines: [String] = []
        lines.append("thud eval: \(dataset), split \(split), classes: \(classFilter)")
        lines.append("model: \(modelPath)")
        lines.append("clips: \(evaluations.count) scored, \(failures.count) failed, of \(selected) selected")
        lines.append("true hits: \(truthStatement)")
        lines.append("hits: \(Self.hitMatchingStatement)")
        lines.append("peak picker: \(settings.pickerStatement)")
        lines.append("constant predictor: \(ReportFormat.number(Double(settings.constantLevel), 4)) (\(settings.constantSource))")
        lines.append("")
        lines.append("Predictors (r: Fisher-z mean of per-clip Pearson r; best-lag r over lags -1, 0, +1)")
        lines.append(predictorTable().text())
        lines.append("")
        lines.append("Per class, in the original's form (\(Self.scoreStatement))")
        lines.append(classTable().text())
        if perClip {
            lines.append("")
            lines.append("Per clip (model; hits: predicted hit count; from: true hits from the hit list or the target's peaks)")
            lines.append(clipTable().text())
        }
        if !failures.isEmpty {
            lines.append("")
            lines.append("Failed clips (\(failures.count)), not scored:")
            for f in failures { lines.append("  \(f.id): \(f.message)") }
        }
        return lines.joined(separator: "\n")
    }
}

// `thud eval --out report.json`: per-clip and aggregate figures, the rules, and the envelopes (so charts can be
// redrawn without decoding again). Undefined figures are JSON null.
import Foundation
import ThudBase

extension EvaluationReport {
    /// Six decimals: enough for every figure, and Float envelopes do not print as 0.30000001192092896.
    static func rounded(_ v: Double) -> Double { (v * 1e6).rounded() / 1e6 }
    static func json(_ v: Double?) -> Any { v.map { $0.isFinite ? rounded($0) as Any : NSNull() } ?? NSNull() }

    static func scoreObject(_ s: ClipScore) -> [String: Any] {
        ["r": json(s.r), "best_lag_r": json(s.bestLagR), "best_lag": s.bestLag.map { $0 as Any } ?? NSNull(),
         "mae": json(s.meanAbsoluteError), "bce": json(s.bce),
         "true_positives": s.hits.truePositives, "false_positives": s.hits.falsePositives, "false_negatives": s.hits.falseNegatives,
         "precision": json(s.hits.precision), "recall": json(s.hits.recall), "f1": json(s.hits.f1),
         "average_precision": json(s.averagePrecision), "mean_delay_steps": json(s.hits.meanDelay)]
    }

    static func aggregateObject(_ a: AggregateScore) -> [String: Any] {
        // Nothing scored: no figures (AggregateScore's zeros and F1 = 1 are not results).
        guard a.clips > 0 else { return ["clips": 0] }
        return ["clips": a.clips, "r_fisher_mean": json(a.meanR), "best_lag_r_fisher_mean": json(a.meanBestLagR),
                "mae": json(a.meanAbsoluteError), "bce": json(a.bce),
                "true_positives": a.hits.truePositives, "false_positives": a.hits.falsePositives, "false_negatives": a.hits.falseNegatives,
                "precision": json(a.hits.precision), "recall": json(a.hits.recall), "f1": json(a.hits.f1),
                "mean_average_precision": json(a.meanAveragePrecision), "mean_delay_steps": json(a.hits.meanDelay),
                "original_score": json(a.originalScore),
                "verdicts": ["good": a.verdicts[.good] ?? 0, "not_so_good": a.verdicts[.notSoGood] ?? 0, "bad": a.verdicts[.bad] ?? 0]]
    }

    public func jsonObject() -> [String: Any] {
        func aggregates(_ clips: [ClipEvaluation]) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: Predictor.allCases.map { ($0.rawValue, Self.aggregateObject(aggregate($0, clips: clips)) as Any) })
        }
        let clips: [[String: Any]] = evaluations.map { e in
            var predictors: [String: Any] = [:]
            for p in Predictor.allCases {
                let r = e.result(p)
                var o = Self.scoreObject(r.score)
                o["verdict"] = r.verdict.rawValue
                o["hits"] = r.hits
                o["envelope"] = r.envelope.map { Self.rounded(Double($0)) }
                if let onsets = r.onsets { o["onsets"] = onsets.map { Self.rounded(Double($0)) } }
                if let d = r.pickerDetection, let t = r.pickerThreshold {
                    o["picker"] = ["detection": d.map { Self.rounded(Double($0)) }, "threshold": t.map { Self.rounded(Double($0)) }]
                }
                predictors[p.rawValue] = o
            }
            return ["id": e.clip.id, "path": e.clip.path, "class": e.clip.template, "label": e.clip.label,
                    "steps": e.steps, "true_hits": e.trueHits, "true_hits_from": e.truthSource.rawValue,
                    "target": e.target.map { Self.rounded(Double($0)) }, "predictors": predictors]
        }
        let classes: [[String: Any]] = byClass.map { name, clips in
            ["class": name, "samples": clips.count, "predictors": aggregates(clips)]
        }
        return [
            "dataset": dataset, "split": split, "classes": classFilter, "model": modelPath,
            "step_rate_hz": StepRate.perSecond,
            "selected": selected, "scored": evaluations.count,
            "failed": failures.map { ["id": $0.id, "path": $0.path, "problem": $0.problem] },
            "settings": ["threshold": Self.rounded(Double(settings.picker.minStrength)), "min_rise": Self.rounded(Double(settings.picker.minRise)), "sensitivity": Self.rounded(Double(settings.picker.sensitivity)), "detection": settings.picker.detection.rawValue, "constant_level": Self.rounded(Double(settings.constantLevel)),
                         "constant_source": settings.constantSource, "tolerance_steps": settings.tolerance],
            "rules": ["true_hits": truthStatement, "hit_list_rule": GroundTruthHits.rule(settings.hitSet), "target_peak_rule": EnvelopePeakRule.statement,
                      "hit_matching": Self.hitMatchingStatement, "peak_picker": settings.pickerStatement, "original_score": OriginalVerdict.rule,
                      "r_aggregate": "Fisher z: tanh(mean(atanh(r))); clips with undefined r (constant series) are left out of the mean",
                      "predictors": Dictionary(uniqueKeysWithValues: Predictor.allCases.map { ($0.rawValue, $0.explanation) })],
            "aggregate": aggregates(evaluations),
            "per_class": classes,
            "clips": clips,
        ]
    }

    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: jsonObject(), options: [.prettyPrinted, .sortedKeys])
    }
}

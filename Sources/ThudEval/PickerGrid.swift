// Choosing the peak picker's settings on validation clips: ThudModel's own PeakPicker run over a grid of settings
// on envelopes a `thud eval` already produced, scored against the clips' true hits like `thud eval` scores them.
// (It replaced tools/eval/tune_picker.py, a Python re-implementation of the picker; scripts that need the picker
// on other envelopes call `thud-train pick-hits` through tools/eval/thud_tools.py.)
import Foundation
import ThudModel

/// One clip's model outputs and true hits, as `thud eval --out` records them.
public struct PickerClip: Sendable {
    public var envelope: [Float]
    public var onsets: [Float]?
    public var trueHits: [Int]
    public init(envelope: [Float], onsets: [Float]?, trueHits: [Int]) {
        self.envelope = envelope; self.onsets = onsets; self.trueHits = trueHits
    }
}

public struct PickerGridResult: Sendable {
    public var configuration: PeakPicker.Configuration
    public var hits: HitMatch
}

public enum PickerGrid {
    /// The settings tried: the level, the rise and (for models with an onset output) the onset output and onset+rise,
    /// each over thresholds, minimum rises and two sensitivities.
    public static func candidates(hasOnsetOutput: Bool) -> [PeakPicker.Configuration] {
        var out: [PeakPicker.Configuration] = []
        for t: Float in [0.15, 0.2, 0.25, 0.3, 0.35] {
            for s: Float in [1, 3] { out.append(.init(detection: .level, sensitivity: s, minStrength: t)) }
        }
        for t: Float in [0.15, 0.2, 0.25, 0.3] {
            for r: Float in [0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2] {
                for s: Float in [1, 3] { out.append(.init(detection: .rise, sensitivity: s, minStrength: t, minRise: r)) }
            }
        }
        guard hasOnsetOutput else { return out }
        for t: Float in [0, 0.1, 0.2, 0.25] {
            for r: Float in [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6] {
                for s: Float in [1, 3] { out.append(.init(detection: .onset, sensitivity: s, minStrength: t, minRise: r)) }
            }
        }
        for r: Float in [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8] {
            for s: Float in [1, 3] { out.append(.init(detection: .onsetPlusRise, sensitivity: s, minStrength: 0, minRise: r)) }
        }
        return out
    }

    /// Pooled hits of one setting over the clips, matched within ±tolerance steps.
    public static func score(_ configuration: PeakPicker.Configuration, clips: [PickerClip],
                             tolerance: Int = HitMetrics.defaultTolerance) -> HitMatch {
        clips.reduce(HitMatch()) { total, clip in
            let n = clip.envelope.count
            let picked = PeakPicker.hits(envelope: clip.envelope, onsets: clip.onsets, configuration: configuration).map(\.step)
            return total + HitMetrics.match(predicted: picked.filter { $0 < n }, truth: clip.trueHits.filter { $0 < n },
                                            tolerance: tolerance)
        }
    }

    /// Every candidate's pooled hits, best F1 first (ties: the earlier candidate, so the order is stable).
    public static func ranked(clips: [PickerClip], hasOnsetOutput: Bool) -> [PickerGridResult] {
        let results = candidates(hasOnsetOutput: hasOnsetOutput).map { PickerGridResult(configuration: $0, hits: score($0, clips: clips)) }
        return results.enumerated().sorted { a, b in
            a.element.hits.f1 != b.element.hits.f1 ? a.element.hits.f1 > b.element.hits.f1 : a.offset < b.offset
        }.map(\.element)
    }

    /// The model's clips from a `thud eval --out` report: (split, clips), or a one-line problem.
    public static func clips(fromReport data: Data) throws -> (split: String, clips: [PickerClip]) {
        struct Report: Decodable {
            struct Clip: Decodable {
                struct Predictors: Decodable {
                    struct Model: Decodable { var envelope: [Float]; var onsets: [Float]? }
                    var model: Model
                }
                var predictors: Predictors
                var true_hits: [Int]
            }
            var split: String
            var clips: [Clip]
        }
        let report = try JSONDecoder().decode(Report.self, from: data)
        return (report.split, report.clips.map {
            PickerClip(envelope: $0.predictors.model.envelope, onsets: $0.predictors.model.onsets, trueHits: $0.true_hits)
        })
    }
}

#!/usr/bin/env python3
"""Why does the model miss the true hits it misses? From the JSON `thud eval --out` writes.

    .build/release/thud eval DATASET --split validation --out val.json
    python3 tools/eval/miss_reasons.py val.json

True hits and the model's hits are matched one to one within ±1 step by `thud eval`'s own matching (`thud-train
match-hits`: true hits in time order, each given the earliest unmatched prediction in its window). Each true
hit left unmatched is put under the first reason that holds, judged on the steps within ±1 of it:
  - taken: a flagged hit is within ±1 step, but matched to another true hit;
  - gap: the envelope rose enough, but within the picker's minimum gap after a flagged hit;
  - no rise: the model's envelope rises by less than half the picker's smallest rise (it did not hear it);
  - small rise: it rises, but by less than the picker's smallest rise;
  - quiet: it rises enough, at an envelope below the picker's threshold;
  - threshold: the rise did not beat the picker's adaptive threshold (median + k·MAD + margin of the second before),
    read from the picker itself (`thud eval` records, per step, what it judged each step by: "picker");
  - other: the peak's shape (not a local maximum of the rise).
Beside each miss it asks the same of the audio's own envelope (the training target): whether its one-step rise
reaches the picker's smallest rise at all, i.e. whether the teacher itself marks that hit on the envelope.
Counts per reason and per class; the picker is the one the JSON records (its rise detection; the onset output is
not read).
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from thud_tools import match_hits, true_indices  # noqa: E402


def rises(series):
    return [0.0] + [max(0.0, b - a) for a, b in zip(series, series[1:])]


def reason(step, envelope, predicted, min_rise, min_strength, judged=None, gap=3):
    rise = rises(envelope)
    window = range(max(1, step - 1), min(len(envelope), step + 2))
    if not window:
        return "other"
    best = max(window, key=lambda k: rise[k])
    if any(abs(p - step) <= 1 for p in predicted):
        return "taken"
    if rise[best] < min_rise / 2:
        return "no rise"
    if rise[best] < min_rise:
        return "small rise"
    if envelope[best] < min_strength:
        return "quiet"
    if any(0 < best - p < gap for p in predicted):
        return "gap"
    if judged and best < len(judged["detection"]) and judged["detection"][best] <= judged["threshold"][best]:
        return "threshold"
    return "other"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    report = json.load(open(sys.argv[1]))
    settings = report["settings"]
    if settings.get("detection", "rise") != "rise":
        sys.exit(f"{sys.argv[1]}: the picker it records reads '{settings['detection']}', this script judges the rise detector only")
    min_rise, min_strength = settings["min_rise"], settings["threshold"]
    reasons, teacher, by_class = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
    total = 0
    predicted_of = lambda clip: [h["step"] if isinstance(h, dict) else h for h in clip["predictors"]["model"]["hits"]]
    matches = match_hits([(predicted_of(clip), clip["true_hits"]) for clip in report["clips"]])
    for clip, match in zip(report["clips"], matches):
        model = clip["predictors"]["model"]
        predicted = predicted_of(clip)
        true = clip["true_hits"]
        total += len(true)
        found = true_indices(true, match["matched"])
        target_rise = rises(clip["target"])
        for j, step in enumerate(true):
            if j in found:
                continue
            why = reason(step, model["envelope"], predicted, min_rise, min_strength, model.get("picker"))
            reasons[why] += 1
            by_class[clip["class"]][why] += 1
            window = range(max(1, step - 1), min(len(target_rise), step + 2))
            teacher[(why, any(target_rise[k] >= min_rise for k in window))] += 1
    missed = sum(reasons.values())
    print(f"{report['dataset']} ({report['split']}): {missed} of {total} true hits missed "
          f"(picker: rise ≥ {min_rise} at envelope ≥ {min_strength})")
    print(f"  {'reason':12s} {'misses':>6s}  {'teacher rises there':>19s}")
    for why, n in reasons.most_common():
        print(f"  {why:12s} {n:6d}  {teacher[(why, True)]:12d} of {n}")
    print("by class (misses: reasons)")
    for name, counts in sorted(by_class.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {sum(counts.values()):4d}  {name}: " + ", ".join(f"{w} {n}" for w, n in counts.most_common()))


if __name__ == "__main__":
    main()

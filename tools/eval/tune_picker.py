#!/usr/bin/env python3
"""Chooses the peak picker's settings on a validation split, from the JSON `thud eval --out` writes.

    .build/release/thud eval DATASET --split validation --out val.json
    python3 tools/eval/tune_picker.py val.json

The picker below mirrors ThudModel's PeakPicker step for step (it first checks that it reproduces the hits in the
JSON, which the eval made with the settings it records), then scores a grid of settings on the model's envelopes
against the clips' true hits, matched one-to-one within ±1 step like `thud eval`, and prints the best. It refuses a
test split: settings chosen on test clips would flatter the test figures.
"""
import itertools
import json
import sys

import numpy as np


def pick(envelope, onsets=None, detection="rise", min_strength=0.25, min_rise=0.15, sensitivity=3.0, margin=0.05,
         history=12, gap=3):
    """ThudModel.PeakPicker over a whole clip, finish() included: the hit steps."""
    hits, hist = [], []
    before = candidate = level = 0.0
    last = -(10**9)
    onsets = list(onsets) if onsets is not None else [0.0] * len(envelope)
    for step, (value, onset) in enumerate(zip(list(envelope) + [-np.inf], onsets + [-np.inf])):
        if detection == "level":
            detected = value
        elif detection == "onset":
            detected = onset
        elif detection == "onset+rise":
            detected = onset + (0.0 if step == 0 else max(0.0, value - level))
        else:
            detected = 0.0 if step == 0 else max(0.0, value - level)
        if step >= 1:
            peak = step - 1
            local_max = peak >= 1 and candidate > before and candidate >= detected
            strong = level >= min_strength and (detection == "level" or candidate >= min_rise)
            if local_max and strong and peak - last >= gap:
                if hist:
                    h = np.array(hist, dtype=np.float32)
                    med = np.median(h)
                    threshold = med + sensitivity * np.median(np.abs(h - med)) + margin
                else:
                    threshold = margin
                if candidate > threshold:
                    hits.append(peak)
                    last = peak
            hist = (hist + [candidate])[-history:]
            before = candidate
        candidate, level = detected, value
    return hits


def matched_true(predicted, true, tolerance=1):
    """Indices of the true hits matched one to one within ±tolerance, closest first (as ThudEval's HitMetrics)."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(true) if abs(p - t) <= tolerance)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return used_t


def match(predicted, true, tolerance=1):
    """The number of one-to-one matches within ±tolerance."""
    return len(matched_true(predicted, true, tolerance))


def scores(pairs):
    """(F1, precision, recall) over (predicted hits, true hits) pairs, one per clip, matched as `match`."""
    tp = fp = fn = 0
    for hits, true in pairs:
        m = match(hits, true)
        tp, fp, fn = tp + m, fp + len(hits) - m, fn + len(true) - m
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    return (2 * p * r / (p + r) if p + r > 0 else 0.0), p, r


def f1(clips, **settings):
    return scores((pick(envelope, onsets, **settings), true) for envelope, onsets, true in clips)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tune_picker.py EVAL.json (thud eval --split validation --out EVAL.json)")
    report = json.load(open(sys.argv[1]))
    if report["split"] == "test":
        sys.exit(f"{sys.argv[1]}: a test split; choose picker settings on validation clips")
    clips, mismatched = [], 0
    s = report["settings"]
    recorded = dict(detection=s.get("detection", "level"), min_strength=s["threshold"], min_rise=s.get("min_rise", 0.15),
                    sensitivity=s.get("sensitivity", 3.0))
    for c in report["clips"]:
        model = c["predictors"]["model"]
        clips.append((model["envelope"], model.get("onsets"), c["true_hits"]))
        mismatched += pick(model["envelope"], model.get("onsets"), **recorded) != [h for h in model["hits"]]
    print(f"{len(clips)} clips from {report['dataset']} ({report['split']}); mirror disagrees with thud on {mismatched}")
    base = f1(clips, **recorded)
    print(f"as evaluated ({recorded}): F1 {base[0]:.3f} (P {base[1]:.3f} R {base[2]:.3f})")
    rows = []
    for t, sens in itertools.product([0.15, 0.2, 0.25, 0.3, 0.35], [1.0, 3.0]):
        rows.append((f1(clips, detection="level", min_strength=t, sensitivity=sens), dict(detection="level", min_strength=t, sensitivity=sens)))
    for t, rise, sens in itertools.product([0.15, 0.2, 0.25, 0.3], [0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2], [1.0, 3.0]):
        rows.append((f1(clips, detection="rise", min_strength=t, min_rise=rise, sensitivity=sens),
                     dict(detection="rise", min_strength=t, min_rise=rise, sensitivity=sens)))
    if clips and clips[0][1] is not None:
        for t, rise, sens in itertools.product([0.0, 0.1, 0.2, 0.25], [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6], [1.0, 3.0]):
            rows.append((f1(clips, detection="onset", min_strength=t, min_rise=rise, sensitivity=sens),
                         dict(detection="onset", min_strength=t, min_rise=rise, sensitivity=sens)))
        for rise, sens in itertools.product([0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8], [1.0, 3.0]):
            rows.append((f1(clips, detection="onset+rise", min_strength=0.0, min_rise=rise, sensitivity=sens),
                         dict(detection="onset+rise", min_strength=0.0, min_rise=rise, sensitivity=sens)))
    rows.sort(key=lambda r: -r[0][0])
    print("best settings (F1, P, R):")
    for (score, p, r), settings in rows[:8]:
        print(f"  F1 {score:.3f}  P {p:.3f}  R {r:.3f}  {settings}")
    best_level = max((r for r in rows if r[1]["detection"] == "level"), key=lambda r: r[0][0])
    print(f"best level detector: F1 {best_level[0][0]:.3f} {best_level[1]}")
    best_rise = max((r for r in rows if r[1]["detection"] == "rise"), key=lambda r: r[0][0])
    print(f"best rise detector: F1 {best_rise[0][0]:.3f} {best_rise[1]}")
    for detection in ["onset", "onset+rise"]:
        these = [r for r in rows if r[1]["detection"] == detection]
        if these:
            best = max(these, key=lambda r: r[0][0])
            print(f"best {detection} detector: F1 {best[0][0]:.3f} {best[1]}")
    # Record the chosen settings in the model: thud-train set-picker MODEL --detection D --threshold T --min-rise R
    # --sensitivity S (thud's default for that model from then on).


if __name__ == "__main__":
    main()

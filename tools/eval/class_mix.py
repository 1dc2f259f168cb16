#!/usr/bin/env python3
"""Is the gap in hit F1 between two splits their class mix? From two `thud eval --out` JSONs of one model.

    .build/release/thud eval DATASET --split validation --model M --out val.json
    .build/release/thud eval TESTSET --split test --model M --out test.json
    python3 tools/eval/class_mix.py val.json test.json

Prints, per class, each split's clips, true hits and pooled F1, then the F1 the second split would have if each
class kept the first split's rates (true positives, false hits and misses per true hit) at the second split's
number of true hits in that class. If that figure is close to the first split's F1, the second split's classes
are not what makes it differ: its clips within the classes are.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from thud_tools import f1_of  # noqa: E402


def per_class(path):
    """class -> [true positives, false positives, false negatives, clips] of the model, pooled over the clips."""
    out = {}
    for clip in json.load(open(path))["clips"]:
        model = clip["predictors"]["model"]
        row = out.setdefault(clip["class"], [0, 0, 0, 0])
        row[0] += model["true_positives"]
        row[1] += model["false_positives"]
        row[2] += model["false_negatives"]
        row[3] += 1
    return out


def true_hits(split, name):
    row = split.get(name, [0, 0, 0, 0])
    return row[0] + row[2]




def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    first, second = per_class(sys.argv[1]), per_class(sys.argv[2])
    # A class with true hits in the second split needs rates from the first; skipping it would bias the figure.
    missing = sorted(name for name in second if true_hits(second, name) > 0 and true_hits(first, name) == 0)
    if missing:
        sys.exit(f"{sys.argv[1]}: no true hits of {missing[0]!r}, which {sys.argv[2]} has; the mixes cannot be compared")
    print(f"{'class':62s} {'clips':>5s} {'hits':>5s} {'F1':>6s}   {'clips':>5s} {'hits':>5s} {'F1':>6s}")
    for name in sorted(first):
        a, b = first[name], second.get(name, [0, 0, 0, 0])
        right = f"{b[3]:5d} {true_hits(second, name):5d} {f1_of(*b[:3]):6.3f}" if b[3] else f"{0:5d}"
        print(f"{name[:62]:62s} {a[3]:5d} {true_hits(first, name):5d} {f1_of(*a[:3]):6.3f}   {right}")
    totals = [[sum(row[i] for row in split.values()) for i in range(4)] for split in (first, second)]
    tp = fp = fn = 0.0
    for name in second:
        hits_b = true_hits(second, name)
        if hits_b == 0:
            continue
        a, hits_a = first[name], true_hits(first, name)
        tp += a[0] / hits_a * hits_b
        fp += a[1] / hits_a * hits_b
        fn += a[2] / hits_a * hits_b
    print(f"F1: {sys.argv[1]} {f1_of(*totals[0][:3]):.3f}, {sys.argv[2]} {f1_of(*totals[1][:3]):.3f}; "
          f"the first's per-class rates at the second's class mix {f1_of(tp, fp, fn):.3f}")


if __name__ == "__main__":
    main()

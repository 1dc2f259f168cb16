#!/usr/bin/env python3
"""How sure is a pooled hit F1? Resamples the clips of a `thud eval --out` JSON with replacement (the clip is the
unit: a clip's hits are not independent) and prints the F1 with its 95 % bootstrap interval, for the model as
evaluated (its per-clip true positives, false positives and misses).

    .build/release/thud eval DATASET --split test --model M --out test.json
    python3 tools/eval/f1_interval.py test.json [--resamples 10000] [--seed 1] [--bar 0.90]

With --bar it also prints the share of resamples at or above that F1.
"""
import argparse
import json

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bar", type=float)
    args = parser.parse_args()
    report = json.load(open(args.report))
    counts = np.array([[c["predictors"]["model"][k] for k in ("true_positives", "false_positives", "false_negatives")]
                       for c in report["clips"]], dtype=np.int64)

    def pooled_f1(rows):
        tp, fp, fn = rows.sum(axis=-2).T
        return 2 * tp / np.maximum(1, 2 * tp + fp + fn)

    rng = np.random.default_rng(args.seed)
    picks = rng.integers(0, len(counts), size=(args.resamples, len(counts)))
    f1s = pooled_f1(counts[picks])
    low, high = np.percentile(f1s, [2.5, 97.5])
    tp, fp, fn = counts.sum(axis=0)
    print(f"{report['dataset']} ({report['split']}): {len(counts)} clips, {tp + fn} true hits; "
          f"F1 {pooled_f1(counts[None])[0]:.3f}, 95 % interval {low:.3f}-{high:.3f} ({args.resamples} resamples of the clips)")
    if args.bar is not None:
        print(f"resamples with F1 >= {args.bar}: {100 * np.mean(f1s >= args.bar):.1f} %")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Which true hits does the model miss? Recall by the generator's impact strength (1 − e^(−speed/2.5)), from the
JSON `thud eval --out` writes and the dataset's hits/ folder (thud-synth corpora only).

    .build/release/thud eval DATASET --split validation --out val.json
    python3 tools/eval/misses_by_strength.py val.json DATASET

Each true hit step is matched to the nearest impact of its clip's hits/ID.json by time (step = time × 12); a true
hit counts as found when the model flagged a hit within ±1 step (as `thud eval`, without the one-to-one rule).
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    report, root = json.load(open(sys.argv[1])), sys.argv[2]
    bands = [(0.0, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.01)]
    found, total = [0] * len(bands), [0] * len(bands)
    for c in report["clips"]:
        impacts = json.load(open(os.path.join(root, "hits", f"{c['id']}.json")))["hits"]
        predicted = c["predictors"]["model"]["hits"]
        for step in c["true_hits"]:
            if not impacts:
                continue
            strength = min(impacts, key=lambda h: abs(h["time"] * 12 - step))["strength"]
            band = next(i for i, (lo, hi) in enumerate(bands) if lo <= strength < hi)
            total[band] += 1
            found[band] += any(abs(step - p) <= 1 for p in predicted)
    print(f"{report['dataset']} ({report['split']}): recall by impact strength")
    for (lo, hi), f, t in zip(bands, found, total):
        print(f"  {lo:.1f}–{min(hi, 1.0):.1f}: {t:5d} true hits, recall {f / max(1, t):.2f}")


if __name__ == "__main__":
    main()

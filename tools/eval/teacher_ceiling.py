#!/usr/bin/env python3
"""How well does the audio teacher itself flag the scene's hits at 12 Hz? Runs the training targets (the onset
target times a gain, clamped to 1, as --onset-target-gain makes it; and the envelope target) through the peak
picker over a grid of settings and prints the best F1 of each, scored like `thud eval` against the JSON's true
hits. A model trained on these targets scores above this ceiling only where the frames tell it what the audio
holds that no picture shows (off-screen knocks, the camera's click, ringing tails).

    .build/release/thud eval DATASET --split validation --model M --out val.json
    python3 tools/eval/teacher_ceiling.py val.json CACHE_DIR [--gain 3] [--size 96x96]

CACHE_DIR is thud-train's feature cache (--cache) holding the split's clips at that frame size (the targets do not
depend on it; the cache keys entries by it). The best settings are chosen on the same clips, so each figure is
the teacher's best case.
"""
import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feature_cache import cached_clips  # noqa: E402
from thud_tools import f1  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("cache")
    parser.add_argument("--gain", type=float, default=3.0)
    parser.add_argument("--size", default="96x96")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    clips = json.load(open(args.report))["clips"]
    found = cached_clips(args.cache, clips, width, height)
    missing = [c["id"] for c in clips if c["id"] not in found]
    if missing:
        sys.exit(f"{args.cache}: no cached entry at {args.size} for {len(missing)} of {len(clips)} clips "
                 f"(first {missing[0]}); run thud-train prepare with --cache there")
    series = [(found[c["id"]]["target"].tolist(), np.minimum(1.0, args.gain * found[c["id"]]["onsets"]).tolist(),
               c["true_hits"]) for c in clips]
    grids = {
        "onset": itertools.product([0.0, 0.1, 0.2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], [0.0, 1.0, 3.0]),
        "rise": itertools.product([0.1, 0.2, 0.25, 0.3], [0.02, 0.04, 0.06, 0.1, 0.15], [0.0, 1.0, 3.0]),
    }
    print(f"{len(clips)} clips; onset target x{args.gain:g}")
    for detection, grid in grids.items():
        (score, p, r), settings = max(((f1(series, detection=detection, min_strength=t, min_rise=rise, sensitivity=s),
                                        (t, rise, s)) for t, rise, s in grid), key=lambda row: row[0][0])
        name = "onset target" if detection == "onset" else "envelope target's rise"
        print(f"{name}: best F1 {score:.3f} (P {p:.3f} R {r:.3f}) at threshold {settings[0]}, min rise {settings[1]}, "
              f"sensitivity {settings[2]}")


if __name__ == "__main__":
    main()

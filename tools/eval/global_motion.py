#!/usr/bin/env python3
"""How much of the frame difference in real video is the camera's own motion?

    python3 tools/eval/global_motion.py DATASET_DIR [--split validation] [--thud .build/release/thud]

For each clip (a folder with split.tsv, e.g. ../shared/realtrain, or any folder of videos) this decodes the 12 Hz
96x96 gray frames with `thud frames` and the target envelope with `thud envelope`, then compares two weight-free
motion signals against the target: the plain mean |frame - previous| (thud's motion-energy baseline, over the same central area) and the
same after aligning the previous frame to the current one by the integer shift (within +-4 px) that minimises the
mean |difference| (a global-motion-compensated difference). It prints, per clip and pooled (Fisher-z mean), the
Pearson r of each with the target at lags 0 and +1 (the sound a step after the motion), and the share of the
plain difference that the alignment removes (the camera's share of the motion energy).
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

SIZE = 96


def frames(thud, path):
    raw = subprocess.run([thud, "frames", path, "--size", f"{SIZE}x{SIZE}"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, SIZE, SIZE).astype(np.float32)


def envelope(thud, path):
    out = subprocess.run([thud, "envelope", path], capture_output=True, check=True, text=True).stdout
    return np.array([json.loads(line)["envelope"] for line in out.splitlines() if line.strip()], dtype=np.float32)


def aligned_difference(prev, cur, reach=4):
    """Mean |cur - shifted prev| over the common area, minimised over integer shifts."""
    best = None
    m = reach
    c = cur[m:-m, m:-m]
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            p = prev[m + dy:SIZE - m + dy, m + dx:SIZE - m + dx]
            d = float(np.mean(np.abs(c - p)))
            if best is None or d < best:
                best = d
    return best


def pearson(a, b):
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def fisher_mean(rs):
    rs = [max(-0.999, min(0.999, r)) for r in rs if r is not None]
    return math.tanh(sum(math.atanh(r) for r in rs) / len(rs)) if rs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--thud", default=os.path.join(os.path.dirname(__file__), "../../.build/release/thud"))
    args = ap.parse_args()
    split_file = os.path.join(args.dataset, "split.tsv")
    names = None
    if os.path.exists(split_file):
        rows = [l.rstrip("\n").split("\t") for l in open(split_file) if l.strip() and not l.startswith("file\t")]
        names = {r[0] for r in rows if r[1] == args.split}
    clips = []
    for root, _, files in os.walk(args.dataset):
        for f in sorted(files):
            if f.lower().endswith((".mp4", ".mkv", ".webm", ".mov", ".avi")) and (names is None or f in names):
                clips.append(os.path.join(root, f))
    table = {k: [] for k in ("plain0", "plain1", "aligned0", "aligned1")}
    shares = []
    print(f"{'clip':44} {'plain r0':>8} {'plain r1':>8} {'align r0':>8} {'align r1':>8} {'camera share':>12}")
    for path in sorted(clips):
        f = frames(args.thud, path)
        e = envelope(args.thud, path)
        n = min(len(f), len(e))
        plain = np.zeros(n, dtype=np.float32)
        aligned = np.zeros(n, dtype=np.float32)
        for k in range(1, n):
            plain[k] = float(np.mean(np.abs(f[k][4:-4, 4:-4] - f[k - 1][4:-4, 4:-4])))   # the same area as aligned
            aligned[k] = aligned_difference(f[k - 1], f[k])
        target = e[:n]
        r = {
            "plain0": pearson(plain, target), "plain1": pearson(plain[:-1], target[1:]),
            "aligned0": pearson(aligned, target), "aligned1": pearson(aligned[:-1], target[1:]),
        }
        for k, v in r.items():
            table[k].append(v)
        share = 1 - float(aligned.sum()) / max(1e-9, float(plain.sum()))
        shares.append(share)
        fmt = lambda v: "     n/a" if v is None else f"{v:8.3f}"
        print(f"{os.path.basename(path)[:44]:44} {fmt(r['plain0'])} {fmt(r['plain1'])} {fmt(r['aligned0'])} {fmt(r['aligned1'])} {share:12.2f}")
    fmt = lambda v: "     n/a" if v is None else f"{v:8.3f}"
    print(f"{'pooled (Fisher-z mean r; mean share)':44} {fmt(fisher_mean(table['plain0']))} {fmt(fisher_mean(table['plain1']))} "
          f"{fmt(fisher_mean(table['aligned0']))} {fmt(fisher_mean(table['aligned1']))} {float(np.mean(shares)):12.2f}")


if __name__ == "__main__":
    sys.exit(main())

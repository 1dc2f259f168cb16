"""What the analysis scripts in tools/eval share, once: thud's own peak picker (run through `thud-train pick-hits`,
never re-implemented here), hits matched one to one within +-1 step as `thud eval` matches them, F1 / precision /
recall, and the feature cache's version as FeatureCache.swift states it.

The Swift executables are looked for in .build/release, then .build/debug, then on PATH (THUD_BIN=DIR overrides).
"""
import json
import os
import re
import shutil
import subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def executable(name):
    """Path of a built Thud executable."""
    dirs = [os.environ["THUD_BIN"]] if os.environ.get("THUD_BIN") else []
    dirs += [os.path.join(REPO, ".build", "release"), os.path.join(REPO, ".build", "debug")]
    for d in dirs:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    found = shutil.which(name)
    if found:
        return found
    raise SystemExit(f"{name}: not built (swift build -c release --product {name})")


def pick_hits(requests):
    """Hit steps for each (envelope, onsets or None, settings dict) through ThudModel's PeakPicker, in one process.
    settings: detection ("rise", "level", "onset", "onset+rise"), min_strength, min_rise, sensitivity; absent ones
    take the detector's defaults."""
    lines = []
    for envelope, onsets, settings in requests:
        r = {"envelope": [float(v) for v in envelope]}
        if onsets is not None:
            r["onsets"] = [float(v) for v in onsets]
        if "detection" in settings:
            r["detection"] = settings["detection"]
        for key, name in (("min_strength", "threshold"), ("min_rise", "min_rise"), ("sensitivity", "sensitivity")):
            if key in settings:
                r[name] = float(settings[key])
        lines.append(json.dumps(r))
    out = subprocess.run([executable("thud-train"), "pick-hits"], input="\n".join(lines) + "\n", text=True,
                         capture_output=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr.strip() or f"thud-train pick-hits failed ({out.returncode})")
    return [json.loads(line)["hits"] for line in out.stdout.splitlines()]


def pick(envelope, onsets=None, **settings):
    """Hit steps of one series (pick_hits for one)."""
    return pick_hits([(envelope, onsets, settings)])[0]


def matched_true(predicted, true, tolerance=1):
    """Indices of the true hits matched one to one within +-tolerance, closest first (as ThudEval's HitMetrics)."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(true) if abs(p - t) <= tolerance)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return used_t


def f1_of(tp, fp, fn):
    """F1 from counts (0 when there is nothing to find and nothing found)."""
    return 2 * tp / max(1e-9, 2 * tp + fp + fn)


def scores(pairs):
    """(F1, precision, recall) pooled over (predicted hits, true hits) pairs, one per clip."""
    tp = fp = fn = 0
    for hits, true in pairs:
        m = len(matched_true(hits, true))
        tp, fp, fn = tp + m, fp + len(hits) - m, fn + len(true) - m
    return f1_of(tp, fp, fn), tp / max(1, tp + fp), tp / max(1, tp + fn)


def f1(clips, **settings):
    """(F1, P, R) of one picker setting over (envelope, onsets, true hits) clips."""
    clips = list(clips)
    hits = pick_hits([(envelope, onsets, settings) for envelope, onsets, _ in clips])
    return scores(zip(hits, (true for _, _, true in clips)))


def feature_cache_version():
    """The cache entry version thud-train writes (FeatureCache.swift's `static let version`)."""
    source = open(os.path.join(REPO, "Sources", "ThudTrain", "FeatureCache.swift")).read()
    m = re.search(r"static let version: UInt32 = (\d+)", source)
    if not m:
        raise SystemExit("Sources/ThudTrain/FeatureCache.swift: no `static let version: UInt32 = N`")
    return int(m.group(1))

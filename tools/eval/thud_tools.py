"""What the analysis scripts in tools/eval share, once: thud's own peak picker (run through `thud-train pick-hits`)
and thud's own hit matching (one to one within +-1 step, through `thud-train match-hits`), never re-implemented
here, and F1 / precision / recall from the counts.

The Swift executables are looked for in .build/release, then .build/debug, then on PATH (THUD_BIN=DIR overrides).
"""
import json
import os
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


def match_hits(requests, tolerance=1):
    """thud eval's matching for each (predicted hit steps, true hit steps), in one `thud-train match-hits` process:
    ThudEval's HitMetrics, one to one within +-tolerance steps, true hits taken in time order, each given the
    earliest unmatched prediction in its window. One dict per request: matched ([predicted, true] pairs), tp, fp, fn,
    precision, recall (None when undefined), f1."""
    lines = [json.dumps({"predicted": [int(p) for p in predicted], "true": [int(t) for t in true],
                         "tolerance": int(tolerance)}) for predicted, true in requests]
    if not lines:
        return []
    out = subprocess.run([executable("thud-train"), "match-hits"], input="\n".join(lines) + "\n", text=True,
                         capture_output=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr.strip() or f"thud-train match-hits failed ({out.returncode})")
    return [json.loads(line) for line in out.stdout.splitlines()]


def true_indices(true, matched):
    """Indices into `true` of the true hits in `matched` ([predicted, true] pairs; a step listed twice is two hits)."""
    free = {}
    for j, t in enumerate(true):
        free.setdefault(int(t), []).append(j)
    return {free[t].pop(0) for _, t in matched}


def matched_true(predicted, true, tolerance=1):
    """Indices of the true hits matched one to one within +-tolerance (match_hits for one pair)."""
    return true_indices(true, match_hits([(predicted, true)], tolerance)[0]["matched"])


def f1_of(tp, fp, fn):
    """F1 from counts (0 when there is nothing to find and nothing found)."""
    return 2 * tp / max(1e-9, 2 * tp + fp + fn)


def scores(pairs):
    """(F1, precision, recall) pooled over (predicted hits, true hits) pairs, one per clip, matched by match_hits."""
    tp = fp = fn = 0
    for m in match_hits(list(pairs)):
        tp, fp, fn = tp + m["tp"], fp + m["fp"], fn + m["fn"]
    return f1_of(tp, fp, fn), tp / max(1, tp + fp), tp / max(1, tp + fn)


def f1(clips, **settings):
    """(F1, P, R) of one picker setting over (envelope, onsets, true hits) clips."""
    clips = list(clips)
    hits = pick_hits([(envelope, onsets, settings) for envelope, onsets, _ in clips])
    return scores(zip(hits, (true for _, _, true in clips)))

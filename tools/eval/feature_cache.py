"""thud-train's feature cache (--cache), read from Python: a clip's entry is found by its target envelope, which
`thud eval --out` JSON carries for every clip.

An entry (FeatureCache.swift, version 2) is "THUDCLIP", the version, then steps, width, height (little-endian
UInt32), the frames (steps x height x width gray8), then per step the envelope target, the level in dBFS and the
onset target (Float32 each). Entries of older versions (no onset targets) and of other frame sizes are skipped.
"""
import glob
import os
import struct

import numpy as np


def cached_clips(cache, clips, width, height):
    """Clip id -> dict(frames [steps, height, width] uint8, target, db, onsets [steps] float32) for the JSON's clips."""
    by_steps = {}
    for c in clips:
        by_steps.setdefault(len(c["target"]), []).append((np.asarray(c["target"], dtype=np.float32), c["id"]))
    found = {}
    for path in glob.glob(os.path.join(cache, "*.clip")):
        # The header first: the cache holds every frame size it was asked for, and most entries are skipped.
        with open(path, "rb") as f:
            header = f.read(24)
            if len(header) < 24:
                continue
            steps, w, h = struct.unpack("<III", header[12:24])
            if (w, h) != (width, height) or os.fstat(f.fileno()).st_size != 24 + steps * w * h + 12 * steps \
                    or steps not in by_steps:
                continue
            data = header + f.read()
        base = 24 + steps * w * h
        series = np.frombuffer(data[base:], dtype="<f4").reshape(3, steps)
        for t, clip_id in by_steps[steps]:
            if np.abs(t - series[0]).max() < 5e-6:
                found[clip_id] = dict(frames=np.frombuffer(data[24:base], dtype=np.uint8).reshape(steps, h, w).copy(),
                                      target=series[0].copy(), db=series[1].copy(), onsets=series[2].copy())
    return found

"""thud-train's feature cache (--cache), read from Python: a clip's entry is found by its target envelope, which
`thud eval --out` JSON carries for every clip.

An entry (FeatureCache.swift, version 3) is "THUDCLIP", the version, then steps, width, height (little-endian
UInt32), the frames (steps x height x width gray8), then per step the envelope target, the level in dBFS and the
onset target (Float32 each), then the CRC-32 (zlib's) of everything before it. Version 2 entries are the same
without the CRC-32 and are still read; entries of older versions (no onset targets), of other frame sizes, and
version 3 entries whose checksum does not match are skipped.
"""
import glob
import os
import struct
import zlib

import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from thud_tools import feature_cache_version  # noqa: E402

HEADER = 24
# The layout below is version 3's. The version thud-train writes is read from FeatureCache.swift, so a cache change
# there stops this reader with a line instead of letting it misread or skip every entry in silence.
LAYOUT_VERSION = 3
if feature_cache_version() != LAYOUT_VERSION:
    raise SystemExit(f"FeatureCache.swift writes cache version {feature_cache_version()}; tools/eval/feature_cache.py "
                     f"reads version {LAYOUT_VERSION}'s layout: update it")


def parse_entry(data):
    """frames [steps, h, w] uint8, and target, db, onsets [steps] float32, from an entry's bytes; None if the bytes
    are not a whole version-2 or an intact version-3 entry."""
    if len(data) < HEADER or data[:8] != b"THUDCLIP":
        return None
    version = struct.unpack("<I", data[8:12])[0]
    if version == LAYOUT_VERSION:
        if len(data) < HEADER + 4 or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
            return None
        data = data[:-4]
    elif version != 2:
        return None
    steps, w, h = struct.unpack("<III", data[12:HEADER])
    base = HEADER + steps * w * h
    if len(data) != base + 12 * steps:
        return None
    series = np.frombuffer(data[base:], dtype="<f4").reshape(3, steps)
    return dict(frames=np.frombuffer(data[HEADER:base], dtype=np.uint8).reshape(steps, h, w),
                target=series[0], db=series[1], onsets=series[2])


def read_entry(path):
    """One entry file, as parse_entry; None if it is not a whole version-2 or intact version-3 entry."""
    with open(path, "rb") as f:
        return parse_entry(f.read())


def cached_clips(cache, clips, width, height):
    """Clip id -> dict(frames [steps, height, width] uint8, target, db, onsets [steps] float32) for the JSON's clips."""
    by_steps = {}
    for c in clips:
        by_steps.setdefault(len(c["target"]), []).append((np.asarray(c["target"], dtype=np.float32), c["id"]))
    found = {}
    for path in glob.glob(os.path.join(cache, "*.clip")):
        # The header first: the cache holds every frame size it was asked for, and most entries are skipped.
        with open(path, "rb") as f:
            header = f.read(HEADER)
            if len(header) < HEADER:
                continue
            steps, w, h = struct.unpack("<III", header[12:HEADER])
            if (w, h) != (width, height) or steps not in by_steps:
                continue
            entry = parse_entry(header + f.read())
        if entry is None:
            continue
        for t, clip_id in by_steps[steps]:
            if np.abs(t - entry["target"]).max() < 5e-6:
                found[clip_id] = {k: v.copy() for k, v in entry.items()}
    return found

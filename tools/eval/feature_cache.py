"""thud-train's feature cache (--cache), read from Python: a clip's entry is found by its target envelope, which
`thud eval --out` JSON carries for every clip.

An entry (FeatureCache.swift, version 3) is "THUDCLIP", the version, then steps, width, height (little-endian
UInt32), the frames (steps x height x width gray8), then per step the envelope target, the level in dBFS and the
onset target (Float32 each), then the CRC-32 (zlib's) of everything before it. Version 2 entries are the same
without the CRC-32 and are still read; entries of older versions (no onset targets), of other frame sizes, and
version 3 entries whose checksum does not match are skipped. Each entry states its version in its header: an entry
of a version newer than this reader knows (FeatureCache.swift's layout changed) stops it with a line naming the
file, instead of it misreading or skipping every entry in silence.
"""
import glob
import os
import struct
import zlib

import numpy as np

HEADER = 24
# The newest layout this reader knows: version 3's. An entry's version is in its own header (bytes 8-11).
LAYOUT_VERSION = 3


def entry_version(header, path="entry"):
    """The version an entry's header states (None if it is not a cache entry); stops with a line for a version newer
    than LAYOUT_VERSION: thud-train writes a layout this reader does not know."""
    if len(header) < 12 or header[:8] != b"THUDCLIP":
        return None
    version = struct.unpack("<I", header[8:12])[0]
    if version > LAYOUT_VERSION:
        raise SystemExit(f"{path}: feature cache entry version {version}; tools/eval/feature_cache.py reads versions "
                         f"2 and {LAYOUT_VERSION} (FeatureCache.swift's layout changed: update it)")
    return version


def parse_entry(data, path="entry"):
    """frames [steps, h, w] uint8, and target, db, onsets [steps] float32, from an entry's bytes; None if the bytes
    are not a whole version-2 or an intact version-3 entry."""
    if len(data) < HEADER:
        return None
    version = entry_version(data, path)
    if version is None:
        return None
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
        return parse_entry(f.read(), path)


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
            if len(header) < HEADER or entry_version(header, path) is None:
                continue
            steps, w, h = struct.unpack("<III", header[12:HEADER])
            if (w, h) != (width, height) or steps not in by_steps:
                continue
            entry = parse_entry(header + f.read(), path)
        if entry is None:
            continue
        for t, clip_id in by_steps[steps]:
            if np.abs(t - entry["target"]).max() < 5e-6:
                found[clip_id] = {k: v.copy() for k, v in entry.items()}
    return found

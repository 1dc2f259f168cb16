#!/usr/bin/env python3
"""Writes Tests/ThudModelTests/Fixtures/per_frame_planes.json: per_frame.py's planes (the PyTorch twin's input for a
model with "normalisation": "per-frame") for a few steps of frames_32x32.u8, as the stream pairs them (step 0: the
previous and before frames are the current one; step 1: before = previous). Needs numpy only, not torch.

  python3 tools/reference/make_per_frame_fixture.py [OUTDIR]
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from per_frame import per_frame_planes  # noqa: E402

W = H = 32
GAIN = 3.0
STEPS = [1, 17]   # step 1: before = previous (the previous difference is zero); step 17 carries all three frames


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "Tests", "ThudModelTests", "Fixtures")
    frames = np.fromfile(os.path.join(out, "frames_32x32.u8"), dtype=np.uint8).reshape(-1, H, W)
    records = []
    for t in STEPS:
        prev = frames[max(t - 1, 0)]
        before = frames[max(t - 2, 0)] if t >= 2 else prev
        planes = per_frame_planes(frames[t], prev, before, GAIN, True)
        # 9 significant digits: every float32 reads back as itself.
        records.append('{"step": %d, "planes": [%s]}' % (t, ",".join(format(float(v), ".9g") for v in planes.ravel())))
    with open(os.path.join(out, "per_frame_planes.json"), "w") as f:
        f.write('{"frames": "frames_32x32.u8", "width": %d, "height": %d, "gain": %s, "steps": [%s]}\n'
                % (W, H, json.dumps(GAIN), ",\n".join(records)))


if __name__ == "__main__":
    main()

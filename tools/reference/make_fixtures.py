#!/usr/bin/env python3
"""Writes the reference fixtures the Swift tests check against (Tests/ThudModelTests/Fixtures/):

  frames_32x32.u8           48 synthetic gray8 frames (a ball bouncing on a noisy floor), packed
  fixture_conv.thud         a small conv-encoder model, random init (torch seed), written by thud_format.py
  fixture_conv.json         every step's encoder features, LSTM h and c (both layers) and envelope
  fixture_motion.thud/.json the same with the weight-free motion-energy encoder
  fixture_conv3.thud/.json  the conv model with the previous-difference plane and a difference gain of 4

Steps 0..39 run with carried state; before step 40 the model is reset (zero state, no previous frame), then
steps 40..47 run. Usage: python3 tools/reference/make_fixtures.py [OUTDIR]
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from thud_model import StreamingThudNet, ThudNet, save  # noqa: E402

W = H = 32
STEPS = 48
RESET_BEFORE = 40
GAIN = 3.0


def synth_frames():
    rng = np.random.default_rng(4)
    frames = np.zeros((STEPS, H, W), dtype=np.uint8)
    y, vy = 4.0, 0.0
    for t in range(STEPS):
        img = rng.integers(20, 60, size=(H, W)).astype(np.int32)
        img[26:, :] += 60  # floor
        vy += 0.9
        y += vy
        if y > 22:  # bounce: a hit
            y, vy = 22 - (y - 22), -vy * 0.8
        x = 6 + t * 0.4
        yy, xx = np.mgrid[0:H, 0:W]
        img[(yy - y) ** 2 + (xx - x) ** 2 <= 9] = 230
        frames[t] = np.clip(img, 0, 255)
    return frames


def run(net, frames):
    stream = StreamingThudNet(net)
    rec = {"features": [], "h": [], "c": [], "envelope": []}
    with torch.inference_mode():
        for t in range(STEPS):
            if t == RESET_BEFORE:
                stream.reset()
            f = torch.from_numpy(frames[t])
            prev = f if stream.prev is None else stream.prev
            before = prev if stream.before is None else stream.before
            feats = net.encoder(f.unsqueeze(0), prev.unsqueeze(0), before.unsqueeze(0))
            env = stream.step(f)
            h, c = stream.state
            rec["features"].append([float(v) for v in feats[0]])
            rec["h"].append([[float(v) for v in h[l, 0]] for l in range(h.shape[0])])
            rec["c"].append([[float(v) for v in c[l, 0]] for l in range(c.shape[0])])
            rec["envelope"].append(float(env))
    return rec


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "ThudModelTests", "Fixtures")
    os.makedirs(out, exist_ok=True)
    frames = synth_frames()
    frames.tofile(os.path.join(out, "frames_32x32.u8"))
    archs = {
        "conv": {"input": {"width": W, "height": H, "pixelFormat": "gray8", "normalisation": "x/255"},
                 "encoder": {"kind": "conv", "convChannels": [4, 8, 8, 8]},
                 "lstmHidden": 16, "lstmLayers": 2, "headHidden": [16, 8]},
        "motion": {"input": {"width": W, "height": H, "pixelFormat": "gray8", "normalisation": "x/255"},
                   "encoder": {"kind": "motionEnergy", "gridRows": 4, "gridCols": 4, "activeThresholdLevels": 10},
                   "lstmHidden": 16, "lstmLayers": 2, "headHidden": [16, 8]},
        "conv3": {"input": {"width": W, "height": H, "pixelFormat": "gray8", "normalisation": "x/255"},
                  "encoder": {"kind": "conv", "convChannels": [4, 8, 8, 8], "differenceGain": 4.0,
                              "previousDifferencePlane": True},
                  "lstmHidden": 16, "lstmLayers": 2, "headHidden": [16, 8]},
    }
    for i, (tag, arch) in enumerate(archs.items()):
        torch.manual_seed(100 + i)
        net = ThudNet(arch).eval()
        # PyTorch's default init gives nearly constant outputs on 32x32 frames; a gain of 3 makes the features,
        # state and envelope swing with the motion, so the fixture checks real dynamics, not a constant.
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(GAIN)
        save(net, os.path.join(out, f"fixture_{tag}.thud"),
             command="python3 tools/reference/make_fixtures.py", data="synthetic bouncing ball (no training)",
             provenance={"purpose": "reference fixture", "torch": torch.__version__, "seed": str(100 + i)})
        rec = run(net, frames)
        rec.update({"model": f"fixture_{tag}.thud", "frames": "frames_32x32.u8", "width": W, "height": H,
                    "steps": STEPS, "resetBefore": RESET_BEFORE})
        with open(os.path.join(out, f"fixture_{tag}.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))
        env = rec["envelope"]
        print(f"{tag}: envelope min {min(env):.4f} max {max(env):.4f}; wrote fixture_{tag}.thud/.json")


if __name__ == "__main__":
    main()

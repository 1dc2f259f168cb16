#!/usr/bin/env python3
"""Contact sheet of the synthetic corpus: a few scenes' frames with their audio envelopes under them.

Each row is one clip made by `thud-synth sample` (rigid-body scenes, then the surface family: a held striker
over a photographed surface, hand-held camera): five frames across the clip, then the clip's 12 Hz
loudness envelope (the training target: first channel, |x|, Gaussian σ = 200 samples at 44.1 kHz,
mean per 1/12 s step, scaled to [0, 1]) with the recorded hits marked (red = visible, grey = hidden),
scratches shaded green and silent strokes (swings stopped short of the surface) as blue dotted lines.
Frames and audio are read back from the encoded MP4 with the ffmpeg CLI, so the sheet shows what a
trainer sees, not what the generator meant to write.

    python3 tools/synth/contact_sheet.py [--binary .build/release/thud-synth] [--out tools/synth/contact_sheet.png]
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
from scipy.ndimage import gaussian_filter1d
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (family, template index, seed, duration): a spread of rigid-body classes, including a hidden impact and a silent
# one, then surface-family scenes (striker scenes with hits, taps, scratches and silent strokes; a carry scene).
SCENES = [("rigid", 3, 5, 4), ("rigid", 5, 2, 4), ("rigid", 10, 4, 4), ("rigid", 11, 3, 4), ("rigid", 12, 2, 4),
          ("surface", 0, 2, 8), ("surface", 0, 14, 6), ("surface", 0, 4, 8), ("surface", 0, 11, 8), ("surface", 15, 8, 6)]
FRAMES = 5
W, H = 320, 240


def frames(path, times):
    out = []
    for t in times:
        raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-ss", f"{t:.3f}", "-i", path, "-frames:v", "1",
                              "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        out.append(np.frombuffer(raw, np.uint8).reshape(H, W, 3))
    return out


def audio(path, rate=44100):
    raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", str(rate),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def envelope(x, rate=44100):
    """Scaled 12 Hz envelope and its unscaled peak in dBFS (a silent clip's scaled envelope is just its noise)."""
    smooth = gaussian_filter1d(np.abs(x).astype(np.float64), 200 * rate / 44100, mode="constant", truncate=4.0)
    steps = int(np.ceil(len(x) * 12 / rate))
    levels = np.array([smooth[k * rate // 12:min(len(x), (k + 1) * rate // 12)].mean() for k in range(steps)])
    peak = max(levels.max(), 1e-12)
    return levels / peak, 20 * np.log10(peak)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/thud-synth")
    ap.add_argument("--out", default="tools/synth/contact_sheet.png")
    args = ap.parse_args()
    fig, axes = plt.subplots(len(SCENES), FRAMES + 1, figsize=(2.2 * FRAMES + 4.2, 1.9 * len(SCENES)),
                             gridspec_kw={"width_ratios": [1] * FRAMES + [2.2]})
    with tempfile.TemporaryDirectory() as tmp:
        for row, (family, template, seed, duration) in enumerate(SCENES):
            path = os.path.join(tmp, f"{family}-{template}-{seed}.mp4")
            subprocess.run([args.binary, "sample", "--out", path, "--seed", str(seed), "--template", str(template),
                            "--family", family, "--size", f"{W}x{H}", "--fps", "25", "--duration", str(duration)],
                           check=True, capture_output=True)
            rec = json.load(open(path + ".hits.json"))
            hits = rec["hits"]
            # Frames: spread over the clip, with one at the first hit when there is one.
            times = list(np.linspace(0.2, rec["duration"] - 0.2, FRAMES))
            if hits:
                times[2] = min(hits[0]["time"] + 0.02, rec["duration"] - 0.05)
            if rec.get("scratches"):
                sc = rec["scratches"][0]
                times[3] = min((sc["start"] + sc["end"]) / 2, rec["duration"] - 0.05)
                times = sorted(times)
            for col, (t, img) in enumerate(zip(times, frames(path, times))):
                ax = axes[row, col]
                ax.imshow(img)
                ax.set_xticks([]); ax.set_yticks([])
                ax.set_title(f"{t:.2f} s", fontsize=7)
                if col == 0:
                    ax.set_ylabel("\n".join([rec["label"][i:i + 28] for i in range(0, len(rec["label"]), 28)]), fontsize=6)
            env, peak_db = envelope(audio(path))
            ax = axes[row, FRAMES]
            ax.bar(np.arange(len(env)) / 12, env, width=1 / 12, align="edge", color="#4a7bd0")
            for h in hits:
                ax.axvline(h["time"], color="red" if h["visible"] else "grey", lw=0.8 + 1.5 * h["strength"], alpha=0.8)
            for s in rec.get("scratches") or []:
                ax.axvspan(s["start"], s["end"], color="green", alpha=0.25)
            for t in rec.get("silentStrokes") or []:
                ax.axvline(t, color="blue", lw=1, ls=":")
            for s in rec.get("offscreenSounds", []):
                ax.axvline(s["time"], color="orange", lw=1, ls="--")
            if rec.get("cameraClick") is not None:
                ax.axvline(rec["cameraClick"], color="black", lw=1, ls=":")
            ax.set_xlim(0, rec["duration"]); ax.set_ylim(0, 1.05)
            ax.tick_params(labelsize=6)
            ax.set_title(f"12 Hz envelope (peak {peak_db:.0f} dBFS); hits red visible, grey hidden; orange off-screen; "
                         f"green scratch; blue silent stroke", fontsize=6)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()

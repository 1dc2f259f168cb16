#!/usr/bin/env python3
"""Decode benchmark: a 60 s 640x360 30 fps H.264 clip to 12 Hz model-size frames.

Runs `thud frames --null` (release build) and `ffmpeg -i clip -vf fps=12,scale=W:H -f null -` on the same
clip, alternating, and prints frames out per second for both and the time ratio (goal: thud ≤ 1.2x ffmpeg).
Then, end to end, `thud predict` on the same clip with a default-size model (random weights: the cost is
the same) at the model's 64x64: steps per second and the multiple of real time, next to decode alone.

    python3 tools/bench/decode_bench.py [--size 96x96] [--runs 3]
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="96x96")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clip", help="use this clip instead of generating one")
    args = ap.parse_args()
    w, h = args.size.split("x")
    subprocess.run(["swift", "build", "-c", "release", "--product", "thud"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    thud = os.path.join(ROOT, ".build", "release", "thud")
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or os.path.join(tmp, "bench.mp4")
        if not args.clip:
            # Moving test pattern plus noise: a realistic bitrate for a 640x360 H.264 stream.
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                            "testsrc2=size=640x360:rate=30:duration=60,noise=alls=12:allf=t",
                            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", clip], check=True)
        ours = [thud, "frames", "--null", "--size", args.size, clip]
        ref = ["ffmpeg", "-v", "error", "-i", clip, "-vf", f"fps=12,scale={w}:{h}", "-f", "null", "-"]
        timed(ours), timed(ref)  # warm the page cache and both binaries
        t_ours, t_ref = [], []
        for _ in range(args.runs):
            t_ours.append(timed(ours))
            t_ref.append(timed(ref))
        steps = 720
        mo, mr = statistics.median(t_ours), statistics.median(t_ref)
        print(f"clip: 60 s 640x360 30 fps H.264 -> {steps} frames at 12 Hz, {args.size}, median of {args.runs}")
        print(f"thud frames --null : {mo:7.3f} s  {steps / mo:8.1f} frames/s")
        print(f"ffmpeg fps+scale   : {mr:7.3f} s  {steps / mr:8.1f} frames/s")
        print(f"ratio thud/ffmpeg  : {mo / mr:.3f}  (goal <= 1.2)")

        # End to end: decode + model + peak picker + JSONL, against decode alone at the model's size.
        subprocess.run(["swift", "build", "-c", "release", "--product", "thud-bench-model"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(ROOT, ".build", "release", "thud-bench-model"), "--steps", "10", "--out", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        model = os.path.join(tmp, "bench_model.thud")
        predict = [thud, "predict", "--model", model, clip]
        decode64 = [thud, "frames", "--null", "--size", "64x64", clip]
        timed(predict)
        t_pred, t_dec = [], []
        for _ in range(args.runs):
            t_pred.append(timed(predict))
            t_dec.append(timed(decode64))
        mp, md = statistics.median(t_pred), statistics.median(t_dec)
        print(f"thud predict (64x64, default model): {mp:7.3f} s  {steps / mp:8.1f} steps/s  {60 / mp:6.1f}x real time")
        print(f"thud frames --null (64x64)         : {md:7.3f} s  {steps / md:8.1f} steps/s  {60 / md:6.1f}x real time")
        print(f"model + picker + output share      : {(mp - md) / mp * 100:5.1f} % of the end-to-end time")


if __name__ == "__main__":
    main()

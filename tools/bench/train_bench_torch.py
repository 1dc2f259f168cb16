"""PyTorch side of tools/bench/train_bench.sh: the PyTorch reference of the same model (tools/reference/thud_model,
the architecture and starting weights of the model file thud-bench-train used) trained on the same data — the
clips of thud-train's feature cache that thud-bench-train listed in plan.json, cut into the same windows and
batched exactly as its epochs were (same members, same mirrored windows) — with the same loop: targets one step
late by the architecture's output delay, BCE on the envelope logit weighted ×(1 + onset weight) on onset steps plus
BCE on the onset logit against min(1, gain × onset strength), divided by the batch's steps; backward,
clip_grad_norm_, Adam at the epoch's learning rate. Building each batch from the cached clips is timed, as it is on
the Swift side.

Before timing, the loss of the first batch under the starting weights is compared with thud-bench-train's: if they
differ, the two sides are not training the same thing and the script fails.

    python3 tools/bench/train_bench_torch.py PLAN_DIR [THREADS]
Prints "TORCH_SECONDS_PER_EPOCH wall cpu" (best epoch) for train_bench.sh to compare.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "eval"))
from feature_cache import read_entry  # noqa: E402
from thud_model import load  # noqa: E402


def main():
    d = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    plan = json.load(open(os.path.join(d, "plan.json")))
    clips = []
    for path in plan["entries"]:
        entry = read_entry(path)
        if entry is None:
            sys.exit(f"train_bench_torch: {path}: not a whole version-2 feature cache entry")
        clips.append((entry["frames"], entry["target"], entry["onsets"]))
    net, header = load(plan["model"])
    net.train()
    arch = header["architecture"]
    if arch["encoder"].get("previousDifferencePlane"):
        sys.exit("train_bench_torch: models with the previous-difference plane are not benchmarked")
    delay = plan["outputDelay"]
    onset_weight, gain = np.float32(plan["onsetWeight"]), np.float32(plan["onsetTargetGain"])
    onset_loss_weight = plan["onsetLossWeight"]
    windows = plan["windows"]
    height, width = arch["input"]["height"], arch["input"]["width"]
    two_outputs = bool(arch.get("onsetOutput"))
    opt = torch.optim.Adam(net.parameters(), lr=plan["learningRate"])

    def described(series, t):
        # The output after frame t describes step t - delay; before the clip there is no sound.
        out = np.zeros(len(t), dtype=np.float32)
        ok = t >= delay
        out[ok] = series[t[ok] - delay]
        return out

    def batch_tensors(members):
        """Frames, previous frames, envelope targets, weights, onset targets, padded to the longest window."""
        longest = max(windows[wi][2] for wi, _ in members)
        b = len(members)
        cur = np.zeros((b, longest, height, width), dtype=np.uint8)
        prev = np.zeros_like(cur)
        y = np.zeros((b, longest), dtype=np.float32)
        wts = np.zeros_like(y)
        yo = np.zeros_like(y)
        for i, (wi, mirrored) in enumerate(members):
            c, start, n = windows[wi]
            frames, env, onsets = clips[c]
            t = np.arange(start, start + n)
            cur[i, :n] = frames[t]
            prev[i, :n] = frames[np.maximum(t - 1, 0)]   # the frame before; the first of a clip is its own previous
            if mirrored:
                cur[i, :n] = cur[i, :n, :, ::-1]
                prev[i, :n] = prev[i, :n, :, ::-1]
            y[i, :n] = described(env, t)
            rise = np.where(t > 0, y[i, :n] - described(env, t - 1), np.float32(0))
            wts[i, :n] = np.where(rise > np.float32(0.1), np.float32(1) + onset_weight, np.float32(1)) \
                if onset_weight > 0 else 1
            yo[i, :n] = np.minimum(np.float32(1), gain * described(onsets, t))
        return [torch.from_numpy(a) for a in (cur, prev, y, wts, yo)]

    def loss_of(members):
        cur, prev, y, wts, yo = batch_tensors(members)
        b, t = y.shape
        feats = net.encoder(cur.reshape(b * t, height, width), prev.reshape(b * t, height, width)).reshape(b, t, -1)
        out, _ = net.lstm(feats)
        h = net.head.logits(out)
        steps = float(sum(windows[wi][2] for wi, _ in members))
        total = (wts * F.binary_cross_entropy_with_logits(h[..., 0], y, reduction="none")).sum()
        if two_outputs:
            mask = (wts > 0).float() * onset_loss_weight
            total = total + (mask * F.binary_cross_entropy_with_logits(h[..., 1], yo, reduction="none")).sum()
        return total / steps

    # Same model, same data: the first batch's loss under the starting weights must be Swift's.
    with torch.no_grad():
        first = float(loss_of(plan["epochs"][0][0]))
    swift_first = plan["firstBatchLoss"]
    print(f"first batch loss under the starting weights: pytorch {first:.6f}, swift {swift_first:.6f}")
    if abs(first - swift_first) > 1e-4 * max(1.0, abs(swift_first)):
        sys.exit("train_bench_torch: the reference's first-batch loss differs from Swift's: not the same model or data")

    times, cpu, losses = [], [], []
    for e, batches in enumerate(plan["epochs"], start=1):
        for g in opt.param_groups:
            g["lr"] = plan["learningRate"] * plan["learningRateDecay"] ** (e - 1)
        t0, c0 = time.perf_counter(), time.process_time()
        loss_sum = 0.0
        for members in batches:
            opt.zero_grad()
            loss = loss_of(members)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), plan["clipNorm"])
            opt.step()
            loss_sum += float(loss.detach())
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        losses.append(loss_sum / len(batches))
    print(f"torch {torch.__version__}: {len(clips)} clips, {threads} threads: {min(times):.3f} s/epoch wall "
          f"(epochs: {', '.join(f'{x:.3f}' for x in times)}), {min(cpu):.3f} CPU-s/epoch, "
          f"train loss by epoch {', '.join(f'{x:.4f}' for x in losses)}")
    print(f"TORCH_SECONDS_PER_EPOCH {min(times):.6f} {min(cpu):.6f}")


if __name__ == "__main__":
    main()

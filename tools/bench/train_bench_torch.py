"""PyTorch side of tools/bench/train_bench.sh: the same model (tools/reference/thud_model.ThudNet, default
architecture), the same synthetic clips written by thud-bench-train, the same loop (batched forward over B
sequences of T steps, BCE on logits, backward, clip_grad_norm_, Adam) on the CPU with torch.set_num_threads(2)
(or THREADS).

    python3 tools/bench/train_bench_torch.py DIR SEQUENCES STEPS BATCH EPOCHS [THREADS]
Prints "TORCH_SECONDS_PER_EPOCH wall cpu" (best epoch) for train_bench.sh to compare.
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from thud_model import ThudNet  # noqa: E402

ARCH = {
    "input": {"width": 64, "height": 64, "pixelFormat": "gray8", "normalisation": "x/255"},
    "encoder": {"kind": "conv", "convChannels": [8, 16, 32, 32]},
    "lstmHidden": 128, "lstmLayers": 2, "headHidden": [64, 32],
}


def main():
    d, s, t, b, epochs = sys.argv[1], *map(int, sys.argv[2:6])
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    frames = torch.from_numpy(np.fromfile(os.path.join(d, "frames.u8"), dtype=np.uint8).reshape(s, t, 64, 64))
    targets = torch.from_numpy(np.fromfile(os.path.join(d, "targets.f32"), dtype=np.float32).reshape(s, t))
    net = ThudNet(ARCH)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def logits(batch_frames):
        # Same inputs as ThudTrain: [x/255, (x - previous)/255], previous = current at the clip start.
        bsz = batch_frames.shape[0]
        prev = torch.cat([batch_frames[:, :1], batch_frames[:, :-1]], dim=1)
        flat, prev_flat = batch_frames.reshape(bsz * t, 64, 64), prev.reshape(bsz * t, 64, 64)
        feats = net.encoder(flat, prev_flat).reshape(bsz, t, -1)
        out, _ = net.lstm(feats)
        h = out
        for i in range(net.head.n):
            h = getattr(net.head, f"fc{i}")(h)
            if i < net.head.n - 1:
                h = torch.relu(h)
        return h.squeeze(-1)

    def epoch():
        loss = None
        for start in range(0, s, b):
            opt.zero_grad()
            z = logits(frames[start:start + b])
            loss = F.binary_cross_entropy_with_logits(z, targets[start:start + b])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        return float(loss.detach())

    # Warm-up batch (allocator, kernels) outside the timing, as on the Swift side.
    opt.zero_grad()
    F.binary_cross_entropy_with_logits(logits(frames[:b]), targets[:b]).backward()
    opt.zero_grad()
    times, cpu = [], []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        last = epoch()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    best = min(times)
    print(f"torch {torch.__version__}: {s} sequences x {t} steps, batch {b}, {threads} threads: {best:.3f} s/epoch wall "
          f"(epochs: {', '.join(f'{x:.3f}' for x in times)}), {min(cpu):.3f} CPU-s/epoch, last loss {last:.4f}")
    print(f"TORCH_SECONDS_PER_EPOCH {best:.6f} {min(cpu):.6f}")


if __name__ == "__main__":
    main()

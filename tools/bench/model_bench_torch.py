#!/usr/bin/env python3
"""PyTorch side of tools/bench/model_bench.sh: loads the model thud-bench-model wrote, checks that PyTorch's
envelopes for the same frames agree with Swift's, then times the same streaming step on one CPU thread
(encoder, LSTM, head separately and together) and prints the Swift/PyTorch ratio."""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from thud_model import StreamingThudNet, load  # noqa: E402

torch.set_num_threads(1)
d = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
net, header = load(os.path.join(d, "bench_model.thud"))
arch = header["architecture"]
hw = (arch["input"]["height"], arch["input"]["width"])
frames = torch.from_numpy(np.fromfile(os.path.join(d, "bench_frames.u8"), dtype=np.uint8).reshape(-1, *hw))
swift_env = np.fromfile(os.path.join(d, "bench_envelopes_swift.f32"), dtype="<f4")

swift_h = np.fromfile(os.path.join(d, "bench_toph_swift.f32"), dtype="<f4").reshape(len(frames), -1)

stream = StreamingThudNet(net)
torch_env, torch_h = [], []
for t in range(len(frames)):
    torch_env.append(float(stream.step(frames[t])))
    torch_h.append(stream.state[0][-1, 0].numpy().copy())
torch_env = np.array(torch_env, dtype=np.float32)
agree_h = float(np.abs(np.array(torch_h) - swift_h).max())
agree = float(np.abs(torch_env - swift_env).max())
spread = float(swift_env.max() - swift_env.min())

# Per-part timing of the same step: encoder (2 frames -> features), one LSTM step, head.
hc = None
prev = frames[0:1]
enc_t, lstm_t, head_t, step_t = [], [], [], []
stream.reset()
with torch.inference_mode():
    for i in range(300 + steps):
        cur = frames[i % len(frames)].unsqueeze(0)
        t0 = time.perf_counter_ns()
        f = net.encoder(cur, prev)
        t1 = time.perf_counter_ns()
        out, hc = net.lstm(f.unsqueeze(0), hc)
        t2 = time.perf_counter_ns()
        net.head(out[0])
        t3 = time.perf_counter_ns()
        prev = cur
        if i >= 300:
            enc_t.append(t1 - t0); lstm_t.append(t2 - t1); head_t.append(t3 - t2)
    for i in range(300 + steps):
        t0 = time.perf_counter_ns()
        stream.step(frames[i % len(frames)])
        t1 = time.perf_counter_ns()
        if i >= 300:
            step_t.append(t1 - t0)


def st(v):
    v = np.sort(np.array(v)) / 1000.0
    return v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]


print(f"pytorch {torch.__version__}, threads={torch.get_num_threads()}, µs/step   median        p99")
for name, v in [("encoder", enc_t), ("lstm", lstm_t), ("head", head_t), ("whole step", step_t)]:
    m, p = st(v)
    print(f"  {name:22s} {m:10.1f} {p:10.1f}")
sw = json.load(open(os.path.join(d, "bench_swift.json")))
tm, tp = st(step_t)
print(f"agreement: max |swift - torch| envelope over {len(frames)} steps = {agree:.2e} "
      f"(envelope range {swift_env.min():.4f}..{swift_env.max():.4f}, spread {spread:.2e}); "
      f"top-layer h: max diff {agree_h:.2e} (h range {swift_h.min():.3f}..{swift_h.max():.3f})")
print(f"RATIO whole step, PyTorch / Swift: median {tm / sw['swift_step_median_us']:.1f}x, "
      f"p99 {tp / sw['swift_step_p99_us']:.1f}x  (Swift median {sw['swift_step_median_us']:.1f} µs, bar: ≥ 4x, issue 30)")

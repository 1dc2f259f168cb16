"""Gradient fixtures for ThudTrain's hand-written backward passes (Tests/ThudTrainTests/Fixtures/).

Builds a tiny model with the PyTorch reference (thud_model.ThudNet: 16x16 input, conv [4, 8], 2-layer LSTM 16,
head [8, 4]), runs a batch of 3 sequences (lengths 6, 4, 6: one masked; one starting a clip with no previous frame;
per-step loss weights on another) in float64 from the float32 weights, and writes:
  grad_model.thud  - the weights (float32, read by ModelTrainer(modelFile:))
  grad_fixture.json - the batch, the loss (mean weighted BCE per step, ThudTrain's definition), every step's logit,
                      every parameter's gradient from autograd, and the parameters after two optimizer steps on that
                      batch (clip_grad_norm_ to 0.1, then AdamW lr 1e-2, weight decay 0.1: ModelTrainer's
                      clipGradients + adamStep).

and the same for the model with the previous-difference plane (encoder previousDifferencePlane, differenceGain 4):
grad_model_pd.thud and grad_fixture_pd.json, whose first sequence also carries the frame before its previous frame
(the third sequence has a previous frame only, the second none).

    python3 tools/reference/grad_fixtures.py [OUT_DIR]   (default Tests/ThudTrainTests/Fixtures)
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from thud_model import ThudNet, save  # noqa: E402

ARCH = {
    "input": {"width": 16, "height": 16, "pixelFormat": "gray8", "normalisation": "x/255"},
    "encoder": {"kind": "conv", "convChannels": [4, 8]},
    "lstmHidden": 16,
    "lstmLayers": 2,
    "headHidden": [8, 4],
}
ARCH_PD = {**ARCH, "encoder": {"kind": "conv", "convChannels": [4, 8], "differenceGain": 4.0,
                               "previousDifferencePlane": True}}


def frames_for(rng, steps, w, h, phase):
    """Noise plus a bright square that moves, so the difference channel and the ReLUs see real structure."""
    out = rng.integers(20, 80, size=(steps, h, w), dtype=np.int64)
    for t in range(steps):
        x0, y0 = (3 * t + phase) % (w - 5), (2 * t + 2 * phase) % (h - 5)
        out[t, y0:y0 + 5, x0:x0 + 5] = 200 + (t * 7) % 50
    return out.astype(np.uint8)


def logits_of(net, frames_u8, prev_u8, before_u8=None):
    """Same computation as ThudNet.forward up to the head's last Linear (no sigmoid), in the net's dtype."""
    cur = torch.from_numpy(frames_u8)
    first_prev = torch.from_numpy(prev_u8 if prev_u8 is not None else frames_u8[:1]).reshape(1, *cur.shape[1:])
    first_before = first_prev if before_u8 is None else torch.from_numpy(before_u8).reshape(1, *cur.shape[1:])
    prev = torch.cat([first_prev, cur[:-1]], dim=0)
    before = torch.cat([first_before, prev[:-1]], dim=0)
    dt = next(net.parameters()).dtype
    gain = net.encoder.difference_gain
    x = cur.to(dt) * (1.0 / 255.0)
    p = prev.to(dt) * (1.0 / 255.0)
    planes = [x, (x - p) * gain]
    if net.encoder.previous_difference:
        planes.append((p - before.to(dt) * (1.0 / 255.0)) * gain)
    y = torch.stack(planes, dim=1)
    for i in range(net.encoder.n):
        y = torch.relu(getattr(net.encoder, f"conv{i}")(y))
    out, _ = net.lstm(y.flatten(1).unsqueeze(0))
    return net.head.logits(out.squeeze(0)).squeeze(-1)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "Tests", "ThudTrainTests", "Fixtures")
    os.makedirs(out_dir, exist_ok=True)
    write_fixture(out_dir, ARCH, "")
    write_fixture(out_dir, ARCH_PD, "_pd")


def write_fixture(out_dir, arch, suffix):
    torch.manual_seed(5)
    rng = np.random.default_rng(5)
    net32 = ThudNet(arch)
    with torch.no_grad():
        # Larger than default weights, so gates saturate partly and the gradient is not near-linear.
        for p in net32.parameters():
            p.mul_(1.5)
    save(net32, os.path.join(out_dir, f"grad_model{suffix}.thud"), "tools/reference/grad_fixtures.py", "synthetic")
    net = ThudNet(arch).double()
    net.load_state_dict({k: v.double() for k, v in net32.state_dict().items()})

    w, h = arch["input"]["width"], arch["input"]["height"]
    lengths = [6, 4, 6]
    sequences = []
    for b, steps in enumerate(lengths):
        frames = frames_for(rng, steps, w, h, phase=b * 3)
        prev = None if b == 1 else frames_for(rng, 1, w, h, phase=b + 11)[0]
        targets = rng.uniform(0, 1, size=steps)
        targets[rng.integers(0, steps)] = 1.0
        weights = None if b != 2 else rng.uniform(0.5, 3.0, size=steps)
        # Swift reads targets and weights as float32: use exactly those values here.
        targets = targets.astype(np.float32).astype(np.float64)
        weights = None if weights is None else weights.astype(np.float32).astype(np.float64)
        # Drawn after everything else, so the two-plane fixture's values are what they always were.
        before = frames_for(rng, 1, w, h, phase=b + 17)[0] if suffix and b == 0 else None
        sequences.append((frames, prev, targets, weights, before))

    total_steps = sum(lengths)
    loss = 0
    all_logits = []
    for frames, prev, targets, weights, before in sequences:
        z = logits_of(net, frames, prev, before)
        per_step = F.binary_cross_entropy_with_logits(z, torch.from_numpy(targets), reduction="none")
        if weights is not None:
            per_step = per_step * torch.from_numpy(weights)
        loss = loss + per_step.sum()
        all_logits.append(z.detach().numpy().tolist())
    loss = loss / total_steps
    net.zero_grad()
    loss.backward()
    # 9 significant digits: far below the tests' tolerances, and it keeps the fixture small.
    def short(a):
        return [float(f"{x:.9g}") for x in np.asarray(a, dtype=np.float64).ravel()]

    grads = {n: short(p.grad.detach().numpy()) for n, p in net.named_parameters()}

    def batch_loss():
        total = 0
        for frames, prev, targets, weights, before in sequences:
            per_step = F.binary_cross_entropy_with_logits(logits_of(net, frames, prev, before), torch.from_numpy(targets),
                                                          reduction="none")
            if weights is not None:
                per_step = per_step * torch.from_numpy(weights)
            total = total + per_step.sum()
        return total / total_steps

    # Two optimizer steps (the first gradient is the one above), as computeGradients + clipGradients + adamStep.
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    norms = []
    for _ in range(2):
        opt.zero_grad()
        batch_loss().backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1)))
        opt.step()
    after_adam = {n: short(p.detach().numpy()) for n, p in net.named_parameters()}

    fixture = {
        "architecture": arch,
        "sequences": [
            {
                "frames": frames.ravel().tolist(),
                "previousFrame": None if prev is None else prev.ravel().tolist(),
                "targets": targets.astype(np.float32).tolist(),
                "weights": None if weights is None else weights.astype(np.float32).tolist(),
                **({"beforePreviousFrame": None if before is None else before.ravel().tolist()} if suffix else {}),
            }
            for frames, prev, targets, weights, before in sequences
        ],
        "loss": float(loss.item()),
        "logits": all_logits,
        "gradients": {n: grads[n] for n in net.parameter_order()},
        "gradientNorms": norms,
        "afterTwoAdamSteps": {n: after_adam[n] for n in net.parameter_order()},
    }
    with open(os.path.join(out_dir, f"grad_fixture{suffix}.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"loss {loss.item():.6f}; wrote {out_dir}/grad_fixture{suffix}.json and grad_model{suffix}.thud")


if __name__ == "__main__":
    main()

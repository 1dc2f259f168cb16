#!/usr/bin/env python3
"""Would a learned hit detector beat the hand-written peak picker? A check on the validation clips, from the JSON
`thud eval --out` writes (the model's envelope and onset outputs, the true hits).

    .build/release/thud eval DATASET --split validation --out val.json
    python3 tools/eval/learned_picker_check.py val.json [PAST_STEPS=4] [HIDDEN=16]

Per step, the features are both outputs over the last PAST_STEPS steps and one step ahead (the look-ahead the
picker has: it confirms a peak one step late) and their one-step rises. A logistic regression (HIDDEN=0) or a
one-hidden-layer network learns P(true hit at this step); hits are its local maxima above a threshold, at least 3
steps apart. Two folds over the clips: trained and thresholded on one half, scored on the other (±1 step, one to one,
as `thud eval`), beside thud's own rise picker (thud-train pick-hits) with the settings below on the same halves. Refuses a
test split. PyTorch on the CPU; a minute or two.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from thud_tools import pick_hits, scores  # noqa: E402

RISE_PICKER = dict(detection="rise", min_strength=0.25, min_rise=0.06, sensitivity=3.0)


def features(envelope, onsets, past):
    n = len(envelope)
    e = np.concatenate([np.full(past, envelope[0]), envelope, [envelope[-1]]])
    o = np.concatenate([np.zeros(past), onsets, [0.0]])
    rows = []
    for k in range(n):
        we, wo = e[k:k + past + 2], o[k:k + past + 2]   # steps k-past .. k+1
        rows.append(np.concatenate([we, wo, np.diff(we), [we.max() - we[past]]]))
    return np.array(rows, np.float32)


def decode(p, threshold, gap=3):
    hits, last = [], -10**9
    for k in range(1, len(p) - 1):
        if p[k] >= threshold and p[k] > p[k - 1] and p[k] >= p[k + 1] and k - last >= gap:
            hits.append(k)
            last = k
    return hits


def f1(pairs):
    """Pooled F1 of (predicted, true) pairs."""
    return scores(pairs)[0]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    report = json.load(open(sys.argv[1]))
    if report["split"] == "test":
        sys.exit(f"{sys.argv[1]}: a test split; check detectors on validation clips")
    past = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    hidden = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    torch.manual_seed(0)
    clips = []
    for c in report["clips"]:
        m = c["predictors"]["model"]
        e = np.array(m["envelope"], np.float32)
        o = np.array(m.get("onsets") or np.zeros_like(e), np.float32)
        y = np.zeros(len(e), np.float32)
        y[[h for h in c["true_hits"] if h < len(e)]] = 1
        clips.append((e, o, sorted(c["true_hits"]), features(e, o, past), y))
    perm = np.random.default_rng(0).permutation(len(clips))
    folds = [perm[::2], perm[1::2]]
    for f in range(2):
        train, held = folds[f], folds[1 - f]
        x = torch.tensor(np.concatenate([clips[i][3] for i in train]))
        y = torch.tensor(np.concatenate([clips[i][4] for i in train]))
        mu, sd = x.mean(0), x.std(0) + 1e-6
        net = (torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
               if hidden else torch.nn.Linear(x.shape[1], 1))
        opt = torch.optim.Adam(net.parameters(), 1e-2, weight_decay=1e-4)
        for _ in range(1500):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net((x - mu) / sd).squeeze(1), y)
            loss.backward()
            opt.step()
        with torch.no_grad():
            prob = {i: torch.sigmoid(net((torch.tensor(clips[i][3]) - mu) / sd)).squeeze(1).numpy() for i in range(len(clips))}
        thresholds = np.arange(0.1, 0.8, 0.025)
        best = max(thresholds, key=lambda t: f1([(decode(prob[i], t), clips[i][2]) for i in train]))
        learned = f1([(decode(prob[i], best), clips[i][2]) for i in held])
        picked = pick_hits([(clips[i][0], clips[i][1], RISE_PICKER) for i in held])
        rise = f1([(hits, clips[i][2]) for hits, i in zip(picked, held)])
        print(f"fold {f}: held-out half F1 learned {learned:.4f} (threshold {best:.3f}) | rise picker {rise:.4f}")


if __name__ == "__main__":
    main()

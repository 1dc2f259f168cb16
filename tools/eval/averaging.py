#!/usr/bin/env python3
"""Would averaging help? Scores, on a validation split, each model's envelope, the envelope of the left-right
mirrored frames, and their averages over models, through thud's default picker.

    .build/release/thud eval DATASET --split validation --model M1 --out val.json
    python3 tools/eval/averaging.py val.json CACHE_DIR M1 [M2 ...]

CACHE_DIR is thud-train's feature cache (--cache) holding the split at the models' frame size (all models must
share it); a clip's frames are found by its target envelope, which the JSON carries. The PyTorch reference
(tools/reference/thud_model.py) runs the models; the first model's plain envelopes must agree with the JSON's
(thud's own run) to 1e-4, or the script stops. Refuses a test split, as `thud-train tune-picker` does.
"""
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "reference"))
sys.path.insert(0, here)
from thud_model import load  # noqa: E402
from thud_tools import f1  # noqa: E402
from feature_cache import cached_clips  # noqa: E402


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    report = json.load(open(sys.argv[1]))
    if report.get("split") == "test":
        sys.exit(f"{sys.argv[1]}: a test split; choose on validation clips")
    settings = report["settings"]
    if settings.get("detection") != "rise":
        sys.exit(f"{sys.argv[1]}: made with --detection {settings.get('detection')}; this script picks the envelope's rise")
    min_strength, min_rise = settings["threshold"], settings["min_rise"]
    clips = report["clips"]
    nets = [load(m)[0] for m in sys.argv[3:]]
    arch = nets[0].arch["input"]
    frames = {k: v["frames"] for k, v in cached_clips(sys.argv[2], clips, arch["width"], arch["height"]).items()}
    missing = [c["id"] for c in clips if c["id"] not in frames]
    if missing:
        sys.exit(f"{sys.argv[2]}: no cached frames at {arch['width']}x{arch['height']} for {len(missing)} clips "
                 f"(first {missing[0]}); run thud-train prepare with --cache there")
    torch.set_num_threads(1)
    envelopes = {}  # clip id -> [model0 plain, model0 mirrored, model1 plain, ...]
    with torch.inference_mode():
        for c in clips:
            f = frames[c["id"]]
            envelopes[c["id"]] = [net(torch.from_numpy(x))[0].numpy() for net in nets
                                  for x in (f, np.ascontiguousarray(f[:, :, ::-1]))]
    worst = max(float(np.abs(envelopes[c["id"]][0] - np.asarray(c["predictors"]["model"]["envelope"])).max())
                for c in clips)
    if worst > 1e-4:
        sys.exit(f"the first model's envelopes differ from the JSON's by {worst:.2e}: not the model that made it?")

    def averaged(selection):
        """F1, P, R of the mean of the selected envelopes, scored as `thud-train tune-picker` scores a setting."""
        series = [(np.mean([envelopes[c["id"]][i] for i in selection], axis=0), None, c["true_hits"]) for c in clips]
        return f1(series, detection="rise", min_strength=min_strength, min_rise=min_rise)

    n = len(nets)
    rows = [("first model", [0]), ("first model, mirrored frames", [1]), ("first model, both averaged", [0, 1])]
    if n > 1:
        rows += [(f"{n} models averaged", list(range(0, 2 * n, 2))), (f"{n} models, both frames", list(range(2 * n)))]
    print(f"{len(clips)} clips; picker: rise >= {min_rise} at an envelope >= {min_strength}, as the JSON's eval")
    for name, selection in rows:
        print("  %-32s F1 %.3f  P %.3f  R %.3f" % ((name,) + averaged(selection)))


if __name__ == "__main__":
    main()

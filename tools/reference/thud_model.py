"""PyTorch reference of Thud's streaming model (Sources/ThudModel), reusable by fixture writers, benchmarks and,
later, gradient checks for training. Parameter names equal the .thud tensor names (state_dict keys).

Step semantics (must match StreamingModel.step):
  x = frame/255, d = (x - previous/255) * differenceGain (absent = 1; previous = current on the first step after reset, so d = 0);
  with "previousDifferencePlane": a third plane p = (previous/255 - before/255) * differenceGain, where before is the frame
  before previous (= previous on the first two steps after a reset, so p = 0 there);
  with input "normalisation": "per-frame" the planes are standardised by each step's own statistics instead
  (per_frame.py: (x - mean)/s, (d - mean d)/s * gain, s = sqrt(var x + 4^2) in gray levels);
  encoder -> features; 2-layer nn.LSTM (gates i, f, g, o) one step; head Linear+ReLU ... Linear(->1); sigmoid.
"""
import numpy as np
import torch
import torch.nn as nn

from per_frame import per_frame_planes
from thud_format import read_thud, write_thud

GLOBAL_FEATURES = 4


def conv_out(n):
    return (n - 1) // 2 + 1


def feature_count(arch):
    enc = arch["encoder"]
    if enc["kind"] == "conv":
        h, w = arch["input"]["height"], arch["input"]["width"]
        for _ in enc["convChannels"]:
            h, w = conv_out(h), conv_out(w)
        return enc["convChannels"][-1] * h * w
    return enc["gridRows"] * enc["gridCols"] + GLOBAL_FEATURES


class ConvEncoder(nn.Module):
    def __init__(self, channels, difference_gain=1.0, previous_difference=False, per_frame=False):
        super().__init__()
        self.difference_gain = float(difference_gain)
        self.previous_difference = bool(previous_difference)
        self.per_frame = bool(per_frame)
        cin = 3 if self.previous_difference else 2
        for i, cout in enumerate(channels):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, 3, stride=2, padding=1))
            cin = cout
        self.n = len(channels)

    def forward(self, cur_u8, prev_u8, before_u8=None):
        """cur_u8, prev_u8, before_u8 (the frames before prev_u8's; None = prev_u8): uint8 [T, H, W] -> float32 [T, F]."""
        if self.per_frame:
            # Constants of the frames (no gradient flows into them): numpy, step by step, as the Swift side.
            before = prev_u8 if before_u8 is None else before_u8
            y = torch.from_numpy(np.stack([
                per_frame_planes(c.numpy(), p.numpy(), b.numpy(), self.difference_gain, self.previous_difference)
                for c, p, b in zip(cur_u8.cpu(), prev_u8.cpu(), before.cpu())])).to(cur_u8.device)
            for i in range(self.n):
                y = torch.relu(getattr(self, f"conv{i}")(y))
            return y.flatten(1)
        x = cur_u8.float() * (1.0 / 255.0)
        p = prev_u8.float() * (1.0 / 255.0)
        d = (x - p) * self.difference_gain
        planes = [x, d]
        if self.previous_difference:
            b = p if before_u8 is None else before_u8.float() * (1.0 / 255.0)
            planes.append((p - b) * self.difference_gain)
        y = torch.stack(planes, dim=1)
        for i in range(self.n):
            y = torch.relu(getattr(self, f"conv{i}")(y))
        return y.flatten(1)


class MotionEnergyEncoder(nn.Module):
    def __init__(self, rows, cols, threshold_levels):
        super().__init__()
        self.rows, self.cols, self.threshold = rows, cols, threshold_levels

    def forward(self, cur_u8, prev_u8, before_u8=None):
        cur = cur_u8.to(torch.int64)
        diff = (cur - prev_u8.to(torch.int64)).abs()
        t, h, w = cur.shape
        feats = []
        cells = []
        for gr in range(self.rows):
            y0, y1 = gr * h // self.rows, (gr + 1) * h // self.rows
            for gc in range(self.cols):
                x0, x1 = gc * w // self.cols, (gc + 1) * w // self.cols
                s = diff[:, y0:y1, x0:x1].sum(dim=(1, 2)).to(torch.float32)
                cnt = (y1 - y0) * (x1 - x0)
                e = s / torch.tensor(float(cnt * 255), dtype=torch.float32) if cnt > 0 else torch.zeros(t)
                cells.append(e)
        cells = torch.stack(cells, dim=1)
        n = torch.tensor(float(h * w), dtype=torch.float32)
        g0 = diff.sum(dim=(1, 2)).to(torch.float32) / (n * 255)
        g1 = cur.sum(dim=(1, 2)).to(torch.float32) / (n * 255)
        g2 = (diff > self.threshold).sum(dim=(1, 2)).to(torch.float32) / n
        g3 = cells.max(dim=1).values
        feats = torch.cat([cells, torch.stack([g0, g1, g2, g3], dim=1)], dim=1)
        return feats


class Head(nn.Module):
    """Linear+ReLU ... Linear(->outputs), sigmoid: [T, outputs] (the envelope, then the onset strength if any)."""

    def __init__(self, fin, hidden, outputs=1):
        super().__init__()
        widths = list(hidden) + [outputs]
        for i, wd in enumerate(widths):
            setattr(self, f"fc{i}", nn.Linear(fin, wd))
            fin = wd
        self.n = len(widths)

    def logits(self, h):
        """The outputs before the sigmoid (what BCE-with-logits trains)."""
        for i in range(self.n):
            h = getattr(self, f"fc{i}")(h)
            if i < self.n - 1:
                h = torch.relu(h)
        return h

    def forward(self, h):
        return torch.sigmoid(self.logits(h))


class ThudNet(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        enc = arch["encoder"]
        if enc["kind"] == "conv":
            self.encoder = ConvEncoder(enc["convChannels"], enc.get("differenceGain", 1.0),
                                       enc.get("previousDifferencePlane", False),
                                       arch["input"].get("normalisation", "x/255") == "per-frame")
        else:
            self.encoder = MotionEnergyEncoder(enc["gridRows"], enc["gridCols"], enc["activeThresholdLevels"])
        self.lstm = nn.LSTM(feature_count(arch), arch["lstmHidden"], num_layers=arch["lstmLayers"], batch_first=True)
        self.head = Head(arch["lstmHidden"], arch["headHidden"], 2 if arch.get("onsetOutput") else 1)
        self.last_onsets = None

    def parameter_order(self):
        """Tensor names in the order ModelArchitecture.parameterShapes lists them (the file order)."""
        names = []
        if self.arch["encoder"]["kind"] == "conv":
            for i in range(len(self.arch["encoder"]["convChannels"])):
                names += [f"encoder.conv{i}.weight", f"encoder.conv{i}.bias"]
        for l in range(self.arch["lstmLayers"]):
            names += [f"lstm.weight_ih_l{l}", f"lstm.weight_hh_l{l}", f"lstm.bias_ih_l{l}", f"lstm.bias_hh_l{l}"]
        for i in range(len(self.arch["headHidden"]) + 1):
            names += [f"head.fc{i}.weight", f"head.fc{i}.bias"]
        return names

    def forward(self, frames_u8, state=None, prev_u8=None, before_u8=None):
        """frames_u8: uint8 [T, H, W] -> (envelope [T], features [T, F], lstm outputs [T, H], (h, c)).
        prev_u8: the frame before frames_u8[0] (None after a reset: the first difference is zero); before_u8: the
        frame before prev_u8 (None: prev_u8 stands in)."""
        first_prev = frames_u8[:1] if prev_u8 is None else prev_u8.reshape(1, *frames_u8.shape[1:])
        first_before = first_prev if before_u8 is None else before_u8.reshape(1, *frames_u8.shape[1:])
        prev = torch.cat([first_prev, frames_u8[:-1]], dim=0)
        before = torch.cat([first_before, prev[:-1]], dim=0)
        feats = self.encoder(frames_u8, prev, before)
        out, state = self.lstm(feats.unsqueeze(0), state)
        outputs = self.head(out.squeeze(0))
        env = outputs[..., 0]
        # The onset output (architectures with "onsetOutput": true), kept aside so callers see the same tuple.
        self.last_onsets = outputs[..., 1] if outputs.shape[-1] == 2 else None
        return env, feats, out.squeeze(0), state


class StreamingThudNet:
    """One step at a time, like StreamingModel: keeps (h, c), the previous frame and the one before it."""

    def __init__(self, net):
        self.net = net
        self.reset()

    def reset(self):
        self.state = None
        self.prev = None
        self.before = None

    @torch.inference_mode()
    def step(self, frame_u8):
        f = frame_u8.unsqueeze(0)
        env, feats, _, self.state = self.net(f, self.state, self.prev, self.before)
        self.before = self.prev
        self.prev = frame_u8
        return env[0]


def header_for(arch, command, data, provenance=None):
    return {
        "architecture": arch,
        "stepRateHz": 12.0,
        "training": {"command": command, "data": data, "notes": ""},
        "provenance": provenance or {},
    }


def save(net, path, command, data, provenance=None):
    sd = net.state_dict()
    write_thud(path, header_for(net.arch, command, data, provenance),
               [(n, sd[n].detach().cpu().numpy()) for n in net.parameter_order()])


def load(path):
    header, tensors = read_thud(path)
    net = ThudNet(header["architecture"])
    net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    net.eval()
    return net, header

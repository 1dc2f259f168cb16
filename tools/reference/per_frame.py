"""Per-frame normalisation of the conv encoder's input planes (a model whose input "normalisation" is "per-frame"),
in numpy float32 with the Swift side's operations in its order (Kernels.perFrameStatistics / perFramePlanes), so the
two agree to the bit. thud_model.py's ConvEncoder uses it; make_per_frame_fixture.py writes the planes the Swift
tests compare with.

  x = frame, d = frame - previous, d' = previous - before (gray levels, integers);
  s = sqrt(var(x) + FLOOR^2) with var and the means from exact integer sums (float64, then float32);
  planes: (x - mean x) / s, (d - mean d) / s * gain, (d' - mean d') / s * gain.
"""
import numpy as np

FLOOR_LEVELS = 4.0


def per_frame_planes(cur_u8, prev_u8, before_u8, gain, previous_difference):
    """uint8 [H, W] frames of one step -> float32 [2 or 3, H, W]."""
    c = cur_u8.astype(np.int64).ravel()
    p = prev_u8.astype(np.int64).ravel()
    b = before_u8.astype(np.int64).ravel()
    n = float(max(c.size, 1))
    mean = float(c.sum()) / n
    variance = max(0.0, float((c * c).sum()) / n - mean * mean)
    inv = np.float32(1.0 / np.sqrt(variance + FLOOR_LEVELS * FLOOR_LEVELS))
    mean_x = np.float32(mean)
    mean_d = np.float32(float((c - p).sum()) / n)
    mean_pd = np.float32(float((p - b).sum()) / n) if previous_difference else np.float32(0)
    g = np.float32(gain)
    planes = [(c.astype(np.float32) - mean_x) * inv,
              ((c - p).astype(np.float32) - mean_d) * inv * g]
    if previous_difference:
        planes.append(((p - b).astype(np.float32) - mean_pd) * inv * g)
    return np.stack(planes).reshape(len(planes), *cur_u8.shape)

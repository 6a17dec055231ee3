#!/usr/bin/python3
"""Freezes torch.nn.functional.interpolate(mode="bilinear", align_corners=False) and scipy.stats.spearmanr on seeded
random inputs into cam_reference.json, the independent reference for eval/cam_stats.cpp's upsample_bilinear and
spearman. Spearman cases include heavy ties (values rounded to a few levels); Wilson intervals come from the closed
form evaluated here in double (no bootstrap: its numbers depend on the generator, the test checks its properties).
Run from this folder:
    /usr/bin/python3 make_cam_fixture.py > fixtures/cam_reference.json
"""
import json
import math

import numpy as np
import scipy
import scipy.stats
import torch
import torch.nn.functional as F


def f32(values):
    """Shortest decimals that read back (as double, then cast to float) as the same float32 values."""
    return [float(np.format_float_positional(v, unique=True)) for v in np.asarray(values, np.float32).ravel()]


rng = np.random.default_rng(20261201)
upsample = []
for h, w in [(2, 2), (4, 4), (7, 7), (3, 5), (5, 3), (1, 1), (14, 14)]:
    m = (rng.random((h, w)) * 3).astype(np.float32)
    for size in [64, 224, 13, 7, 1]:
        out = F.interpolate(torch.from_numpy(m)[None, None], size=(size, size), mode="bilinear",
                            align_corners=False)[0, 0].numpy()
        # To keep the fixture small, large outputs keep every 3rd (64) or 7th (224) row and column plus the last
        # (edges, clamping and interior taps), except 7x7 -> 64 in full; "index" lists the kept rows (= columns).
        stride = 1 if size <= 16 or (h, w, size) == (7, 7, 64) else 3 if size <= 64 else 7
        index = sorted(set(range(0, size, stride)) | {size - 1})
        upsample.append({"h": h, "w": w, "size": size, "map": f32(m), "index": index,
                         "out": f32(out[np.ix_(index, index)])})

spearman = []
for n, levels in [(10, 0), (50, 3), (200, 0), (1000, 5), (31, 2), (7, 0), (500, 50), (3, 0)]:
    a = rng.normal(size=n)
    b = 0.6 * a + rng.normal(size=n)
    if levels:
        a, b = np.round(a * levels / 3), np.round(b * levels / 3)  # heavy ties
    a, b = a.astype(np.float32), b.astype(np.float32)
    rho = scipy.stats.spearmanr(a.astype(np.float64), b.astype(np.float64)).statistic
    spearman.append({"n": n, "a": f32(a), "b": f32(b), "rho": float(rho)})

z = 1.959963984540054
wilson = []
for hits, n in [(8, 10), (0, 5), (5, 5), (37, 120), (1, 1000)]:
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    wilson.append({"hits": hits, "n": n, "low": max(0.0, centre - half), "high": min(1.0, centre + half)})

print(json.dumps({"torch_version": torch.__version__, "scipy_version": scipy.__version__, "upsample": upsample,
                  "spearman": spearman, "wilson": wilson}))

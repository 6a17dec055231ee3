#!/usr/bin/python3
"""The statistics of one evaluation at the NIH test split's size, cxrtrain against scikit-learn + NumPy,
side by side in one run (issue 11's speed goal: under 10 s on 2 cores for 25,596 images x 14 classes,
~2,800 patients, DeLong and 2,000 patient-level bootstrap resamples).

    /usr/bin/python3 benchmarks/eval_speed.py build/launch/cxrtrain [--resamples 2000]

`cxrtrain bench --stats` makes the synthetic data (NIH prevalences, patients with several films), writes it
to a CSV, and times its own evaluate_split (which also computes calibration, operating points, subgroups
and class comparisons). This script then times, on the same data, the core of it the usual Python way:
per class roc_auc_score, average_precision_score, brier_score_loss, DeLong's variance (mid-ranks with
scipy.stats.rankdata, the fast algorithm) and the patient-level bootstrap (resample patients, gather their
films, roc_auc_score per class). It checks that both give the same AUROCs, and prints both times and
their ratio. The Python side does less work than cxrtrain's, so the ratio understates the difference.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def delong_variance(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    m, n = len(pos), len(neg)
    tz, tx, ty = rankdata(np.concatenate([pos, neg])), rankdata(pos), rankdata(neg)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return v10.mean(), np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cxrtrain")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=0, help="cxrtrain's statistics threads (0 = one per core)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cxr_eval_speed_")
    data, result = os.path.join(tmp, "data.csv"), os.path.join(tmp, "cxrtrain.json")
    subprocess.run([a.cxrtrain, "bench", "--stats", "--stats-resamples", str(a.resamples), "--stats-threads",
                    str(a.threads), "--stats-data", data, "--json", result], check=True)
    ours = json.load(open(result))
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    names = open(data).readline().strip().split(",")[15:]
    patient, labels, scores = table[:, 0].astype(np.int64), table[:, 1:15].astype(np.int64), table[:, 15:29]
    n, k = scores.shape

    t0 = time.perf_counter()
    per_class = {}
    for c in range(k):
        y, s = labels[:, c], scores[:, c]
        auc, var = delong_variance(s, y)
        per_class[names[c]] = {"auroc": roc_auc_score(y, s), "delong_auroc": auc, "se": np.sqrt(var),
                               "ap": average_precision_score(y, s), "brier": brier_score_loss(y, s)}
    ids, inverse = np.unique(patient, return_inverse=True)
    films = [np.flatnonzero(inverse == p) for p in range(len(ids))]
    rng = np.random.default_rng(1)
    boot = np.full((a.resamples, k), np.nan)
    for b in range(a.resamples):
        rows = np.concatenate([films[p] for p in rng.integers(0, len(ids), len(ids))])
        for c in range(k):
            y = labels[rows, c]
            if 0 < y.sum() < len(y):
                boot[b, c] = roc_auc_score(y, scores[rows, c])
    intervals = np.nanpercentile(boot, [2.5, 97.5], axis=0)
    python_seconds = time.perf_counter() - t0

    worst = max(abs(per_class[c]["auroc"] - ours["per_class"][c]["auroc"]) for c in names)
    worst_se = max(abs(per_class[c]["se"] - ours["per_class"][c]["se_delong"]) for c in names)
    print(f"data: {n} images x {k} classes, {len(ids)} patients, {a.resamples} bootstrap resamples")
    print(f"  cxrtrain evaluate_split (C++, all of metrics.json):        {ours['seconds']:8.2f} s")
    print(f"  scikit-learn + NumPy (AUROC, DeLong, AP, Brier, bootstrap): {python_seconds:8.2f} s")
    print(f"  ratio: {python_seconds / ours['seconds']:.1f}x; AUROCs agree within {worst:.1e}, DeLong SEs within "
          f"{worst_se:.1e}; bootstrap 95 % interval of {names[0]}: cxrtrain "
          f"{ours['per_class'][names[0]]['ci95_bootstrap']}, Python [{intervals[0, 0]:.4f}, {intervals[1, 0]:.4f}]")
    if worst > 1e-9:
        sys.exit("error: the two disagree on AUROC")


if __name__ == "__main__":
    main()

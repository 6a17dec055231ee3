#!/usr/bin/python3
"""Freezes scikit-learn's roc_auc_score, roc_curve, average_precision_score, brier_score_loss and calibration_curve on
seeded random cases (continuous, heavily tied, rare and common positives) into stats_sklearn.json, the
independent reference for eval/{auroc,roc_curve,average_precision,calibration}.cpp. The expected calibration error is
computed here with NumPy from calibration_curve's bins (scikit-learn has no ECE). Run from this folder:
    /usr/bin/python3 make_stats_fixture.py > fixtures/stats_sklearn.json
"""
import json

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

rng = np.random.default_rng(20261130)
cases = []
for n, levels, prevalence in [(12, 0, 0.5), (80, 4, 0.3), (300, 0, 0.03), (1000, 10, 0.2), (5, 2, 0.4),
                              (700, 3, 0.5), (90, 0, 0.9), (2000, 0, 0.12), (400, 20, 0.05)]:
    y = (rng.random(n) < prevalence).astype(int)
    y[0], y[-1] = 0, 1  # both classes present
    z = rng.normal(size=n) + 1.1 * y
    p = 1 / (1 + np.exp(-z))
    if levels:
        p = np.round(p * levels) / levels  # heavy ties, 0 and 1 included
    prob_true, prob_pred = calibration_curve(y, p, n_bins=15, strategy="uniform")
    # ECE over the same 15 equal-width bins: weights are the bin counts (calibration_curve's binning rule).
    bins = np.linspace(0.0, 1.0, 16)
    idx = np.searchsorted(bins[1:-1], p)
    counts = np.bincount(idx, minlength=15)
    nonzero = counts > 0
    ece = float(np.sum(counts[nonzero] / n * np.abs(prob_true - prob_pred)))
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=True)
    cases.append({"n": n, "scores": [float(v) for v in p], "labels": [int(v) for v in y],
                  "auroc": float(roc_auc_score(y, p)), "average_precision": float(average_precision_score(y, p)),
                  "brier": float(brier_score_loss(y, p)), "ece": ece,
                  "bin_counts": [int(c) for c in counts], "prob_true": [float(v) for v in prob_true],
                  "prob_pred": [float(v) for v in prob_pred],
                  "roc_fpr": [float(v) for v in fpr], "roc_tpr": [float(v) for v in tpr],
                  "roc_thresholds": [float(v) for v in thresholds[1:]]})  # [0] is inf or max+1 (version-dependent)
print(json.dumps({"sklearn_version": sklearn.__version__, "numpy_version": np.__version__, "cases": cases}))

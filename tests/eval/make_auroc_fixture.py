#!/usr/bin/python3
"""Freezes scikit-learn's roc_auc_score on seeded random cases (with heavy ties) into
auroc_sklearn.json, the independent reference for eval/auroc.cpp. Run from this folder:
    /usr/bin/python3 make_auroc_fixture.py > fixtures/auroc_sklearn.json
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score

rng = np.random.default_rng(20261125)
cases = []
for n, levels, prevalence in [(10, 0, 0.5), (57, 5, 0.3), (200, 0, 0.05), (1000, 20, 0.2), (3, 2, 0.34),
                              (500, 3, 0.5), (64, 0, 0.9)]:
    y = (rng.random(n) < prevalence).astype(int)
    y[0], y[-1] = 0, 1  # both classes present
    s = rng.normal(size=n) + 0.8 * y
    if levels:
        s = np.round(s * levels / 4.0) / levels  # heavy ties
    cases.append({"n": n, "scores": [float(v) for v in s], "labels": [int(v) for v in y],
                  "auroc": float(roc_auc_score(y, s))})
print(json.dumps({"sklearn_version": sklearn.__version__, "cases": cases}))

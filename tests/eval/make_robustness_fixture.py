#!/usr/bin/python3
"""Freezes an independent computation of robustness.json's statistics (eval/robustness.cpp) for seeded synthetic
scores into robustness_reference.json, the reference of tests/eval/test_robustness.cpp. Independent of the C++:
AUROC from scikit-learn's roc_auc_score; DeLong variances and the paired covariance from the O(m n) definition
of DeLong et al. (1988); normal quantiles and p-values from SciPy; Benjamini-Hochberg written out here.
Two splits ("test", and "val" with fewer images); conditions: a copy of the baseline (no test: zero variance),
noise added to the scores (small changes), one class's signal destroyed (a large drop), a condition on "val".
Hernia has no positives on "test" (not evaluable) and Pneumonia has 5 positives (an AUROC, no test: < 10).
Run from this folder:
    /usr/bin/python3 make_robustness_fixture.py > fixtures/robustness_reference.json
"""
import json

import numpy as np
import scipy
import sklearn
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]
K = len(CLASSES)
MIN_CASES = 10  # eval/evaluation.h kMinCasesForTest
ALPHA = 0.05
rng = np.random.default_rng(20261201)


def make_split(n, hernia_none, pneumonia_pos):
    prevalence = np.linspace(0.08, 0.3, K)
    y = (rng.random((n, K)) < prevalence).astype(int)
    if hernia_none:
        y[:, CLASSES.index("Hernia")] = 0
    pn = CLASSES.index("Pneumonia")
    y[:, pn] = 0
    y[rng.choice(n, pneumonia_pos, replace=False), pn] = 1
    z = np.round(rng.normal(size=(n, K)) + y * np.linspace(0.5, 2.0, K)[None, :], 2)  # rounded: ties
    return y, z


def structural(s, lab):
    pos, neg = s[lab == 1], s[lab == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


def auc_ci(s, lab):
    m, k = int(lab.sum()), int(len(lab) - lab.sum())
    if m < 2 or k < 2:
        return None
    v10, v01 = structural(s, lab)
    a = float(roc_auc_score(lab, s))
    se = np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / k)
    zq = norm.ppf(0.975)
    return a, max(0.0, a - zq * se), min(1.0, a + zq * se)


def paired_p(a, b, lab):
    """DeLong paired test of AUC(b) - AUC(a) on the same cases; None when the difference has no variance."""
    m, k = int(lab.sum()), int(len(lab) - lab.sum())
    x10, x01 = structural(a, lab)
    y10, y01 = structural(b, lab)
    d10, d01 = y10 - x10, y01 - x01
    var = np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / k
    if not var > 1e-300:
        return None
    diff = float(roc_auc_score(lab, b) - roc_auc_score(lab, a))
    return float(min(1.0, 2 * norm.sf(abs(diff / np.sqrt(var)))))


def bh(ps):
    idx = [i for i, v in enumerate(ps) if v is not None]
    q = [None] * len(ps)
    order = sorted(idx, key=lambda i: ps[i])
    m, running = len(idx), 1.0
    for r in range(len(order) - 1, -1, -1):
        running = min(running, ps[order[r]] * m / (r + 1))
        q[order[r]] = min(1.0, running)
    return q


splits = {"test": make_split(600, True, 5), "val": make_split(300, False, 20)}
yt, zt = splits["test"]
yv, zv = splits["val"]
conditions = [
    {"family": "shift", "name": "identity", "severity": 1, "parameter": 1.0, "split": "test", "scores": zt.copy()},
    {"family": "shift", "name": "noise", "severity": 2, "parameter": 0.3, "split": "test",
     "scores": np.round(zt + rng.normal(scale=0.3, size=zt.shape), 2)},
    {"family": "shortcut", "name": "removed:Nodule:0.9:top-left", "severity": 0, "parameter": 0.0, "split": "test",
     "scores": np.where(np.arange(K)[None, :] == CLASSES.index("Nodule"), np.round(rng.normal(size=zt.shape), 2), zt)},
    {"family": "adversarial", "name": "pgd", "severity": 0, "parameter": 2.0, "split": "val",
     "scores": np.round(zv - 1.5 * yv + rng.normal(scale=0.2, size=zv.shape), 2)},
]

baselines = {}
for name, (y, z) in splits.items():
    rows = []
    for c, cname in enumerate(CLASSES):
        ci = auc_ci(z[:, c], y[:, c])
        rows.append({"class": cname, "auroc": ci[0] if ci else None, "lo": ci[1] if ci else None,
                     "hi": ci[2] if ci else None, "positives": int(y[:, c].sum()),
                     "negatives": int(len(y) - y[:, c].sum())})
    baselines[name] = {"images": len(y), "baseline": rows}

expected, pvals = [], []
for cond in conditions:
    y, z = splits[cond["split"]]
    per = []
    num, den, cnt = 0.0, 0.0, 0
    for c, cname in enumerate(CLASSES):
        base = baselines[cond["split"]]["baseline"][c]
        ci = auc_ci(cond["scores"][:, c], y[:, c]) if base["auroc"] is not None else None
        e = {"class": cname, "auroc": ci[0] if ci else None, "lo": ci[1] if ci else None, "hi": ci[2] if ci else None,
             "difference": ci[0] - base["auroc"] if ci else None, "p_value": None}
        if ci and min(base["positives"], base["negatives"]) >= MIN_CASES:
            e["p_value"] = paired_p(z[:, c], cond["scores"][:, c], y[:, c])
        if ci:
            num += ci[0]
            den += base["auroc"]
            cnt += 1
        per.append(e)
        pvals.append(e["p_value"])
    expected.append({"name": cond["name"], "per_class": per, "macro_auroc": num / cnt, "macro_difference": (num - den) / cnt})
qs = bh(pvals)
for i, cond in enumerate(expected):
    drops = []
    for c, e in enumerate(cond["per_class"]):
        e["q_value"] = qs[i * K + c]
        e["significant"] = e["q_value"] is not None and e["q_value"] < ALPHA
        if e["significant"] and e["difference"] < 0:
            drops.append(e["class"])
    cond["significant_drops"] = drops

print(json.dumps({
    "made_by": "tests/eval/make_robustness_fixture.py",
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
    "splits": {name: {"labels": y.tolist(), "baseline": z.tolist()} for name, (y, z) in splits.items()},
    "conditions": [{k: (v.tolist() if k == "scores" else v) for k, v in c.items()} for c in conditions],
    "expected": {"splits": baselines, "conditions": expected},
}, separators=(",", ":")))

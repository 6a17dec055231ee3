#!/usr/bin/python3
"""Freezes an independent computation of metrics.json's "temporal" object (the follow-up proxy) for one
seeded synthetic split into temporal_reference.json, the reference for eval/temporal.cpp
(tests/eval/test_temporal.cpp). Independent of the C++: AUROC from scikit-learn's roc_auc_score; DeLong
variances from the O(m n) definition of DeLong et al. (1988); normal quantiles and p-values from SciPy;
Benjamini-Hochberg written out here. Bands from NIH's 0-based 'Follow-up #': first film = 0, films 2-5 =
1..4, films 6-20 = 5..19, films 21+ = >= 20. Patients have 1 to 35 films, so every band is populated;
Hernia is positive only on first films (its later bands have no positives: null with a reason) and
Pneumonia is rare (bands with too few cases: a gap but no p-value). Run from this folder:
    /usr/bin/python3 make_temporal_fixture.py > fixtures/temporal_reference.json
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
BANDS = [("first film", 0, 0), ("films 2-5", 1, 4), ("films 6-20", 5, 19), ("films 21+", 20, None)]
rng = np.random.default_rng(20261201)


def band_of(f):
    for b, (_, lo, hi) in enumerate(BANDS):
        if f >= lo and (hi is None or f <= hi):
            return b
    raise ValueError(f)


# 260 patients: most with one film, some with a few, a few followed up many times.
films_per_patient = []
for _ in range(260):
    u = rng.random()
    films_per_patient.append(1 if u < 0.55 else int(rng.integers(2, 6)) if u < 0.8 else
                             int(rng.integers(6, 21)) if u < 0.94 else int(rng.integers(21, 36)))
patient, follow_up = [], []
for pid, k in enumerate(films_per_patient):
    for f in range(k):
        patient.append(1000 + pid)
        follow_up.append(f)
order = rng.permutation(len(patient))  # the evaluation must not depend on row order
patient, follow_up = np.array(patient)[order], np.array(follow_up)[order]
n = len(patient)
band = np.array([band_of(f) for f in follow_up])

prevalence = np.array([0.12, 0.06, 0.05, 0.05, 0.14, 0.04, 0.03, 0.0, 0.2, 0.06, 0.06, 0.05, 0.012, 0.05])
y = (rng.random((n, K)) < prevalence).astype(int)
y[:, CLASSES.index("Hernia")] = ((band == 0) & (rng.random(n) < 0.15)).astype(int)
# Later films are "harder" for some classes: the separation shrinks with the band.
separation = np.linspace(0.4, 2.2, K)[None, :] * (1 - 0.15 * band[:, None])
z = rng.normal(size=(n, K)) + y * separation
p = np.round(1 / (1 + np.exp(-z + 1.5)), 3)  # rounded: ties


def delong(s, lab):
    pos, neg = s[lab == 1], s[lab == 0]
    m, k = len(pos), len(neg)
    if m < 2 or k < 2:
        return None
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(v10.mean()), float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / k)


def bh(ps):
    idx = [i for i, v in enumerate(ps) if v is not None]
    q = [None] * len(ps)
    order = sorted(idx, key=lambda i: ps[i])
    m, running = len(idx), 1.0
    for r in range(len(order) - 1, -1, -1):
        running = min(running, ps[order[r]] * m / (r + 1))
        q[order[r]] = min(1.0, running)
    return q


zq = norm.ppf(0.975)
bands_out, rows, pvals, prow = [], [], [], []
for b, (name, lo, hi) in enumerate(BANDS):
    rows_b = band == b
    bands_out.append({"name": name, "follow_up_min": lo, "follow_up_max": hi, "n_images": int(rows_b.sum()),
                      "n_patients": int(len(set(patient[rows_b].tolist())))})
    for c, cname in enumerate(CLASSES):
        s, lab = p[rows_b, c], y[rows_b, c]
        pos, neg = int(lab.sum()), int(len(lab) - lab.sum())
        e = {"band": name, "class": cname, "n_images": int(rows_b.sum()), "n_patients": bands_out[-1]["n_patients"],
             "n_pos": pos, "n_neg": neg, "auroc": float(roc_auc_score(lab, s)) if pos and neg else None}
        d = delong(s, lab)
        e["auroc_ci95_delong"] = ([max(0.0, d[0] - zq * np.sqrt(d[1])), min(1.0, d[0] + zq * np.sqrt(d[1]))]
                                  if d else None)
        if b == 0:
            e.update(gap=None, p_value=None, q_value=None)
        else:
            r0 = band == 0
            s0, l0 = p[r0, c], y[r0, c]
            d0 = delong(s0, l0)
            pos0, neg0 = int(l0.sum()), int(len(l0) - l0.sum())
            if d and d0:
                e["gap"] = d[0] - d0[0]
                se = np.sqrt(d[1] + d0[1])
                pv = float(min(1.0, 2 * norm.sf(abs(e["gap"] / se)))) if se > 0 else 1.0
                e["p_value"] = pv if min(pos, neg, pos0, neg0) >= MIN_CASES else None
            else:
                e["gap"], e["p_value"] = None, None
            pvals.append(e["p_value"])
            prow.append(len(rows))
        rows.append(e)
for i, q in zip(prow, bh(pvals)):
    rows[i]["q_value"] = q

print(json.dumps({
    "made_by": "tests/eval/make_temporal_fixture.py",
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
    "min_cases": MIN_CASES,
    "split": {"patient": patient.tolist(), "follow_up": follow_up.tolist(), "labels": y.tolist(),
              "probability": p.tolist()},
    "expected": {"bands": bands_out, "rows": rows},
}, separators=(",", ":")))

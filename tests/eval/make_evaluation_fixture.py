#!/usr/bin/python3
"""Freezes an independent computation of metrics.json's per-class, macro/micro, subgroup, underdiagnosis
and expert-label numbers for one seeded synthetic evaluation into evaluation_reference.json, the reference
for eval/evaluation.cpp (tests/eval/test_evaluation.cpp). Independent of the C++: AUROC, average precision,
Brier, Cohen's kappa and the ROC sweep from scikit-learn; DeLong variances from the O(m n) definition of
DeLong et al. (1988); normal p-values from SciPy; Benjamini-Hochberg, the pooled two-proportion z test,
Youden's J and underdiagnosis written out here from their definitions. Run from this folder:
    /usr/bin/python3 make_evaluation_fixture.py > fixtures/evaluation_reference.json
"""
import json

import numpy as np
import scipy
import sklearn
from scipy.stats import norm
from sklearn.metrics import (average_precision_score, brier_score_loss, cohen_kappa_score, roc_auc_score,
                             roc_curve)

CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]
K = len(CLASSES)
MIN_CASES = 10  # evaluation.cpp's kMinCasesForTest
AGE_EDGES = [20, 40, 60, 80]
rng = np.random.default_rng(20261130)


def make_split(n, patients, prevalence, seed_shift):
    pid = np.sort(rng.integers(0, patients, n)) + seed_shift
    sex_of = rng.integers(0, 2, patients + seed_shift + 1)
    age_of = rng.integers(1, 95, patients + seed_shift + 1)
    sex, age = sex_of[pid], age_of[pid]
    view = rng.integers(0, 2, n)
    y = (rng.random((n, K)) < prevalence).astype(int)
    z = rng.normal(size=(n, K)) + y * np.linspace(0.3, 2.0, K) + 0.4 * view[:, None]
    p = np.round(1 / (1 + np.exp(-z + 1.5)), 3)  # rounded: ties
    return pid, sex, age, view, y, p


prevalence = np.array([0.12, 0.04, 0.05, 0.03, 0.14, 0.03, 0.02, 0.0, 0.2, 0.06, 0.06, 0.04, 0.02, 0.05])
pid, sex, age, view, y, p = make_split(900, 300, prevalence, 0)
t_prev = prevalence.copy()
t_prev[CLASSES.index("Edema")] = 0.0  # no Edema positive to choose its threshold on
t_pid, t_sex, t_age, t_view, t_y, t_p = make_split(400, 130, t_prev, 1000)
n = len(pid)
expert = np.full((n, 4), -1)
reviewed = rng.random(n) < 0.7
truth = lambda cols: (y[:, [CLASSES.index(c) for c in cols]].max(axis=1) ^ (rng.random(n) < 0.08)).astype(int)
expert[reviewed, 1] = truth(["Pneumothorax"])[reviewed]
expert[reviewed, 2] = truth(["Consolidation", "Infiltration", "Pneumonia"])[reviewed]
expert[reviewed, 3] = truth(["Nodule", "Mass"])[reviewed]


def delong_var(s, lab):
    pos, neg = s[lab == 1], s[lab == 0]
    m, k = len(pos), len(neg)
    if m < 2 or k < 2:
        return None
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(v10.mean()), float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / k)


def two_prop(x1, n1, x2, n2):
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if not var > 0:
        return None
    d = x1 / n1 - x2 / n2
    return d, float(min(1.0, 2 * norm.sf(abs(d / np.sqrt(var)))))


def bh(ps):
    idx = [i for i, v in enumerate(ps) if v is not None]
    q = [None] * len(ps)
    order = sorted(idx, key=lambda i: ps[i])
    m, running = len(idx), 1.0
    for r in range(len(order) - 1, -1, -1):
        running = min(running, ps[order[r]] * m / (r + 1))
        q[order[r]] = min(1.0, running)
    return q


def youden(s, lab):
    if lab.sum() == 0 or lab.sum() == len(lab):
        return None
    fpr, tpr, thr = roc_curve(lab, s, drop_intermediate=False)
    j = tpr[1:] - fpr[1:]  # [0] is the "nothing called" point
    return float(thr[1:][int(np.argmax(j))])  # argmax: the first, i.e. the highest threshold, on ties


def band(a):
    lo = 0
    for e in AGE_EDGES:
        if a < e:
            return f"{lo}-{e - 1}"
        lo = e
    return f"{lo}+"


classes = {}
thresholds = []
for c, name in enumerate(CLASSES):
    s, lab = p[:, c], y[:, c]
    e = {"n_pos": int(lab.sum()), "n_neg": int(n - lab.sum()), "brier": float(brier_score_loss(lab, s))}
    defined = 0 < lab.sum() < n
    e["auroc"] = float(roc_auc_score(lab, s)) if defined else None
    e["average_precision"] = float(average_precision_score(lab, s)) if lab.sum() > 0 else None
    t = youden(t_p[:, c], t_y[:, c])
    thresholds.append(t)
    e["threshold"] = t
    if t is not None:
        call = s >= t
        tp, fp = int((call & (lab == 1)).sum()), int((call & (lab == 0)).sum())
        fn, tn = int(lab.sum()) - tp, int(n - lab.sum()) - fp
        e.update(sensitivity=tp / (tp + fn) if tp + fn else None, specificity=tn / (tn + fp) if tn + fp else None,
                 ppv=tp / (tp + fp) if tp + fp else None, npv=tn / (tn + fn) if tn + fn else None)
    classes[name] = e
defined_aucs = [e["auroc"] for e in classes.values() if e["auroc"] is not None]
macro = float(np.mean(defined_aucs))
micro = float(roc_auc_score(y.ravel(), p.ravel()))

groups = []
for attribute, key in [("sex", lambda i: "F" if sex[i] == 0 else "M"), ("age", lambda i: band(age[i])),
                       ("view", lambda i: "PA" if view[i] == 0 else "AP"),
                       ("sex x age", lambda i: ("F" if sex[i] == 0 else "M") + " " + band(age[i]))]:
    keys = [key(i) for i in range(n)]
    for g in sorted(set(keys)):
        rows = np.array([k == g for k in keys])
        groups.append((attribute, g, rows))

sub, auc_p, tpr_p, fpr_p = [], [], [], []
for attribute, g, rows in groups:
    for c, name in enumerate(CLASSES):
        s, lab = p[:, c], y[:, c]
        sg, yg, sr, yr = s[rows], lab[rows], s[~rows], lab[~rows]
        pos, neg, rpos, rneg = int(yg.sum()), int(len(yg) - yg.sum()), int(yr.sum()), int(len(yr) - yr.sum())
        e = {"attribute": attribute, "group": g, "class": name, "n_pos": pos, "n_neg": neg,
             "auroc": float(roc_auc_score(yg, sg)) if pos and neg else None}
        dg, dr = delong_var(sg, yg), delong_var(sr, yr)
        testable = min(pos, neg, rpos, rneg) >= MIN_CASES
        if dg and dr:
            e["gap"] = dg[0] - dr[0]
            se = np.sqrt(dg[1] + dr[1])
            pv = float(min(1.0, 2 * norm.sf(abs(e["gap"] / se)))) if se > 0 else 1.0
            e["p_value"] = pv if testable else None
        else:
            e["gap"], e["p_value"] = None, None
        auc_p.append(e["p_value"])
        t = thresholds[c]
        if t is None:
            e["tpr"] = e["fpr"] = None
            tpr_p.append(None)
            fpr_p.append(None)
        else:
            cg, cr = sg >= t, sr >= t
            tp, fp, rtp, rfp = int((cg & (yg == 1)).sum()), int((cg & (yg == 0)).sum()), int((cr & (yr == 1)).sum()), int(
                (cr & (yr == 0)).sum())
            e["tpr"] = tp / pos if pos else None
            e["fpr"] = fp / neg if neg else None
            tt, ft = two_prop(tp, pos, rtp, rpos), two_prop(fp, neg, rfp, rneg)
            e["tpr_gap"] = tt[0] if tt else None
            e["tpr_p_value"] = tt[1] if tt and min(pos, rpos) >= MIN_CASES else None
            e["fpr_gap"] = ft[0] if ft else None
            e["fpr_p_value"] = ft[1] if ft and min(neg, rneg) >= MIN_CASES else None
            tpr_p.append(e["tpr_p_value"])
            fpr_p.append(e["fpr_p_value"])
        sub.append(e)
for e, qa, qt, qf in zip(sub, bh(auc_p), bh(tpr_p), bh(fpr_p)):
    e["q_value"] = qa
    if e["tpr"] is not None or e["fpr"] is not None or thresholds[CLASSES.index(e["class"])] is not None:
        e["tpr_q_value"], e["fpr_q_value"] = qt, qf

with_t = [c for c in range(K) if thresholds[c] is not None]
finding = y[:, with_t].max(axis=1) == 1
called = np.zeros(n, bool)
for c in with_t:
    called |= p[:, c] >= thresholds[c]
missed = finding & ~called
under = [{"attribute": "all", "group": "all", "with_finding": int(finding.sum()), "missed": int(missed.sum()),
          "rate": float(missed.sum() / finding.sum())}]
up = []
for attribute, g, rows in groups:
    fg, mg, fr, mr = int(finding[rows].sum()), int(missed[rows].sum()), int(finding[~rows].sum()), int(missed[~rows].sum())
    e = {"attribute": attribute, "group": g, "with_finding": fg, "missed": mg, "rate": mg / fg if fg else None}
    t = two_prop(mg, fg, mr, fr)
    e["gap"] = t[0] if t else None
    e["p_value"] = t[1] if t and min(fg, fr) >= MIN_CASES else None
    up.append(e["p_value"])
    under.append(e)
for e, q in zip(under[1:], bh(up)):
    e["q_value"] = q

expert_rows = []
for label, col, cls in [("Pneumothorax", 1, ["Pneumothorax"]), ("Nodule or mass", 3, ["Nodule", "Mass"]),
                        ("Airspace opacity", 2, ["Consolidation", "Infiltration", "Pneumonia"])]:
    r = expert[:, col] >= 0
    ci = [CLASSES.index(c) for c in cls]
    score, truth_r, nih = p[r][:, ci].max(axis=1), expert[r, col], y[r][:, ci].max(axis=1)
    expert_rows.append({"expert_label": label, "n_reviewed": int(r.sum()), "n_pos": int(truth_r.sum()),
                        "auroc_expert": float(roc_auc_score(truth_r, score)),
                        "auroc_nih_labels": float(roc_auc_score(nih, score)),
                        "kappa_nih_vs_expert": float(cohen_kappa_score(nih, truth_r))})


def split_json(pid, sex, age, view, y, p, expert=None):
    return {"patient": pid.tolist(), "sex": sex.tolist(), "age": age.tolist(), "view": view.tolist(),
            "labels": y.tolist(), "probability": p.tolist(), "expert": None if expert is None else expert.tolist()}


print(json.dumps({"sklearn_version": sklearn.__version__, "scipy_version": scipy.__version__, "min_cases": MIN_CASES,
                  "evaluated": split_json(pid, sex, age, view, y, p, expert),
                  "thresholds": split_json(t_pid, t_sex, t_age, t_view, t_y, t_p),
                  "expected": {"classes": classes, "macro_auroc": macro, "micro_auroc": micro, "subgroups": sub,
                               "underdiagnosis": under, "classes_without_threshold": [CLASSES[c] for c in range(K) if thresholds[c] is None],
                               "expert": expert_rows}}))

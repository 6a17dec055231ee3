#!/usr/bin/python3
"""Freezes an independent computation of seeds/summary.json (eval/seed_variance.h) on seeded random models into
seed_reference.json: AUROCs by scikit-learn's roc_auc_score, DeLong's variance by the structural components written
out over every positive-negative pair (O(m n), not the mid-rank algorithm of eval/delong.cpp), the t and normal
quantiles by scipy.stats, seed counts by scanning k upwards from the definition. Each case holds the inputs (labels,
every seed's probabilities rounded to 6 decimals so that C++ reads the same doubles) and the expected summary.
Case "main": K = 5 seeds, 300 images; classes with strong, weak and no signal, per-seed noise; Hernia without
positives (null), Pneumonia with one positive (DeLong undefined: var_test null); Cardiomegaly saturates (exact 0.0
and 1.0 after rounding, far below the floor 1e-4). Case "two": K = 2, 80 images, the default floor. Run from this
folder:
    /usr/bin/python3 make_seed_fixture.py > fixtures/seed_reference.json
"""
import json
import math

import numpy as np
import scipy
import sklearn
from scipy.stats import norm, t as student_t
from sklearn.metrics import roc_auc_score

CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]
Z = norm.ppf(0.975)


def delong_variance(scores, labels):
    """DeLong, DeLong & Clarke-Pearson (1988): psi over every pair, then the sample variances of the components."""
    x, y = scores[labels == 1], scores[labels == 0]
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        return None
    psi = (x[:, None] > y[None, :]).astype(float) + 0.5 * (x[:, None] == y[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    return float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


def seeds_seed_only(sd, width):
    k = 2
    while 2 * student_t.ppf(0.975, k - 1) * sd / math.sqrt(k) > width:
        k += 1
    return k


def seeds_total(var_seed, var_test, width):
    if var_test is None or 2 * Z * math.sqrt(var_test) >= width:
        return None
    k = 1
    while 2 * Z * math.sqrt(var_seed / k + var_test) > width:
        k += 1
    return k


def width_key(w):
    return "%g" % w


def summarise(labels, probs, seeds, run_dirs, widths, floor, split):
    """probs: [K, n, 14]."""
    K, n, _ = probs.shape
    classes, per_class = {}, {}
    for c, name in enumerate(CLASSES):
        y = labels[:, c]
        if y.sum() == 0 or y.sum() == n:
            classes[name] = None
            continue
        aucs = [float(roc_auc_score(y, probs[s, :, c])) for s in range(K)]
        variances = [delong_variance(probs[s, :, c], y) for s in range(K)]
        var_test = None if variances[0] is None else float(np.mean(variances))
        var_seed = float(np.var(aucs, ddof=1))
        sd = math.sqrt(var_seed)
        clipped = np.clip(probs[:, :, c], floor, 1 - floor)  # [K, n]
        log_ratio = np.log(clipped.max(axis=0) / clipped.min(axis=0))
        cv = clipped.std(axis=0, ddof=1) / clipped.mean(axis=0)
        mean_p = sum(probs[s, :, c] for s in range(K)) / K  # summed in seed order, then divided
        ens = float(roc_auc_score(y, mean_p))
        ens_var = delong_variance(mean_p, y)
        ci = None if ens_var is None else [max(0.0, ens - Z * math.sqrt(ens_var)), min(1.0, ens + Z * math.sqrt(ens_var))]
        classes[name] = {
            "auroc": aucs, "mean": float(np.mean(aucs)), "sd": sd, "min": min(aucs), "max": max(aucs), "n_seeds": K,
            "var_seed": var_seed, "var_test": var_test,
            "seed_share": None if var_test is None else var_seed / (var_seed + var_test),
            "seeds_for_width": {width_key(w): {"seed_only": seeds_seed_only(sd, w),
                                               "total": seeds_total(var_seed, var_test, w)} for w in widths},
            "ensemble": {"auroc": ens, "ci95": ci},
            "instability": {"mean_log_ratio": float(log_ratio.mean()), "mean_cv": float(cv.mean()), "n_images": n},
        }
        per_class[name] = (aucs, ens)
    macro_seeds = [float(np.mean([a[s] for a, _ in per_class.values()])) for s in range(K)]
    holds, flips, pairs = [], [], 0
    names = [c for c in CLASSES if classes[c] is not None]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs += 1
            xa, xb = np.array(per_class[a][0]), np.array(per_class[b][0])
            if np.all(xa > xb):
                holds.append({"higher": a, "lower": b, "min_margin": float(np.min(xa - xb))})
            elif np.all(xb > xa):
                holds.append({"higher": b, "lower": a, "min_margin": float(np.min(xb - xa))})
            else:
                flips.append({"a": a, "b": b, "a_higher_in": int(np.sum(xa > xb))})
    return {
        "schema": "cxrtrain.seeds/1", "split": split, "n_images": n, "seeds": seeds, "run_dirs": run_dirs,
        "probability_floor": floor, "classes": classes,
        "macro": {"auroc": macro_seeds, "mean": float(np.mean(macro_seeds)), "sd": float(np.std(macro_seeds, ddof=1)),
                  "ensemble_auroc": float(np.mean([e for _, e in per_class.values()]))},
        "orderings": {"pairs_tested": pairs, "holds_in_every_seed": holds, "flips": flips},
    }


def make_case(rng, name, K, n, prevalence, signal, seed_noise, scale, widths, floor):
    labels = (rng.random((n, 14)) < prevalence[None, :]).astype(int)
    labels[:, 7] = 0                       # Hernia: no positives -> null
    labels[:, 12] = 0
    labels[n // 2, 12] = 1                 # Pneumonia: one positive -> DeLong undefined
    latent = rng.normal(size=(n, 14))      # what every seed sees in an image
    probs = np.empty((K, n, 14))
    for s in range(K):
        noise = rng.normal(size=(n, 14)) * seed_noise[None, :]
        logit = scale[None, :] * (latent + signal[None, :] * labels + noise - 1.0)
        probs[s] = np.round(1 / (1 + np.exp(-logit)), 6)
    seeds = [int(s) for s in 100 + 7 * np.arange(K)]
    run_dirs = ["runs/seeds/seed%d" % s for s in seeds]
    summary = summarise(labels, probs, seeds, run_dirs, widths, floor, "test")
    return {"name": name, "split": "test", "image_index": ["%05d_000.png" % i for i in range(n)],
            "labels": labels.astype(int).tolist(),
            "probability": [[[float(v) for v in row] for row in probs[s]] for s in range(K)],
            "seeds": seeds, "run_dirs": run_dirs, "ci_widths": widths, "probability_floor": floor,
            "expected": summary}


rng = np.random.default_rng(20261201)
prevalence = np.array([0.2, 0.4, 0.1, 0.15, 0.3, 0.1, 0.1, 0, 0.3, 0.12, 0.12, 0.1, 0, 0.15])
# Atelectasis, Cardiomegaly, ..., Pneumothorax: Cardiomegaly strong and saturated, Infiltration and Nodule weak,
# Mass and Nodule nearly equal (their order flips), Fibrosis without signal.
signal = np.array([1.0, 4.0, 1.2, 2.0, 1.5, 1.8, 0.0, 0, 0.4, 0.9, 0.85, 1.1, 1.0, 2.5])
seed_noise = np.array([0.6, 0.3, 0.8, 0.5, 0.4, 0.6, 0.7, 0.5, 0.9, 0.7, 0.7, 0.6, 0.5, 0.4])
scale = np.ones(14)
scale[1] = 6.0  # Cardiomegaly's logits reach +-30: probabilities round to exactly 0 and 1
cases = [make_case(rng, "main", 5, 300, prevalence, signal, seed_noise, scale, [0.3, 0.2, 0.1, 0.05, 0.02, 0.01], 1e-4),
         make_case(rng, "two", 2, 80, prevalence, signal, seed_noise, scale, [0.05, 0.02, 0.01], 1e-6)]
print(json.dumps({"numpy_version": np.__version__, "scipy_version": scipy.__version__,
                  "sklearn_version": sklearn.__version__, "cases": cases}))

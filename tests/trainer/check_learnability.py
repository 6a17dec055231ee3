#!/usr/bin/python3
"""Checks a `cxrtrain probe --json` result on the phantom: learnability differs by design.

Usage: check_learnability.py PROBE_JSON PACK_DIR --steps N
- the probe ran exactly the N steps it was asked for (a time budget cut short is a failure, not a pass);
- every obvious class with at least 30 positives in the eval split reaches AUROC >= 0.95;
- every subtle class stays clearly below: AUROC < 0.90, and their mean is at least 0.15 under the
  obvious classes' mean.
Hernia is obvious by design but has 0.2 % prevalence (NIH's), so a small eval split holds a handful
of positives: it is reported, and asserted only when it has 30 positives.
"""
import argparse
import json
import sys

OBVIOUS = ["Cardiomegaly", "Edema", "Effusion", "Pneumothorax", "Emphysema", "Hernia"]
SUBTLE = ["Nodule", "Infiltration", "Pneumonia"]


def main(result_path, pack_dir, steps):
    result = json.load(open(result_path))
    manifest = json.load(open(f"{pack_dir}/manifest.json"))
    positives = manifest["splits"][result["eval_split"]]["positives"]
    auroc = result["auroc"]
    print(f"probe: {result['steps']} steps, {result['train_images']} images, {result['train_seconds']:.1f} s")
    for name, value in auroc.items():
        kind = "obvious" if name in OBVIOUS else "subtle" if name in SUBTLE else "medium"
        print(f"  {name:20s} {kind:8s} positives {positives[name]:5d}  AUROC {value:.3f}")
    failures = []
    if result["steps"] != steps:
        failures.append(f"the probe ran {result['steps']} steps, not the {steps} asked for (time budget too short?)")
    obvious = [auroc[c] for c in OBVIOUS if positives[c] >= 30]
    for c in OBVIOUS:
        if positives[c] >= 30 and auroc[c] < 0.95:
            failures.append(f"{c} (obvious) AUROC {auroc[c]:.3f} < 0.95")
    for c in SUBTLE:
        if auroc[c] >= 0.90:
            failures.append(f"{c} (subtle) AUROC {auroc[c]:.3f} >= 0.90")
    mean_obvious = sum(obvious) / len(obvious)
    mean_subtle = sum(auroc[c] for c in SUBTLE) / len(SUBTLE)
    print(f"mean obvious {mean_obvious:.3f} ({len(obvious)} classes), mean subtle {mean_subtle:.3f}")
    if len(obvious) < 4:
        failures.append(f"only {len(obvious)} obvious classes have 30 positives; use a larger pack")
    if mean_subtle > mean_obvious - 0.15:
        failures.append("subtle classes are not clearly harder than obvious ones")
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)
    print("learnability differs by design: OK")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("pack")
    ap.add_argument("--steps", type=int, required=True)
    a = ap.parse_args()
    main(a.result, a.pack, a.steps)

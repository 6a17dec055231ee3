#!/usr/bin/python3
"""End-to-end test of `cxrtrain study` (issue 13) on the CI-sized config tests/launch/study_tiny.yaml:
  a. one rank: synth (the pack is missing) -> train -> evaluate -> gradcam -> robustness -> report; prints `report: PATH`;
     study.json records every stage;
  b. started again: nothing is redone (every stage says so, the checkpoint, predictions and report files keep
     their bytes and times); --redo evaluate runs evaluate, gradcam, robustness and report again but not train;
  c. a finished training with another setting is refused, naming the key (exit 2); typos in stages and a
     damaged study.json are errors naming them; --groups that does not divide the ranks is refused;
  d. seeds: `mpirun -np 2 study --seeds 2` (2 groups of 1 rank) gives, per seed, a metrics.jsonl bit-identical
     to that seed trained alone at world size 1 (`cxrtrain train --set seed=S`), and the same test predictions;
     seeds/summary.json's per-seed AUROCs, mean and SD match scikit-learn on the seeds' predictions files;
  e. 3 seeds on 2 ranks (groups run seeds one after another) and --groups 1 (both ranks on each seed in turn).
Usage: e2e_study.py CXRTRAIN [MPIEXEC]
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
from e2e_common import Harness, check, read_bytes  # noqa: E402

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "study_tiny.yaml")
CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]

h = Harness("study")
PACK = os.path.join(h.tmp, "phantom64")


def study(np, run, *extra, expect_rc=0, timeout=600):
    cmd = ([] if np == 0 else h.mpi_prefix(np)) + [h.exe, "study", "--config", CONFIG, "--no-progress",
                                                   "--set", f"data.pack={PACK}", "--set", f"run_dir={run}"] + list(extra)
    r = h.run(cmd, timeout=timeout, run_dir=run, log_name=os.path.basename(run))
    check(r.rc == expect_rc, f"study {' '.join(extra)} exited {r.rc}, expected {expect_rc}:\n{r.tail()}")
    return r


def stamp(paths):
    return {p: (os.stat(p).st_mtime_ns, read_bytes(p)) for p in paths}


RUN = os.path.join(h.tmp, "run")
KEPT = [os.path.join(RUN, f) for f in ("checkpoints/last.pt", "metrics.jsonl", "eval/test/predictions.csv",
                                       "gradcam/cam_stats.json", "robustness/robustness.json", "report/index.html")]


def case_a():
    r = study(0, RUN)
    check(os.path.exists(os.path.join(PACK, "manifest.json")), "the study did not synthesize the missing pack")
    check(f"report: {RUN}/report/index.html" in r.output, f"no 'report: PATH' line:\n{r.tail()}")
    for p in KEPT:
        check(os.path.exists(p), f"{p} missing after the study")
    rec = json.load(open(os.path.join(RUN, "study.json")))
    check(list(rec["stages"]) == ["train", "evaluate", "gradcam", "robustness", "report"],
          f"study.json stages: {list(rec['stages'])}")
    rob = json.load(open(os.path.join(RUN, "robustness", "robustness.json")))
    check(rob["schema"] == "cxrtrain.robustness/1" and rob["adversarial"]["images"] == 16,
          "robustness.json: schema or study.robustness_attack_images not applied")
    control = [c for c in rob["conditions"] if c["name"] == "contrast" and c["severity"] == 0]
    check([c["parameter"] for c in control] == [1.05],
          f"study.robustness_extra's default contrast=1.05 not scored: {[(c['name'], c['parameter']) for c in control]}")
    check(rec["stages"]["train"]["steps"] > 0, "study.json: train.steps")


def case_b():
    before = stamp(KEPT)
    r = study(0, RUN)
    for stage in ("train", "evaluate", "gradcam", "robustness", "report"):
        check(f"seed 0: {stage}: finished" in r.output and "(not redone)" in r.output,
              f"the second start did not skip {stage}:\n{r.tail()}")
    check("exists (not redone)" in r.output, "the second start did not skip synth")
    check(stamp(KEPT) == before, "a file of a finished stage changed on the second start")
    r = study(0, RUN, "--redo", "evaluate")
    after = stamp(KEPT)
    check(after[KEPT[0]] == before[KEPT[0]] and after[KEPT[1]] == before[KEPT[1]], "--redo evaluate retrained")
    check(after[KEPT[2]][0] != before[KEPT[2]][0], "--redo evaluate did not write predictions.csv again")
    check(after[KEPT[3]][0] != before[KEPT[3]][0], "--redo evaluate did not redo gradcam (a later stage)")
    check(after[KEPT[4]][0] != before[KEPT[4]][0], "--redo evaluate did not redo the robustness probes (a later stage)")
    check(after[KEPT[2]][1] == before[KEPT[2]][1], "evaluating the same checkpoint again changed the predictions")


def case_c():
    r = study(0, RUN, "--set", "train.lr=0.01", expect_rc=2)
    check("train.lr" in r.output and "--redo train" in r.output, f"changed setting not named:\n{r.tail()}")
    r = study(0, RUN, "--set", "study.stages=synth,train,evalute", expect_rc=2)
    check("'evalute' is not a stage; did you mean 'evaluate'" in r.output, f"stage typo:\n{r.tail()}")
    fresh = os.path.join(h.tmp, "extra_typo")
    r = study(0, fresh, "--set", "study.robustness_extra=contrast=1.05,contrst=0.95", expect_rc=2)
    check("study.robustness_extra: unknown shift 'contrst'; did you mean 'contrast'" in r.output and
          not os.path.exists(os.path.join(fresh, "checkpoints")), f"robustness_extra typo not refused before training:\n{r.tail()}")
    r = study(0, fresh, "--set", "study.robustness_extra=contrast=1.05x", expect_rc=2)
    check("study.robustness_extra: 'contrast=1.05x': '1.05x' is not a number" in r.output, f"bad number:\n{r.tail()}")
    r = study(0, RUN, "--redo", "gradcm", expect_rc=2)
    check("did you mean 'gradcam'" in r.output, f"--redo typo:\n{r.tail()}")
    bad = os.path.join(h.tmp, "bad")
    os.makedirs(bad)
    with open(os.path.join(bad, "study.json"), "w") as f:
        f.write('{"stages": [1, 2')
    r = study(0, bad, expect_rc=2)
    check(f"{bad}/study.json is not a study record" in r.output, f"damaged study.json:\n{r.tail()}")
    r = study(2, os.path.join(h.tmp, "g3"), "--seeds", "3", "--groups", "3", expect_rc=2)
    check("--groups 3 does not fit 3 seeds on 2 ranks" in r.output, f"--groups 3 on 2 ranks:\n{r.tail()}")


def auroc(scores, labels):
    from sklearn.metrics import roc_auc_score
    if len(set(labels)) < 2:
        return None
    return roc_auc_score(labels, scores)


def read_predictions(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return rows


def case_d():
    seeds_run = os.path.join(h.tmp, "seeds2")
    r = study(2, seeds_run, "--seeds", "2", "--set", "study.stages=train,evaluate,report")
    check("2 seeds on 2 ranks: 2 group(s) of 1 rank(s)" in r.output, f"not 2 groups of 1:\n{r.tail()}")
    for s in (0, 1):
        seed_dir = os.path.join(seeds_run, "seeds", f"seed_{s}")
        alone = os.path.join(h.tmp, f"alone_{s}")
        cmd = [h.exe, "train", "--config", CONFIG, "--set", f"data.pack={PACK}", "--set", f"run_dir={alone}",
               "--set", f"seed={s}"]
        a = h.run(cmd, timeout=300, run_dir=alone, log_name=f"alone_{s}")
        check(a.rc == 0, f"seed {s} alone exited {a.rc}:\n{a.tail()}")
        grouped, single = read_bytes(os.path.join(seed_dir, "metrics.jsonl")), read_bytes(os.path.join(alone, "metrics.jsonl"))
        check(len(grouped) > 100, f"seed {s}: metrics.jsonl nearly empty")
        check(grouped == single, f"seed {s}: metrics.jsonl differs between its group of 1 rank and a world of 1")
        e = h.run([h.exe, "evaluate", "--run", alone, "--bootstrap", "200"], timeout=300, log_name=f"alone_eval_{s}")
        check(e.rc == 0, f"evaluate alone {s}: {e.tail()}")
        check(read_bytes(os.path.join(seed_dir, "eval/test/predictions.csv")) ==
              read_bytes(os.path.join(alone, "eval/test/predictions.csv")), f"seed {s}: test predictions differ")
    # Two different seeds give two different models.
    check(read_bytes(os.path.join(seeds_run, "seeds/seed_0/metrics.jsonl")) !=
          read_bytes(os.path.join(seeds_run, "seeds/seed_1/metrics.jsonl")), "seeds 0 and 1 trained the same model")
    summary = json.load(open(os.path.join(seeds_run, "seeds", "summary.json")))
    check(summary["seeds"] == [0, 1], f"summary seeds {summary['seeds']}")
    preds = [read_predictions(os.path.join(seeds_run, f"seeds/seed_{s}/eval/test/predictions.csv")) for s in (0, 1)]
    checked = 0
    for c in CLASSES:
        labels = [int(float(row[f"label_{c}"])) for row in preds[0]]
        per_seed = [auroc([float(row[c]) for row in p], labels) for p in preds]
        got = summary["classes"][c]
        if per_seed[0] is None:
            check(got is None, f"{c}: no positives or negatives, yet summary has {got}")
            continue
        for s in (0, 1):
            check(abs(got["auroc"][s] - per_seed[s]) < 1e-9, f"{c} seed {s}: {got['auroc'][s]} vs sklearn {per_seed[s]}")
        check(abs(got["mean"] - statistics.mean(per_seed)) < 1e-9, f"{c}: mean")
        check(abs(got["sd"] - statistics.stdev(per_seed)) < 1e-9, f"{c}: sd (sample)")
        ens = auroc([(float(a[c]) + float(b[c])) / 2 for a, b in zip(*preds)], labels)
        check(abs(got["ensemble"]["auroc"] - ens) < 1e-6, f"{c}: ensemble {got['ensemble']['auroc']} vs {ens}")
        checked += 1
    check(checked >= 3, f"only {checked} classes could be checked")
    report = os.path.join(seeds_run, "report", "index.html")
    check(f"report: {report}" in r.output and os.path.exists(report), "no seeds report")


def case_e():
    run3 = os.path.join(h.tmp, "seeds3")
    r = study(2, run3, "--seeds", "3", "--set", "study.stages=train,evaluate")
    for s in (0, 1, 2):
        check(os.path.exists(os.path.join(run3, f"seeds/seed_{s}/eval/test/predictions.csv")), f"seed {s} of 3 missing")
    check(json.load(open(os.path.join(run3, "seeds", "summary.json")))["seeds"] == [0, 1, 2], "3-seed summary")
    for s in (0, 1, 2):  # rank 0 prints every seed's record once all groups are done
        check(f"seed {s}: " in r.output and re.search(rf"seed {s}: \d+ steps, test macro AUROC", r.output),
              f"seed {s}'s closing line lacks its evaluation:\n{r.tail()}")
    seq = os.path.join(h.tmp, "seq")
    r = study(2, seq, "--seeds", "2", "--groups", "1", "--set", "study.stages=train,evaluate")
    check("1 group(s) of 2 rank(s)" in r.output, f"--groups 1:\n{r.tail()}")
    log = open(os.path.join(seq, "seeds/seed_1/train.log")).read()
    check("on 2 ranks" in log, "--groups 1 did not train seed 1 on both ranks")


h.case("a. one rank: synth -> train -> evaluate -> gradcam -> robustness -> report", case_a)
h.case("b. started again: finished stages not redone; --redo evaluate", case_b)
h.case("c. changed settings, typos, damaged record, bad --groups: named errors", case_c)
h.case("d. seeds: 2 groups of 1 rank == each seed alone; summary vs scikit-learn", case_d)
h.case("e. 3 seeds on 2 ranks; --groups 1", case_e)
h.finish()

#!/usr/bin/python3
"""End-to-end: a user with CheXpert packs it and evaluates a model on it (issue 14, other data sets).
Here, in a scratch folder, a CheXpert-format train.csv (CheXpert's published header) points at the 40 real NIH
PNGs of the shared data folder laid out as CheXpert-v1.0-small/train/patientNNNNN/studyS/view1_frontal.jpg
(even rows a symlink to the PNG, odd rows a real JPEG re-encoded with Pillow when it is installed, as CheXpert
ships JPEGs), plus two lateral rows with no file, which the map's keep filter drops.
Label rule (seeded, random.Random(14)): each of the 14 CheXpert label cells of a row is drawn from
"1.0" / "0.0" / "-1.0" (uncertain) / "" (blank) with weights 3 / 3 / 2 / 2, except Pneumothorax, never "1.0"
(weights 0 / 3 / 2 / 2), so one mapped class has no positives. Sex alternates Female/Male, age 20 + 7i mod 70,
AP on every third row. Patient = i mod 32 + 1, study = i // 32 + 1 (8 patients have a second study).
a. `pack --csv --label-map configs/label_maps/chexpert.yaml --split-all test --size 64`: read with h5py, every
   row's labels equal the rule after the map (positive only for "1.0"; uncertain and blank 0: the map's
   uncertain = zeros), and its patient, follow-up, sex, age and view; 40 images in test, 2 rows skipped by keep;
   manifest classes_not_evaluable = the 7 classes the CheXpert map leaves unmapped, in label-column order.
b. `cxrtrain info PACK` names the label map and the classes not evaluable.
c. A ResNet-18 (width 0.25) trained -np 2 on a 64 px phantom, then `mpirun -np 2 cxrtrain evaluate --run RUN
   --set data.pack=PACK --split test`: the pack has no val images, so evaluate warns and chooses no operating
   points; metrics.json gives every not-evaluable class AUROC null, "evaluable": false and a "not evaluable"
   reason; the others their AUROC, equal to sklearn's roc_auc_score on predictions.csv and the pack's labels
   (h5py), or null with the usual reason (no positives); the macro AUROC is their mean.
d. `cxrtrain report --run RUN` names the source (labelled CSV via label map chexpert) and marks each
   not-evaluable class, and only those, "not evaluable" in report.md's per-class table; index.html says so too.
Usage: e2e_labelled_csv.py CXRTRAIN [MPIEXEC]   (exit 77 = skipped: no numpy or h5py for /usr/bin/python3)
Environment: CXR_SHARED_DATA (default ../shared/data beside the source tree) holds images/ with the 40 PNGs.
"""
import csv
import json
import os
import random
import re
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
try:
    import h5py
    import numpy as np
except ImportError as e:  # ctest SKIP_RETURN_CODE
    print(f"skipped: {e}")
    sys.exit(77)
try:
    from sklearn.metrics import roc_auc_score
except ImportError:  # the Mann-Whitney statistic, which is what roc_auc_score computes
    def roc_auc_score(y, s):
        y, s = np.asarray(y), np.asarray(s, dtype=float)
        pos, neg = s[y == 1], s[y == 0]
        return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())
try:
    from PIL import Image
except ImportError:
    Image = None
from e2e_common import Harness, check  # noqa: E402

CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]
HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly",
          "Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
          "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]
LABEL_COLUMNS = HEADER[5:]
# The CheXpert map as docs/datasets.md states it: NIH class -> the CheXpert column that makes it positive.
MAPPED = {"Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly", "Consolidation": "Consolidation",
          "Edema": "Edema", "Effusion": "Pleural Effusion", "Pneumonia": "Pneumonia", "Pneumothorax": "Pneumothorax"}
NOT_EVALUABLE = [c for c in CLASSES if c not in MAPPED]  # label-column order
SHARED = os.environ.get("CXR_SHARED_DATA") or os.path.join(ROOT, "..", "shared", "data")

h = Harness("labelled_csv")
SRC = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(SHARED, "images")) for f in fs
             if f.endswith(".png"))
check(len(SRC) == 40, f"expected the 40 NIH PNGs under {SHARED}/images, found {len(SRC)}")
IMAGES = os.path.join(h.tmp, "chexpert")  # --images: the folder that holds CheXpert-v1.0-small/
CSV = os.path.join(h.tmp, "train.csv")
PACK = os.path.join(h.tmp, "pack")
RUN = os.path.join(h.tmp, "run")
LABEL_MAP = os.path.join(ROOT, "configs", "label_maps", "chexpert.yaml")


def write_chexpert():
    """The CSV and the image tree; returns {csv path: expected record} of the frontal rows."""
    rng = random.Random(14)
    expected, rows = {}, []
    for i, src in enumerate(SRC):
        patient, study = i % 32 + 1, i // 32 + 1
        path = f"CheXpert-v1.0-small/train/patient{patient:05d}/study{study}/view1_frontal.jpg"
        dest = os.path.join(IMAGES, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if i % 2 == 1 and Image is not None:
            Image.open(src).convert("L").save(dest, "JPEG", quality=90)
        else:
            os.symlink(src, dest)
        cells = {}
        for col in LABEL_COLUMNS:
            weights = [0, 3, 2, 2] if col == "Pneumothorax" else [3, 3, 2, 2]
            cells[col] = rng.choices(["1.0", "0.0", "-1.0", ""], weights)[0]
        sex, age, view = ("Male" if i % 2 else "Female"), 20 + (7 * i) % 70, ("AP" if i % 3 == 0 else "PA")
        rows.append([path, sex, str(age), "Frontal", view] + [cells[c] for c in LABEL_COLUMNS])
        expected[path] = {"patient": patient, "follow_up": study - 1, "sex": 1 if sex == "Male" else 0, "age": age,
                          "view": 1 if view == "AP" else 0, "cells": cells,
                          "labels": [int(c in MAPPED and cells[MAPPED[c]] == "1.0") for c in CLASSES]}
    for p in (3, 7):  # laterals: dropped by the map's keep filter before any file is looked for
        rows.append([f"CheXpert-v1.0-small/train/patient{p:05d}/study1/view2_lateral.jpg", "Male", "50", "Lateral", ""]
                    + ["1.0"] * len(LABEL_COLUMNS))
    with open(CSV, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return expected


EXPECTED = write_chexpert()
uncertain_mapped = sum(r["cells"][MAPPED[c]] == "-1.0" for r in EXPECTED.values() for c in MAPPED)
blank_mapped = sum(r["cells"][MAPPED[c]] == "" for r in EXPECTED.values() for c in MAPPED)
check(uncertain_mapped > 10 and blank_mapped > 10, "the rule must put uncertain and blank cells in mapped columns")
print(f"    {len(EXPECTED)} frontal rows + 2 laterals; {uncertain_mapped} uncertain and {blank_mapped} blank cells in "
      f"mapped columns; images {'half JPEG (Pillow), half symlinks' if Image else 'symlinks (no Pillow)'}")


def read_pack():
    """{image_index: {csv path, labels, patient_id, follow_up, sex, age, view, std}} of the test split (h5py)."""
    manifest = json.load(open(os.path.join(PACK, "manifest.json")))
    with open(os.path.join(PACK, "image_index.csv"), newline="") as f:
        path_of = {r["image_index"]: r["path"] for r in csv.DictReader(f)}
    rows = {}
    for shard in manifest["splits"]["test"]["shards"]:
        with h5py.File(os.path.join(PACK, shard["file"]), "r") as f:
            for i, name in enumerate(f["image_index"][...]):
                name = name.decode()
                rows[name] = {"path": path_of[name], "labels": [int(v) for v in f["labels"][i]],
                              "patient_id": int(f["patient_id"][i]), "follow_up": int(f["follow_up"][i]),
                              "sex": int(f["sex"][i]), "age": int(f["age"][i]), "view": int(f["view"][i]),
                              "std": float(f["images"][i].std())}
    return manifest, rows


def pack():
    r = h.run([h.exe, "pack", "--csv", CSV, "--label-map", LABEL_MAP, "--images", IMAGES, "--out", PACK, "--size",
               "64", "--split-all", "test", "--no-progress"], timeout=120, log_name="pack")
    check(r.rc == 0, f"pack exited {r.rc}:\n{r.tail()}")
    manifest, rows = read_pack()
    check(manifest["source"] == "labelled-csv", f"source {manifest['source']}")
    counts = {s: manifest["splits"][s]["count"] for s in manifest["splits"]}
    check(counts == {"train": 0, "val": 0, "test": 40}, f"split counts {counts}")
    check(manifest["rows_skipped"]["keep_filter"] == 2, f"rows_skipped {manifest['rows_skipped']}")
    check(manifest["label_map"]["classes"] == {c: [MAPPED[c]] if c in MAPPED else [] for c in CLASSES},
          f"label_map.classes {manifest['label_map']['classes']}")
    check(manifest.get("classes_not_evaluable") == NOT_EVALUABLE,
          f"classes_not_evaluable {manifest.get('classes_not_evaluable')} != {NOT_EVALUABLE}")
    check(sorted(r["path"] for r in rows.values()) == sorted(EXPECTED), "the pack's images are not the CSV's rows")
    for name, got in rows.items():
        want = EXPECTED[got["path"]]
        check(got["labels"] == want["labels"], f"{name} ({got['path']}): labels {got['labels']} != {want['labels']}")
        for key, pack_key in (("patient", "patient_id"), ("follow_up", "follow_up"), ("sex", "sex"), ("age", "age"),
                              ("view", "view")):
            check(got[pack_key] == want[key], f"{name}: {pack_key} {got[pack_key]} != {want[key]}")
        check(got["std"] > 5, f"{name} looks blank")
    check(manifest["label_map"]["name"] == "chexpert" and manifest["label_map"]["uncertain"] == "zeros",
          f"label_map {manifest['label_map']}")
    positives = manifest["splits"]["test"]["positives"]
    want_pos = [sum(r["labels"][c] for r in EXPECTED.values()) for c in range(len(CLASSES))]
    check([positives[c] for c in CLASSES] == want_pos, f"manifest positives {positives} != {want_pos}")
    print(f"    40 rows: labels, patient, follow-up, sex, age, view as the rule says; positives {want_pos}")


def info():
    r = h.run([h.exe, "info", PACK], timeout=60, log_name="info")
    check(r.rc == 0, f"info exited {r.rc}:\n{r.tail()}")
    check(re.search(r"labelled CSV via label map chexpert \(chexpert\.yaml", r.output), f"no label map:\n{r.output}")
    check(f"classes not evaluable: {', '.join(NOT_EVALUABLE)} " in r.output, f"no not-evaluable line:\n{r.output}")


def train_and_evaluate():
    h.pack = os.path.join(h.tmp, "phantom")
    s = h.run([h.exe, "synth", "--out", h.pack, "--n", "400", "--size", "64", "--seed", "1", "--no-progress"],
              timeout=120, log_name="synth")
    check(s.rc == 0, f"synth exited {s.rc}:\n{s.tail()}")
    h.train(2, "run", ["model.depth=18", "model.width=0.25", "train.global_batch=32", "train.epochs=2", "seed=1"])
    r = h.run(h.mpi_prefix(2) + [h.exe, "evaluate", "--run", RUN, "--set", f"data.pack={PACK}", "--split", "test",
                                 "--bootstrap", "200"], timeout=300, log_name="evaluate")
    check(r.rc == 0, f"evaluate exited {r.rc}:\n{r.tail()}")
    check("split 'val' (eval.threshold_split)" in r.output and "has no images" in r.output,
          f"no warning about the empty threshold split:\n{r.tail()}")
    for name in NOT_EVALUABLE:  # the console says why the AUROC column reads n/a
        check(f"  {name}: n/a, auroc: not evaluable" in r.output, f"no console line saying why {name} is n/a:\n{r.tail()}")


def metrics():
    m = json.load(open(os.path.join(RUN, "eval", "test", "metrics.json")))
    _, rows = read_pack()
    with open(os.path.join(RUN, "eval", "test", "predictions.csv"), newline="") as f:
        preds = list(csv.DictReader(f))
    check(sorted(p["image_index"] for p in preds) == sorted(rows), "predictions.csv rows are not the pack's images")
    check(m["n_images"] == 40 and m["operating_points"]["chosen_on"] is None, f"n_images {m['n_images']}, "
          f"operating points chosen on {m['operating_points']['chosen_on']}")
    numbers = []
    for c, name in enumerate(CLASSES):
        j = m["classes"][name]
        y = [rows[p["image_index"]]["labels"][c] for p in preds]
        s = [float(p[name]) for p in preds]
        check(j["n_pos"] == sum(y), f"{name}: n_pos {j['n_pos']} != {sum(y)}")
        if name in NOT_EVALUABLE:
            check(j["auroc"] is None and j.get("evaluable") is False and "auroc: not evaluable" in j.get("reason", ""),
                  f"{name} is not evaluable, metrics.json says auroc {j['auroc']}, evaluable {j.get('evaluable')}, "
                  f"reason {j.get('reason')!r}")
            continue
        check(j.get("evaluable", True) is True, f"{name}: evaluable {j.get('evaluable')}")
        if 0 < sum(y) < len(y):
            want = roc_auc_score(y, s)
            check(isinstance(j["auroc"], float) and abs(j["auroc"] - want) < 1e-9,
                  f"{name}: AUROC {j['auroc']} != sklearn {want}")
            numbers.append(want)
        else:
            why = "no positive images" if sum(y) == 0 else "no negative images"
            check(j["auroc"] is None and f"auroc: {why}" in j.get("reason", ""),
                  f"{name}: auroc {j['auroc']}, reason {j.get('reason')!r} (expected null: {why})")
    check(len(numbers) >= 5, f"only {len(numbers)} classes have an AUROC")
    check(m["macro"]["classes_averaged"] == len(numbers) and abs(m["macro"]["auroc"] - np.mean(numbers)) < 1e-9,
          f"macro {m['macro']} != mean of {numbers}")
    print(f"    {len(numbers)} AUROCs equal sklearn's (macro {np.mean(numbers):.4f}); "
          f"{len(NOT_EVALUABLE)} classes not evaluable; Pneumothorax null (no positives)")


def report():
    r = h.run([h.exe, "report", "--run", RUN], timeout=120, log_name="report")
    check(r.rc == 0, f"report exited {r.rc}:\n{r.tail()}")
    md = open(os.path.join(RUN, "report", "report.md")).read()
    html = open(os.path.join(RUN, "report", "index.html")).read()
    check("labelled CSV via label map chexpert" in md and "labelled CSV via label map chexpert" in html,
          "the report does not name the source")
    check("NIH ChestX-ray14" not in re.search(r"^\| Data \|.*$", md, re.M).group(0), "the Data row says NIH")
    for name in CLASSES:
        row = re.search(r"^\| " + re.escape(name.replace("_", "\\_")) + r" \|(.*)$", md, re.M)
        check(row is not None, f"report.md has no per-class row for {name}")
        marked = "| not evaluable |" in row.group(0)
        check(marked == (name in NOT_EVALUABLE), f"report.md's row of {name}: {row.group(0)}")
    check("not evaluable (no source label): " + ", ".join(NOT_EVALUABLE).replace("_", "\\_") in md,
          "report.md's Data row does not list the classes not evaluable")
    check(html.count(">not evaluable<") == len(NOT_EVALUABLE), "index.html does not mark the not-evaluable classes")
    # The conclusions say why, and do not list them among the classes whose AUROC is merely undefined here.
    concl = json.load(open(os.path.join(RUN, "report", "data", "conclusions.json")))
    said = [t for t in concl["unsupported"] if "not evaluable, the pack's source has no label for them" in t]
    check(len(said) == 1 and all(n in said[0] for n in NOT_EVALUABLE), f"conclusions: {concl['unsupported']}")
    undefined = [t for t in concl["unsupported"] if t.startswith("Any AUROC for")]
    check(not any(n in u for u in undefined for n in NOT_EVALUABLE), f"listed as undefined: {undefined}")


def step(title, fn):
    """A failed step stops the test: the later ones need its output."""
    h.case(title, fn)
    if h.failures:
        h.finish()


step("a. pack a CheXpert-format CSV through configs/label_maps/chexpert.yaml; h5py reads the rule back", pack)
h.case("b. cxrtrain info names the label map and the classes not evaluable", info)
step("c. train a phantom model (-np 2), evaluate it on the CheXpert pack (-np 2)", train_and_evaluate)
h.case("c. metrics.json: not-evaluable classes null, the others equal sklearn on predictions.csv", metrics)
h.case("d. cxrtrain report names the source and marks the not-evaluable classes", report)
h.finish()

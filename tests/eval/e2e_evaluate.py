#!/usr/bin/python3
"""End-to-end `cxrtrain evaluate` (issue 11) on a phantom run trained here (ResNet-18, full width, a few
hundred steps at 32 px):
a. `evaluate --run` at -np 1, 2 and 3 writes byte-identical predictions.csv (and equal metrics.json up to
   timings and the rank count).
b. The run's torchvision export (the final model, as last.pt), loaded into Debian's torchvision ResNet-18 by
   a Python script that scores the test split itself (h5py, the same normalisation), scored with
   `evaluate --predictions`: every class's AUROC equals the run's (evaluated with last.pt) within 1e-6.
c. Bad predictions files end with exit 2, an error naming the file and line (or the missing image), and
   write nothing: an unknown image_index, a repeated one, a missing class column, NaN, a probability above
   1, and too few rows (accepted with --allow-partial, which metrics.json then states).
Usage: e2e_evaluate.py CXRTRAIN [MPIEXEC]
"""
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
from e2e_common import CheckFailed, Harness, check, read_bytes  # noqa: E402

h = Harness("evaluate")
h.make_pack(n=1500, size=32, seed=6)
RUN = os.path.join(h.tmp, "run")
SETS = ["model.depth=18", "model.width=1", "train.global_batch=32", "train.epochs=2", "log.interval=20", "seed=2"]
trained = h.train(2, "run", SETS)
check(os.path.exists(os.path.join(RUN, "checkpoints", "torchvision_resnet.pt")), "no torchvision export")
CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]


def evaluate(np_, extra=()):
    cmd = (h.mpi_prefix(np_) if np_ > 1 else []) + [h.exe, "evaluate", "--run", RUN, "--bootstrap", "200"] + list(extra)
    return h.run(cmd, timeout=300, log_name=f"evaluate{np_}")


def same_bytes_at_any_world_size():
    outputs = {}
    for np_ in (1, 2, 3):
        r = evaluate(np_)
        check(r.rc == 0, f"evaluate -np {np_} exited {r.rc}:\n{r.tail()}")
        check("macro" in r.output and "written:" in r.output, f"no table:\n{r.tail()}")
        pred = read_bytes(os.path.join(RUN, "eval", "test", "predictions.csv"))
        metrics = json.load(open(os.path.join(RUN, "eval", "test", "metrics.json")))
        metrics.pop("seconds")
        metrics["model"].pop("ranks")
        outputs[np_] = (pred, metrics)
    check(len(outputs[1][0]) > 1000, "predictions.csv is nearly empty")
    for np_ in (2, 3):
        check(outputs[np_][0] == outputs[1][0], f"predictions.csv at -np {np_} differs from -np 1")
        check(outputs[np_][1] == outputs[1][1], f"metrics.json at -np {np_} differs from -np 1")
    rows = outputs[1][0].decode().count("\n") - 1
    m = outputs[1][1]
    check(m["n_images"] == rows, f"n_images {m['n_images']} != {rows} rows")
    print(f"    predictions.csv ({rows} rows) byte-identical at -np 1, 2, 3; macro AUROC {m['macro']['auroc']:.4f} "
          f"over {m['macro']['classes_averaged']} classes")


TORCHVISION_SCORER = r'''
import csv, json, os, sys
import h5py, numpy as np, torch, torchvision
pack, weights, out = sys.argv[1:4]
state = torch.load(weights, weights_only=True)
model = torchvision.models.resnet18(num_classes=14)
model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
model.load_state_dict(state, strict=True)
model.eval()
manifest = json.load(open(os.path.join(pack, "manifest.json")))
classes = manifest["classes"]
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["image_index"] + classes)
    for shard in manifest["splits"]["test"]["shards"]:
        with h5py.File(os.path.join(pack, shard["file"]), "r") as s:
            x = torch.from_numpy(((s["images"][...].astype(np.float32) / 255.0 - 0.449) / 0.226)[:, None])
            with torch.no_grad():
                p = torch.sigmoid(model(x).double()).numpy()
            for name, row in zip(s["image_index"][...], p):
                w.writerow([name.decode()] + [repr(float(v)) for v in row])
'''


def torchvision_predictions_agree():
    r = evaluate(2, ["--checkpoint", "last"])  # the export is the final model, as last.pt
    check(r.rc == 0, f"evaluate exited {r.rc}")
    ours = json.load(open(os.path.join(RUN, "eval", "test", "metrics.json")))
    script = os.path.join(h.tmp, "score_torchvision.py")
    open(script, "w").write(TORCHVISION_SCORER)
    csv_path = os.path.join(h.tmp, "torchvision_test.csv")
    p = subprocess.run(["/usr/bin/python3", script, h.pack, os.path.join(RUN, "checkpoints", "torchvision_resnet.pt"),
                        csv_path], capture_output=True, text=True, timeout=600)
    if p.returncode != 0 and "No module named" in p.stderr:
        print(f"    skipped: {p.stderr.strip().splitlines()[-1]}")
        return
    check(p.returncode == 0, f"the torchvision scorer failed:\n{p.stderr[-2000:]}")
    out = os.path.join(h.tmp, "eval_torchvision")
    r = h.run([h.exe, "evaluate", "--predictions", csv_path, "--pack", h.pack, "--out", out, "--bootstrap", "200"])
    check(r.rc == 0, f"evaluate --predictions exited {r.rc}:\n{r.tail()}")
    theirs = json.load(open(os.path.join(out, "metrics.json")))
    worst, compared = 0.0, 0
    for c in CLASSES:
        a, b = ours["classes"][c]["auroc"], theirs["classes"][c]["auroc"]
        check((a is None) == (b is None), f"{c}: defined in one evaluation only")
        if a is not None:
            worst = max(worst, abs(a - b))
            compared += 1
    check(compared >= 10, f"only {compared} classes defined")
    check(worst <= 1e-6, f"torchvision's predictions give AUROCs up to {worst:.2e} away from cxrtrain's")
    print(f"    torchvision ResNet-18 from the export: {compared} class AUROCs within {worst:.1e} of cxrtrain's")


def bad_inputs_write_nothing():
    good = os.path.join(RUN, "eval", "test", "predictions.csv")
    lines = open(good).read().splitlines()
    header, rows = lines[0].split(","), lines[1:]
    keep = header.index("Atelectasis")

    def write(name, text):
        path = os.path.join(h.tmp, name)
        open(path, "w").write(text)
        return path

    def row_with(i, col, value):
        f = rows[i].split(",")
        f[col] = value
        return ",".join(f)

    cases = [
        ("unknown image", "\n".join([lines[0], row_with(3, 0, "99999999_000.png")] + rows[:3] + rows[4:]) + "\n",
         ["unknown_image.csv:2", "99999999_000.png", "not in split"]),
        ("repeated image", "\n".join([lines[0]] + rows + [rows[5]]) + "\n",
         [f"repeated_image.csv:{len(rows) + 2}", "appears twice"]),
        ("missing class column", "\n".join(",".join(f for j, f in enumerate(l.split(",")) if j != keep)
                                          for l in lines) + "\n",
         ["missing_class_column.csv:1", "no column for class 'Atelectasis'"]),
        ("NaN probability", "\n".join([lines[0], row_with(7, keep, "nan")] + rows[:7] + rows[8:]) + "\n",
         ["nan_probability.csv:2", "not a probability"]),
        ("probability above 1", "\n".join([lines[0]] + rows[:9] + [row_with(9, keep, "1.5")] + rows[10:]) + "\n",
         ["probability_above_1.csv:11", "1.5"]),
        ("too few rows", "\n".join(lines[:-5]) + "\n", ["too_few_rows.csv has", "5 are missing"]),
    ]
    for title, text, needles in cases:
        path = write(title.lower().replace(" ", "_") + ".csv", text)
        out = os.path.join(h.tmp, "bad_" + title.replace(" ", "_"))
        r = h.run([h.exe, "evaluate", "--predictions", path, "--pack", h.pack, "--out", out, "--bootstrap", "200"])
        check(r.rc == 2, f"{title}: exit {r.rc}, expected 2:\n{r.tail()}")
        for n in needles:
            check(n in r.output, f"{title}: {n!r} not in the error:\n{r.tail()}")
        check(not os.path.exists(out), f"{title}: something was written to {out}")
        print(f"    {title}: exit 2, " + next(l for l in r.output.splitlines() if "error" in l).split("] ")[-1][:110])
    partial = os.path.join(h.tmp, "partial")
    r = h.run([h.exe, "evaluate", "--predictions", os.path.join(h.tmp, "too_few_rows.csv"), "--pack", h.pack,
               "--out", partial, "--bootstrap", "200", "--allow-partial"])
    check(r.rc == 0, f"--allow-partial: exit {r.rc}:\n{r.tail()}")
    m = json.load(open(os.path.join(partial, "metrics.json")))
    check(m.get("partial", {}).get("images_scored") == len(rows) - 5, "metrics.json does not state the partial scoring")


h.case("11a. evaluate --run: the same predictions.csv bytes at -np 1, 2, 3", same_bytes_at_any_world_size)
h.case("11b. torchvision's predictions from the export give the same AUROCs (1e-6)", torchvision_predictions_agree)
h.case("11c. bad predictions files: exit 2 naming file and line, nothing written", bad_inputs_write_nothing)
h.finish()

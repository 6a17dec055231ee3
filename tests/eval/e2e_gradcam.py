#!/usr/bin/python3
"""End-to-end `cxrtrain gradcam` on a phantom run trained here (-np 2, ResNet-18 at width 0.25, 3 epochs on 128 px
films, layer4's map 4 x 4) whose pack plants a marker for Pneumothorax (top-left, P = 0.9 on train/val positives,
independent of the class on test):
a. Outputs: cam_stats.json (schema, 14 classes, region-share means summing to 1, every 95 % interval holding its
   estimate), cams.npy (a float32 numpy array [n, 14, h, w], h x w the feature map, >= 0, n = rows of
   cams_index.csv) and 14 overlay PNGs that decode.
b. Recomputed here from the evaluation's predictions.csv, metrics.json's operating points and the pack's labels
   (h5py) by the documented selection rule: every class's TP/FP/FN counts and the order of cams_index.csv; from
   cams.npy (upsampled by torch's bilinear interpolation) and the documented frame geometry: every class's
   corners and border shares and its number of maps with mass.
c. The causal test: the model trained with the marker raises Pneumothorax's probability when the marker is drawn
   (mean > 0.1, 95 % CI above 0); every other class moves by less than a third of that.
d. -np 2 writes the same cam_stats.json (but its timings) and the same cams.npy, cams_index.csv and overlays as -np 1.
e. Bad inputs end with exit 2, a message naming the problem, and leave the existing gradcam/ folder byte-identical:
   no evaluation, --layer layer9, --per-class 0, --sanity-images 0, --bootstrap 10, --overlay-columns 0, predictions.csv from another model, a pack whose manifest
   generator parameters were changed (the films cannot be re-rendered).
f. `cxrtrain report` shows the interpretability section (index.html and report.md) with cam_stats.json copied and the
   marker class's overlay embedded as a PNG data: URI of the overlay's bytes, which headless Chromium (when
   installed) renders with no console message.
Usage: e2e_gradcam.py CXRTRAIN [MPIEXEC]   (exit 77 = skipped: no numpy, h5py or torch for /usr/bin/python3)
"""
import base64
import csv
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
sys.path.insert(0, os.path.join(HERE, ".."))
try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # ctest SKIP_RETURN_CODE
    print(f"skipped: {e}")
    sys.exit(77)
from check_cli import png_problem  # noqa: E402
from e2e_common import CheckFailed, Harness, check, read_bytes  # noqa: E402

torch.set_num_threads(1)
CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
           "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]
K = len(CLASSES)
MARKED = "Pneumothorax"

h = Harness("gradcam")
h.pack = os.path.join(h.tmp, "pack")
synth = subprocess.run([h.exe, "synth", "--out", h.pack, "--n", "2000", "--size", "128", "--seed", "3", "--shortcut",
                        f"{MARKED}:0.9:top-left", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
check(synth.returncode == 0, f"synth failed:\n{synth.stdout[-2000:]}")
RUN = os.path.join(h.tmp, "run")
h.train(2, "run", ["model.depth=18", "model.width=0.25", "train.global_batch=32", "train.epochs=3", "seed=1"])
r = h.run(h.mpi_prefix(2) + [h.exe, "evaluate", "--run", RUN, "--bootstrap", "200"], timeout=300, log_name="evaluate")
check(r.rc == 0, f"evaluate exited {r.rc}:\n{r.tail()}")
GC = os.path.join(RUN, "gradcam")
PER_CLASS = 60
SMALL = ["--sanity-images", "8", "--deletion-images", "3", "--deletion-steps", "5", "--bootstrap", "200", "--no-progress"]
OUTPUTS = ["cam_stats.json", "cams.npy", "cams_index.csv"] + [f"overlays/{c}.png" for c in CLASSES]


def gradcam(np_=1, run=RUN, extra=(), per_class=PER_CLASS):
    small = list(SMALL)
    for flag in extra:  # an option given in `extra` replaces SMALL's (CLI11 refuses an option given twice)
        if flag.startswith("--") and flag in small:
            del small[small.index(flag):small.index(flag) + 2]
    cmd = (h.mpi_prefix(np_) if np_ > 1 else []) + [h.exe, "gradcam", "--run", run] + small
    if per_class is not None:
        cmd += ["--per-class", str(per_class)]
    return h.run(cmd + list(extra), timeout=300, log_name=f"gradcam{np_}")


def load_stats():
    return json.load(open(os.path.join(GC, "cam_stats.json")))


def folder_digest(path):
    """sha256 over every file under `path` (relative names and bytes) and the sorted list of names."""
    d, names = hashlib.sha256(), []
    for root, _, files in os.walk(path):
        for f in files:
            names.append(os.path.relpath(os.path.join(root, f), path))
    for n in sorted(names):
        d.update(n.encode() + b"\0" + read_bytes(os.path.join(path, n)) + b"\0")
    return d.hexdigest(), sorted(names)


# --- what the evaluation and the pack say, read independently of cxrtrain -------------------------------------
def test_split():
    """{image_index: labels (14 ints)} of the pack's test split, from its HDF5 shards."""
    manifest = json.load(open(os.path.join(h.pack, "manifest.json")))
    labels = {}
    for shard in manifest["splits"]["test"]["shards"]:
        with h5py.File(os.path.join(h.pack, shard["file"]), "r") as f:
            for name, row in zip(f["image_index"][...], f["labels"][...]):
                labels[name.decode()] = [int(v) for v in row]
    return labels


def predictions():
    """[(image_index, [14 probabilities])] in the file's order, parsed as the C++ reader does (decimal -> double)."""
    with open(os.path.join(RUN, "eval", "test", "predictions.csv"), newline="") as f:
        rows = list(csv.reader(f))
    col = [rows[0].index(c) for c in CLASSES]
    return [(r[0], [float(r[j]) for j in col]) for r in rows[1:]]


def thresholds():
    m = json.load(open(os.path.join(RUN, "eval", "test", "metrics.json")))
    out = []
    for c in CLASSES:
        t = m["classes"][c].get("threshold")
        out.append(float(t) if isinstance(t, (int, float)) else 0.5)
    return out


def expected_selection(budget):
    """Per class {"tp", "fp", "fn"} image lists by the rule in cam_stats.json's selection.rule: TPs and FPs highest
    score first, FNs lowest first; quotas half / a quarter / the rest of the budget, a short group's share going to
    the others in that order. Also whether any group holds tied scores (then its order is seeded, not checked)."""
    labels, preds, thr = test_split(), predictions(), thresholds()
    sel, ties = [], False
    for c in range(K):
        tp = [(p[c], name) for name, p in preds if labels[name][c] and p[c] >= thr[c]]
        fp = [(p[c], name) for name, p in preds if not labels[name][c] and p[c] >= thr[c]]
        fn = [(p[c], name) for name, p in preds if labels[name][c] and p[c] < thr[c]]
        groups = [sorted(tp, key=lambda v: -v[0]), sorted(fp, key=lambda v: -v[0]), sorted(fn, key=lambda v: v[0])]
        ties |= any(len({s for s, _ in g}) != len(g) for g in groups)
        quota = [budget // 2, budget // 4, 0]
        quota[2] = budget - quota[0] - quota[1]
        take = [min(q, len(g)) for q, g in zip(quota, groups)]
        spare = sum(quota) - sum(take)
        for g in range(3):
            more = min(spare, len(groups[g]) - take[g])
            take[g] += more
            spare -= more
        sel.append({k: [name for _, name in g[:n]] for k, g, n in zip(("tp", "fp", "fn"), groups, take)})
    return sel, ties, preds, thr


SELECTION, TIES, PREDS, THRESHOLDS = expected_selection(PER_CLASS)


# --- the checks --------------------------------------------------------------------------------------------------
def intervals_hold_estimates(node, where, found):
    """Every {"mean"|"hit_rate"|"rate", "ci95"} and {"delta_p_mean", "delta_p_ci95"} pair with numbers: lo <= x <= hi."""
    if isinstance(node, dict):
        for x, ci in (("mean", "ci95"), ("hit_rate", "ci95"), ("rate", "ci95"), ("delta_p_mean", "delta_p_ci95")):
            if isinstance(node.get(x), (int, float)) and node.get(ci) is not None:
                lo, hi = node[ci]
                check(lo - 1e-12 <= node[x] <= hi + 1e-12, f"{where}/{x} = {node[x]!r} outside its {ci} [{lo!r}, {hi!r}]")
                found.append(where)
        for k, v in node.items():
            intervals_hold_estimates(v, f"{where}/{k}", found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            intervals_hold_estimates(v, f"{where}/{i}", found)


SAVED_NP1 = {}


def outputs():
    r = gradcam(1)
    check(r.rc == 0, f"gradcam exited {r.rc}:\n{r.tail()}")
    check("written:" in r.output and "Pneumothorax" in r.output, f"no table:\n{r.tail()}")
    for f in OUTPUTS:
        check(os.path.isfile(os.path.join(GC, f)) and os.path.getsize(os.path.join(GC, f)) > 0, f"gradcam/{f} missing or empty")
    _, names = folder_digest(GC)
    check(sorted(names) == sorted(OUTPUTS), f"gradcam/ holds {sorted(set(names) ^ set(OUTPUTS))} beyond/instead of the promised files")
    SAVED_NP1.update({f: read_bytes(os.path.join(GC, f)) for f in OUTPUTS})
    s = load_stats()
    check(s["schema"] == "cxrtrain.cam_stats/1", f"schema {s['schema']!r}")
    check(list(s["classes"]) == CLASSES, f"classes {list(s['classes'])}")
    check(s["layer"] == "layer4" and s["split"] == "test" and s["source"] == "phantom", "layer/split/source")
    with_maps, worst = 0, 0.0
    for c, v in s["classes"].items():
        means = [x["mean"] for x in v["region_share"].values()]
        check(list(v["region_share"]) == s["regions"]["names"], f"{c}: region_share keys differ from regions.names")
        if all(m is None for m in means):
            check(v["n_maps_with_mass"] == 0, f"{c}: no region share but {v['n_maps_with_mass']} maps with mass")
            continue
        check(all(isinstance(m, float) and 0 <= m <= 1 for m in means), f"{c}: region share means {means}")
        worst = max(worst, abs(sum(means) - 1))
        check(abs(sum(means) - 1) <= 1e-9, f"{c}: region-share means sum to {sum(means)!r}, not 1")
        check(v["overlay"] == f"overlays/{c}.png", f"{c}: overlay {v['overlay']!r}")
        with_maps += 1
    check(with_maps >= 3, f"only {with_maps} classes have maps with mass")
    pairs = []
    intervals_hold_estimates(s, "", pairs)
    check(len(pairs) >= 14 * 2, f"only {len(pairs)} estimate/interval pairs found")
    cams = np.load(os.path.join(GC, "cams.npy"), allow_pickle=False)
    fh, fw = s["feature_map"]
    check(cams.dtype == np.float32, f"cams.npy is {cams.dtype}")
    check(cams.ndim == 4 and cams.shape[1:] == (K, fh, fw), f"cams.npy shape {cams.shape}, feature map {fh}x{fw}")
    check((fh, fw) == (4, 4), f"layer4 of a 128 px ResNet-18 should give 4x4 maps, not {fh}x{fw}")
    check(np.isfinite(cams).all() and (cams >= 0).all(), f"cams.npy has negative or non-finite values (min {cams.min()})")
    index = list(csv.reader(open(os.path.join(GC, "cams_index.csv"))))
    check(index[0] == ["slot", "image_index"], f"cams_index.csv header {index[0]}")
    check([int(r[0]) for r in index[1:]] == list(range(cams.shape[0])), "cams_index.csv slots are not 0 .. n-1")
    check(len({r[1] for r in index[1:]}) == cams.shape[0], "cams_index.csv repeats an image")
    check(s["n_images"] == cams.shape[0], f"n_images {s['n_images']} != {cams.shape[0]} maps")
    for c in CLASSES:
        problem = png_problem(os.path.join(GC, "overlays", f"{c}.png"))
        check(problem is None, f"overlays/{c}.png: {problem}")
    print(f"    {len(OUTPUTS)} files; cams.npy {cams.shape} float32 >= 0 (max {cams.max():.3f}); {with_maps} classes with "
          f"maps, share sums within {worst:.1e} of 1; {len(pairs)} intervals hold their estimates; 14 PNGs decode")


def frame_masks(size):
    """The documented frame regions (eval/cam_stats.h): corners = squares of side 0.15 s, border = the rest of the
    outer band of width 0.10 s, a pixel counted by where its centre lies."""
    d = np.minimum(np.arange(size), size - 1 - np.arange(size)) + 0.5  # centre's distance to the nearest edge
    near15, near10 = d < 0.15 * size, d < 0.10 * size
    corners = near15[:, None] & near15[None, :]
    border = (near10[:, None] | near10[None, :]) & ~corners
    return corners, border


def recomputed():
    s = load_stats()
    index = [r[1] for r in list(csv.reader(open(os.path.join(GC, "cams_index.csv"))))[1:]]
    # Counts per class and the order in which the chosen images get their slots.
    for c, name in enumerate(CLASSES):
        got = s["classes"][name]
        want = {k: len(SELECTION[c][k]) for k in ("tp", "fp", "fn")}
        check((got["n_tp"], got["n_fp"], got["n_fn"]) == (want["tp"], want["fp"], want["fn"]),
              f"{name}: TP/FP/FN {got['n_tp']}/{got['n_fp']}/{got['n_fn']}, recomputed {want['tp']}/{want['fp']}/{want['fn']}")
        check(got["n_images"] == sum(want.values()), f"{name}: n_images {got['n_images']}")
        check(abs(got["threshold"] - THRESHOLDS[c]) <= 1e-12, f"{name}: threshold {got['threshold']} vs metrics.json {THRESHOLDS[c]}")
    union = []
    for sel in SELECTION:
        for img in sel["tp"] + sel["fp"] + sel["fn"]:
            if img not in union:
                union.append(img)
    if TIES:
        check(sorted(index) == sorted(union), "cams_index.csv does not hold the recomputed images")
        order = "as a set (tied scores)"
    else:
        check(index == union, "cams_index.csv is not the recomputed selection in class order")
        order = "in order"
    # Corners and border shares from the raw maps: the images the model calls positive (p >= threshold) among the
    # chosen, whose map has mass.
    cams = torch.from_numpy(np.load(os.path.join(GC, "cams.npy")).astype(np.float64))
    size = s["image_size"]
    corners, border = frame_masks(size)
    slot = {img: i for i, img in enumerate(index)}
    prob = dict(PREDS)
    compared, worst = 0, 0.0
    for c, name in enumerate(CLASSES):
        called = [img for img in SELECTION[c]["tp"] + SELECTION[c]["fp"] + SELECTION[c]["fn"]
                  if prob[img][c] >= THRESHOLDS[c]]
        shares = []
        for img in called:
            up = F.interpolate(cams[slot[img], c][None, None], size=(size, size), mode="bilinear",
                               align_corners=False)[0, 0].numpy()
            if up.sum() > 0:
                shares.append((up[corners].sum() / up.sum(), up[border].sum() / up.sum()))
        got = s["classes"][name]
        check(got["n_maps_with_mass"] == len(shares), f"{name}: {got['n_maps_with_mass']} maps with mass, recomputed {len(shares)}")
        if not shares:
            check(got["region_share"]["corners"]["mean"] is None, f"{name}: a corners share without maps")
            continue
        for k, region in enumerate(("corners", "border")):
            mean = float(np.mean([v[k] for v in shares]))
            diff = abs(got["region_share"][region]["mean"] - mean)
            worst = max(worst, diff)
            check(diff <= 1e-6, f"{name}: {region} share {got['region_share'][region]['mean']:.9f}, recomputed {mean:.9f}")
        compared += 1
    check(compared >= 3, f"only {compared} classes had maps to recompute")
    pt = s["classes"][MARKED]
    print(f"    TP/FP/FN of 14 classes and cams_index.csv ({len(index)} images) {order} as recomputed from predictions.csv, "
          f"metrics.json thresholds and the pack's labels (e.g. {MARKED} {pt['n_tp']}/{pt['n_fp']}/{pt['n_fn']}); corners "
          f"and border shares of {compared} classes within {worst:.1e} of torch's bilinear upsampling")


def causal():
    s = load_stats()
    cf = s["counterfactual"]
    check(cf is not None, "no causal test on a pack with a planted marker")
    check(cf["shortcuts"] == [{"class": MARKED, "place": "top-left", "bit": 0}], f"shortcuts {cf['shortcuts']}")
    n_test = json.load(open(os.path.join(h.pack, "manifest.json")))["splits"]["test"]["count"]
    check(cf["n_images"] == n_test, f"causal test on {cf['n_images']} films, the split has {n_test}")
    pt = s["classes"][MARKED]["counterfactual"]
    dp, (lo, hi) = pt["delta_p_mean"], pt["delta_p_ci95"]
    check(pt["n"] == n_test, f"{MARKED}: n {pt['n']}")
    check(dp > 0.1, f"{MARKED}: the marker changes its probability by only {dp:.3f}")
    check(lo > 0, f"{MARKED}: 95 % CI [{lo:.3f}, {hi:.3f}] includes 0")
    others = {c: abs(v["counterfactual"]["delta_p_mean"]) for c, v in s["classes"].items() if c != MARKED}
    worst = max(others, key=others.get)
    check(others[worst] < dp / 3, f"{worst} moves by {others[worst]:.3f}, more than a third of {MARKED}'s {dp:.3f}")
    print(f"    {MARKED} dp = {dp:.3f} [{lo:.3f}, {hi:.3f}] over {pt['n']} films (AUROC {pt['auroc_without_marker']:.3f} "
          f"without the marker, {pt['auroc_with_marker']:.3f} with it on every film); others max |dp| "
          f"{others[worst]:.3f} ({worst})")


def lesion_and_tags():
    """The lesion-removal and natural-marker tests: present for every class, and some class visibly uses its lesion."""
    s = load_stats()
    check(s["counterfactual_natural_markers"] is not None, "no natural-marker test on a phantom pack")
    used = []
    for n, c in s["classes"].items():
        les, nat = c.get("counterfactual_lesion_removed"), c.get("counterfactual_natural_markers")
        oth = c.get("counterfactual_other_lesions_removed")
        check(les is not None and nat is not None and oth is not None,
              f"{n}: lesion-removal, other-lesions or natural-marker test missing")
        if oth["n"] > 0:
            check(oth["delta_p_ci95"][0] <= oth["delta_p_mean"] <= oth["delta_p_ci95"][1], f"{n}: other-lesions CI")
        if les["n"] > 0:
            lo, hi = les["delta_p_ci95"]
            check(lo <= les["delta_p_mean"] <= hi, f"{n}: lesion-removal CI {les['delta_p_ci95']} misses its mean")
            if lo > 0.02:
                used.append(f"{n} {les['delta_p_mean']:.2f}")
    check(used, "no class's probability drops when its lesion is removed: the test cannot see anything")
    print(f"    lesion removed lowers: {', '.join(used)}; natural markers on {s['counterfactual_natural_markers']['n_images']} AP films")


def world_size():
    check(SAVED_NP1, "no -np 1 outputs to compare (check a failed)")
    r = gradcam(2)
    check(r.rc == 0, f"gradcam -np 2 exited {r.rc}:\n{r.tail()}")
    a, b = json.loads(SAVED_NP1["cam_stats.json"]), load_stats()
    a.pop("seconds")
    b.pop("seconds")
    check(a == b, "cam_stats.json at -np 2 differs from -np 1 beyond 'seconds': " +
          str([k for k in a if a.get(k) != b.get(k)] + [k for k in b if k not in a]))
    for f in OUTPUTS[1:]:
        check(read_bytes(os.path.join(GC, f)) == SAVED_NP1[f], f"{f} at -np 2 differs from -np 1")
    print(f"    -np 2: cam_stats.json equal but 'seconds'; cams.npy ({len(SAVED_NP1['cams.npy'])} bytes), cams_index.csv "
          f"and 14 overlays byte-identical")


def bad_inputs():
    copies = {}

    def run_copy(name, without=None):
        path = os.path.join(h.tmp, name)
        shutil.copytree(RUN, path, symlinks=True)
        if without:
            shutil.rmtree(os.path.join(path, without))
        copies[name] = path
        return path

    no_eval = run_copy("run_no_eval", without="eval")
    other = run_copy("run_other_model")
    # One probability of another model: +0.2 on an image chosen as some class's top true positive, in a class other
    # than that one (so the image stays chosen whatever this class's selection becomes).
    a = next(c for c in range(K) if SELECTION[c]["tp"])
    img = SELECTION[a]["tp"][0]
    p = dict(PREDS)[img]
    b = min((c for c in range(K) if c != a), key=lambda c: p[c])
    pred_path = os.path.join(other, "eval", "test", "predictions.csv")
    with open(pred_path, newline="") as f:
        rows = list(csv.reader(f))
    col = rows[0].index(CLASSES[b])
    row = next(r for r in rows[1:] if r[0] == img)
    row[col] = repr(float(row[col]) + 0.2)
    with open(pred_path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    # A pack whose generator parameters are not this build's: the same shards, a changed manifest.
    pack2 = os.path.join(h.tmp, "pack_other_generator")
    os.makedirs(pack2)
    for f in os.listdir(h.pack):
        if f != "manifest.json":
            os.symlink(os.path.join(h.pack, f), os.path.join(pack2, f))
    manifest = json.load(open(os.path.join(h.pack, "manifest.json")))
    manifest["generator"]["attenuation"]["lung_air"] += 0.01
    json.dump(manifest, open(os.path.join(pack2, "manifest.json"), "w"), indent=2)

    cases = [
        ("no evaluation", no_eval, [], PER_CLASS, ["eval/test has no finished evaluation", "cxrtrain evaluate"]),
        ("--layer layer9", RUN, ["--layer", "layer9"], PER_CLASS, ["--layer 'layer9' is not a stage"]),
        ("--per-class 0", RUN, [], 0, ["--per-class must be >= 1"]),
        ("--sanity-images 0", RUN, ["--sanity-images", "0"], PER_CLASS, ["--sanity-images must be >= 1"]),
        ("--bootstrap 10", RUN, ["--bootstrap", "10"], PER_CLASS, ["--bootstrap must be >= 100"]),
        ("--overlay-columns 0", RUN, ["--overlay-columns", "0"], PER_CLASS, ["--overlay-columns must be >= 1"]),
        ("predictions of another model", other, [], PER_CLASS,
         ["probabilities differ from " + pred_path, "another checkpoint"]),
        ("pack with other generator parameters", RUN, ["--set", f"data.pack={pack2}"], PER_CLASS,
         ["cannot re-render this pack's films", "generator parameters differ"]),
    ]
    for title, run, extra, per_class, needles in cases:
        gc = os.path.join(run, "gradcam")
        before = folder_digest(gc)
        check(len(before[1]) == len(OUTPUTS), f"{title}: {gc} is not a finished gradcam folder before the run")
        r = gradcam(1, run, extra, per_class)
        check(r.rc == 2, f"{title}: exit {r.rc}, expected 2:\n{r.tail()}")
        for n in needles:
            check(n in r.output, f"{title}: {n!r} not in the error:\n{r.tail()}")
        check(folder_digest(gc) == before, f"{title}: {gc} changed")
        check(not glob.glob(os.path.join(run, ".gradcam.tmp*")), f"{title}: a staging folder was left in {run}")
        err = next((l for l in r.output.splitlines() if "[error]" in l), "").split("[error] ")[-1]
        print(f"    {title}: exit 2, gradcam/ unchanged: {err[:100]}")


def report():
    r = h.run([h.exe, "report", "--run", RUN], timeout=120, log_name="report")
    check(r.rc == 0, f"report exited {r.rc}:\n{r.tail()}")
    rep = os.path.join(RUN, "report")
    page = open(os.path.join(rep, "index.html")).read()
    md = open(os.path.join(rep, "report.md")).read()
    check('<h2 id="interpretability">' in page, "index.html has no interpretability section")
    check('id="gradcam-table"' in page and 'id="gradcam-not-run"' not in page, "index.html: no Grad-CAM table")
    check("## Interpretability (Grad-CAM)" in md, "report.md has no interpretability heading")
    check(read_bytes(os.path.join(rep, "data", "cam_stats.json")) == read_bytes(os.path.join(GC, "cam_stats.json")),
          "report/data/cam_stats.json is not gradcam/cam_stats.json")
    check(read_bytes(os.path.join(rep, "gradcam", f"{MARKED}.png")) == read_bytes(os.path.join(GC, "overlays", f"{MARKED}.png")),
          f"the marker class's overlay is not in the report")
    check(f"{MARKED}: adding the marker raises its probability by" in md, "report.md does not state the marker's effect")
    # The marker class's overlay is embedded in the page as a data: URI holding the PNG's bytes.
    m = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="Grad-CAM overlay, ' + MARKED + '"', page)
    check(m is not None, f"index.html embeds no overlay of {MARKED}")
    check(base64.b64decode(m.group(1)) == read_bytes(os.path.join(GC, "overlays", f"{MARKED}.png")),
          f"the embedded overlay of {MARKED} is not overlays/{MARKED}.png")
    # The page's CSP (img-src data:) must let the embedded overlay load: headless Chromium logs no console message.
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    rendered = "not rendered (no chromium)"
    if browser:
        p = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-extensions", "--enable-logging=stderr", "--v=0",
                            f"--user-data-dir={os.path.join(h.tmp, 'chromium-profile')}", "--dump-dom",
                            "file://" + os.path.join(rep, "index.html")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
        check(p.returncode == 0, f"chromium exited {p.returncode}: {p.stderr[-1500:]}")
        check(not console, "console messages:\n" + "\n".join(console))
        check(f'alt="Grad-CAM overlay, {MARKED}"' in p.stdout, "the overlay is not in Chromium's DOM")
        rendered = "Chromium renders it with no console message"
    print(f"    report: interpretability section in index.html ({len(page) // 1024} KiB) and report.md; "
          f"cam_stats.json and {MARKED}'s overlay copied and embedded as a data: URI; {rendered}")


def real_films():
    """The phantom-trained model on the real NIH PNGs of ../shared/data: template regions, NIH boxes."""
    shared = os.environ.get("CXR_SHARED_DATA", "")
    check(os.path.isdir(os.path.join(shared, "images")), f"no NIH images in CXR_SHARED_DATA={shared!r}")
    pack = os.path.join(h.tmp, "nih_pack")
    r = h.run([h.exe, "pack", "--nih-root", os.path.join(shared, "nih_metadata"), "--images",
               os.path.join(shared, "images"), "--allow-missing", "--out", pack, "--no-progress"], timeout=300,
              log_name="pack_nih")
    check(r.rc == 0, f"pack exited {r.rc}:\n{r.tail()}")
    run = os.path.join(h.tmp, "run_nih")
    os.makedirs(run)
    shutil.copy(os.path.join(RUN, "config.yaml"), run)
    shutil.copytree(os.path.join(RUN, "checkpoints"), os.path.join(run, "checkpoints"))
    r = h.run([h.exe, "evaluate", "--run", run, "--set", f"data.pack={pack}", "--bootstrap", "200"], timeout=300,
              log_name="evaluate_nih")
    check(r.rc == 0, f"evaluate on the NIH pack exited {r.rc}:\n{r.tail()}")
    r = h.run([h.exe, "gradcam", "--run", run, "--set", f"data.pack={pack}"] + SMALL, timeout=300, log_name="gradcam_nih")
    check(r.rc == 0, f"gradcam on the NIH pack exited {r.rc}:\n{r.tail()}")
    s = json.load(open(os.path.join(run, "gradcam", "cam_stats.json")))
    check(s["source"] == "nih-cxr14" and s["regions"]["kind"] == "template", f"regions {s['regions']['kind']}")
    check("template" in s["regions"]["limitation"] and "cannot" in s["regions"]["limitation"],
          "the template's limitation is not stated")
    check(s["counterfactual"] is None and s["counterfactual_natural_markers"] is None, "a causal test on real films")
    boxed = {n: c["localisation"]["n"] for n, c in s["classes"].items() if c["localisation"]["truth"] == "NIH box"}
    check(boxed and all(v >= 1 for v in boxed.values()), "no class was localised against an NIH box")
    for n, c in s["classes"].items():
        tm = c["region_share"]["text_markers"]["mean"]
        check(tm in (None, 0.0), f"{n}: text_markers share {tm} on a template that has no text region")
    r = h.run([h.exe, "report", "--run", run], timeout=120, log_name="report_nih")
    check(r.rc == 0, f"report exited {r.rc}:\n{r.tail()}")
    md = open(os.path.join(run, "report", "report.md")).read()
    check(s["regions"]["limitation"][:60] in md, "report.md does not state the template's limitation")
    print(f"    {s['n_images']} real films, template regions; localised against NIH boxes: {boxed}; "
          "the report states the limitation")


h.case("a. gradcam writes cam_stats.json, cams.npy, cams_index.csv and 14 overlays, consistent", outputs)
h.case("b. selection counts, slot order and corner/border shares recomputed independently", recomputed)
h.case("c. causal test: the planted marker moves Pneumothorax, not the others", causal)
h.case("c2. lesion removal and AP tags: the other causal tests", lesion_and_tags)
h.case("d. -np 2 gives the same statistics and bytes as -np 1", world_size)
h.case("e. bad inputs: exit 2 naming the problem, gradcam/ untouched", bad_inputs)
h.case("f. report shows the interpretability section", report)
h.case("g. real NIH films: template regions, NIH boxes, the limitation stated", real_films)
h.finish()

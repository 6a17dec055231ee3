#!/usr/bin/python3
"""The shortcut control, end to end at the demo's size (issue 12's and 14's phantom acceptance, pinned):
`cxrtrain study --config configs/phantom_shortcut_control.yaml` under mpirun -np 2 (synth 6,000 films of 256 px with
findings drawn independently and a Nodule marker at the bottom left on 90 % of train/val positives -> train the
demo's ResNet-18 x0.25 for 6 epochs -> evaluate -> gradcam), then `probe-shift` with contrast +-5 % and the marker
probes. In this phantom the marker is the only shortcut the data offer, so:
a. Grad-CAM's shortcut rule flags Nodule and no other class.
b. The causal test: drawing the marker raises Nodule's probability (by >= 0.5, interval above 0); no other class
   moves by 0.05 or more.
c. Classes with large lesions (lesion_area_fraction >= 0.2, >= 10 films) reach a pointing-game hit rate >= 0.8.
d. The cascading-randomisation check passes for every class with maps.
e. probe-shift: contrast 1.05 and 0.95 change no class significantly (q >= 0.05, either direction); the marker made
   label-independent or removed on val drops Nodule significantly and changes no other class significantly.
Usage: e2e_shortcut_control.py CXRTRAIN [MPIEXEC]
       e2e_shortcut_control.py --check-run RUN [ROBUSTNESS_JSON]   (only the checks, on a run made elsewhere, e.g.
       the phantom study's out/demo/study/run, where Grad-CAM also flags Infiltration: exit 1)
"""
import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
from e2e_common import CheckFailed, Harness, check  # noqa: E402

MARKED = "Nodule"
CONFIG = os.path.join(ROOT, "configs", "phantom_shortcut_control.yaml")


def check_gradcam(run):
    cam = json.load(open(os.path.join(run, "gradcam", "cam_stats.json")))
    classes = cam["classes"]
    flagged = sorted(c for c, v in classes.items() if v["shortcut_flag"])
    table = "\n".join(f"  {c:19s} off-target {v['off_target_share']['mean']} ci {v['off_target_share']['ci95']} "
                      f"reference+margin {None if v.get('shortcut_reference') is None else v['shortcut_reference'] + v['shortcut_margin']}"
                      for c, v in classes.items())
    print(f"flagged: {flagged}\n{table}")
    check(flagged == [MARKED], f"a. flagged {flagged}, want [{MARKED}] alone")
    for c, v in classes.items():
        cf = v["counterfactual"]
        if c == MARKED:
            check(cf["delta_p_mean"] >= 0.5 and cf["delta_p_ci95"][0] > 0,
                  f"b. the marker moves {c} by {cf['delta_p_mean']} {cf['delta_p_ci95']}, want >= 0.5 and above 0")
        else:
            check(abs(cf["delta_p_mean"]) < 0.05, f"b. the marker moves {c} by {cf['delta_p_mean']}, want |.| < 0.05")
    large = []
    for c, v in classes.items():
        loc, pg = v.get("localisation") or {}, v.get("pointing_game") or {}
        if (loc.get("lesion_area_fraction") or 0) >= 0.2 and (pg.get("n") or 0) >= 10:
            large.append(c)
            check(pg["hit_rate"] >= 0.8, f"c. {c} (lesion area {loc['lesion_area_fraction']:.2f}): pointing game "
                                         f"{pg['hit_rate']} over {pg['n']}, want >= 0.8")
    print(f"large-lesion classes: {large}")
    check(len(large) >= 2, f"c. only {large} have large lesions and >= 10 films: the check would be empty")
    with_maps = [c for c, v in classes.items() if v["off_target_share"]["mean"] is not None]
    for c in with_maps:
        check(classes[c]["sanity"]["verdict"] == "PASS", f"d. {c}: randomisation check {classes[c]['sanity']['verdict']}")
    check(len(with_maps) >= 8, f"d. only {len(with_maps)} classes have maps")


def check_robustness(path):
    rob = json.load(open(path))
    conds = {(c["name"], round(c["parameter"], 6) if c["family"] == "shift" else c["family"]): c for c in rob["conditions"]}
    for p in (1.05, 0.95):
        c = conds.get(("contrast", p))
        check(c is not None, f"e. no contrast {p} condition in {path}")
        sig = [(x["class"], x["difference"], x["q_value"]) for x in c["per_class"] if x["significant"]]
        check(not sig, f"e. contrast {p} changes {sig} significantly")
    markers = [c for c in rob["conditions"] if c["family"] == "shortcut"]
    check(len(markers) == 2, f"e. {len(markers)} marker conditions, want independent and removed")
    for c in markers:
        sig = {x["class"]: x["difference"] for x in c["per_class"] if x["significant"]}
        check(list(sig) == [MARKED] and sig[MARKED] < 0, f"e. {c['name']}: significant {sig}, want a drop of {MARKED} alone")
        print(f"{c['name']}: {MARKED} {sig[MARKED]:+.3f}")


if len(sys.argv) >= 3 and sys.argv[1] == "--check-run":
    failed = []
    for what, fn, arg in (("gradcam", check_gradcam, sys.argv[2]),
                          ("robustness", check_robustness,
                           sys.argv[3] if len(sys.argv) > 3 else os.path.join(sys.argv[2], "robustness", "robustness.json"))):
        try:
            fn(arg)
        except CheckFailed as e:
            print(f"FAILED ({what}): {e}")
            failed.append(what)
    sys.exit(1 if failed else 0)

h = Harness("shortcut_control")
PACK, RUN = os.path.join(h.tmp, "phantom256"), os.path.join(h.tmp, "run")


def case_study():
    r = h.run(h.mpi_prefix(2) + [h.exe, "study", "--config", CONFIG, "--set", f"data.pack={PACK}", "--set",
                                 f"run_dir={RUN}", "--set", "study.stages=synth,train,evaluate,gradcam", "--no-progress"],
              timeout=1500, log_name="study")
    check(r.rc == 0, f"study exited {r.rc}:\n{r.tail()}")
    manifest = json.load(open(os.path.join(PACK, "manifest.json")))
    check(manifest["options"]["findings"] == "independent", "the pack was not made with findings=independent")
    print("\n".join(line for line in r.output.splitlines() if line.startswith("seed 0:")))
    r = h.run([h.exe, "report", "--run", RUN], timeout=300, log_name="report")
    check(r.rc == 0, f"report exited {r.rc}:\n{r.tail()}")
    md = open(os.path.join(RUN, "report", "report.md")).read()
    check("findings drawn independently: no co-occurrence, AP films no sicker" in md,
          "the report's method card does not say the findings were drawn independently")


def case_gradcam():
    check_gradcam(RUN)


def case_robustness():
    out = os.path.join(h.tmp, "probe")
    r = h.run(h.mpi_prefix(2) + [h.exe, "probe-shift", "--run", RUN, "--shifts", "none", "--scanner", "none",
                                 "--attacks", "none", "--extra", "contrast=1.05", "--extra", "contrast=0.95",
                                 "--out", out], timeout=600, log_name="probe")
    check(r.rc == 0, f"probe-shift exited {r.rc}:\n{r.tail()}")
    check_robustness(os.path.join(out, "robustness.json"))


h.case("the control study: synth (findings independent) -> train -> evaluate -> gradcam", case_study)
h.case("a-d. Grad-CAM flags the planted class alone; causal test, pointing game, randomisation check", case_gradcam)
h.case("e. probe-shift: contrast +-5 % changes no class; the marker probes drop its class alone", case_robustness)
h.finish()

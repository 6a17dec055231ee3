#!/usr/bin/python3
"""Speed of the robustness probes (issue 14's goal: every image shift at 3 severities on the phantom test split in
under 5 minutes on 2 cores, for the demo model). Runs, side by side on one trained run:
  1. `probe-shift` with every image shift at severities 1, 2, 3 (36 conditions + the baseline), nothing else;
  2. `probe-shift` with one identity condition (contrast 1.0) only: the cost of scoring the split unshifted.
and prints both rates, the shifts' wall time against the 300 s goal, and the cost of a shifted scoring relative to
an unshifted one (what the shifts themselves add).
Usage: probe_shift_speed.py [--run out/demo/study/run] [--exe build/launch/cxrtrain] [--np 2]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--run", default="out/demo/study/run", help="a trained run (README command 1 makes this one)")
ap.add_argument("--exe", default="build/launch/cxrtrain")
ap.add_argument("--np", type=int, default=2)
ap.add_argument("--goal", type=float, default=300.0, help="seconds allowed for all shifts x 3 severities")
a = ap.parse_args()
if not os.path.exists(os.path.join(a.run, "checkpoints")):
    sys.exit(f"{a.run} has no checkpoints/: run README command (1) first, or pass --run")
mpi = [shutil.which("mpirun") or "mpirun"] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) + \
      ["--oversubscribe", "-np", str(a.np), "-x", "OMP_NUM_THREADS"]
env = dict(os.environ, OMP_NUM_THREADS="1")
tmp = tempfile.mkdtemp(prefix="cxr_probe_speed_")


def probe(name, args):
    out = os.path.join(tmp, name)
    t0 = time.monotonic()
    p = subprocess.run(mpi + [a.exe, "probe-shift", "--run", a.run, "--out", out, "--scanner", "none", "--no-shortcuts",
                              "--attacks", "none"] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=env)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{name}: probe-shift exited {p.returncode}:\n{p.stdout[-3000:]}")
    r = json.load(open(os.path.join(out, "robustness.json")))
    images = r["splits"]["test"]["images"] * (len(r["conditions"]) + 1)
    return {"wall": wall, "seconds": r["seconds"]["total"], "conditions": len(r["conditions"]), "images": images,
            "rate": r["images_per_second"], "split_images": r["splits"]["test"]["images"]}


base = probe("identity", ["--shifts", "none", "--extra", "contrast=1.0"])
full = probe("shifts", ["--shifts", "all", "--severities", "1,2,3"])
shutil.rmtree(tmp, ignore_errors=True)
per_base = base["seconds"] / (base["conditions"] + 1)
per_full = full["seconds"] / (full["conditions"] + 1)
print(f"split: {full['split_images']} test images; {a.np} ranks x 1 thread")
print(f"unshifted scoring : {base['conditions'] + 1} scorings in {base['seconds']:.1f} s, {base['rate']:.0f} img/s")
print(f"all shifts x 3    : {full['conditions'] + 1} scorings in {full['seconds']:.1f} s, {full['rate']:.0f} img/s "
      f"(wall {full['wall']:.1f} s with start-up)")
print(f"shifted / unshifted time per scoring: {per_full / per_base:.2f}x")
print(f"goal: all shifts x 3 severities < {a.goal:.0f} s: {full['wall']:.1f} s = {full['wall'] / a.goal:.2f} of the budget "
      f"-> {'MET' if full['wall'] < a.goal else 'NOT MET'}")

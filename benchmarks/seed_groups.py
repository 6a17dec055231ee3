#!/usr/bin/python3
"""Multi-seed speed (issue 13): K seeds as K groups of 1 rank against the same K seeds run one after another
on all ranks (`--groups 1`), side by side in one run, on the same pack, the same steps and the same evaluation.
Both do the same total work (K x steps x global batch images, K evaluations); the groups exchange no gradients.
Prints each wall time and the ratio groups / sequential (below 1: the groups are faster).
Usage: seed_groups.py CXRTRAIN [--np 2] [--seeds 2] [--steps 60] [--size 128] [--work DIR]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("cxrtrain")
ap.add_argument("--np", type=int, default=2)
ap.add_argument("--seeds", type=int, default=2)
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--size", type=int, default=128)
ap.add_argument("--work", default="/tmp/cxr_seed_groups")
a = ap.parse_args()
exe = os.path.abspath(a.cxrtrain)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
config = os.path.join(root, "configs", "phantom_seeds.yaml")
os.makedirs(a.work, exist_ok=True)
pack = os.path.join(a.work, f"phantom{a.size}")
env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
if not os.path.exists(os.path.join(pack, "manifest.json")):
    subprocess.run([exe, "synth", "--out", pack, "--n", "3000", "--size", str(a.size), "--seed", "0", "--overwrite",
                    "--no-progress"], check=True, env=env, stdout=subprocess.DEVNULL)


def run(groups):
    run_dir = os.path.join(a.work, f"groups{groups}")
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = ["mpirun", "--oversubscribe", "-np", str(a.np), exe, "study", "--config", config, "--no-progress",
           "--seeds", str(a.seeds), "--groups", str(groups), "--set", f"data.pack={pack}", "--set", f"run_dir={run_dir}",
           "--set", "study.stages=train,evaluate", "--set", f"train.max_steps={a.steps}", "--set", "train.epochs=1000", "--set", "data.verify=none"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"groups={groups} failed ({p.returncode}):\n{p.stdout[-3000:]}")
    return seconds


groups = min(a.seeds, a.np)
t_groups = run(groups)
t_seq = run(1)
print(f"{a.seeds} seeds x {a.steps} steps (global batch 64, {a.size} px) + evaluation each, mpirun -np {a.np}:")
print(f"  {groups} groups of {a.np // groups} rank(s), seeds in parallel: {t_groups:7.1f} s")
print(f"  1 group of {a.np} ranks, seeds one after another:   {t_seq:7.1f} s")
r = t_groups / t_seq
verdict = "groups faster" if r < 0.99 else "the same within 1 %" if r <= 1.01 else "groups SLOWER"
print(f"  ratio groups / sequential: {r:.3f} ({verdict})")

#!/usr/bin/python3
"""End-to-end test of slurm/*.sbatch on a real one-node Slurm on localhost (scripts/slurm_local.sh).

Starts munged, slurmctld and slurmd in a temporary state folder, submits each script with a CI-sized
config on 2 tasks, waits for the job, checks its outputs, and stops exactly the daemons it started.
Cases (each reported on its own line, PASS or FAIL with the reason):
  train    train.sbatch: checkpoints/last.pt, metrics.jsonl, train.log says 2 ranks
  train_mpirun  the same with CXR_LAUNCHER=mpirun (the fallback where srun has no PMIx)
  requeue  train.sbatch, `scontrol requeue` once the first checkpoint exists: the job runs again and
           train.log says it resumed from last.pt
  requeue_usr1  the same, but USR1 to the batch shell (what --signal=B:USR1@120 sends): the trap requeues
  study    study.sbatch: report/index.html exists and is the path printed after `report:`
  seeds    seeds.sbatch with SEEDS=2: seeds/summary.json names 2 seeds, seeds/seed_<s>/ for each
  scaling  scaling.sbatch on 2 tasks: scaling.json/.md/.svg with 1 and 2 ranks
A subcommand the binary lacks (`cxrtrain study --help` fails) is a FAIL, and so is a Slurm that cannot
start (needs root, slurm-wlm and munge: scripts/install_deps.sh). Exit status: 0 only if every case passed.

  tests/slurm/e2e_slurm.py --cxrtrain build/launch/cxrtrain --work /tmp/slurm_e2e [--cases train,requeue]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
            "DEADLINE", "PREEMPTED"}


class CaseFailed(Exception):
    pass


def log(msg):
    print(f"[e2e_slurm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise CaseFailed(msg)


def run(cmd, env=None, timeout=120, check_rc=True):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    if check_rc and p.returncode != 0:
        raise CaseFailed(f"`{' '.join(map(str, cmd))}` exited {p.returncode}:\n{p.stdout[-3000:]}")
    return p


class Cluster:
    """The local Slurm: start/stop through scripts/slurm_local.sh, jobs through sbatch/scontrol."""

    def __init__(self, state):
        self.state = state
        self.env = dict(os.environ, SLURM_CONF=str(state / "slurm.conf"))

    def start(self):
        p = run(["bash", str(REPO / "scripts/slurm_local.sh"), "start", str(self.state)], env=self.env,
                timeout=180, check_rc=False)
        print(p.stdout, end="", flush=True)
        if p.returncode != 0:
            raise CaseFailed(f"the local Slurm did not start (scripts/slurm_local.sh start exited "
                             f"{p.returncode}); its output is above, logs in {self.state}")

    def stop(self):
        p = run(["bash", str(REPO / "scripts/slurm_local.sh"), "stop", str(self.state)], env=self.env,
                timeout=120, check_rc=False)
        print(p.stdout, end="", flush=True)

    def job(self, jobid):
        """scontrol show job as a dict (one line with -o)."""
        p = run(["scontrol", "-o", "show", "job", str(jobid)], env=self.env, check_rc=False)
        if p.returncode != 0:
            return {}
        return dict(re.findall(r"(\w+)=(\S*)", p.stdout))

    def submit(self, script, cwd, env_extra, ntasks=2, args=()):
        env = dict(self.env, **env_extra)
        p = run(["sbatch", "--parsable", "-n", str(ntasks), "--chdir", str(cwd),
                 str(REPO / "slurm" / script), *args], env=env)
        jobid = p.stdout.strip().split(";")[0]
        log(f"submitted {script} as job {jobid}")
        return jobid

    def wait(self, jobid, timeout, until=None):
        """Waits for a terminal state (or `until(job)` true); returns the job dict."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            j = self.job(jobid)
            if until and until(j):
                return j
            if j.get("JobState") in TERMINAL:
                return j
            time.sleep(1)
        run(["scancel", str(jobid)], env=self.env, check_rc=False)
        raise CaseFailed(f"job {jobid} still {self.job(jobid).get('JobState')} after {timeout}s (cancelled)")

    def finished_ok(self, jobid, timeout):
        j = self.wait(jobid, timeout)
        out = Path(j.get("StdOut", ""))
        text = out.read_text(errors="replace") if out.is_file() else f"(no output file {out})"
        if j.get("JobState") != "COMPLETED":
            raise CaseFailed(f"job {jobid} ended {j.get('JobState')} (exit {j.get('ExitCode')}); "
                             f"tail of {out}:\n{text[-4000:]}")
        return j, text


def has_subcommand(cxrtrain, sub):
    p = subprocess.run([cxrtrain, sub, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise CaseFailed(f"cxrtrain {sub} not available (`{cxrtrain} {sub} --help` exited {p.returncode})")


def jobs_env(a, config, sets, **extra):
    env = {"CXRTRAIN": a.cxrtrain, "CONFIG": str(config), "SET": " ".join(sets), "OMP_NUM_THREADS": "1"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- cases -----------------------------------------------------------------------------------------------

def case_train(a, cl, work, launcher=None):
    run_dir = work / "train_run"
    extra = {"CXR_LAUNCHER": launcher} if launcher else {}
    jid = cl.submit("train.sbatch", work, jobs_env(a, HERE / "tiny_train.yaml",
                                                    [f"data.pack={work / 'pack32'}", f"run_dir={run_dir}"], **extra))
    _, out = cl.finished_ok(jid, a.job_timeout)
    if launcher:
        check(f"launcher {launcher}" in out, f"the job did not use the {launcher} launcher")
    check((run_dir / "checkpoints/last.pt").is_file(), f"no {run_dir}/checkpoints/last.pt")
    metrics = run_dir / "metrics.jsonl"
    check(metrics.is_file() and metrics.stat().st_size > 0, f"{metrics} missing or empty")
    tlog = (run_dir / "train.log").read_text(errors="replace")
    check(re.search(r"on 2 ranks", tlog), f"train.log does not say 'on 2 ranks':\n{tlog[:2000]}")
    check("--resume auto" in out, "the job's output does not show the command with --resume auto")
    return f"job {jid}: last.pt, metrics.jsonl, 2 ranks" + (f" ({launcher})" if launcher else "")


def case_train_mpirun(a, cl, work):
    return case_train(a, cl, work, launcher="mpirun")


def case_requeue(a, cl, work, usr1=False):
    run_dir = work / "requeue_run"
    ckpt = run_dir / "checkpoints/last.pt"
    # Long enough (tens of seconds) that the requeue lands mid-run; a checkpoint every 4 steps.
    sets = [f"data.pack={work / 'pack64'}", f"run_dir={run_dir}", "train.epochs=16", "train.checkpoint_every=4",
            "train.evaluate=false"]
    jid = cl.submit("train.sbatch", work, jobs_env(a, HERE / "tiny_train.yaml", sets))
    t0 = time.time()
    while not ckpt.is_file():
        j = cl.job(jid)
        check(j.get("JobState") not in TERMINAL,
              f"job {jid} ended ({j.get('JobState')}) before its first checkpoint: the requeue test needs a longer run")
        check(time.time() - t0 < a.job_timeout, f"no {ckpt} after {a.job_timeout}s")
        time.sleep(0.2)
    time.sleep(1)   # let last.pt be complete (written to a temporary name, then renamed) and one more land
    j = cl.job(jid)
    check(j.get("JobState") == "RUNNING", f"job {jid} is {j.get('JobState')}, not RUNNING, when last.pt appeared "
                                          "(the run is too short to requeue mid-way)")
    if usr1:
        # What --signal=B:USR1@120 sends before the time limit: the script's trap must requeue the job.
        log(f"last.pt exists; USR1 to the batch shell of job {jid}")
        run(["scancel", "--batch", "--signal=USR1", jid], env=cl.env)
    else:
        log(f"last.pt exists; scontrol requeue {jid}")
        run(["scontrol", "requeue", jid], env=cl.env)
    j, out = cl.finished_ok(jid, a.job_timeout)
    check(int(j.get("Restarts", "0")) >= 1, f"job {jid} shows Restarts={j.get('Restarts')}: it was not requeued")
    tlog = (run_dir / "train.log").read_text(errors="replace")
    m = re.search(r"resumed from (\S+) at step (\d+)", tlog)
    check(m, f"train.log has no 'resumed from ... at step N' line after the requeue:\n{tlog[-2000:]}")
    check(m.group(1).endswith("last.pt"), f"resumed from {m.group(1)}, not last.pt")
    check(int(m.group(2)) > 0, "resumed at step 0")
    check("restart count 1" in out, "the job's output does not show restart count 1")
    if usr1:
        check("USR1: time limit near, requeueing" in out, "the job's output does not show the USR1 trap")
    return f"job {jid}: requeued{' by its USR1 trap' if usr1 else ''}, resumed from last.pt at step {m.group(2)}"


def case_requeue_usr1(a, cl, work):
    return case_requeue(a, cl, work, usr1=True)


def study_sets(work, name):
    return [f"data.pack={work / (name + '_pack')}", f"run_dir={work / (name + '_run')}"]


def case_study(a, cl, work):
    has_subcommand(a.cxrtrain, "study")
    run_dir = work / "study_run"
    jid = cl.submit("study.sbatch", work, jobs_env(a, HERE / "tiny_study.yaml", study_sets(work, "study")))
    _, out = cl.finished_ok(jid, a.job_timeout)
    index = run_dir / "report/index.html"
    check(index.is_file(), f"no {index}")
    m = re.findall(r"report: (\S+)", out)
    check(m, f"the job's output has no 'report: PATH' line:\n{out[-2000:]}")
    tlog = (run_dir / "train.log").read_text(errors="replace")
    check(re.search(r"on 2 ranks", tlog), f"the study's train.log does not say 'on 2 ranks':\n{tlog[:2000]}")
    printed = Path(m[-1]) if Path(m[-1]).is_absolute() else work / m[-1]
    check(printed.resolve() in (index.resolve(), index.parent.resolve()),
          f"printed report path {m[-1]} is not {index}")
    return f"job {jid}: {index}"


def case_seeds(a, cl, work):
    has_subcommand(a.cxrtrain, "study")
    run_dir = work / "seeds_run"
    jid = cl.submit("seeds.sbatch", work, jobs_env(a, HERE / "tiny_study.yaml", study_sets(work, "seeds"), SEEDS=2))
    cl.finished_ok(jid, a.job_timeout)
    summary = run_dir / "seeds/summary.json"
    check(summary.is_file(), f"no {summary}")
    s = json.loads(summary.read_text())
    text = json.dumps(s)
    seed_dirs = sorted(p.name for p in (run_dir / "seeds").glob("seed_*") if p.is_dir())
    check(len(seed_dirs) == 2, f"{run_dir}/seeds has {seed_dirs}, expected 2 seed_<s> folders")
    seeds = s.get("seeds") if isinstance(s, dict) else None
    n = len(seeds) if isinstance(seeds, list) else seeds if isinstance(seeds, int) else None
    check(n == 2 or (n is None and all(d.split("_", 1)[1] in text for d in seed_dirs)),
          f"summary.json does not name 2 seeds: {text[:500]}")
    return f"job {jid}: {', '.join(seed_dirs)}, summary.json"


def case_scaling(a, cl, work):
    has_subcommand(a.cxrtrain, "scaling")
    out_dir = work / "scaling_out"
    jid = cl.submit("scaling.sbatch", work, jobs_env(a, HERE / "tiny_train.yaml",
                                                      [f"data.pack={work / 'pack32'}", "train.global_batch=8"],
                                                      OUT=out_dir, ARGS="--steps 3 --warmup 2"))
    _, out = cl.finished_ok(jid, a.job_timeout)
    for f in ("scaling.json", "scaling.md", "scaling.svg"):
        check((out_dir / f).is_file() and (out_dir / f).stat().st_size > 0, f"no (or empty) {out_dir / f}")
    runs = json.loads((out_dir / "scaling.json").read_text()).get("runs", [])
    ranks = sorted({r.get("ranks") for r in runs})
    check(ranks == [1, 2], f"scaling.json's measured runs have rank counts {ranks}, expected [1, 2]")
    check("--ranks 1,2" in out, "the job did not sweep --ranks 1,2 (default from 2 tasks)")
    return f"job {jid}: scaling.json/.md/.svg with ranks 1 and 2"


CASES = {"train": case_train, "train_mpirun": case_train_mpirun, "requeue": case_requeue, "requeue_usr1": case_requeue_usr1, "study": case_study, "seeds": case_seeds,
         "scaling": case_scaling}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cxrtrain", required=True)
    ap.add_argument("--work", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--job-timeout", type=int, default=300, help="seconds per job")
    a = ap.parse_args()
    a.cxrtrain = str(Path(a.cxrtrain).resolve())
    work = Path(a.work).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cases = a.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown cases {unknown}; known: {list(CASES)}")

    results = {}
    cl = Cluster(work / "slurm_state")
    try:
        t0 = time.time()
        try:
            cl.start()
        except CaseFailed as e:
            for c in cases:
                results[c] = (False, str(e), 0.0)
            raise
        log(f"Slurm up in {time.time() - t0:.1f}s")
        run([a.cxrtrain, "synth", "--out", str(work / "pack32"), "--n", "300", "--size", "32", "--seed", "2",
             "--no-progress"])
        if any(c.startswith("requeue") for c in cases):
            run([a.cxrtrain, "synth", "--out", str(work / "pack64"), "--n", "400", "--size", "64", "--seed", "3",
                 "--no-progress"])
        for c in cases:
            t = time.time()
            try:
                msg = CASES[c](a, cl, work)
                results[c] = (True, msg, time.time() - t)
            except (CaseFailed, subprocess.TimeoutExpired, OSError, ValueError) as e:
                results[c] = (False, str(e), time.time() - t)
            ok, msg, dt = results[c]
            log(f"{'PASS' if ok else 'FAIL'} {c} ({dt:.0f}s): {msg}")
    except CaseFailed:
        pass
    finally:
        cl.stop()
    print("\nsummary:")
    for c in cases:
        ok, msg, dt = results.get(c, (False, "not run", 0.0))
        print(f"  {'PASS' if ok else 'FAIL'}  {c:8s} {dt:6.0f}s  {msg.splitlines()[0] if msg else ''}")
    failed = [c for c in cases if not results.get(c, (False,))[0]]
    if failed:
        print(f"\ne2e_slurm: FAILED cases: {', '.join(failed)}")
        return 1
    print("\ne2e_slurm: all cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

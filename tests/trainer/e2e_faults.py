#!/usr/bin/python3
"""End-to-end: one failing rank ends the whole job, non-zero, naming the rank and cause, within 60 s;
nothing hangs (issue 4, criterion 5). Real faults, real processes:
a. SIGKILL of one rank of a long run (rank 1 of -np 2; rank 0, the writer, of -np 3): mpirun must exit
   non-zero within 60 s of the kill, its output naming the dead rank, and no rank may survive it.
b. CXR_INJECT_FAULT=throw:5:1 (an exception on rank 1 at step 5), -np 2 and -np 3: the same, and the
   output names rank 1 and the exception.
c. CXR_INJECT_FAULT=nan:5:1 (a NaN loss on rank 1 at step 5), checkpoint_every=2: the same, the output
   names the step, the rank and the loss; checkpoints/last.pt (step 4) survives, and --resume auto
   without the fault continues from it to exactly the state of a run that never failed.
d. CXR_INJECT_FAULT=valnan:40:1 (rank 1's validation scores become NaN from step 40): the second
   validation (step 66) stops every rank through the same fail-fast path, naming the class; no best.pt
   or last.pt is written from it (last.pt stays at step 33, the first epoch's end).
Usage: e2e_faults.py CXRTRAIN [MPIEXEC]
"""
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from e2e_common import TINY_MODEL, Harness, check, rank_pids, session_pids

EXIT_BOUND = 60.0  # seconds: the requirement

h = Harness("faults")
h.make_pack(n=600, size=32)

BASE = TINY_MODEL + ["train.global_batch=12", "train.evaluate=false", "log.interval=5"]
measured = []


def wait_exit(p, since, what):
    """Waits (bounded) for mpirun and then every process of its session; returns (rc, seconds from
    `since` until mpirun exited, seconds until the last rank was gone)."""
    try:
        rc = p.wait(timeout=EXIT_BOUND + 15)  # past the bound: fail with a measurement, not hang
    except Exception:
        rc = None
    t_mpirun = time.monotonic() - since
    check(rc is not None, f"{what}: mpirun still running {t_mpirun:.0f} s later (killed)")
    while session_pids(p.pid) and time.monotonic() - since < EXIT_BOUND + 15:
        time.sleep(0.05)
    t_all = time.monotonic() - since
    left = session_pids(p.pid)
    h.live.remove(p)
    check(not left, f"{what}: processes {left} still alive {t_all:.0f} s later after mpirun exited")
    return rc, t_mpirun, t_all


def wait_progress(p, run_dir, step, timeout=180):
    log = os.path.join(run_dir, "train.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check(p.poll() is None, f"the run ended early (rc {p.returncode}):\n{h.output_of(p)[-2000:]}")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                if max((int(s) for s in re.findall(r"step (\d+)/\d+ ", f.read())), default=0) >= step:
                    return
        time.sleep(0.05)
    raise AssertionError(f"no progress to step {step} within {timeout} s")


def kill_rank(np, victim):
    def run():
        run_dir = os.path.join(h.tmp, f"kill_np{np}_r{victim}")
        p = h.start(h.train_cmd(np, run_dir, BASE + ["train.epochs=100000"]), log_name=f"kill{np}")
        wait_progress(p, run_dir, 20)
        pids = rank_pids(p.pid)
        check(sorted(pids) == list(range(np)), f"expected ranks 0..{np - 1} as children of mpirun, found {pids}")
        t0 = time.monotonic()
        os.kill(pids[victim], signal.SIGKILL)
        rc, t_mpirun, t_all = wait_exit(p, t0, f"kill -9 rank {victim}")
        out = h.output_of(p)
        print(f"    kill -9 rank {victim} (pid {pids[victim]}) of -np {np}: mpirun exited {rc} after {t_mpirun:.2f} s, "
              f"all ranks gone after {t_all:.2f} s")
        measured.append((f"kill -9 rank {victim}, -np {np}", t_all))
        check(rc != 0, "mpirun exited 0 after a rank was killed")
        check(t_all < EXIT_BOUND, f"the job took {t_all:.1f} s (> {EXIT_BOUND:.0f} s) to end after the kill")
        named = re.search(rf"rank {victim}\b[^\n]*(signal 9|Killed)", out)
        check(named is not None, f"the output does not name rank {victim} as killed:\n{out[-2000:]}")
        print(f"    output: {named.group(0).strip()}")
    return run


def injected_throw(np):
    def run():
        r = h.train(np, f"throw_np{np}", BASE + ["train.epochs=100000"], env_extra={"CXR_INJECT_FAULT": "throw:5:1"},
                    expect_ok=False, timeout=EXIT_BOUND + 15)
        # h.train waited for mpirun; a surviving rank would still carry this run's directory.
        survivors = [pid for pid in _cxr_pids() if r.run_dir in _cmdline(pid)]
        print(f"    throw on rank 1 at step 5, -np {np}: mpirun exited {r.rc} after {r.seconds:.2f} s from launch")
        measured.append((f"throw on rank 1, -np {np}", r.seconds))
        check(r.rc != 0, "mpirun exited 0 after rank 1 threw")
        check(not survivors, f"ranks {survivors} survived the job")
        check(r.seconds < EXIT_BOUND, f"the job took {r.seconds:.1f} s (> {EXIT_BOUND:.0f} s) to end")
        check("rank 1 failed: injected fault at step 5" in r.output,
              f"the output does not name rank 1 and the fault:\n{r.tail()}")
        # Not required: Open MPI 4.1's own "MPI_ABORT was invoked on rank 1" notice is sometimes lost to a
        # show_help race ("Data unpack would read past end of buffer"); our line above is what users read.
    return run


def _cxr_pids():
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and "cxrtrain" in _cmdline(int(e))]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def injected_nan():
    sets = BASE + ["train.epochs=100", "train.max_steps=12", "train.checkpoint_every=2"]
    r = h.train(2, "nan", sets, env_extra={"CXR_INJECT_FAULT": "nan:5:1"}, expect_ok=False, timeout=EXIT_BOUND + 15)
    survivors = [pid for pid in _cxr_pids() if r.run_dir in _cmdline(pid)]
    print(f"    NaN loss on rank 1 at step 5, -np 2: mpirun exited {r.rc} after {r.seconds:.2f} s from launch")
    measured.append(("NaN loss on rank 1, -np 2", r.seconds))
    check(r.rc != 0, "mpirun exited 0 after a NaN loss")
    check(not survivors, f"ranks {survivors} survived the job")
    check(r.seconds < EXIT_BOUND, f"the job took {r.seconds:.1f} s (> {EXIT_BOUND:.0f} s) to end")
    line = re.search(r"[^\n]*non-finite loss[^\n]*step 5[^\n]*rank 1[^\n]*", r.output)
    check(line is not None and "loss" in line.group(0),
          f"no line names the non-finite loss, step 5 and rank 1:\n{r.tail()}")
    print(f"    output: {line.group(0).strip()}")
    check("trained 12 steps" not in r.output, "the run finished despite the NaN")
    last = os.path.join(r.run_dir, "checkpoints", "last.pt")
    check(os.path.exists(last), "checkpoints/last.pt is gone after the NaN")
    resumed = h.train(2, "nan", sets, extra=["--resume", "auto"])
    check(re.search(r"resumed from \S+last\.pt at step 4 ", resumed.output),
          f"--resume auto did not continue from the step-4 checkpoint:\n{resumed.tail()}")
    straight = h.train(2, "nan_free", sets)
    print(f"    resumed from step 4: digest {resumed.final_digest()[:16]}; never-failed run: "
          f"{straight.final_digest()[:16]}")
    check(resumed.final_digest() == straight.final_digest(),
          "the run resumed after the NaN does not reach the state of a run that never failed")


def injected_validation_nan():
    sets = TINY_MODEL + ["train.global_batch=12", "train.evaluate=true", "log.interval=5", "train.epochs=100",
                         "train.max_steps=80"]
    r = h.train(2, "valnan", sets, env_extra={"CXR_INJECT_FAULT": "valnan:40:1"}, expect_ok=False,
                timeout=EXIT_BOUND + 15)
    survivors = [pid for pid in _cxr_pids() if r.run_dir in _cmdline(pid)]
    print(f"    NaN validation scores on rank 1 from step 40, -np 2: mpirun exited {r.rc} after {r.seconds:.2f} s")
    measured.append(("NaN validation score on rank 1, -np 2", r.seconds))
    check(r.rc != 0, "mpirun exited 0 after NaN validation scores")
    check(not survivors, f"ranks {survivors} survived the job")
    check(r.seconds < EXIT_BOUND, f"the job took {r.seconds:.1f} s (> {EXIT_BOUND:.0f} s) to end")
    line = re.search(r"[^\n]*non-finite validation score after step 66[^\n]*class 'Atelectasis'[^\n]*", r.output)
    check(line is not None, f"no line names the non-finite validation score, the step and the class:\n{r.tail()}")
    print(f"    output: {line.group(0).strip()[:200]}")
    check("epoch 1 validation macro AUROC" in r.output, "the first (clean) validation did not run")
    check("trained 80 steps" not in r.output, "the run finished despite the NaN scores")
    resumed = h.train(2, "valnan", sets + ["train.max_steps=34"], extra=["--resume", "auto", "--resume-force",
                                                                         "train.max_steps"])
    check(re.search(r"resumed from \S+last\.pt at step 33 ", resumed.output),
          f"last.pt is not the step-33 checkpoint of the first epoch:\n{resumed.tail()}")


h.case("5a. kill -9 rank 1 of -np 2 ends the job within 60 s", kill_rank(2, 1))
h.case("5a. kill -9 rank 0 of -np 3 ends the job within 60 s", kill_rank(3, 0))
h.case("5b. exception on rank 1 at step 5 ends the job within 60 s, -np 2", injected_throw(2))
h.case("5b. exception on rank 1 at step 5 ends the job within 60 s, -np 3", injected_throw(3))
h.case("5c. NaN loss on rank 1 at step 5: job ends, last good checkpoint kept and resumable", injected_nan)
h.case("5d. NaN validation scores on rank 1: every rank stops, naming the class; last.pt kept", injected_validation_nan)
print("exit times: " + "; ".join(f"{what}: {s:.2f} s" for what, s in measured))
h.finish()

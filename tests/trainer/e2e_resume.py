#!/usr/bin/python3
"""End-to-end: an interrupted run resumes to exactly the result of an uninterrupted one (issue 4,
criterion 3), under mpirun -np 2 with BatchNorm, validation and epoch ends in the way.
a. 40 steps straight vs 20 steps (checkpoint_every=20, --stop-after 20) + --resume auto for the rest.
b. A long run killed with SIGKILL (mpirun and every rank at once, as a lost node) after a few
   checkpoints, then --resume auto, vs the same run straight.
Both must give the same final state digest, byte-identical torchvision_resnet.pt and byte-identical
metrics.jsonl (the resumed run drops the lines past its checkpoint and rewrites them).
Usage: e2e_resume.py CXRTRAIN [MPIEXEC]
"""
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from e2e_common import TINY_MODEL, CheckFailed, Harness, check, kill_session, read_bytes

h = Harness("resume")
h.make_pack(n=600, size=32)

# 402 train images / 12 = 33 steps per epoch; max_steps ends the runs (epochs only bounds them).
BASE = TINY_MODEL + ["train.global_batch=12", "train.epochs=100", "train.evaluate=true", "log.interval=5",
                     "seed=3"]


def same_result(straight, resumed):
    for name in ("checkpoints/torchvision_resnet.pt", "metrics.jsonl"):
        a = read_bytes(os.path.join(straight.run_dir, name))
        b = read_bytes(os.path.join(resumed.run_dir, name))
        check(len(a) > 0, f"{name} of the straight run is empty")
        if name.endswith(".jsonl") and a != b:
            la, lb = a.decode().splitlines(), b.decode().splitlines()
            bad = [f"  straight: {x}\n  resumed:  {y}" for x, y in zip(la, lb) if x != y]
            raise CheckFailed(f"metrics.jsonl differs ({len(la)} vs {len(lb)} lines):\n" + "\n".join(bad[:4]))
        check(a == b, f"{name} differs between the straight and the resumed run")
    check(straight.final_digest() is not None, "the straight run printed no final state digest")
    check(straight.final_digest() == resumed.final_digest(),
          f"final state digest: straight {straight.final_digest()} vs resumed {resumed.final_digest()}")
    lines = read_bytes(os.path.join(straight.run_dir, "metrics.jsonl")).decode().splitlines()
    print(f"    identical: digest {straight.final_digest()[:16]}, torchvision_resnet.pt, "
          f"metrics.jsonl ({len(lines)} lines)")


def stop_and_resume():
    sets = BASE + ["train.max_steps=40", "train.checkpoint_every=20"]
    straight = h.train(2, "straight40", sets)
    check("trained 40 steps (1 epochs)" in straight.output, f"expected 40 steps over 1 epoch end:\n{straight.tail()}")
    first = h.train(2, "stopped", sets, extra=["--stop-after", "20"])
    check("stopping after 20 steps" in first.output, f"--stop-after 20 did not stop:\n{first.tail()}")
    check(not os.path.exists(os.path.join(first.run_dir, "checkpoints", "torchvision_resnet.pt")),
          "--stop-after wrote the end-of-run export")
    resumed = h.train(2, "stopped", sets, extra=["--resume", "auto"])
    check(re.search(r"resumed from \S+last\.pt at step 20 ", resumed.output),
          f"the second half did not resume from step 20:\n{resumed.tail()}")
    print(f"    straight {straight.seconds:.1f} s; 20 steps {first.seconds:.1f} s + resumed {resumed.seconds:.1f} s")
    same_result(straight, resumed)


def kill_and_resume():
    steps = 600
    sets = BASE + [f"train.max_steps={steps}", "train.checkpoint_every=25"]
    run_dir = os.path.join(h.tmp, "killed")
    p = h.start(h.train_cmd(2, run_dir, sets), log_name="killed")
    log = os.path.join(run_dir, "train.log")
    deadline = time.monotonic() + 180
    seen = 0
    while time.monotonic() < deadline and p.poll() is None:
        if os.path.exists(os.path.join(run_dir, "checkpoints", "last.pt")) and os.path.exists(log):
            with open(log, errors="replace") as f:
                done = [int(s) for s in re.findall(rf"step (\d+)/{steps} ", f.read())]
            seen = max(done, default=0)
            if seen >= 60:
                break
        time.sleep(0.02)
    check(p.poll() is None, f"the run ended before it could be killed (rc {p.returncode}); make it longer:\n"
          + h.output_of(p)[-2000:])
    check(seen >= 60, f"no progress to step 60 within 180 s (last logged step {seen})")
    kill_session(p)  # SIGKILL to mpirun and every rank at once
    h.live.remove(p)
    check(not os.path.exists(os.path.join(run_dir, "checkpoints", "torchvision_resnet.pt")),
          "the killed run finished anyway")
    resumed = h.train(2, "killed", sets, extra=["--resume", "auto"])
    m = re.search(r"resumed from \S+last\.pt at step (\d+) ", resumed.output)
    check(m is not None, f"the killed run did not resume from its last.pt:\n{resumed.tail()}")
    print(f"    killed with SIGKILL after logging step {seen}; resumed from the checkpoint at step {m.group(1)}")
    check(int(m.group(1)) >= 25, "resumed from step 0")
    straight = h.train(2, f"straight{steps}", sets)
    print(f"    straight {straight.seconds:.1f} s; resumed part {resumed.seconds:.1f} s")
    same_result(straight, resumed)


h.case("3a. 20 steps + --stop-after, --resume auto == 40 steps straight (-np 2)", stop_and_resume)
h.case("3b. SIGKILL of the whole job mid-run, --resume auto == straight run (-np 2)", kill_and_resume)
h.finish()

#!/usr/bin/python3
"""End-to-end: an interrupted run resumes to exactly the result of an uninterrupted one (issue 4,
criterion 3), under mpirun -np 2 with BatchNorm, validation and epoch ends in the way.
a. 40 steps straight vs 20 steps (checkpoint_every=20, --stop-after 20) + --resume auto for the rest.
b. A long run killed with SIGKILL (mpirun and every rank at once, as a lost node) after a few
   checkpoints, then --resume auto, vs the same run straight.
c. Stops that align with neither the log interval nor the checkpoint interval (checkpoint_every 7, stop
   after 9, log.interval 5; checkpoint_every 3, stop after 23, log.interval 25): the resumed run must
   still log exactly the straight run's losses (the open interval comes back from the checkpoint).
d. last.pt truncated (as a node crash can leave it): --resume auto falls back to last.prev.pt with a
   warning naming both, moves the unreadable file aside (last.pt.damaged), and still reaches the straight
   run's result.
e. Resuming with a setting that changes the result (train.lr, world size, another pack) is refused
   with exit 2, naming each key and the --resume-force that would accept it; with --resume-force the
   run continues, logs the change, and keeps config.yaml beside a new config.resume-1.yaml.
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
    # last.pt exists at every moment of a save (the previous copy is a hard link), so a kill anywhere,
    # even between the two renames of a save, resumes from last.pt.
    m = re.search(r"resumed from \S+last\.pt at step (\d+) ", resumed.output)
    check(m is not None, f"the killed run did not resume from its last.pt:\n{resumed.tail()}")
    print(f"    killed with SIGKILL after logging step {seen}; resumed from the checkpoint at step {m.group(1)}")
    check(int(m.group(1)) >= 25, "resumed from step 0")
    straight = h.train(2, f"straight{steps}", sets)
    print(f"    straight {straight.seconds:.1f} s; resumed part {resumed.seconds:.1f} s")
    same_result(straight, resumed)


def unaligned_stops():
    for ckpt, stop, interval in ((7, 9, 5), (3, 23, 25)):
        sets = BASE + ["train.max_steps=40", f"train.checkpoint_every={ckpt}", f"log.interval={interval}"]
        name = f"unaligned_{ckpt}_{stop}_{interval}"
        straight = h.train(2, name + "_straight", sets)
        first = h.train(2, name, sets, extra=["--stop-after", str(stop)])
        check(f"stopping after {stop} steps" in first.output, f"--stop-after {stop} did not stop:\n{first.tail()}")
        resumed = h.train(2, name, sets, extra=["--resume", "auto"])
        at = (stop // ckpt) * ckpt
        check(re.search(rf"resumed from \S+last\.pt at step {at} ", resumed.output),
              f"expected a resume from step {at}:\n{resumed.tail()}")
        print(f"    checkpoint every {ckpt}, stop after {stop}, log every {interval}: resumed at step {at}")
        same_result(straight, resumed)


def truncated_last():
    sets = BASE + ["train.max_steps=40", "train.checkpoint_every=10"]
    straight = h.train(2, "trunc_straight", sets)
    first = h.train(2, "trunc", sets, extra=["--stop-after", "25"])
    ckpts = os.path.join(first.run_dir, "checkpoints")
    last, prev = os.path.join(ckpts, "last.pt"), os.path.join(ckpts, "last.prev.pt")
    check(os.path.exists(prev), "no last.prev.pt beside last.pt")
    os.truncate(last, os.path.getsize(last) // 3)
    resumed = h.train(2, "trunc", sets, extra=["--resume", "auto"])
    warn = re.search(r"[^\n]*cannot read checkpoint \S*last\.pt[^\n]*falling back to \S*last\.prev\.pt[^\n]*", resumed.output)
    check(warn is not None, f"no warning naming last.pt and last.prev.pt:\n{resumed.tail()}")
    print(f"    {warn.group(0).strip()[:160]}")
    check(re.search(r"resumed from \S+last\.prev\.pt at step 10 ", resumed.output),
          f"did not resume from last.prev.pt (step 10):\n{resumed.tail()}")
    check(os.path.exists(last + ".damaged"), "the unreadable last.pt was not moved aside to last.pt.damaged")
    same_result(straight, resumed)


def changed_settings_refused():
    sets = BASE + ["train.max_steps=30", "train.checkpoint_every=10"]
    first = h.train(2, "changed", sets, extra=["--stop-after", "10"])
    config0 = read_bytes(os.path.join(first.run_dir, "config.yaml"))
    r = h.train(2, "changed", sets + ["train.lr=0.0003"], extra=["--resume", "auto"], expect_ok=False)
    check(r.rc == 2, f"changed train.lr: exit {r.rc}, expected 2:\n{r.tail()}")
    check("train.lr: checkpoint 0.001, now 0.00029999999999999997" in r.output or "train.lr: checkpoint 0.001" in r.output,
          f"the refusal does not name train.lr and both values:\n{r.tail()}")
    check("--resume-force train.lr" in r.output, f"no hint naming --resume-force train.lr:\n{r.tail()}")
    r = h.train(3, "changed", sets + ["train.global_batch=12"], extra=["--resume", "auto"], expect_ok=False)
    check(r.rc == 2 and "world_size: checkpoint 2 ranks, now 3" in r.output,
          f"another world size: exit {r.rc}:\n{r.tail()}")
    other = os.path.join(h.tmp, "other_pack")
    import shutil
    shutil.copytree(h.pack, other)
    with open(os.path.join(other, "manifest.json"), "a") as f:
        f.write("\n")  # same content to a JSON reader, another identity
    cmd = h.train_cmd(2, first.run_dir, sets, ["--resume", "auto"])
    cmd[cmd.index(f"data.pack={h.pack}")] = f"data.pack={other}"
    r = h.run(cmd, run_dir=first.run_dir)
    check(r.rc == 2 and "data.pack: another pack" in r.output, f"another pack: exit {r.rc}:\n{r.tail()}")
    ok = h.train(2, "changed", sets + ["train.lr=0.0003"], extra=["--resume", "auto", "--resume-force", "train.lr"])
    check("as --resume-force allows: train.lr" in ok.output, f"the forced change is not logged:\n{ok.tail()}")
    check(read_bytes(os.path.join(first.run_dir, "config.yaml")) == config0, "config.yaml was overwritten")
    resumed_cfg = read_bytes(os.path.join(first.run_dir, "config.resume-1.yaml")).decode()
    check("lr: 0.00029999999999999997" in resumed_cfg or "lr: 0.0003" in resumed_cfg,
          "config.resume-1.yaml does not hold the resumed run's lr")
    print("    train.lr, world size and pack changes refused with exit 2; --resume-force train.lr accepted, "
          "config.yaml kept, config.resume-1.yaml written")


h.case("3a. 20 steps + --stop-after, --resume auto == 40 steps straight (-np 2)", stop_and_resume)
h.case("3c. stops aligned with neither log nor checkpoint interval resume to identical metrics (-np 2)", unaligned_stops)
h.case("3d. truncated last.pt: --resume auto falls back to last.prev.pt (-np 2)", truncated_last)
h.case("3e. settings that change the result are refused on resume unless forced (-np 2/3)", changed_settings_refused)
h.case("3b. SIGKILL of the whole job mid-run, --resume auto == straight run (-np 2)", kill_and_resume)
h.finish()

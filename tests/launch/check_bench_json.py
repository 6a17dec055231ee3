#!/usr/bin/python3
"""Runs `cxrtrain bench --steps` and checks its JSON against what the run was asked for, against formulas
and against the wall clock measured here, outside the program.

Usage: check_bench_json.py RESULT.json --steps N --warmup W --world-size R --global-batch G --depth D --width X
                           -- COMMAND...   (the bench command line, which writes RESULT.json)
The command must exit 0 and write a fresh RESULT.json. The timed step count must be the one asked for
(warm-up excluded); the time the timed steps took by the JSON's own rate (steps x global batch / img/s)
must fit in the wall time of the whole command measured here; the gradient bytes all-reduced per step
must be 4 x the ResNet's parameter count, computed here from the architecture (the formula reproduces
torchvision's resnet18/50 counts); the phase times must add up to the step; the job's rate must be the
slowest rank's; the temporary run directory must be gone - unless the command passed --keep: then its
train.log is read, and the rate its timestamps give for the timed steps (spdlog's clock, from the line
that ends the warm-up to the last line, logging included) must agree with the JSON's rate (which sums
the step phases) within [0.75, 1.8]: a rate inflated or deflated by a counting bug falls outside.
"""
import argparse
import json
import re
import shutil
import math
import os
import subprocess
import sys
import time


def resnet_parameters(depth, width, in_channels=1, classes=14):
    base = max(1, int(math.floor(64 * width + 0.5)))
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]
    expansion = 4 if depth >= 50 else 1
    n = in_channels * base * 49 + 2 * base  # conv1 7x7, bn1
    inp = base
    for stage, count in enumerate(blocks):
        p = base << stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            if expansion == 1:
                n += inp * p * 9 + 2 * p + p * p * 9 + 2 * p
            else:
                n += inp * p + 2 * p + p * p * 9 + 2 * p + p * p * 4 + 2 * p * 4
            if stride != 1 or inp != p * expansion:
                n += inp * p * expansion + 2 * p * expansion  # downsample conv 1x1 + BN
            inp = p * expansion
    return n + inp * classes + classes


def rate_from_log(path, warmup, steps, global_batch):
    """Images per second of the timed steps by the timestamps of train.log's lines for step W and W+S."""
    when = {}
    for line in open(path, errors="replace"):
        m = re.match(r"\[(\d\d):(\d\d):(\d\d)\.(\d{3})\].*\bstep (\d+)/\d+ ", line)
        if m:
            h, mi, sec, ms, step = (int(x) for x in m.groups())
            when[step] = ((h * 60 + mi) * 60 + sec) + ms / 1e3
    if warmup not in when or warmup + steps not in when:
        return None
    dt = when[warmup + steps] - when[warmup]
    if dt < 0:
        dt += 24 * 3600  # the run crossed midnight
    return steps * global_batch / max(dt, 1e-3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    for k in ("steps", "warmup", "world-size", "global-batch", "depth"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--width", type=float, required=True)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    if not cmd:
        sys.exit("no bench command after --")
    if os.path.exists(a.result):
        os.remove(a.result)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    wall = time.monotonic() - t0
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"bench exited {p.returncode}:\n{out[-3000:]}")
    r = json.load(open(a.result))
    errors = []

    def expect(cond, what):
        if not cond:
            errors.append(what)

    phases = ["data_wait_ms", "forward_ms", "backward_ms", "exposed_comm_ms", "optimizer_ms", "other_ms"]
    for key in ["bench", "model", "world_size", "threads", "global_batch", "batch_per_rank", "image_size",
                "warmup_steps", "timed_steps", "images_per_second", "step_ms", "comm_in_flight_ms",
                "comm_mib_per_step", "percent_of_step", "per_rank", "run_dir", "run_dir_kept"] + phases:
        expect(key in r, f"missing key '{key}'")
    if errors:
        sys.exit("\n".join(errors))
    expect(r["bench"] == "train", "bench is not 'train'")
    expect(r["timed_steps"] == a.steps, f"timed_steps {r['timed_steps']} != --steps {a.steps}")
    expect(r["warmup_steps"] == a.warmup, f"warmup_steps {r['warmup_steps']} != {a.warmup}")
    expect(r["world_size"] == a.world_size, f"world_size {r['world_size']} != {a.world_size}")
    expect(r["global_batch"] == a.global_batch, "global_batch")
    expect(r["batch_per_rank"] * a.world_size == a.global_batch, "batch_per_rank x ranks != global_batch")
    expect(r["model"]["depth"] == a.depth, "model depth")
    ips = r["images_per_second"]
    expect(ips > 0, "images_per_second <= 0")
    if ips > 0:
        expect(math.isclose(r["step_ms"], 1e3 * a.global_batch / ips, rel_tol=1e-9), "step_ms != 1000 G / img/s")
        timed = a.steps * a.global_batch / ips
        expect(timed <= wall, f"{a.steps} timed steps at {ips:.1f} img/s take {timed:.2f} s, more than the "
                              f"{wall:.2f} s the whole command took (wall clock measured outside)")
    for k in phases[:-1] + ["comm_in_flight_ms"]:
        expect(r[k] >= 0, f"{k} negative")
    expect(math.isclose(sum(r[k] for k in phases), r["step_ms"], rel_tol=1e-9), "phases do not add up to step_ms")
    expect(abs(sum(r["percent_of_step"].values()) - 100) < 1e-6, "percent_of_step does not add up to 100")
    expect(math.isclose(r["percent_of_step"]["exposed_comm"], 100 * r["exposed_comm_ms"] / r["step_ms"],
                        rel_tol=1e-9), "exposed_comm percent")
    ranks = r["per_rank"]
    expect([p["rank"] for p in ranks] == list(range(a.world_size)), "per_rank is not one entry per rank in order")
    expect(math.isclose(ips, min(p["images_per_second"] for p in ranks), rel_tol=1e-12), "job img/s != slowest rank")
    for p in ranks:
        expect(math.isclose(sum(p[k] for k in phases), p["step_ms"], rel_tol=1e-9), f"rank {p['rank']} phases")
    want_mib = 4 * resnet_parameters(a.depth, a.width) / 2**20
    expect(math.isclose(r["comm_mib_per_step"], want_mib, rel_tol=1e-9),
           f"comm_mib_per_step {r['comm_mib_per_step']} != 4 bytes x parameters = {want_mib}")
    if "--keep" in cmd:
        expect(r["run_dir_kept"] is True and os.path.isdir(r["run_dir"]), "--keep: the run directory is gone")
        log_rate = rate_from_log(os.path.join(r["run_dir"], "train.log"), a.warmup, a.steps, a.global_batch)
        if log_rate is None:
            errors.append("train.log has no 'step W/...' and 'step W+S/...' lines to time")
        elif ips > 0:
            ratio = ips / log_rate
            print(f"img/s from the JSON {ips:.1f}, from train.log timestamps {log_rate:.1f}: ratio {ratio:.3f}")
            expect(0.75 <= ratio <= 1.8, f"JSON img/s {ips:.1f} vs {log_rate:.1f} from the log's timestamps "
                                        f"(ratio {ratio:.2f} outside [0.75, 1.8])")
        shutil.rmtree(r["run_dir"], ignore_errors=True)
    else:
        expect(r["run_dir_kept"] is False and not os.path.exists(r["run_dir"]),
               f"temporary run directory {r['run_dir']} was not removed")
    if errors:
        sys.exit("\n".join(errors))
    print(f"ok: {ips:.1f} img/s, {r['step_ms']:.1f} ms/step, exposed comm {r['exposed_comm_ms']:.2f} ms; "
          f"timed steps {a.steps * a.global_batch / ips:.2f} s of {wall:.2f} s wall")


if __name__ == "__main__":
    main()

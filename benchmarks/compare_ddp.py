#!/usr/bin/python3
"""cxrtrain against PyTorch DDP on this machine: same model, batch, image size, data and rank layout.

Makes a 128 px phantom pack (once), then runs, one after the other (--repeat: alternating, medians),
    mpirun -np 2 --bind-to core cxrtrain bench --config benchmarks/ddp_compare.yaml --steps N --warmup W
    mpirun -np 2 --bind-to core /usr/bin/python3 benchmarks/torch_ddp_reference.py --steps N --warmup W
    mpirun -np 2 --bind-to core /usr/bin/python3 benchmarks/torch_ddp_reference.py ... --channels-last
and prints the img/s, cxrtrain's ratio to the reference as it ships (NCHW, PyTorch's default: the issue's
goal, >= 1.1) and to the reference in cxrtrain's own layout (channels_last: like for like), and cxrtrain's
exposed communication as a share of the step (goal < 10 %). --quick uses ResNet-18. Exit status 0
whether or not the goals are met (the numbers are the result); non-zero only when a run fails.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def find_cxrtrain():
    candidates = [os.path.join(ROOT, d, "launch", "cxrtrain") for d in sorted(os.listdir(ROOT)) if d.startswith("build")]
    candidates = [c for c in candidates if os.access(c, os.X_OK)]
    if not candidates:
        sys.exit("error: no cxrtrain binary found\nHINT: build it (ninja -C build cxrtrain) or set CXRTRAIN=/path")
    return max(candidates, key=os.path.getmtime)  # the most recently built


def mpirun(np_):
    cmd = ["mpirun", "-np", str(np_), "--bind-to", "core", "-x", "OMP_NUM_THREADS=1"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    if np_ > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    return cmd


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def our_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # mpirun and the ranks it reaped
    return r.ru_utime + r.ru_stime


def run(cmd, log):
    """Runs cmd; returns the mean number of cores that *other* processes kept busy meanwhile."""
    print("$ " + " ".join(cmd), flush=True)
    t0, busy0, ours0 = time.time(), busy_cpu_seconds(), our_cpu_seconds()
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    others = max(0.0, (busy_cpu_seconds() - busy0) - (our_cpu_seconds() - ours0)) / wall
    print(f"  ({wall:.0f} s, other processes busy on {others:.2f} cores, log {log})", flush=True)
    if p.returncode != 0:
        sys.stdout.write(open(log).read()[-4000:])
        sys.exit(f"error: the command above failed with exit status {p.returncode}")
    return others


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="ResNet-18 instead of ResNet-50")
    ap.add_argument("--np", type=int, default=2, help="ranks (one torch thread each)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    ap.add_argument("--global-batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=128, help="phantom pack side = network input side")
    ap.add_argument("--out", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "cxr_compare_ddp"),
                    help="pack, logs and JSON results")
    ap.add_argument("--cxrtrain", default=os.environ.get("CXRTRAIN", ""),
                    help="the cxrtrain binary (default: $CXRTRAIN, else the newest build*/launch/cxrtrain)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each side this many times, alternating which goes first; medians are compared")
    ap.add_argument("--reference-args", default="", help="extra arguments for torch_ddp_reference.py")
    ap.add_argument("--reference-env", default="",
                    help="extra VAR=value for the reference's ranks, e.g. GLIBC_TUNABLES=glibc.malloc.mmap_max=0 "
                         "to give it the heap settings cxrtrain uses (launch/allocator.h)")
    ap.add_argument("--cxrtrain-args", default="", help="extra arguments for cxrtrain bench, e.g. --default-heap")
    ap.add_argument("--reference-layouts", default="nchw,channels_last",
                    help="comma-separated layouts to run the reference in (nchw is its default)")
    a = ap.parse_args()
    depth = 18 if a.quick else 50
    cxrtrain = a.cxrtrain or find_cxrtrain()
    os.makedirs(a.out, exist_ok=True)

    # Enough train images for warm-up + timed steps inside one epoch (train is ~70 % of the pack).
    need = (a.warmup + a.steps) * a.global_batch
    n = max(1000, int(need / 0.6) + 100)
    pack = os.path.join(a.out, f"phantom{a.size}_n{n}")
    if not os.path.exists(os.path.join(pack, "manifest.json")):
        run([cxrtrain, "synth", "--out", pack, "--n", str(n), "--size", str(a.size), "--seed", "1", "--overwrite",
             "--no-progress"], os.path.join(a.out, "synth.log"))

    def cx_cmd(out):
        return mpirun(a.np) + [cxrtrain, "bench", "--config", os.path.join(HERE, "ddp_compare.yaml"),
                               "--set", f"data.pack={pack}", "--set", f"model.depth={depth}",
                               "--set", f"train.global_batch={a.global_batch}",
                               "--steps", str(a.steps), "--warmup", str(a.warmup), "--json", out] + a.cxrtrain_args.split()

    def ref_cmd(layout):
        def make(out):
            env = []
            for kv in a.reference_env.split():
                env += ["-x", kv]
            extra = ["--channels-last"] if layout == "channels_last" else []
            return mpirun(a.np) + env + ["/usr/bin/python3", os.path.join(HERE, "torch_ddp_reference.py"), "--pack",
                                         pack, "--depth", str(depth), "--global-batch", str(a.global_batch),
                                         "--threads", "1", "--steps", str(a.steps), "--warmup", str(a.warmup),
                                         "--json", out] + extra + a.reference_args.split()
        return make

    layouts = [l for l in a.reference_layouts.split(",") if l]
    for l in layouts:
        if l not in ("nchw", "channels_last"):
            sys.exit(f"error: --reference-layouts: unknown layout '{l}'\nHINT: use nchw, channels_last or both")
    ref_names = {"nchw": "torch_ddp", "channels_last": "torch_ddp_cl"}
    results = {"cxrtrain": [], **{ref_names[l]: [] for l in layouts}}
    for rep in range(a.repeat):
        order = [("cxrtrain", cx_cmd)] + [(ref_names[l], ref_cmd(l)) for l in layouts]
        if rep % 2 == 1:
            order.reverse()  # alternate, so a change in background load does not favour one side
        for name, make in order:
            out = os.path.join(a.out, f"{name}_resnet{depth}_{rep}.json")
            others = run(make(out), os.path.join(a.out, f"{name}_resnet{depth}_{rep}.log"))
            r = json.load(open(out))
            r["other_processes_cores"] = others
            results[name].append(r)

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    cx_ips, cx_cpu = median("cxrtrain", "images_per_second"), median("cxrtrain", "cpu_ms")
    exposed = median("cxrtrain", "exposed_comm_ms") / median("cxrtrain", "step_ms") * 100
    cx_layout = "channels_last" if results["cxrtrain"][0].get("channels_last") else "nchw"
    print(f"\nResNet-{depth}, {a.np} ranks x 1 thread, global batch {a.global_batch}, {a.size} px, "
          f"{a.warmup} warm-up + {a.steps} timed steps, {a.repeat} run(s) each; cxrtrain ({cx_layout}) {cxrtrain}")
    print(f"{'run':20}{'others':>7}{'img/s':>8}{'ms/step':>9}{'CPU ms':>8}{'fwd':>7}{'bwd':>7}{'comm':>7}{'optim':>7}")
    for name in results:
        for i, r in enumerate(results[name]):
            comm = f"{r['exposed_comm_ms']:7.0f}" if "exposed_comm_ms" in r else f"{'(bwd)':>7}"
            print(f"{name + ' #' + str(i):20}{r['other_processes_cores']:7.2f}{r['images_per_second']:8.2f}"
                  f"{r['step_ms']:9.0f}{r['cpu_ms']:8.0f}{r['forward_ms']:7.0f}{r['backward_ms']:7.0f}{comm}"
                  f"{r['optimizer_ms']:7.0f}")
    ratios = {}
    for layout in layouts:
        name = ref_names[layout]
        ref_ips, ref_cpu = median(name, "images_per_second"), median(name, "cpu_ms")
        ratios[layout] = {"torch_ddp_images_per_second": ref_ips, "ratio": cx_ips / ref_ips,
                          "torch_ddp_cpu_ms": ref_cpu, "cpu_ratio": ref_cpu / cx_cpu}
        what = ("the reference as it ships (PyTorch's default layout)" if layout == "nchw"
                else "the reference in channels_last")
        if layout == cx_layout:
            what += ", like for like"
        print(f"median img/s: cxrtrain {cx_ips:.2f}, torch DDP {layout} {ref_ips:.2f}; ratio {cx_ips / ref_ips:.3f} "
              f"against {what}" + (f" (goal >= 1.1: {'met' if cx_ips / ref_ips >= 1.1 else 'NOT met'})"
                                   if layout == "nchw" else ""))
        print(f"  median CPU ms/step per rank: cxrtrain {cx_cpu:.0f}, torch DDP {layout} {ref_cpu:.0f}; "
              f"CPU ratio {ref_cpu / cx_cpu:.3f} (insensitive to other load on the cores)")
    print(f"cxrtrain exposed comm: {exposed:.2f} % of the step (median {median('cxrtrain', 'exposed_comm_ms'):.1f} ms; "
          f"{median('cxrtrain', 'comm_in_flight_ms'):.0f} ms/step in flight) (goal < 10 %: {'met' if exposed < 10 else 'NOT met'})")
    print("('others': cores kept busy by other processes during the run, startup included; above ~0.1 the wall-clock\n"
          " img/s of that run includes their interference, the CPU ms column much less so)")
    summary = {"depth": depth, "ranks": a.np, "global_batch": a.global_batch, "image_size": a.size,
               "warmup_steps": a.warmup, "timed_steps": a.steps, "repeat": a.repeat, "cxrtrain_layout": cx_layout,
               "cxrtrain_images_per_second": cx_ips, "cxrtrain_cpu_ms": cx_cpu,
               "cxrtrain_exposed_comm_percent": exposed, "against": ratios, "runs": results}
    with open(os.path.join(a.out, f"compare_resnet{depth}.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))


if __name__ == "__main__":
    main()

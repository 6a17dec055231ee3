#!/usr/bin/python3
"""Runs `cxrtrain scaling --ranks 1,2 --mode both` and checks what it wrote, recomputing here, outside the
program, what can be recomputed: efficiency from the runs' rates, the weak/strong batches, the bucket bytes
(4 x the ResNet's parameters), and the alpha-beta model (ring all-reduce per bucket, overlap with backward,
crossover rank count, the least-squares fit of this machine's alpha and beta) from the numbers in the JSON.
Then runs `--model-only --from` on the result and checks that it keeps the runs and models the network asked.

Usage: check_scaling.py OUT_DIR --global-batch G --depth D --width X -- COMMAND...
  (COMMAND is the scaling command line, writing to OUT_DIR; it must exit 0.)
Standard library only.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_bench_json import resnet_parameters  # noqa: E402

errors = []


def expect(cond, what):
    if not cond:
        errors.append(what)


def close(a, b, rel=1e-9, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def ring(n, p, alpha, bw):
    return 0.0 if p == 1 or n <= 0 else 2 * (p - 1) * alpha + 2 * ((p - 1) / p) * n / bw


def allreduce(n, p, net):
    a, bw = net["inter"]["alpha_us"] * 1e-6, net["inter"]["gb_per_s"] * 1e9
    g = net.get("gpus_per_node", 0)
    if not g:
        return ring(n, p, a, bw)
    ia, ibw = net["intra"]["alpha_us"] * 1e-6, net["intra"]["gb_per_s"] * 1e9
    if p <= g:
        return ring(n, p, ia, ibw)
    return ring(n, g, ia, ibw) + ring(n / g, -(-p // g), a, bw)


def overlap(compute, backward, buckets, p, net):
    total, cum, free = sum(buckets), 0.0, 0.0
    first = None
    for b in buckets:
        cum += b
        ready = backward * cum / total
        start = max(ready, free)
        first = start if first is None else first
        free = start + allreduce(b, p, net)
    exposed = max(0.0, free - backward)
    return exposed, free - first, compute / (compute + exposed)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"exit {p.returncode}: {' '.join(cmd)}\n{out[-4000:]}")
    return out


def check_model(m, runs, label):
    prof = m["profile"]
    compute, backward = prof["compute_ms"] * 1e-3, prof["backward_ms"] * 1e-3
    buckets = prof["bucket_bytes"]
    expect(len(buckets) >= 1 and close(sum(buckets), prof["gradient_bytes"]), f"{label}: gradient_bytes")
    for net in m["networks"]:
        preds = net["predictions"]
        expect([e["ranks"] for e in preds] == [2 ** k for k in range(11)], f"{label}: {net['name']} ranks 1..1024")
        stop = None
        for e in preds:
            exp_, fl, eff = overlap(compute, backward, buckets, e["ranks"], net)
            expect(close(e["exposed_ms"], 1e3 * exp_, 1e-9, 1e-9), f"{label}: {net['name']} p={e['ranks']} exposed "
                   f"{e['exposed_ms']} != {1e3 * exp_} (recomputed)")
            expect(close(e["in_flight_ms"], 1e3 * fl, 1e-9, 1e-9), f"{label}: {net['name']} p={e['ranks']} in flight")
            expect(close(e["efficiency"], eff, 1e-9), f"{label}: {net['name']} p={e['ranks']} efficiency")
            if stop is None and exp_ > m["exposed_fraction"] * compute:
                stop = e["ranks"]
        expect(net["stops_hiding_at"] == stop, f"{label}: {net['name']} stops_hiding_at {net['stops_hiding_at']} != {stop}")
    here = m.get("this_machine")
    two = [r for r in runs if r["ranks"] == 2]
    expect(here is not None, f"{label}: no this_machine model although 2-rank runs were measured")
    if here is None:
        return
    # Least squares t = 2(p-1) a + 2((p-1)/p) n b at p = 2 on the weak run's probe (the first 2-rank run).
    pts = two[0]["allreduce_probe"]
    # Weighted by 1 / t^2 (relative errors).
    rows = [(2.0, 1.0 * q["bytes"], q["seconds"], 1 / q["seconds"] ** 2) for q in pts]
    sxx = sum(w * x * x for x, y, t, w in rows); sxy = sum(w * x * y for x, y, t, w in rows)
    syy = sum(w * y * y for x, y, t, w in rows)
    sxt = sum(w * x * t for x, y, t, w in rows); syt = sum(w * y * t for x, y, t, w in rows)
    det = sxx * syy - sxy * sxy
    a = (sxt * syy - sxy * syt) / det
    b = (sxx * syt - sxy * sxt) / det
    if a < 0:
        a, b = 0.0, syt / syy
    expect(close(here["link"]["alpha_us"], a * 1e6, 1e-6, 1e-9), f"{label}: fitted alpha {here['link']['alpha_us']} != {a * 1e6}")
    expect(close(here["link"]["gb_per_s"], 1e-9 / b, 1e-6), f"{label}: fitted bandwidth {here['link']['gb_per_s']} != {1e-9 / b}")
    # The effective latency reproduces the calibration run's measured exposed comm (weak at 2 ranks here).
    effective = here["effective"]
    expect(effective["calibration_run"] == {"mode": "weak", "ranks": 2}, f"{label}: calibration run {effective['calibration_run']}")
    expect(close(effective["link"]["gb_per_s"], here["link"]["gb_per_s"]), f"{label}: effective link keeps the bandwidth")
    weak2 = [r for r in two if r["mode"] == "weak"][0]
    e_exp, _, _ = overlap(compute, backward, buckets, 2, {"inter": effective["link"]})
    if effective["link"]["alpha_us"] > 0:
        expect(close(1e3 * e_exp, weak2["exposed_comm_ms"], 1e-6, 1e-6),
               f"{label}: effective alpha gives {1e3 * e_exp} ms exposed, measured {weak2['exposed_comm_ms']}")
    else:
        expect(1e3 * e_exp >= weak2["exposed_comm_ms"] - 1e-9, f"{label}: effective alpha 0 but exposed below measured")
    checks = {(c["mode"], c["ranks"]): c for c in here["check"]}
    for r in two:
        c = checks.get((r["mode"], 2))
        expect(c is not None, f"{label}: no model check for {r['mode']} at 2 ranks")
        if c is None:
            continue
        comp = compute / 2 if r["mode"] == "strong" else compute
        bwd = backward / 2 if r["mode"] == "strong" else backward
        net = {"inter": here["link"]}
        exp_, fl, eff = overlap(comp, bwd, buckets, 2, net)
        expect(close(c["predicted_exposed_ms"], 1e3 * exp_, 1e-6, 1e-9), f"{label}: check {r['mode']} predicted exposed")
        expect(close(c["predicted_efficiency"], eff, 1e-6), f"{label}: check {r['mode']} predicted efficiency")
        e2, _, _ = overlap(comp, bwd, buckets, 2, {"inter": effective["link"]})
        expect(close(c["effective_predicted_exposed_ms"], 1e3 * e2, 1e-6, 1e-9), f"{label}: check {r['mode']} effective exposed")
        expect(c["measured_exposed_ms"] == r["exposed_comm_ms"], f"{label}: check {r['mode']} measured exposed")
        expect(c["measured_efficiency"] == r["efficiency"], f"{label}: check {r['mode']} measured efficiency")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--global-batch", type=int, required=True)
    ap.add_argument("--depth", type=int, required=True)
    ap.add_argument("--width", type=float, required=True)
    argv = sys.argv[1:]
    cut = argv.index("--")
    a = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    shutil.rmtree(a.out, ignore_errors=True)
    out = run(cmd)
    files = {k: os.path.join(a.out, "scaling." + k) for k in ("json", "md", "svg")}
    for k, f in files.items():
        if not os.path.isfile(f) or os.path.getsize(f) == 0:
            sys.exit(f"missing or empty: {f}\n{out[-3000:]}")
    s = json.load(open(files["json"]))
    expect(s["schema"] == "cxrtrain.scaling/1", "schema")
    runs = s["runs"]
    expect([(r["mode"], r["ranks"]) for r in runs] == [("both", 1), ("weak", 2), ("strong", 2)],
           f"runs are {[(r['mode'], r['ranks']) for r in runs]}, want both x1, weak x2, strong x2")
    if errors:
        sys.exit("\n".join(errors))
    g, one = a.global_batch, runs[0]["images_per_second"]
    want_bytes = 4 * resnet_parameters(a.depth, a.width)
    phases = ["data_wait_ms", "forward_ms", "backward_ms", "exposed_comm_ms", "optimizer_ms", "other_ms"]
    for r in runs:
        p = r["ranks"]
        want_g = g * p if r["mode"] == "weak" else g
        expect(r["global_batch"] == want_g, f"{r['mode']} x{p}: global batch {r['global_batch']} != {want_g}")
        expect(r["batch_per_rank"] * p == r["global_batch"], f"{r['mode']} x{p}: batch per rank")
        expect(r["images_per_second"] > 0, f"{r['mode']} x{p}: img/s")
        expect(close(r["per_rank_images_per_second"], r["images_per_second"] / p), f"{r['mode']} x{p}: per-rank img/s")
        expect(close(r["efficiency"], r["images_per_second"] / (p * one)), f"{r['mode']} x{p}: efficiency != img/s / (p x 1-rank)")
        expect(close(sum(r[k] for k in phases), r["step_ms"], 1e-9, 1e-9), f"{r['mode']} x{p}: phases do not add up")
        expect(close(sum(r["buckets"]), want_bytes), f"{r['mode']} x{p}: buckets hold {sum(r['buckets'])} bytes, want "
               f"4 x parameters = {want_bytes}")
        expect((len(r["allreduce_probe"]) >= 2) == (p > 1), f"{r['mode']} x{p}: all-reduce probe points")
        bench = os.path.join(a.out, "bench", "ranks1.json" if p == 1 else f"{r['mode']}_ranks{p}.json")
        expect(os.path.isfile(bench), f"missing {bench}")
    expect(len(runs[0]["buckets"]) >= 2, "the smoke config should give several buckets (train.bucket_mb)")
    m = s["model"]
    expect(close(m["profile"]["compute_ms"], runs[0]["step_ms"] - runs[0]["exposed_comm_ms"]), "profile compute")
    expect(m["profile"]["bucket_bytes"] == runs[0]["buckets"], "profile buckets are the 1-rank run's")
    names = [n["name"] for n in m["networks"]]
    expect(names == ["this-machine", "this-machine-effective", "nvlink", "nvlink-a100", "ib-hdr", "ib-ndr", "nvlink+ib-hdr", "nvlink+ib-ndr"],
           f"networks {names}")
    check_model(m, runs, "study")
    md = open(files["md"]).read()
    for row in ("| both | 1 | %d |" % g, "| weak | 2 | %d |" % (2 * g), "| strong | 2 | %d |" % g):
        expect(row in md, f"scaling.md lacks the row '{row}'")
    expect("Model vs measurement on this machine" in md, "scaling.md lacks the model check")
    svg = ET.parse(files["svg"]).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    expect(svg.tag == ns + "svg", "scaling.svg is not an SVG")
    series = [e.get("data-name") for e in svg.iter(ns + "polyline")]
    for want in ("weak (batch/rank fixed)", "strong (global batch fixed)", "model: ib-ndr", "model: this-machine"):
        expect(want in series, f"scaling.svg has no '{want}' line (has {series})")
    expect(sum(1 for _ in svg.iter(ns + "circle")) >= 6, "scaling.svg: measured points missing")
    expect("scaling report: " + a.out in out, "the command does not say where the report is")

    # --model-only --from: the runs stay, the network list is the one asked (plus this machine's fit).
    out2 = a.out.rstrip("/") + "-model"
    shutil.rmtree(out2, ignore_errors=True)
    run([cmd[0], "scaling", "--model-only", "--from", files["json"], "--network", "ib-ndr", "--out", out2])
    s2 = json.load(open(os.path.join(out2, "scaling.json")))
    expect(s2["runs"] == runs, "--model-only --from changed the runs")
    expect([n["name"] for n in s2["model"]["networks"]] == ["this-machine", "this-machine-effective", "ib-ndr"], "--model-only --network ib-ndr")
    check_model(s2["model"], s2["runs"], "model-only")
    for f in ("scaling.md", "scaling.svg"):
        expect(os.path.getsize(os.path.join(out2, f)) > 0, f"--model-only wrote no {f}")
    if errors:
        sys.exit("\n".join(errors))
    w = runs[1]
    print(f"ok: 1 rank {one:.1f} img/s; weak x2 {w['images_per_second']:.1f} img/s (efficiency {w['efficiency']:.3f}); "
          f"model recomputed for {len(names)} networks")


if __name__ == "__main__":
    main()

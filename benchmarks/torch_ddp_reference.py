#!/usr/bin/python3
"""The PyTorch DDP reference for `cxrtrain bench --steps`: the same training step in plain PyTorch.

torchvision ResNet-18/50 with a 1-channel conv1 and 14 outputs, Adam, BCE-with-logits, DistributedDataParallel
over gloo on CPU (or NCCL on CUDA, --device cuda, one GPU per local rank, optional bf16 autocast), one rank per
process, images read from the same cxrtrain pack (HDF5 shards via h5py) with the same normalisation
((x/255 - mean) / std), area-resized to --image-size when it differs from the pack's (as cxrtrain's
data.image_size). Prints img/s after warm-up, the per-step phase times, and JSON.

    mpirun -np 2 --bind-to core /usr/bin/python3 torch_ddp_reference.py --pack PACK --depth 50 --steps 5 --warmup 3
    mpirun -np 1 python3 torch_ddp_reference.py --pack PACK --device cuda --precision bf16 --image-size 224 \
        --global-batch 256 --channels-last --steps 20 --warmup 5      # the GPU check's side-by-side run

Ranks come from Open MPI (OMPI_COMM_WORLD_RANK/SIZE) or from RANK/WORLD_SIZE; rendezvous is
tcp://127.0.0.1:PORT, so all ranks must run on this host (`python3 -m torch.distributed.run` is not used:
Debian's fails on Python 3.11).
"""
import argparse
import contextlib
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torchvision

NUM_CLASSES = 14


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pack", required=True, help="cxrtrain pack folder (manifest.json + HDF5 shards)")
    p.add_argument("--split", default="train")
    p.add_argument("--depth", type=int, default=50, choices=[18, 34, 50])
    p.add_argument("--global-batch", type=int, default=32, help="summed over ranks")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--mean", type=float, default=0.449, help="as cxrtrain's data.mean")
    p.add_argument("--std", type=float, default=0.226, help="as cxrtrain's data.std")
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    p.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket_cap_mb (cxrtrain's train.bucket_mb)")
    p.add_argument("--channels-last", action="store_true", help="NHWC activations and weights (not the default)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: NCCL, one GPU per local rank")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: CUDA autocast of the forward")
    p.add_argument("--image-size", type=int, default=0, help="network input side (0 = the pack's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=29511, help="rendezvous port on 127.0.0.1")
    p.add_argument("--json", help="also write the result to this file (rank 0)")
    return p.parse_args()


def rank_and_world():
    for r, w in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("RANK", "WORLD_SIZE")):
        if r in os.environ and w in os.environ:
            return int(os.environ[r]), int(os.environ[w])
    return 0, 1


class PackSplit:
    """One split of a pack: labels in memory, images read per row from the HDF5 shards (chunk = one image)."""

    def __init__(self, pack, split, mean, std):
        manifest = json.load(open(os.path.join(pack, "manifest.json")))
        if split not in manifest["splits"]:
            sys.exit(f"error: pack {pack} has no split '{split}' (it has {sorted(manifest['splits'])})")
        self.size_px = manifest["image_size"]
        self.files, self.images, labels = [], [], []
        for shard in manifest["splits"][split]["shards"]:
            f = h5py.File(os.path.join(pack, shard["file"]), "r")
            self.files.append(f)
            self.images.append(f["images"])
            labels.append(np.asarray(f["labels"], dtype=np.float32))
        self.labels = np.concatenate(labels)
        self.where = [(s, i) for s, d in enumerate(self.images) for i in range(d.shape[0])]
        # cxrtrain's preprocessing without resize or crop is a 256-entry lookup table.
        self.lut = ((np.arange(256, dtype=np.float32) / 255.0 - np.float32(mean)) / np.float32(std)).astype(np.float32)

    def __len__(self):
        return len(self.where)

    def batch(self, rows):
        x = np.empty((len(rows), 1, self.size_px, self.size_px), dtype=np.float32)
        for j, r in enumerate(rows):
            s, i = self.where[r]
            x[j, 0] = self.lut[self.images[s][i]]
        return torch.from_numpy(x), torch.from_numpy(self.labels[rows])


def make_model(depth):
    model = getattr(torchvision.models, f"resnet{depth}")(num_classes=NUM_CLASSES)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def main():
    a = parse_args()
    rank, world = rank_and_world()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # one host: keep gloo on loopback
    if a.global_batch % world:
        sys.exit(f"error: --global-batch {a.global_batch} is not divisible by {world} ranks")
    per_rank = a.global_batch // world
    cuda = a.device == "cuda"
    if a.precision == "bf16" and not cuda:
        sys.exit("error: --precision bf16 needs --device cuda")
    if cuda:
        local = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(local % torch.cuda.device_count())
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=rank,
                            world_size=world)

    def sync():  # phase times are exact only when the GPU has caught up
        if cuda:
            torch.cuda.synchronize()

    data = PackSplit(a.pack, a.split, a.mean, a.std)
    total = a.warmup + a.steps
    if len(data) < total * a.global_batch:
        sys.exit(f"error: split '{a.split}' has {len(data)} images, fewer than {total} steps x {a.global_batch}")
    # Same seed on every rank: one permutation, rank r takes its slice of each global batch.
    perm = np.random.default_rng(a.seed).permutation(len(data))

    torch.manual_seed(a.seed)
    model = make_model(a.depth)
    memory_format = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=a.bucket_mb,  # broadcasts rank 0's weights
                                              device_ids=[device.index] if cuda else None)
    optim = torch.optim.Adam(ddp.parameters(), lr=a.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    ddp.train()

    phases = {"data_wait_ms": 0.0, "forward_ms": 0.0, "backward_ms": 0.0, "optimizer_ms": 0.0}
    each_step_ms = []  # every step, warm-up included, to see when the rate settles
    for step in range(total):
        if step == a.warmup:
            dist.barrier()  # every rank starts the clock together
            start = time.perf_counter()
            cpu_start = time.process_time()  # this process, all threads (gloo's included)
            for k in phases:
                phases[k] = 0.0
        t0 = time.perf_counter()
        base = step * a.global_batch + rank * per_rank
        x, y = data.batch(np.sort(perm[base:base + per_rank]))
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if a.image_size and a.image_size != data.size_px:
            x = torch.nn.functional.interpolate(x, size=(a.image_size, a.image_size), mode="area")
        x = x.contiguous(memory_format=memory_format)
        sync()
        t1 = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16) if a.precision == "bf16" else contextlib.nullcontext():
            logits = ddp(x)
        loss = loss_fn(logits.float(), y)
        loss_value = loss.item()
        t2 = time.perf_counter()
        loss.backward()  # DDP all-reduces buckets during backward and waits for the last one inside it
        sync()
        t3 = time.perf_counter()
        optim.step()
        sync()
        t4 = time.perf_counter()
        if not np.isfinite(loss_value):
            sys.exit(f"error: non-finite loss at step {step} on rank {rank}")
        each_step_ms.append((t4 - t0) * 1e3)
        phases["data_wait_ms"] += (t1 - t0) * 1e3
        phases["forward_ms"] += (t2 - t1) * 1e3
        phases["backward_ms"] += (t3 - t2) * 1e3
        phases["optimizer_ms"] += (t4 - t3) * 1e3
    seconds = time.perf_counter() - start
    cpu_ms = (time.process_time() - cpu_start) * 1e3 / a.steps

    # The job's rate is set by the slowest rank; phases are per-rank means.
    t = torch.tensor([seconds, cpu_ms] + [phases[k] / a.steps for k in phases] + each_step_ms, dtype=torch.float64)
    gathered = [torch.zeros_like(t) for _ in range(world)]
    dist.all_gather(gathered, t)
    if rank == 0:
        slowest = max(g[0].item() for g in gathered)
        ips = a.steps * a.global_batch / slowest
        step_ms = slowest * 1e3 / a.steps
        result = {
            "bench": "torch_ddp_reference",
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "model": f"torchvision resnet{a.depth}, 1-channel conv1, {NUM_CLASSES} outputs",
            "depth": a.depth, "world_size": world, "threads": a.threads, "global_batch": a.global_batch,
            "batch_per_rank": per_rank, "image_size": a.image_size or data.size_px, "warmup_steps": a.warmup,
            "timed_steps": a.steps, "channels_last": a.channels_last, "bucket_mb": a.bucket_mb,
            "device": str(device), "backend": "nccl" if cuda else "gloo", "precision": a.precision,
            "images_per_second": ips, "step_ms": step_ms,
        }
        for j, k in enumerate(phases, start=2):
            result[k] = float(np.mean([g[j].item() for g in gathered]))
        result["other_ms"] = step_ms - sum(result[k] for k in phases)
        result["cpu_ms"] = float(np.mean([g[1].item() for g in gathered]))
        first = 2 + len(phases)
        result["per_rank"] = [{"rank": r, "images_per_second": a.steps * a.global_batch / g[0].item(),
                               "cpu_ms": g[1].item(), **{k: g[j].item() for j, k in enumerate(phases, start=2)},
                               "each_step_ms": [round(v, 1) for v in g[first:].tolist()]}
                              for r, g in enumerate(gathered)]
        print(f"torch DDP reference: ResNet-{a.depth}, {world} ranks x {a.threads} thread(s) on {device}, global batch "
              f"{a.global_batch} ({per_rank}/rank), {a.image_size or data.size_px} px, {a.precision}, "
              f"{a.warmup} warm-up + {a.steps} timed steps")
        print(f"  {ips:.2f} img/s, {step_ms:.1f} ms/step")
        for k in list(phases) + ["other_ms"]:
            print(f"  {k[:-3].replace('_', ' '):<14} {result[k]:10.1f} ms {100 * result[k] / step_ms:6.1f} %")
        print(f"  CPU time: {result['cpu_ms']:.1f} ms/step per rank ({100 * result['cpu_ms'] / step_ms:.0f}% of the wall step)")
        print("  (gradient all-reduce runs inside backward: DDP gives no separate exposed-comm time)")
        print(json.dumps(result))
        if a.json:
            with open(a.json + ".tmp", "w") as f:
                f.write(json.dumps(result, indent=1) + "\n")
            os.replace(a.json + ".tmp", a.json)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

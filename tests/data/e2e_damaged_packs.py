#!/usr/bin/python3
"""Issue 9 acceptance: twelve kinds of damage to a small phantom pack, each given to `cxrtrain info --verify`
and to a 2-step `cxrtrain train` (world size 1; three of them also under mpirun -np 2). Every one of the
24 (+3) runs must end with exit status 1 or 2 (never a signal) and a message naming the shard or file, and
no train run may train a step or write a checkpoint. The same damage is also given to plain `info` (the
cheap header checks) and to `train --set data.verify=none` (no sha256 pass: the schema checks on open and
the chunk checksums on read must catch it): both must refuse every kind except the 200 flipped bytes,
which land in image data that a 2-step run or a header check may never read (reported, not required). A 13th check: h5py, with no cxrtrain code, refuses to
read an image chunk whose bytes were changed (the Fletcher-32 filter every pack dataset carries).
The damage is done with h5py and by hand. Usage: e2e_damaged_packs.py CXRTRAIN [MPIEXEC]
"""
import json
import os
import random
import re
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
from e2e_common import TINY_MODEL, CheckFailed, Harness, check  # noqa: E402

try:
    import h5py
    import numpy as np
except ImportError:
    print("h5py/numpy not available: skipped")
    sys.exit(77)

h = Harness("damaged")
pristine = h.make_pack(n=240, size=32, seed=3)
subprocess_env = dict(os.environ)
manifest = json.load(open(os.path.join(pristine, "manifest.json")))
train_shards = [s["file"] for s in manifest["splits"]["train"]["shards"]]
val_shards = [s["file"] for s in manifest["splits"]["val"]["shards"]]
check(len(train_shards) >= 1 and val_shards, "expected train and val shards")
TARGET = train_shards[0]
SIDE = manifest["image_size"]


def write_manifest(pack, m):
    with open(os.path.join(pack, "manifest.json"), "w") as f:
        json.dump(m, f, indent=2)


def recreate(f, name, data, **kw):
    del f[name]
    f.create_dataset(name, data=data, **kw)


def images_uint16(pack):
    with h5py.File(os.path.join(pack, TARGET), "r+") as f:
        recreate(f, "images", f["images"][...].astype(np.uint16), chunks=(1, SIDE, SIDE))


def images_other_side(pack):
    with h5py.File(os.path.join(pack, TARGET), "r+") as f:
        n = f["images"].shape[0]
        recreate(f, "images", np.zeros((n, SIDE + 8, SIDE + 8), np.uint8), chunks=(1, SIDE + 8, SIDE + 8))


def manifest_understates_side(pack):
    m = json.load(open(os.path.join(pack, "manifest.json")))
    m["image_size"] = SIDE // 2
    write_manifest(pack, m)


def labels_seven(pack):
    with h5py.File(os.path.join(pack, TARGET), "r+") as f:
        f["labels"][0, 3] = 7


def image_index_short(pack):
    with h5py.File(os.path.join(pack, TARGET), "r+") as f:
        names = f["image_index"][...]
        recreate(f, "image_index", names[:-1])


def flipped_bytes(pack):
    path = os.path.join(pack, TARGET)
    data = bytearray(open(path, "rb").read())
    rng = random.Random(200)
    for _ in range(200):
        i = rng.randrange(len(data))
        data[i] ^= rng.randrange(1, 256)
    open(path, "wb").write(bytes(data))


def classes_reversed_in_manifest(pack):
    m = json.load(open(os.path.join(pack, "manifest.json")))
    m["classes"] = list(reversed(m["classes"]))
    write_manifest(pack, m)


def classes_reversed_in_shard(pack):
    with h5py.File(os.path.join(pack, TARGET), "r+") as f:
        classes = list(f.attrs["classes"])
        f.attrs["classes"] = np.array(list(reversed(classes)), dtype=f.attrs["classes"].dtype)


def truncated_shard(pack):
    path = os.path.join(pack, TARGET)
    os.truncate(path, os.path.getsize(path) // 2)


def missing_shard(pack):
    os.remove(os.path.join(pack, TARGET))


def two_images_per_chunk(pack):
    with h5py.File(os.path.join(pack, TARGET), "r+") as f:
        recreate(f, "images", f["images"][...], chunks=(2, SIDE, SIDE), fletcher32=True)


def shard_of_another_split(pack):
    shutil.copyfile(os.path.join(pack, val_shards[0]), os.path.join(pack, TARGET))


DAMAGES = [
    ("images stored as uint16", images_uint16, TARGET),
    ("images of another side", images_other_side, TARGET),
    ("manifest under-states the image size", manifest_understates_side, TARGET),
    ("a label of value 7", labels_seven, TARGET),
    ("image_index shorter than labels", image_index_short, TARGET),
    ("200 flipped bytes in a shard", flipped_bytes, TARGET),
    ("class order reversed in the manifest", classes_reversed_in_manifest, "manifest.json"),
    ("class order reversed in the shard attribute", classes_reversed_in_shard, TARGET),
    ("shard truncated to half", truncated_shard, TARGET),
    ("shard file missing", missing_shard, TARGET),
    ("two images per chunk", two_images_per_chunk, TARGET),
    ("a shard of another split in its place", shard_of_another_split, TARGET),
]
MPI_TOO = {"images stored as uint16", "200 flipped bytes in a shard", "shard truncated to half"}
results = []


def expect_refusal(title, r, names, run_dir=None):
    check(r.rc >= 0, f"{title}: killed by signal {-r.rc}:\n{r.tail()}")
    check(r.rc in (1, 2), f"{title}: exit status {r.rc}, expected 1 or 2:\n{r.tail()}")
    check(any(n in r.output for n in names), f"{title}: the message names none of {names}:\n{r.tail()}")
    if run_dir is not None:
        check(not re.search(r"step \d+/\d+ ", r.output), f"{title}: it trained:\n{r.tail()}")
        check(not os.path.exists(os.path.join(run_dir, "checkpoints", "last.pt")), f"{title}: wrote a checkpoint")
    first = next((line for line in r.output.splitlines() if "error" in line or "failed" in line), r.output[-200:])
    results.append((title, r.rc, first.strip()[:160]))


def run_case(title, fn, named):
    pack = os.path.join(h.tmp, re.sub(r"\W+", "_", title))
    shutil.copytree(pristine, pack)
    fn(pack)
    names = [named]  # the shard itself, or manifest.json when the lie is there
    r = h.run([h.exe, "info", "--verify", "--no-progress", pack], timeout=120, log_name="info")
    expect_refusal(f"info --verify / {title}", r, names)
    sets = TINY_MODEL + ["train.global_batch=8", "train.max_steps=2", "log.interval=1", f"data.pack={pack}"]
    may_pass = title.startswith("200 flipped bytes")
    r = h.run([h.exe, "info", pack], timeout=120, log_name="info")
    if r.rc == 0 and may_pass:
        results.append((f"info / {title}", 0, "(accepted: the header checks read no image data)"))
    else:
        expect_refusal(f"info / {title}", r, names)
    run_dir = os.path.join(h.tmp, "run_noverify_" + os.path.basename(pack))
    cmd = [h.exe, "train", "--set", f"run_dir={run_dir}", "--set", "data.verify=none"]
    for x in sets:
        cmd += ["--set", x]
    r = h.run(cmd, timeout=120, log_name="train")
    if r.rc == 0 and may_pass:
        results.append((f"train verify=none / {title}", 0, "(trained: the damaged bytes were not in the rows read)"))
    else:
        expect_refusal(f"train verify=none / {title}", r, names, run_dir)
    for np_ in ([1, 2] if title in MPI_TOO else [1]):
        run_dir = os.path.join(h.tmp, f"run_{np_}_" + os.path.basename(pack))
        cmd = (h.mpi_prefix(np_) if np_ > 1 else []) + [h.exe, "train", "--set", f"run_dir={run_dir}"]
        for s in sets:
            cmd += ["--set", s]
        r = h.run(cmd, timeout=120, log_name="train")
        expect_refusal(f"train -np {np_} / {title}", r, names, run_dir)
    shutil.rmtree(pack, ignore_errors=True)


def h5py_detects_damaged_chunk():
    pack = os.path.join(h.tmp, "h5py_chunk")
    shutil.copytree(pristine, pack)
    path = os.path.join(pack, TARGET)
    with h5py.File(path, "r") as f:
        info = f["images"].id.get_chunk_info(5)
        before = f["images"][4]
    data = bytearray(open(path, "rb").read())
    data[info.byte_offset + SIDE * SIDE // 2] ^= 0x40
    open(path, "wb").write(bytes(data))
    with h5py.File(path, "r") as f:
        check((f["images"][4] == before).all(), "the neighbouring chunk changed")
        try:
            f["images"][5]
        except OSError as e:
            print(f"    h5py refuses the damaged chunk: {e}")
            return
    raise CheckFailed("h5py read a chunk whose bytes were changed without an error")


for title, fn, named in DAMAGES:
    h.case(title, lambda fn=fn, title=title, named=named: run_case(title, fn, named))
h.case("h5py detects a damaged image chunk (Fletcher-32)", h5py_detects_damaged_chunk)
print(f"\n{'run':60s} {'exit':>4s}  message")
for title, rc, msg in results:
    print(f"{title:60s} {rc:4d}  {msg}")
print(f"{len(results)} runs refused with exit 1 or 2")
h.finish()

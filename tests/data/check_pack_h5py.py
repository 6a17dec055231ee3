#!/usr/bin/python3
"""Opens a cxrtrain pack with h5py only (no cxrtrain code) and checks the schema of DESIGN.md, the
Fletcher-32 filter on every dataset and each shard's sha256 (hashlib) against manifest.json.

Usage: check_pack_h5py.py PACK_DIR SHARED_DATA_DIR
Exits non-zero with a message on the first violation. Labels are checked against
SHARED_DATA_DIR/MANIFEST.csv, an independent record of each image's v2020 labels.
"""
import csv
import hashlib
import json
import os
import sys

import h5py
import numpy as np

CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis",
           "Hernia", "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"]


def main(pack, shared):
    manifest = json.load(open(os.path.join(pack, "manifest.json")))
    assert manifest["schema"] == "cxrtrain.pack/1", manifest["schema"]
    assert manifest["classes"] == CLASSES
    truth = {}
    for row in csv.DictReader(open(os.path.join(shared, "MANIFEST.csv"))):
        if row["path"].startswith("images/"):
            truth.setdefault(os.path.basename(row["path"]), row)
    side = manifest["image_size"]
    total = 0
    for split, info in manifest["splits"].items():
        rows = 0
        for shard in info["shards"]:
            digest = hashlib.sha256(open(os.path.join(pack, shard["file"]), "rb").read()).hexdigest()
            assert shard.get("sha256") == digest, (shard["file"], shard.get("sha256"), digest)
            with h5py.File(os.path.join(pack, shard["file"]), "r") as f:
                assert f.attrs["schema"] == b"cxrtrain.pack/1" or f.attrs["schema"] == "cxrtrain.pack/1"
                split_attr = f.attrs["split"]
                split_attr = split_attr.decode() if isinstance(split_attr, bytes) else split_attr
                assert split_attr == split, (split_attr, split)
                classes = [c.decode() if isinstance(c, bytes) else c for c in f.attrs["classes"]]
                assert classes == CLASSES, classes
                n = shard["rows"]
                assert f["images"].shape == (n, side, side) and f["images"].dtype == np.uint8
                assert f["images"].chunks == (1, side, side)
                # Every dataset carries HDF5's Fletcher-32 filter, so h5py itself detects a damaged chunk.
                for name in f:
                    assert f[name].size == 0 or f[name].fletcher32, f"{shard['file']}: {name} has no checksum filter"
                assert f["labels"].shape == (n, 14) and f["labels"].dtype == np.uint8
                for name, dtype in [("patient_id", np.int32), ("age", np.int16), ("sex", np.int8),
                                    ("view", np.int8), ("follow_up", np.int32)]:
                    assert f[name].shape == (n,) and f[name].dtype == dtype, name
                assert f["orig_size"].shape == (n, 2) and f["pixel_spacing"].dtype == np.float32
                for i in range(n):
                    name = f["image_index"][i].decode()
                    t = truth[name]
                    want = [] if t["v2020_finding_labels"] == "No Finding" else t["v2020_finding_labels"].split("|")
                    got = [CLASSES[c] for c in np.nonzero(f["labels"][i])[0]]
                    assert sorted(got) == sorted(want), (name, got, want)
                    assert int(f["age"][i]) == int(t["v2020_age"]), name
                    assert int(f["sex"][i]) == (1 if t["v2020_sex"] == "M" else 0), name
                    assert int(f["view"][i]) == (0 if t["v2020_view"] == "PA" else 1), name
                    assert (split == "test") == (t["official_split"] == "test"), name
                    assert f["images"][i].std() > 5, name + " looks blank"
                rows += n
        assert rows == info["count"], (split, rows, info["count"])
        total += rows
    assert total > 0
    print(f"h5py: {total} images in {len(manifest['splits'])} splits match the schema and MANIFEST.csv")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

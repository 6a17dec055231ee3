#!/usr/bin/python3
"""End-to-end: a bad configuration is a clear error before any rank starts work (issue 4, criterion 6),
under mpirun -np 2/3: non-zero exit within seconds, a message that names the key and what to do, and
no training, no run directory, no checkpoint.
a. A misspelt key on the command line (train.global_bach) and in a YAML file: "did you mean
   'train.global_batch'".
b. train.global_batch not divisible by the number of ranks (4 on -np 3).
c. A value outside its enumeration (model.norm=group) names the valid values.
d. Settings this device cannot honour: train.backend=nccl and train.precision=bf16 on a CPU job.
e. Values that once trained or failed late (issue 9): an integer that overflows (global_batch
   4294967304), inf and NaN for a float key: exit 2 naming the key, before any work. And
   model.in_channels=3 on grey films trains (the channel is replicated), exit 0.
Usage: e2e_config_errors.py CXRTRAIN [MPIEXEC]
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from e2e_common import TINY_MODEL, Harness, check

QUICK = 60.0  # seconds: generous for a loaded machine; a config error takes ~1 s

h = Harness("config_errors")
h.make_pack(n=400, size=32)


def rejected(np, name, sets, expect, extra=()):
    run_dir = os.path.join(h.tmp, name)
    r = h.run(h.train_cmd(np, run_dir, TINY_MODEL + list(sets), extra), timeout=QUICK + 60, run_dir=run_dir,
              log_name=name)
    print(f"    -np {np}: exit {r.rc} after {r.seconds:.2f} s; message: "
          + next((l.strip() for l in r.output.splitlines() if expect in l), "(not found)"))
    check(r.rc != 0, f"exited 0 on a bad configuration:\n{r.tail()}")
    check(r.seconds < QUICK, f"took {r.seconds:.1f} s to reject the configuration")
    check(expect in r.output, f"expected {expect!r} in the output:\n{r.tail()}")
    check("training ResNet" not in r.output and "step 1/" not in r.output, "training started anyway")
    check(not os.path.exists(os.path.join(run_dir, "checkpoints")), "a checkpoint directory was created")
    return r


def misspelt_key():
    rejected(2, "typo_set", ["train.global_bach=4"], "did you mean 'train.global_batch'")
    yaml = os.path.join(h.tmp, "typo.yaml")
    with open(yaml, "w") as f:
        f.write("train:\n  global_bach: 4\n")
    r = rejected(2, "typo_yaml", [], "did you mean 'train.global_batch'", extra=["--config", yaml])
    check("typo.yaml" in r.output, "the error does not name the YAML file")


def indivisible_batch():
    r = rejected(3, "indivisible", ["train.global_batch=4"], "is not divisible by the 3 ranks")
    check("multiple of the rank count" in r.output, f"no hint on what to do:\n{r.tail()}")
    check(not os.path.exists(os.path.join(h.tmp, "indivisible")), "the run directory was created")


def bad_enum():
    rejected(2, "bad_norm", ["model.norm=group"], "must be one of: batch, none")


def cpu_cannot():
    rejected(2, "nccl_on_cpu", ["train.device=cpu", "train.backend=nccl"], "train.backend=nccl needs CUDA tensors")
    rejected(2, "bf16_on_cpu", ["train.device=cpu", "train.precision=bf16"], "train.precision=bf16 needs a CUDA device")


def overflow_and_non_finite():
    for name, sets, expect in (("overflow", ["train.global_batch=4294967304"], "outside the range of an integer"),
                               ("lr_inf", ["train.lr=inf"], "must be finite"),
                               ("lr_nan", ["train.lr=nan"], "must be finite"),
                               ("std_inf", ["data.std=-inf"], "must be finite")):
        r = rejected(2, name, sets, expect)
        check(r.rc == 2, f"{name}: exit {r.rc}, expected 2")
        check(sets[0].split("=")[0] in r.output, f"{name}: the key is not named")
    ok = h.run(h.train_cmd(1, os.path.join(h.tmp, "rgb"), TINY_MODEL + ["model.in_channels=3", "train.max_steps=2",
                                                                      "train.global_batch=8"]), timeout=120)
    check(ok.rc == 0 and "trained 2 steps" in ok.output, f"model.in_channels=3 did not train:\n{ok.tail()}")


h.case("6a. misspelt key => 'did you mean', before any work (-np 2)", misspelt_key)
h.case("6b. global_batch not divisible by ranks => clear error, before any work (-np 3)", indivisible_batch)
h.case("6c. model.norm outside its values => clear error (-np 2)", bad_enum)
h.case("6d. nccl / bf16 on a CPU job => clear error naming the setting, before any work (-np 2)", cpu_cannot)
h.case("6e. overflow, inf and NaN values => exit 2 naming the key; in_channels=3 trains (-np 2)",
       overflow_and_non_finite)
h.finish()

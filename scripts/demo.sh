#!/usr/bin/env bash
# Command (1): install what is missing, build, and run the main job end to end:
#   1. metadata check of all 112,120 NIH images and a pack of the real NIH PNGs in ../shared/data;
#   2. the phantom study so far: synth a phantom pack -> `mpirun -np 2` training (bucketed gradient
#      all-reduce over MPI) -> per-class validation AUROC, with the learnability probe alongside.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
SHARED=${SHARED_DATA:-../shared/data}
OUT=${OUT:-out/demo}
CXR=${BUILD_DIR:-build}/launch/cxrtrain
NP=${NP:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"

echo "== 1a. metadata check on the full NIH v2020 CSV (no images needed)"
"$CXR" pack --dry-run --nih-root "$SHARED/nih_metadata"
echo "== 1b. pack the real NIH PNGs that are present, and describe the pack"
"$CXR" pack --nih-root "$SHARED/nih_metadata" --images "$SHARED/images" --allow-missing \
  --out "$OUT/nih_sample_pack" --overwrite --no-progress
"$CXR" info "$OUT/nih_sample_pack"

echo "== 2a. synthesize the phantom (NIH statistics, lesion masks) and its gallery"
"$CXR" synth --out "$OUT/phantom64" --n 8000 --size 64 --seed 0 --overwrite --no-progress \
  --gallery "$OUT/phantom_gallery.png"
echo "== 2b. train ResNet-18 (x0.25) on $NP ranks: mpirun -np $NP cxrtrain train"
rm -rf "$OUT/run"
mpirun --oversubscribe -np "$NP" "$CXR" train --config configs/phantom_demo.yaml \
  --set data.pack="$OUT/phantom64" --set run_dir="$OUT/run"
echo "== 2c. learnability probe (TinyCnn, 1500 steps): obvious classes easy, subtle ones hard"
"$CXR" probe --pack "$OUT/phantom64" --steps 1500 --seconds 600 --threads 2 --quiet --json "$OUT/probe.json"
echo "== done: outputs in $OUT (run directory $OUT/run: config.yaml, train.log, metrics.jsonl, checkpoints/)"

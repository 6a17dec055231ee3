#!/usr/bin/env bash
# Command (1): install what is missing, build, and run the main job end to end:
#   1. metadata check of all 112,120 NIH images and a pack of the real NIH PNGs in ../shared/data;
#   2. the phantom study: synth a 256 px phantom pack with text-mining label noise (the truth kept as expert
#      labels) and a planted shortcut (a marker on 90 % of the Nodule-positive training films, bottom left)
#      -> `mpirun -np 2` training (bucketed gradient all-reduce over MPI) -> `mpirun -np 2` evaluation of the
#      test split (per-class AUROC with DeLong and bootstrap CIs, calibration, subgroups, expert labels) ->
#      Grad-CAM as a measurement (region shares, shortcut flags, pointing game, randomisation check,
#      deletion curves, and the causal test on re-rendered films) -> the report (HTML + Markdown);
#   3. Grad-CAM on the real NIH films (template regions, NIH boxes) with the phantom-trained model;
#   4. the learnability probe.
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

echo "== 2a. synthesize the phantom (NIH statistics, lesion masks, label noise x1, a planted Nodule marker) and its gallery"
"$CXR" synth --out "$OUT/phantom256" --n 8000 --size 256 --seed 0 --label-noise 1 \
  --shortcut Nodule:0.9:bottom-left --overwrite --no-progress --gallery "$OUT/phantom_gallery.png"
echo "== 2b. train ResNet-18 (x0.25) on $NP ranks: mpirun -np $NP cxrtrain train"
rm -rf "$OUT/run"
mpirun --oversubscribe -np "$NP" "$CXR" train --config configs/phantom_demo.yaml \
  --set data.pack="$OUT/phantom256" --set run_dir="$OUT/run"
echo "== 2c. evaluate the test split on $NP ranks: mpirun -np $NP cxrtrain evaluate"
mpirun --oversubscribe -np "$NP" "$CXR" evaluate --run "$OUT/run"
echo "== 2d. Grad-CAM as a measurement, and the causal test of the planted marker (rank 0)"
OMP_NUM_THREADS=$NP "$CXR" gradcam --run "$OUT/run" --no-progress
echo "== 2e. the report"
"$CXR" report --run "$OUT/run"
echo "== 3. Grad-CAM on the real NIH films in ../shared/data (template regions, NIH boxes), phantom-trained model"
rm -rf "$OUT/run_nih" && mkdir -p "$OUT/run_nih" && cp -r "$OUT/run/config.yaml" "$OUT/run/checkpoints" "$OUT/run_nih/"
"$CXR" evaluate --run "$OUT/run_nih" --set data.pack="$OUT/nih_sample_pack" --bootstrap 200
"$CXR" gradcam --run "$OUT/run_nih" --set data.pack="$OUT/nih_sample_pack" --no-progress
echo "== 4. learnability probe (TinyCnn at 64 px, 1500 steps): obvious classes easy, subtle ones hard"
"$CXR" probe --pack "$OUT/phantom256" --size 64 --steps 1500 --seconds 600 --threads 2 --quiet --json "$OUT/probe.json"
echo "== done: outputs in $OUT (run directory $OUT/run: config.yaml, train.log, metrics.jsonl, checkpoints/, eval/test/,"
echo "   gradcam/ with cam_stats.json and overlays/)"
echo "   report: $OUT/run/report/index.html (and report.md)"

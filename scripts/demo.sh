#!/usr/bin/env bash
# Command (1): install what is missing, build, and run the main job end to end:
#   1. metadata check of all 112,120 NIH images and a pack of the real NIH PNGs in ../shared/data;
#   2. the phantom study in one job, `mpirun -np 2 cxrtrain study --config configs/phantom_study.yaml`: synth a
#      256 px phantom pack with text-mining label noise (the truth kept as expert labels) and a planted shortcut
#      (a marker on 90 % of the Nodule-positive training films, bottom left) -> training (bucketed gradient
#      all-reduce over MPI) -> evaluation of the test split (per-class AUROC with DeLong and bootstrap CIs,
#      calibration, subgroups, expert labels) -> Grad-CAM as a measurement (region shares, shortcut flags,
#      pointing game, randomisation check, deletion curves, the causal tests on re-rendered films) -> robustness
#      probes (every image shift at 3 severities, phantom scanner changes, the planted marker made label-independent
#      or removed, FGSM/PGD; paired DeLong against the unshifted films) -> the report;
#   3. multi-seed variance: 4 seeds on a 128 px phantom as 2 groups of 1 rank (study --seeds 4) -> seeds/summary.json
#      and a report with the seed-to-seed section;
#   4. Grad-CAM on the real NIH films (template regions, NIH boxes) with the phantom-trained model;
#   5. the learnability probe.
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

echo "== 2. the phantom study: mpirun -np $NP cxrtrain study (synth -> train -> evaluate -> gradcam -> robustness -> report)"
rm -rf "$OUT/study"
mpirun --oversubscribe -np "$NP" "$CXR" study --config configs/phantom_study.yaml --no-progress \
  --set data.pack="$OUT/study/phantom256" --set run_dir="$OUT/study/run"
"$CXR" synth --gallery "$OUT/phantom_gallery.png" --size 256 --seed 0
echo "== 3. multi-seed variance: 4 seeds as $NP groups (mpirun -np $NP cxrtrain study --seeds 4)"
rm -rf "$OUT/seeds"
mpirun --oversubscribe -np "$NP" "$CXR" study --config configs/phantom_seeds.yaml --no-progress \
  --set data.pack="$OUT/seeds/phantom128" --set run_dir="$OUT/seeds/run"
echo "== 4. Grad-CAM on the real NIH films in ../shared/data (template regions, NIH boxes), phantom-trained model"
rm -rf "$OUT/run_nih" && mkdir -p "$OUT/run_nih" && cp -r "$OUT/study/run/config.yaml" "$OUT/study/run/checkpoints" "$OUT/run_nih/"
"$CXR" evaluate --run "$OUT/run_nih" --set data.pack="$OUT/nih_sample_pack" --bootstrap 200
"$CXR" gradcam --run "$OUT/run_nih" --set data.pack="$OUT/nih_sample_pack" --no-progress
echo "== 5. learnability probe (TinyCnn at 64 px, 1500 steps): obvious classes easy, subtle ones hard"
"$CXR" probe --pack "$OUT/study/phantom256" --size 64 --steps 1500 --seconds 600 --threads 2 --quiet --json "$OUT/probe.json"
echo "== done: outputs in $OUT: the phantom study in $OUT/study/run (config.yaml, train.log, metrics.jsonl,"
echo "   checkpoints/, eval/test/, gradcam/, robustness/, study.json), the seeds in $OUT/seeds/run (seeds/seed_*/, seeds/summary.json)"
echo "   seeds report: $OUT/seeds/run/report/index.html"
echo "   report: $OUT/study/run/report/index.html"

#!/usr/bin/env bash
# Command (1): install what is missing, build, and run the main job end to end.
# Today the main job packs the real NIH sample in ../shared/data (40 PNGs + the full v2020
# metadata) and describes the pack; it grows into the full phantom study as the trainer lands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
SHARED=${SHARED_DATA:-../shared/data}
OUT=${OUT:-out/demo}
CXR=${BUILD_DIR:-build}/launch/cxrtrain
mkdir -p "$OUT"
echo "== metadata check on the full NIH v2020 CSV (no images needed)"
"$CXR" pack --dry-run --nih-root "$SHARED/nih_metadata"
echo "== pack the real NIH PNGs that are present"
"$CXR" pack --nih-root "$SHARED/nih_metadata" --images "$SHARED/images" --allow-missing \
  --out "$OUT/nih_sample_pack" --overwrite --no-progress
echo "== describe the pack"
"$CXR" info "$OUT/nih_sample_pack"

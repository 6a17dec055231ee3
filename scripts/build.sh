#!/usr/bin/env bash
# Configures and builds cxrtrain with Ninja (+ ccache) into ${BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@"
fi
# LibTorch translation units need ~1.5 GB of memory each; one job per core is safe here.
cmake --build "$BUILD_DIR" -- -j"$(nproc)"

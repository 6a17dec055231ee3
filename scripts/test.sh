#!/usr/bin/env bash
# Command (2): install what is missing, build, run the whole test suite and print ctest's summary; then a
# second build of the libraries that need no LibTorch (core, the pack format and phantom, statistics) with
# AddressSanitizer + UndefinedBehaviorSanitizer, and their tests (the seeded pack fuzz among them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
BUILD_DIR=${SANITIZE_BUILD_DIR:-build-asan} BUILD_TYPE=RelWithDebInfo bash scripts/build.sh -DCXR_TORCH=OFF -DCXR_SANITIZE=ON
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
status=0
echo "== main build: every test"
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 900 -j"${CTEST_JOBS:-2}") || status=1
echo "== sanitizer build (ASan + UBSan): torch-free libraries and their tests"
(cd "${SANITIZE_BUILD_DIR:-build-asan}" && ctest --output-on-failure --timeout 900 -j"${CTEST_JOBS:-2}") || status=1
exit $status

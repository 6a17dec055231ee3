#!/usr/bin/env bash
# Command (2): install what is missing, build, run the whole test suite and print ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j"${CTEST_JOBS:-2}"

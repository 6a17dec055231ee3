#!/usr/bin/env bash
# The GPU checks, as one script for a CUDA machine that has PyTorch but not this project's Debian
# dependencies (the `device` tool's machine, or a cluster node):
#   build  cxrtrain against the PyTorch found there (its LibTorch, CUDA and pip NCCL), with OpenCV core and
#          imgproc from the Debian packages in .gpu-deps/ unpacked by dpkg -x (cmake/CxrOpenCV.cmake finds
#          them without a config package); every other dependency must be installed already.
#   1      the torch-free NCCL core on raw device buffers (cxr_nccl_compile_check, one rank)
#   2      a short training run with train.backend=nccl, bf16 autocast, channels_last (one rank, so a
#          one-rank NCCL communicator): loss falls, validation AUROC printed, state digest
#   3      cxrtrain bench at 224 px, fp32 and bf16, channels_last: img/s and the step breakdown
#   4      two ranks on a one-GPU machine: both see one GPU and take it (as under srun --gpus-per-task),
#          so NCCL must refuse them ("Duplicate GPU") and the job stop at once
# Logs, JSON and a summary go to $OUT (default ./gpu_check_out). Each step runs even if an earlier one
# failed (except after a failed build); the exit status is the number of failed steps.
#
#   bash scripts/gpu_check.sh --fetch     # on a Debian 12 machine with apt: fill .gpu-deps/
#   bash scripts/gpu_check.sh             # on the GPU machine (the device tool: carry .gpu-deps)
#
# Status: written on a CPU-only machine. The OpenCV-from-packages build path was checked there (a test
# program linked against the unpacked packages and ran); the GPU steps have not been run yet.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 99
ROOT=$PWD

DEBS="libopencv-core406 libopencv-core-dev libopencv-imgproc406 libopencv-imgproc-dev libtbb12 libblas3
liblapack3 libgfortran5 libquadmath0 libglx0 libglvnd0 libgl1 libx11-6 libx11-data libxcb1 libxau6 libxdmcp6
libbsd0 libmd0"

if [[ "${1:-}" == "--fetch" ]]; then
  mkdir -p .gpu-deps && cd .gpu-deps && apt-get download $DEBS
  exit $?
fi

OUT=${OUT:-$ROOT/gpu_check_out}
WORK=${WORK:-/tmp/cxr_gpu_check}
DEPS=${DEPS:-/tmp/cxr_gpu_deps}
BUILD=${BUILD:-$ROOT/build-gpu}
mkdir -p "$OUT" "$WORK"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
FAILED=0
note() { echo "$*" | tee -a "$SUMMARY"; }
step() {  # step NAME COMMAND...: runs it with its log in $OUT/NAME.log, notes pass/fail and seconds
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name: $*"
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  if [[ $rc -eq 0 ]]; then note "PASS $name ($((SECONDS - t0)) s)"; else note "FAIL $name: exit $rc ($((SECONDS - t0)) s)"; FAILED=$((FAILED + 1)); fi
  return $rc
}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)

# --- environment ------------------------------------------------------------------------------------------
if [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH CUDACXX=/usr/local/cuda/bin/nvcc; fi
PY=""
for p in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
  if command -v "$p" > /dev/null && "$p" -c 'import torch' 2> /dev/null; then PY=$p; break; fi
done
[[ -n "$PY" ]] || { note "FAIL environment: no python3 with torch"; exit 99; }
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
NCCL_DIR=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2> /dev/null || true)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count(), "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'
  echo "nccl dir: ${NCCL_DIR:-none}"
  nproc
} 2>&1 | tee "$OUT/environment.txt"

# --- OpenCV core/imgproc from Debian packages, when the machine has no OpenCV ------------------------------
EXTRA_PREFIX=""
if ! ls /usr/include/opencv4/opencv2/core.hpp > /dev/null 2>&1; then
  if ! ls .gpu-deps/*.deb > /dev/null 2>&1; then
    note "FAIL environment: no OpenCV here and no .gpu-deps/*.deb (run: bash scripts/gpu_check.sh --fetch, then carry .gpu-deps)"
    exit 99
  fi
  rm -rf "$DEPS" && mkdir -p "$DEPS"
  for d in .gpu-deps/*.deb; do dpkg -x "$d" "$DEPS"; done
  L=$DEPS/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$L:$L/blas:$L/lapack${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  EXTRA_PREFIX=";$DEPS/usr"
fi

# --- build ------------------------------------------------------------------------------------------------
NCCL_ARGS=()
if [[ -n "$NCCL_DIR" ]]; then
  NCCL_LIB=$(ls "$NCCL_DIR"/lib/libnccl.so* 2> /dev/null | head -1)
  NCCL_ARGS=(-DNCCL_INCLUDE_DIR="$NCCL_DIR/include" -DNCCL_LIBRARY="$NCCL_LIB")
  export LD_LIBRARY_PATH=$NCCL_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCXR_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX$EXTRA_PREFIX" -DCXR_WITH_NCCL=ON "${NCCL_ARGS[@]}" \
  ${CXX_STANDARD:+-DCMAKE_CXX_STANDARD=$CXX_STANDARD} || exit 98
grep -E "cxrtrain:|NCCL|OpenCV" "$OUT/configure.log" | head -20
step build ninja -C "$BUILD" -k 0 cxrtrain cxr_nccl_compile_check || exit 97
CXR=$BUILD/launch/cxrtrain

# --- 1. NCCL core -------------------------------------------------------------------------------------------
step nccl_core "${MPIRUN[@]}" -np 1 "$BUILD/comm/cxr_nccl_compile_check"

# --- 2. short training run: NCCL, bf16, channels_last ------------------------------------------------------
PACK=$WORK/phantom256
[[ -f $PACK/manifest.json ]] || step synth "$CXR" synth --out "$PACK" --n 12000 --size 256 --seed 1 --no-progress
step train_nccl_bf16 "${MPIRUN[@]}" -np 1 -x OMP_NUM_THREADS=8 "$CXR" train --config configs/reference_study.yaml \
  --set data.pack="$PACK" --set run_dir="$WORK/run_nccl_bf16" --set train.backend=nccl --set train.precision=bf16 \
  --set train.channels_last=true --set train.global_batch=128 --set train.epochs=2 --set loader.workers=8 \
  --set log.interval=10
grep -E "gradients over|macro|digest|img/s" "$OUT/train_nccl_bf16.log" | tail -8 | tee -a "$SUMMARY"

# --- 3. bench at 224 px, fp32 and bf16 ---------------------------------------------------------------------
for prec in fp32 bf16; do
  step "bench_224_$prec" "${MPIRUN[@]}" -np 1 -x OMP_NUM_THREADS=8 "$CXR" bench --config configs/reference_study.yaml \
    --set data.pack="$PACK" --set data.image_size=224 --set train.precision=$prec --set train.channels_last=true \
    --set train.global_batch=256 --set loader.workers=8 --steps 20 --warmup 5 --json "$OUT/bench_224_$prec.json"
  grep -E "img/s,|forward|backward|exposed|optimiser" "$OUT/bench_224_$prec.log" | head -6 | tee -a "$SUMMARY"
done

# --- 4. more local ranks than GPUs: refused at once ---------------------------------------------------------
GPUS=$(nvidia-smi -L 2> /dev/null | wc -l)
if [[ "$GPUS" == 1 ]]; then
  t0=$SECONDS
  "${MPIRUN[@]}" -np 2 -x OMP_NUM_THREADS=4 "$CXR" train --config configs/reference_study.yaml \
    --set data.pack="$PACK" --set run_dir="$WORK/run_two_ranks" --set train.global_batch=64 > "$OUT/two_ranks_one_gpu.log" 2>&1
  rc=$?
  if [[ $rc -ne 0 ]] && grep -q -i "duplicate GPU" "$OUT/two_ranks_one_gpu.log"; then
    note "PASS two_ranks_one_gpu: exit $rc after $((SECONDS - t0)) s: $(grep -i -m1 "duplicate GPU" "$OUT/two_ranks_one_gpu.log")"
  else
    note "FAIL two_ranks_one_gpu: exit $rc, message not found"; FAILED=$((FAILED + 1))
  fi
fi

echo; cat "$SUMMARY"
exit $FAILED

#!/usr/bin/env bash
# The GPU check as one self-contained script: a CUDA machine with PyTorch and nothing else of cxrtrain's
# dependencies (the `device` tool's machine: no Debian packages, no mpirun, no HDF5/spdlog/yaml-cpp/OpenCV
# headers, no internet, maybe gVisor) gets them from a bundle of Debian 12 packages made beforehand.
#
#   bash scripts/gpu_check.sh --fetch      Debian 12 with apt: resolve and download the bundle into .gpu-deps/
#                                          (git-ignored, ~38 MiB: carry it to the GPU machine)
#   bash scripts/gpu_check.sh --preflight  seconds: unpack the bundle and name anything missing
#   bash scripts/gpu_check.sh              the GPU run (below), ~5 min on 16 cores, 8 min at most
#   bash scripts/gpu_check.sh --rehearse   here, on a CPU machine: the same dependency path in a mount
#                                          namespace where every -dev package the GPU machine lacks is hidden
#                                          (an overlay of whiteouts on /usr), built against the bundle and
#                                          Debian's LibTorch, then `mpirun -np 2 cxrtrain train` (MPI, CPU)
#
# The bundle is relocated, not installed (scripts/gpu_env.sh): unpacked with dpkg-deb into $WORK/deps,
# Open MPI and PMIx pointed at it by OPAL_PREFIX/PMIX_* variables, CMake given the MPI wrappers and HDF5
# paths explicitly, LD_LIBRARY_PATH (only for runs, never the build) holding only the bundled libraries
# the machine lacks, so the system's newer copies are never shadowed. Launch settings suit gVisor (no
# cross-memory attach, no UCX/verbs probing, no binding).
#
# GPU run, each step under a timeout, stopping early when the 8-minute budget is near:
#   preflight  nvcc, nvidia-smi, torch's CMake prefix and the C++ standard its headers need (C++20 from torch
#              2.12), NCCL's header and library (the nvidia-nccl wheel), mpi.h, mpirun, hdf5.h, spdlog,
#              yaml-cpp, OpenCV; the fmt version bundled in torch's include folder (reported)
#   build      cxrtrain and the NCCL core check against that PyTorch, its NCCL and the bundle
#   nccl_core        the torch-free NCCL core at world size 1 (streams, events, all-reduce, deadline wait)
#   train_nccl_bf16  2 epochs, backend=nccl, bf16, channels_last, 224 px: the loss must fall (asserted from
#                    metrics.jsonl), validation AUROC printed
#   bench_224_fp32 / bench_224_bf16   cxrtrain bench, img/s and the step breakdown
#   ddp_224_fp32 / ddp_224_bf16       benchmarks/torch_ddp_reference.py, same settings: the side-by-side ratio
#   two_ranks_mpi    two ranks on the one GPU with backend=mpi (tensors staged through host memory): real
#                    inter-rank traffic; must train and agree on the final state digest
#   two_ranks_nccl   two NCCL ranks on one GPU: NCCL must refuse them (Duplicate GPU) at once
# What it cannot show: a real NCCL all-reduce between ranks needs two GPUs.
# Outputs in $OUT (default ./gpu_check_out): summary.txt and logs.tar.gz (every log and JSON). The exit
# status is the number of failed steps (99: environment unusable, 98: build failed).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 99
ROOT=$PWD
MODE=gpu
case "${1:-}" in
  --fetch) MODE=fetch ;;
  --preflight) MODE=preflight ;;
  --rehearse) MODE=rehearse ;;
  "") ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
DEBS=${GPU_DEPS:-$ROOT/.gpu-deps}
if [[ $MODE == fetch ]]; then
  exec /usr/bin/python3 scripts/gpu_bundle.py fetch "$DEBS"
fi

# --- the rehearsal's clean prefix: re-run inside a mount namespace that hides the -dev packages ----------
# Kept visible: the compiler toolchain and LibTorch's own -dev closure (the GPU machine has a compiler and
# its PyTorch); hidden: every other -dev package, and Open MPI's and HDF5's programs.
KEEP_DEV="libc6-dev libc-dev-bin linux-libc-dev libcrypt-dev libnsl-dev libtirpc-dev libstdc++-12-dev libgcc-12-dev
manpages-dev libtorch-dev libgflags-dev libgoogle-glog-dev libunwind-dev libprotobuf-dev zlib1g-dev python3-dev
python3.11-dev libpython3-dev libpython3.11-dev libexpat1-dev"
hide_dev_packages() {  # inside the namespace: an overlay of whiteouts on /usr, an empty /etc/openmpi
  local upper=$1/upper work=$1/work hide
  rm -rf "$1" && mkdir -p "$upper" "$work" || return 1
  hide=$(dpkg-query -W -f='${Package} ${Status}\n' | awk '$NF == "installed" {print $1}' |
    grep -E -- '-dev$|^openmpi-bin$|^openmpi-common$|^hdf5-tools$|^hdf5-helpers$' | grep -vxF -f <(tr ' ' '\n' <<< "$KEEP_DEV"))
  # A whiteout (character device 0/0) in the upper layer for every file of those packages under /usr, and
  # for the MPI and HDF5 alternatives links.
  { dpkg -L $hide 2> /dev/null; printf '/usr/bin/%s\n' mpirun mpiexec mpicc mpicxx mpic++ mpiCC h5cc h5c++; } |
    /usr/bin/python3 -c '
import os, stat, sys
upper, n = sys.argv[1], 0
for path in sorted(set(l.strip() for l in sys.stdin)):
    if not path.startswith("/usr/") or (os.path.isdir(path) and not os.path.islink(path)):
        continue
    if not os.path.lexists(path):
        continue
    target = os.path.join(upper, path[len("/usr/"):])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not os.path.lexists(target):
        os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        n += 1
print(n)' "$upper" > "$1/count" || return 1
  mount -t overlay overlay -o "lowerdir=/usr,upperdir=$upper,workdir=$work" /usr || return 1
  [[ -d /etc/openmpi ]] && mount -t tmpfs none /etc/openmpi
  echo "rehearsal: hid $(cat "$1/count") files of $(wc -w <<< "$hide") packages (-dev, Open MPI and HDF5 programs) under /usr"
}
if [[ $MODE == rehearse && -z "${CXR_IN_REHEARSAL:-}" ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "the rehearsal needs root (mount namespace); skipped"; exit 77; }
  command -v unshare > /dev/null || { echo "no unshare (util-linux); skipped"; exit 77; }
  if ! ls "$DEBS"/*.deb > /dev/null 2>&1; then
    echo "== no bundle in $DEBS: fetching it"
    /usr/bin/python3 scripts/gpu_bundle.py fetch "$DEBS" || exit 99
  fi
  exec unshare -m --propagation private env CXR_IN_REHEARSAL=1 bash "$0" --rehearse
fi

OUT=${OUT:-$ROOT/gpu_check_out}
WORK=${WORK:-/tmp/cxr_gpu_check}
BUNDLE=${BUNDLE:-$WORK/deps}
BUILD=${BUILD:-$WORK/build}  # outside the checkout: the device tool copies the working tree back and forth
BUDGET=${BUDGET:-480}        # seconds for the whole script
mkdir -p "$OUT" "$WORK"
LOGS=$WORK/logs
rm -rf "$LOGS" && mkdir -p "$LOGS"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
FAILED=0
START=$SECONDS
note() { echo "$*" | tee -a "$SUMMARY"; }
finish() {  # the two files that come back: summary.txt and logs.tar.gz
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs 2> /dev/null
  echo; cat "$SUMMARY"
  exit "$1"
}
# step NAME TIMEOUT COMMAND...: runs it with its log in $LOGS/NAME.log, notes pass/fail and seconds.
step() {
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - (SECONDS - START)))
  if ((left < 20)); then note "SKIP $name: the ${BUDGET} s budget is spent"; FAILED=$((FAILED + 1)); return 1; fi
  ((limit > left)) && limit=$left
  local t0=$SECONDS rc
  echo "== $name: $*"
  if declare -F "$1" > /dev/null; then  # a shell function (quick checks): no timeout wrapper
    "$@" > "$LOGS/$name.log" 2>&1
  else
    timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  fi
  rc=$?
  tail -n 15 "$LOGS/$name.log"
  if [[ $rc -eq 0 ]]; then
    note "PASS $name ($((SECONDS - t0)) s)"
  else
    [[ $rc -eq 124 ]] && note "FAIL $name: timed out after $limit s" || note "FAIL $name: exit $rc ($((SECONDS - t0)) s)"
    FAILED=$((FAILED + 1))
  fi
  return $rc
}
need() {  # need WHAT TEST-COMMAND...: one preflight line
  local what=$1; shift
  if "$@" > /dev/null 2>&1; then note "  ok      $what"; else note "  MISSING $what"; MISSING=$((MISSING + 1)); fi
}

[[ $MODE == rehearse ]] && { hide_dev_packages "$WORK/overlay" | tee -a "$SUMMARY" || finish 99; }

# --- unpack the bundle ---------------------------------------------------------------------------------
source scripts/gpu_env.sh
if ! ls "$DEBS"/*.deb > /dev/null 2>&1; then
  note "FAIL environment: no bundle in $DEBS (on Debian 12: bash scripts/gpu_check.sh --fetch; then carry .gpu-deps)"
  finish 99
fi
t0=$SECONDS
bundle_unpack "$DEBS" "$BUNDLE" > "$LOGS/unpack.log" 2>&1 || { note "FAIL unpack (see logs)"; finish 99; }
bundle_env "$BUNDLE"
RUNENV=(env "LD_LIBRARY_PATH=$BUNDLE/shim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")  # runs only, never the build
note "bundle: $(ls "$DEBS"/*.deb | wc -l) packages unpacked into $BUNDLE in $((SECONDS - t0)) s; $(ls "$BUNDLE/shim" | wc -l) libraries the machine lacks go on LD_LIBRARY_PATH for runs"

# --- preflight ------------------------------------------------------------------------------------------
MISSING=0
note "preflight ($MODE):"
if [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH CUDACXX=/usr/local/cuda/bin/nvcc; fi
PY=""
for p in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
  if command -v "$p" > /dev/null && "$p" -c 'import torch' 2> /dev/null; then PY=$p; break; fi
done
TORCH_PREFIX=""
CXX_STD=17
if [[ -n "$PY" ]]; then
  TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2> /dev/null)
  TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__)')
  # torch >= 2.12's headers need C++20.
  CXX_STD=$("$PY" -c 'import torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); print(20 if v >= (2, 12) else 17)')
  TORCH_INCLUDE=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
  FMT_IN_TORCH=$(grep -hm1 -E '#\s*define FMT_VERSION' "$TORCH_INCLUDE"/fmt/base.h "$TORCH_INCLUDE"/fmt/core.h 2> /dev/null | awk '{print $3}')
  note "  ok      torch $TORCH_VERSION ($PY): CMake prefix $TORCH_PREFIX, C++$CXX_STD; fmt in its include folder: ${FMT_IN_TORCH:-none} (the bundle's fmt 9 headers come first)"
else
  note "  MISSING python3 with torch"; MISSING=$((MISSING + 1))
fi
NCCL_DIR=""
if [[ $MODE != rehearse ]]; then
  need "nvcc" command -v nvcc
  need "nvidia-smi (a GPU)" nvidia-smi -L
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null &&
    note "  ok      torch sees $("$PY" -c 'import torch; print(torch.cuda.device_count(), torch.cuda.get_device_name(0), "CUDA", torch.version.cuda)')" ||
    { note "  MISSING a CUDA device visible to torch"; MISSING=$((MISSING + 1)); }
  NCCL_DIR=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2> /dev/null || true)
  [[ -z "$NCCL_DIR" && -f /usr/local/cuda/include/nccl.h ]] && NCCL_DIR=/usr/local/cuda
  need "nccl.h ($NCCL_DIR)" test -f "$NCCL_DIR/include/nccl.h"
  NCCL_LIB=$(ls "$NCCL_DIR"/lib/libnccl.so* "$NCCL_DIR"/lib64/libnccl.so* 2> /dev/null | head -1)
  need "libnccl ($NCCL_LIB)" test -n "$NCCL_LIB"
  RUNENV=(env "LD_LIBRARY_PATH=$BUNDLE/shim:$(dirname "${NCCL_LIB:-/x}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi
need "cmake" command -v cmake
need "ninja" command -v ninja
need "a C++ compiler" bash -c 'command -v c++ || command -v g++'
need "readelf" command -v readelf
need "mpi.h (bundle)" test -f "$BUNDLE/usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h"
need "mpirun (bundle) runs" "$BUNDLE/bin/mpirun" --version
need "mpicxx (bundle) runs" "$BUNDLE/bin/mpicxx" --showme:version
need "hdf5.h (bundle)" test -f "$BUNDLE/usr/include/hdf5/serial/hdf5.h"
need "spdlog, fmt, yaml-cpp, CLI11, nlohmann_json (bundle)" test -f "$BUNDLE/usr/include/spdlog/spdlog.h" -a \
  -f "$BUNDLE/usr/include/fmt/core.h" -a -f "$BUNDLE/usr/include/yaml-cpp/yaml.h" -a -f "$BUNDLE/usr/include/CLI/CLI.hpp" \
  -a -f "$BUNDLE/usr/include/nlohmann/json.hpp"
need "OpenCV core/imgproc (bundle)" test -f "$BUNDLE/usr/include/opencv4/opencv2/imgproc.hpp"
need "zlib.h (bundle)" test -f "$BUNDLE/usr/include/zlib.h"
need "Boost.Math and Mustache headers (bundle)" test -f "$BUNDLE/usr/include/boost/math/distributions/normal.hpp" -a \
  -f "$BUNDLE/usr/include/kainjow/mustache.hpp"
if [[ $MODE == rehearse ]]; then  # the clean prefix really is clean
  need "the system's spdlog, HDF5, MPI and OpenCV headers are hidden" test ! -e /usr/include/spdlog/spdlog.h -a \
    ! -e /usr/include/hdf5/serial/hdf5.h -a ! -e /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h -a \
    ! -e /usr/include/opencv4/opencv2/core.hpp -a ! -e /usr/lib/x86_64-linux-gnu/cmake/spdlog/spdlogConfig.cmake
  need "the system's mpirun is hidden" bash -c '! command -v mpirun'
fi
note "preflight: $MISSING missing, $((SECONDS - START)) s"
[[ $MODE == preflight ]] && finish "$MISSING"
((MISSING == 0)) || finish 99

# --- build ----------------------------------------------------------------------------------------------
NCCL_ARGS=(-DCXR_WITH_NCCL=OFF)
TARGETS=(cxrtrain)
if [[ $MODE == gpu ]]; then
  NCCL_ARGS=(-DCXR_WITH_NCCL=ON -DNCCL_INCLUDE_DIR="$NCCL_DIR/include" -DNCCL_LIBRARY="$NCCL_LIB")
  TARGETS+=(cxr_nccl_compile_check)
fi
# A fresh cache every time (objects stay, so the build is still incremental): a stale one keeps settings an
# older script passed, e.g. the bundle as CMAKE_CXX_FLAGS, which makes CMake treat it as an implicit
# include folder and move it behind PyTorch's.
rm -f "$BUILD/CMakeCache.txt"
step configure 180 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCXR_BUILD_TESTS=OFF \
  -DCMAKE_CXX_STANDARD="$CXX_STD" -DCMAKE_PREFIX_PATH="${TORCH_PREFIX:+$TORCH_PREFIX;}$BUNDLE/usr" \
  "${BUNDLE_CMAKE_ARGS[@]}" "${NCCL_ARGS[@]}" || finish 98
grep -E "cxrtrain:|Found (MPI|HDF5|spdlog|yaml|Torch)|NCCL|OpenCV" "$LOGS/configure.log" | head -12
# The bundle's include folder must come first in a torch translation unit (ahead of torch's own fmt): a
# failed step, not a remark, since spdlog built against another fmt fails at compile or link time.
include_order() {
  "${PY:-python3}" - "$BUILD/compile_commands.json" "$BUNDLE/usr/include" "$ROOT" "$BUILD" << 'EOF'
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    if entry["file"].endswith("train_loop.cpp"):
        args = shlex.split(entry["command"])
        # The project's own folders come as -I, every external one as -isystem (the bundle may live inside
        # the checkout, as in the rehearsal, so paths cannot tell them apart).
        dirs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-isystem"]
        first = dirs[0] if dirs else None
        print(f"include order: first external folder {first} ({'the bundle' if first == sys.argv[2] else 'NOT the bundle'})")
        sys.exit(0 if first == sys.argv[2] else 1)
print("include order: train_loop.cpp not in compile_commands.json")
sys.exit(1)
EOF
}
step include_order 30 include_order
# The build's limit: 420 s suits the GPU machine (16 cores, ~2 min); the rehearsal builds the same ~126 objects
# on a CI machine's 2 cores, measured at 396 s here and over 420 s on a slower CI runner, so it gets 1500 s
# (BUILD_LIMIT overrides either; the overall BUDGET still applies).
BUILD_LIMIT=${BUILD_LIMIT:-$([[ $MODE == rehearse ]] && echo 1500 || echo 420)}
step build "$BUILD_LIMIT" ninja -C "$BUILD" -k 0 "${TARGETS[@]}" || finish 98
CXR=$BUILD/launch/cxrtrain
note "cxrtrain links: $(ldd "$CXR" | grep -cE "$BUNDLE") libraries from the bundle, $(ldd "$CXR" | grep -c "not found") not found"

# loss_falls METRICS: the last logged loss is below the first (read from metrics.jsonl, not grepped).
loss_falls() {
  "${PY:-python3}" - "$1" << 'EOF'
import json, sys
losses = [json.loads(l)["loss"] for l in open(sys.argv[1]) if '"loss"' in l]
print(f"{len(losses)} logged losses: first {losses[0]:.4f}, last {losses[-1]:.4f}")
sys.exit(0 if len(losses) >= 2 and losses[-1] < losses[0] else 1)
EOF
}

PACK=$WORK/phantom
if [[ $MODE == rehearse ]]; then
  # --- rehearsal: the MPI path on the CPU ----------------------------------------------------------------
  step synth 120 "${RUNENV[@]}" "$CXR" synth --out "$PACK" --n 600 --size 32 --seed 1 --no-progress --overwrite
  step info_verify 60 "${RUNENV[@]}" "$CXR" info --verify --no-progress "$PACK"
  RUN=$WORK/run_rehearsal
  rm -rf "$RUN"
  step train_mpi_np2 300 "${MPIRUN[@]}" -np 2 -x OMP_NUM_THREADS=1 "$CXR" train --set data.pack="$PACK" \
    --set run_dir="$RUN" --set model.depth=18 --set model.width=0.125 --set train.global_batch=12 \
    --set train.max_steps=60 --set train.epochs=10 --set log.interval=10 --set train.backend=mpi
  step train_mpi_loss_falls 30 loss_falls "$RUN/metrics.jsonl"
  grep -E "gradients over|macro|trained" "$LOGS/train_mpi_np2.log" | tail -4 | tee -a "$SUMMARY"
  note "rehearsal: $FAILED failed, $((SECONDS - START)) s"
  finish "$FAILED"
fi

# --- GPU steps ------------------------------------------------------------------------------------------
GPU_NOTE="the GPU ($(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2> /dev/null | head -1)), $(nproc) cores"
note "machine: $GPU_NOTE"
step nccl_core 90 "${MPIRUN[@]}" -np 1 "$BUILD/comm/cxr_nccl_compile_check"
step synth 120 "${RUNENV[@]}" "$CXR" synth --out "$PACK" --n 12000 --size 256 --seed 1 --no-progress --overwrite
RUN=$WORK/run_nccl_bf16
rm -rf "$RUN"
step train_nccl_bf16 180 "${MPIRUN[@]}" -np 1 -x OMP_NUM_THREADS=8 "$CXR" train --config configs/reference_study.yaml \
  --set data.pack="$PACK" --set run_dir="$RUN" --set data.image_size=224 --set train.backend=nccl \
  --set train.precision=bf16 --set train.channels_last=true --set train.global_batch=128 --set train.epochs=2 \
  --set loader.workers=8 --set log.interval=10
step train_loss_falls 30 loss_falls "$RUN/metrics.jsonl"
grep -E "gradients over|validation macro|trained|img/s \(training" "$LOGS/train_nccl_bf16.log" | tail -4 | tee -a "$SUMMARY"
for prec in fp32 bf16; do
  step "bench_224_$prec" 150 "${MPIRUN[@]}" -np 1 -x OMP_NUM_THREADS=8 "$CXR" bench --config configs/reference_study.yaml \
    --set data.pack="$PACK" --set data.image_size=224 --set train.precision=$prec --set train.channels_last=true \
    --set train.global_batch=256 --set loader.workers=8 --steps 20 --warmup 5 --json "$LOGS/bench_224_$prec.json"
  grep -E "img/s|forward|backward|exposed|optimiser" "$LOGS/bench_224_$prec.log" | head -6 | tee -a "$SUMMARY"
  step "ddp_224_$prec" 150 "${MPIRUN[@]}" -np 1 -x OMP_NUM_THREADS=8 "$PY" benchmarks/torch_ddp_reference.py \
    --pack "$PACK" --device cuda --precision $prec --image-size 224 --global-batch 256 --channels-last \
    --threads 8 --steps 20 --warmup 5 --json "$LOGS/ddp_224_$prec.json"
  "$PY" - "$LOGS/bench_224_$prec.json" "$LOGS/ddp_224_$prec.json" << 'EOF' | tee -a "$SUMMARY"
import json, sys
try:
    ours, ref = (json.load(open(p))["images_per_second"] for p in sys.argv[1:3])
    print(f"  side by side: cxrtrain {ours:.0f} img/s, PyTorch DDP {ref:.0f} img/s: {ours / ref:.3f}x")
except (OSError, KeyError, ValueError) as e:
    print(f"  side by side: not available ({e})")
EOF
done
# Two ranks, one GPU. MPI (host-staged): real traffic between the ranks; both must end with one state.
RUN2=$WORK/run_two_ranks_mpi
rm -rf "$RUN2"
step two_ranks_mpi 180 "${MPIRUN[@]}" -np 2 -x OMP_NUM_THREADS=4 "$CXR" train \
  --config configs/reference_study.yaml --set data.pack="$PACK" --set run_dir="$RUN2" --set data.image_size=224 \
  --set train.backend=mpi --set train.global_batch=64 --set train.max_steps=30 --set loader.workers=4 \
  --set log.interval=10 --set log.all_ranks=true
digests=$(grep -oE "rank [01] state digest [0-9a-f]{64}" "$LOGS/two_ranks_mpi.log" | awk '{print $5}' | sort -u | wc -l)
[[ $digests == 1 ]] && note "  two_ranks_mpi: both ranks end with the same state digest" ||
  { note "FAIL two_ranks_mpi_digests: $digests distinct digests"; FAILED=$((FAILED + 1)); }
# NCCL must refuse two ranks on one GPU, at once.
t0=$SECONDS
timeout 120 "${MPIRUN[@]}" -np 2 -x OMP_NUM_THREADS=4 "$CXR" train --config configs/reference_study.yaml \
  --set data.pack="$PACK" --set run_dir="$WORK/run_two_ranks_nccl" --set train.backend=nccl \
  --set train.global_batch=64 > "$LOGS/two_ranks_nccl.log" 2>&1
rc=$?
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qi "duplicate GPU" "$LOGS/two_ranks_nccl.log"; then
  note "PASS two_ranks_nccl: refused, exit $rc after $((SECONDS - t0)) s: $(grep -i -m1 "duplicate GPU" "$LOGS/two_ranks_nccl.log" | cut -c1-160)"
else
  note "FAIL two_ranks_nccl: exit $rc after $((SECONDS - t0)) s, no 'Duplicate GPU' refusal"; FAILED=$((FAILED + 1))
fi
note "GPU check: $FAILED failed, $((SECONDS - START)) s"
finish "$FAILED"

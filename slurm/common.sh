# slurm/common.sh: sourced by every slurm/*.sbatch. Sets the runtime knobs, picks the MPI launcher that
# works on this cluster, parses CONFIG/SET, and runs cxrtrain so that a preempted or timed-out job is
# requeued and continues where it stopped. Every knob is listed in slurm/README.md.
#
# #SBATCH defaults. sbatch reads #SBATCH lines only from the script itself, so they cannot live here;
# every script carries the same four lines, and nothing else:
#   #SBATCH --output=slurm-%x-%j.out   # one log per job (%x = script name), kept across requeues...
#   #SBATCH --open-mode=append         # ...because a requeued run appends instead of truncating
#   #SBATCH --requeue                  # preemption / node failure / the USR1 trap below put it back in the queue
#   #SBATCH --signal=B:USR1@120        # the batch shell gets USR1 120 s before --time runs out
# Resources go on the sbatch command line, so the same script serves one CPU node and a GPU cluster:
#   one task per GPU:  sbatch -N 2 --ntasks-per-node=4 --gpus-per-node=4 --cpus-per-task=8 --time=12:00:00 ...
#   or --gpus-per-task=1 (each rank then sees one GPU; cxrtrain uses it whatever its local rank).
# Nothing given = Slurm's defaults (1 node, 1 task, 1 CPU, the partition's time limit).
#
# Rank -> GPU: cxrtrain maps each rank to its GPU itself, from its local rank (SLURM_LOCALID under srun,
# OMPI_COMM_WORLD_LOCAL_RANK under mpirun; launch/environment.cpp); nothing here sets CUDA_VISIBLE_DEVICES.

set -euo pipefail

cxr_log() { echo "[$(date +%H:%M:%S)] [slurm/${CXR_SCRIPT:-?} job ${SLURM_JOB_ID:-none}] $*" >&2; }
cxr_die() { cxr_log "error: $1"; [[ -n ${2:-} ]] && echo "HINT: $2" >&2; exit 2; }

# --- runtime knobs -----------------------------------------------------------------------------------
# Parallel file systems (Lustre, GPFS, NFS) often lack the POSIX locks HDF5 takes on open; the pack is
# read-only during training, so the lock buys nothing.
export HDF5_USE_FILE_LOCKING=FALSE
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
# One intra-op thread per CPU Slurm gave the task (train.threads=0 follows OMP_NUM_THREADS).
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
# Slurm >= 22.05: srun no longer inherits --cpus-per-task from sbatch; pass it on explicitly.
if [[ -n ${SLURM_CPUS_PER_TASK:-} ]]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi

CXRTRAIN=${CXRTRAIN:-$(command -v cxrtrain || true)}
[[ -n $CXRTRAIN && -x $CXRTRAIN ]] ||
  cxr_die "cxrtrain binary not found (CXRTRAIN='${CXRTRAIN}')" \
          "put cxrtrain on PATH or submit with CXRTRAIN=/path/to/build/launch/cxrtrain sbatch ..."

# --- config and overrides ----------------------------------------------------------------------------
# CONFIG: the script's first argument or the env var. SET="a.b=1 c=2": each word becomes --set a.b=1.
# Further script arguments, and the words of ARGS, go to the cxrtrain subcommand as they are.
if (($# > 0)); then CONFIG=$1; shift; fi
CONFIG=${CONFIG:-}
[[ -n $CONFIG ]] || cxr_die "no config given" "sbatch slurm/${CXR_SCRIPT:-train.sbatch} configs/x.yaml (or CONFIG=configs/x.yaml sbatch ...)"
[[ -f $CONFIG ]] || cxr_die "config '$CONFIG' not found (working directory $(pwd))" \
                            "give a path relative to the submit directory or an absolute one"
SET_ARGS=()
read -ra _words <<<"${SET:-}"   # split on blanks, no glob expansion
for kv in "${_words[@]}"; do SET_ARGS+=(--set "$kv"); done
EXTRA_ARGS=("$@")
read -ra _words <<<"${ARGS:-}"
EXTRA_ARGS+=("${_words[@]}")

# --- launcher ----------------------------------------------------------------------------------------
# srun --mpi=pmix when this Slurm has the PMIx plugin (Debian 12: Slurm 22.05 + Open MPI 4.1 over PMIx 4
# works, tested by tests/slurm), else Open MPI's mpirun inside the allocation (it reads the allocation and
# starts its daemons through Slurm). CXR_LAUNCHER=srun|mpirun forces one. One task per GPU either way.
CXR_NTASKS=${SLURM_NTASKS:-1}
cxr_mpirun_args() {
  # --bind-to none: Slurm already confines the task; Open MPI's default core binding would pin all of a
  # rank's OMP threads to one core. --oversubscribe: more ranks than cores is allowed (CPU-only tests).
  local a=(mpirun --bind-to none --oversubscribe)
  if [[ $(id -u) -eq 0 ]]; then a+=(--allow-run-as-root); fi
  echo "${a[*]}"
}
if [[ -z ${CXR_LAUNCHER:-} ]]; then
  if srun --mpi=list 2>&1 | grep -qw pmix; then CXR_LAUNCHER=srun; else CXR_LAUNCHER=mpirun; fi
fi
case $CXR_LAUNCHER in
  srun)
    LAUNCH=(srun --mpi=pmix --kill-on-bad-exit=1)
    # {ranks} is filled in by `cxrtrain scaling` for each rank count of the sweep.
    SCALING_LAUNCHER="srun --mpi=pmix --kill-on-bad-exit=1 -n {ranks}" ;;
  mpirun)
    LAUNCH=($(cxr_mpirun_args) -np "$CXR_NTASKS")
    SCALING_LAUNCHER="$(cxr_mpirun_args) -np {ranks}" ;;
  *) cxr_die "CXR_LAUNCHER='$CXR_LAUNCHER'" "use CXR_LAUNCHER=srun or CXR_LAUNCHER=mpirun (or leave it unset)" ;;
esac

# --- requeue -----------------------------------------------------------------------------------------
# USR1 (from --signal=B:USR1@120) asks Slurm to requeue this job: its steps are killed, and the job starts
# again later with the same id, environment and arguments. The training command runs with --resume auto,
# so it continues from run_dir/checkpoints/last.pt (set train.checkpoint_every to bound the lost work).
# Preemption with PreemptMode=REQUEUE and `scontrol requeue` take the same path without the trap.
cxr_on_usr1() {
  cxr_log "USR1: time limit near, requeueing (scontrol requeue $SLURM_JOB_ID)"
  scontrol requeue "$SLURM_JOB_ID" || cxr_log "scontrol requeue failed: the job ends here; resubmit it to resume"
}

# cxr_run CMD...: logs and runs CMD in the background so the shell can take signals while it runs
# (bash runs a trap only between commands, and `wait` is interruptible), returns its exit status.
cxr_run() {
  cxr_log "restart count ${SLURM_RESTART_COUNT:-0}, ${CXR_NTASKS} task(s), launcher ${CXR_LAUNCHER}, OMP_NUM_THREADS=${OMP_NUM_THREADS}"
  cxr_log "running: $*"
  trap cxr_on_usr1 USR1
  "$@" &
  local pid=$! rc=0
  while true; do
    wait "$pid" && rc=0 || rc=$?
    # wait returns > 128 when a trapped signal interrupted it while the command still runs: wait again.
    if ((rc > 128)) && kill -0 "$pid" 2>/dev/null; then continue; fi
    break
  done
  cxr_log "exit status $rc"
  return "$rc"
}

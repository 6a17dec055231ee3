#!/usr/bin/env bash
# A one-node Slurm on localhost (Debian's slurm-wlm + munge) for testing slurm/*.sbatch: its own munged,
# slurmctld and slurmd, all state, sockets, logs and pid files in STATEDIR, slurm.conf in STATEDIR (clients
# find it through SLURM_CONF). `stop` ends exactly the processes `start` recorded, nothing else.
#   scripts/slurm_local.sh start  STATEDIR   # then: export SLURM_CONF=STATEDIR/slurm.conf; sbatch ...
#   scripts/slurm_local.sh status STATEDIR
#   scripts/slurm_local.sh stop   STATEDIR
# Needs root (slurmd runs jobs as their user; munged as the munge user). Knobs (env): SLURM_LOCAL_PORT
# (slurmctld port, slurmd uses +1; default the first free pair from 6817), SLURM_LOCAL_TIMEOUT (seconds to
# wait for an idle node, 60). Daemon logs (their stderr, run in the foreground): STATEDIR/<daemon>.log.
set -euo pipefail

die() { echo "slurm_local: $*" >&2; exit 1; }

cmd=${1:-}; state=${2:-}
[[ -n $cmd && -n $state ]] || die "usage: $0 start|stop|status STATEDIR"
mkdir -p "$state"
state=$(cd "$state" && pwd)
conf=$state/slurm.conf
export SLURM_CONF=$conf
port=${SLURM_LOCAL_PORT:-}
timeout=${SLURM_LOCAL_TIMEOUT:-60}
host=$(hostname -s)
munge_dir=$state/munge
munge_socket=$munge_dir/munge.socket.2

# Prints the PID recorded in STATEDIR/<name>.started if that process is still alive.
alive_pid() {
  local f=$state/$1.started pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

log_tail() {
  echo "---- last lines of $1 ----" >&2
  tail -n 25 "$1" >&2 2>/dev/null || echo "(no log written)" >&2
  echo "----" >&2
}

# Starts "$@" in the background (its own session, so a Ctrl-C of the caller does not reach it), records
# its PID in STATEDIR/NAME.started, and fails with the tail of LOG if it is gone after a moment.
start_daemon() {
  local name=$1 log=$2; shift 2
  if pid=$(alive_pid "$name"); then echo "slurm_local: $name already running (pid $pid)"; return 0; fi
  setsid "$@" >>"$log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" >"$state/$name.started"
  sleep 1
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "slurm_local: $name did not start (command: $*)" >&2
    log_tail "$log"
    rm -f "$state/$name.started"
    return 1
  fi
  echo "slurm_local: started $name (pid $pid, log $log)"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The first free pair (slurmctld, slurmd) from 6817 up, so a Slurm already on this host is left alone.
pick_port() {
  if [[ -n $port ]]; then
    port_busy "$port" && die "port $port (SLURM_LOCAL_PORT) is in use: another slurmctld? HINT: pick another port"
    return 0
  fi
  for p in $(seq 6817 2 6917); do
    if ! port_busy "$p" && ! port_busy $((p + 1)); then port=$p; return 0; fi
  done
  die "no free port pair in 6817-6918"
}

write_conf() {
  local node cpus mem
  node=$(slurmd -C | head -n 1) || die "'slurmd -C' failed: is slurm-wlm installed? (scripts/install_deps.sh)"
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node")
  mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  # The node line as slurmd sees the machine (sockets/cores/threads), memory less 5% so slurmd never
  # finds less than configured and drains the node.
  node=$(sed "s/^NodeName=[^ ]*/NodeName=$host/; s/RealMemory=[0-9]*/RealMemory=$((mem * 95 / 100))/" <<<"$node")
  cat >"$conf" <<EOF
# Written by scripts/slurm_local.sh: a one-node Slurm on localhost for tests. Everything lives in $state.
ClusterName=cxrlocal
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued batch job waits this long (+ a little) before it may start again (default 120 s).
AuthInfo=socket=$munge_socket,cred_expire=10
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MailProg=/bin/true
JobRequeue=1
KillWait=10
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=60
$node
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  echo "$cpus" >"$state/cpus"
}

start_munge() {
  if pid=$(alive_pid munged); then echo "slurm_local: munged already running (pid $pid)"; return 0; fi
  id munge >/dev/null 2>&1 || die "no 'munge' user: install munge (apt-get install munge)"
  local key=/etc/munge/munge.key
  if [[ ! -s $key ]]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile="$key" --force
    else dd if=/dev/urandom of="$key" bs=1 count=1024 status=none; fi
    echo "slurm_local: created $key"
  fi
  chown munge:munge /etc/munge "$key"
  chmod 0700 /etc/munge
  chmod 0400 "$key"
  # munged refuses paths it finds insecure: its folders owned by munge, no group/other write, and every
  # folder above them searchable.
  chmod 0755 "$state"
  mkdir -p "$munge_dir"
  chown munge:munge "$munge_dir"
  chmod 0755 "$munge_dir"
  local -a as_munge=(setpriv --reuid=munge --regid=munge --init-groups)
  start_daemon munged "$state/munged.log" "${as_munge[@]}" /usr/sbin/munged --foreground \
    --key-file="$key" --socket="$munge_socket" --log-file=/dev/null \
    --pid-file="$munge_dir/munged.pid" --seed-file="$munge_dir/munged.seed" ||
    die "munged could not start (log: $state/munged.log)"
  for _ in $(seq 20); do
    munge -S "$munge_socket" -n </dev/null 2>/dev/null | unmunge -S "$munge_socket" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log_tail "$state/munged.log"
  die "munged runs but 'munge -n | unmunge' fails on $munge_socket"
}

node_state() { sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1; }

do_start() {
  [[ $(id -u) -eq 0 ]] || die "needs root (slurmd starts jobs as their users; munged runs as 'munge')"
  for b in slurmctld slurmd sinfo munged; do
    command -v $b >/dev/null || [[ -x /usr/sbin/$b ]] || die "$b not found: apt-get install slurm-wlm munge"
  done
  mkdir -p "$state/ctld" "$state/spool"
  pick_port
  write_conf
  start_munge
  start_daemon slurmctld "$state/slurmctld.log" /usr/sbin/slurmctld -D -i -f "$conf" ||
    { do_stop >/dev/null 2>&1 || true; die "slurmctld could not start (log: $state/slurmctld.log)"; }
  start_daemon slurmd "$state/slurmd.log" /usr/sbin/slurmd -D -f "$conf" -N "$host" ||
    { do_stop >/dev/null 2>&1 || true; die "slurmd could not start (log: $state/slurmd.log)"; }
  local s=""
  for _ in $(seq $((timeout * 2))); do
    s=$(node_state)
    case $s in
      idle|idle~) echo "slurm_local: node $host idle; export SLURM_CONF=$conf"; return 0 ;;
      drain*|down*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
    esac
    for d in slurmctld slurmd; do
      alive_pid $d >/dev/null || { log_tail "$state/$d.log"; do_stop >/dev/null 2>&1 || true;
                                   die "$d exited during start-up (log: $state/$d.log)"; }
    done
    sleep 0.5
  done
  log_tail "$state/slurmctld.log"; log_tail "$state/slurmd.log"
  do_stop >/dev/null 2>&1 || true
  die "node $host not idle after ${timeout}s (state '${s:-unknown}'); logs: $state/slurmctld.log, $state/slurmd.log"
}

# Ends the daemons recorded by start (TERM, then KILL after 10 s), slurmd first so jobs end cleanly.
do_stop() {
  local rc=0
  for name in slurmd slurmctld munged; do
    local pid
    pid=$(alive_pid "$name") || { rm -f "$state/$name.started"; continue; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      echo "slurm_local: $name (pid $pid) needed SIGKILL" >&2
    fi
    rm -f "$state/$name.started"
    echo "slurm_local: stopped $name (pid $pid)"
  done
  return $rc
}

do_status() {
  local down=0
  for name in munged slurmctld slurmd; do
    if pid=$(alive_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not running"; down=1; fi
  done
  [[ -f $conf ]] && { echo "SLURM_CONF=$conf"; sinfo 2>&1 || down=1; }
  return $down
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) die "unknown command '$cmd' (start|stop|status)" ;;
esac

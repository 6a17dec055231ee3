"""Shared harness of the end-to-end acceptance tests (e2e_*.py, issue 4): runs the real `cxrtrain`
binary under mpirun in its own session, with a timeout on every wait, and kills whatever it started
(mpirun and every rank, found by session id) when a run overruns or a check fails.
Standard library only. Usage of a test: e2e_X.py CXRTRAIN [MPIEXEC]
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# A small ResNet that trains at thousands of images/s on 32 px phantoms, one torch thread per rank.
TINY_MODEL = ["model.depth=18", "model.width=0.125"]


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


class Result:
    def __init__(self, rc, output, seconds, run_dir):
        self.rc, self.output, self.seconds, self.run_dir = rc, output, seconds, run_dir

    def digests(self):
        """{rank: digest} from the 'rank R state digest HEX' lines (every rank logs its own with
        log.all_ranks=true)."""
        return {int(r): d for r, d in re.findall(r"rank (\d+) state digest ([0-9a-f]{64})", self.output)}

    def final_digest(self):
        m = re.search(r"final state digest ([0-9a-f]{64})", self.output)
        return m.group(1) if m else None

    def tail(self, n=40):
        return "\n".join(self.output.splitlines()[-n:])


def session_pids(sid):
    """Processes of session `sid` (a run's mpirun was started with start_new_session, so its session
    id is its pid, and its ranks inherit that session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        if int(fields[3]) == sid and int(entry) != sid:
            pids.append(int(entry))
    return pids


def kill_session(popen):
    """SIGKILL mpirun and every process of its session (all started by this harness)."""
    for pid in [popen.pid] + session_pids(popen.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def rank_pids(mpirun_pid):
    """{world rank: pid} of the cxrtrain processes mpirun started (its children, ranks read from
    their OMPI_COMM_WORLD_RANK)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            if int(stat[stat.rfind(")") + 2:].split()[1]) != mpirun_pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"cxrtrain" not in f.read():
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except (OSError, ValueError, IndexError):
            continue
        if b"OMPI_COMM_WORLD_RANK" in env:
            out[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(entry)
    return out


class Harness:
    """One test script's scratch directory, tiny phantom pack and bookkeeping of checks."""

    def __init__(self, name):
        if len(sys.argv) < 2:
            sys.exit(f"usage: {sys.argv[0]} CXRTRAIN [MPIEXEC]")
        self.exe = os.path.abspath(sys.argv[1])
        self.mpiexec = sys.argv[2] if len(sys.argv) > 2 else (shutil.which("mpirun") or "mpiexec")
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"cxr_e2e_{name}_")
        self.live = []          # Popen objects not yet reaped
        self.failures = []
        self.pack = None

    # --- set-up --------------------------------------------------------------------------------
    def make_pack(self, n=600, size=32, seed=1):
        self.pack = os.path.join(self.tmp, "pack")
        cmd = [self.exe, "synth", "--out", self.pack, "--n", str(n), "--size", str(size), "--seed", str(seed),
               "--overwrite", "--no-progress"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if p.returncode != 0:
            raise CheckFailed(f"synth failed ({p.returncode}):\n{p.stdout[-3000:]}")
        return self.pack

    def mpi_prefix(self, np, env_names=()):
        cmd = [self.mpiexec]
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        cmd += ["--oversubscribe", "-np", str(np)]
        for name in ("OMP_NUM_THREADS",) + tuple(env_names):
            cmd += ["-x", name]
        return cmd

    def train_cmd(self, np, run_dir, sets, extra=(), env_names=()):
        cmd = self.mpi_prefix(np, env_names) + [self.exe, "train", "--set", f"data.pack={self.pack}",
                                                "--set", f"run_dir={run_dir}"]
        for s in sets:
            cmd += ["--set", s]
        return cmd + list(extra)

    # --- running -------------------------------------------------------------------------------
    def start(self, cmd, env_extra=None, log_name="run"):
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = "1"
        env.pop("CXR_INJECT_FAULT", None)
        env.update(env_extra or {})
        log_path = os.path.join(self.tmp, f"{log_name}.{len(self.live)}.{int(time.time() * 1e3)}.out")
        log = open(log_path, "w")
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp,
                             start_new_session=True)
        log.close()
        p.log_path, p.t0 = log_path, t0
        self.live.append(p)
        return p

    def wait(self, p, timeout):
        """Waits for `p`; on timeout kills its session and raises. Returns a Result."""
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(p)
            raise CheckFailed(f"timed out after {timeout} s (killed): {self.output_of(p)[-3000:]}")
        seconds = time.monotonic() - p.t0
        self.live.remove(p)
        return Result(rc, self.output_of(p), seconds, None)

    @staticmethod
    def output_of(p):
        with open(p.log_path, errors="replace") as f:
            return f.read()

    def run(self, cmd, timeout=300, env_extra=None, run_dir=None, log_name="run"):
        r = self.wait(self.start(cmd, env_extra, log_name), timeout)
        r.run_dir = run_dir
        return r

    def train(self, np, run_name, sets, extra=(), timeout=300, env_extra=None, expect_ok=True):
        run_dir = os.path.join(self.tmp, run_name)
        cmd = self.train_cmd(np, run_dir, sets, extra, tuple((env_extra or {}).keys()))
        r = self.run(cmd, timeout, env_extra, run_dir, run_name)
        if expect_ok and r.rc != 0:
            raise CheckFailed(f"{run_name}: cxrtrain train -np {np} exited {r.rc}:\n{r.tail()}")
        return r

    # --- bookkeeping ---------------------------------------------------------------------------
    def case(self, title, fn):
        print(f"=== {title}", flush=True)
        t0 = time.monotonic()
        try:
            fn()
            print(f"    ok ({time.monotonic() - t0:.1f} s)", flush=True)
        except Exception as e:  # one failing check must not hide the others
            self.failures.append(title)
            print(f"    FAILED: {type(e).__name__}: {e}", flush=True)
        finally:
            for p in list(self.live):
                kill_session(p)
                self.live.remove(p)

    def finish(self):
        for p in list(self.live):
            kill_session(p)
        if self.failures:
            print(f"{len(self.failures)} failed: {', '.join(self.failures)}; files kept in {self.tmp}")
            sys.exit(1)
        shutil.rmtree(self.tmp, ignore_errors=True)
        print("all checks passed")
        sys.exit(0)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()

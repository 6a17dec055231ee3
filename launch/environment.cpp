// Launch environment detection (see environment.h).
#include "launch/environment.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>
#include <thread>

namespace cxr::launch {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    return std::stoi(v);
  } catch (...) {
    return fallback;
  }
}

// Tasks of this job step on this node: SLURM_NTASKS_PER_NODE when --ntasks-per-node was given, else the
// leading count of SLURM_STEP_TASKS_PER_NODE / SLURM_TASKS_PER_NODE ("2(x3)" = 2 on each of 3 nodes).
int slurm_tasks_on_node() {
  if (std::getenv("SLURM_NTASKS_PER_NODE")) return env_int("SLURM_NTASKS_PER_NODE", 1);
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    const char* v = std::getenv(name);
    if (v && std::isdigit(static_cast<unsigned char>(*v))) return std::max(1, std::atoi(v));
  }
  return 1;
}

}  // namespace

LaunchEnv detect_launch() {
  LaunchEnv e;
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) {
    e.launcher = "mpirun";
    e.world_size = env_int("OMPI_COMM_WORLD_SIZE", 1);
    e.world_rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    e.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    e.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK")) {
    e.launcher = "pmi";
    // srun --mpi=pmix sets PMIX_RANK but no PMI_SIZE: the size then comes from Slurm.
    e.world_size = env_int("PMI_SIZE", env_int("SLURM_NTASKS", 1));
    e.world_rank = env_int("PMI_RANK", env_int("PMIX_RANK", env_int("SLURM_PROCID", 0)));
    e.local_rank = env_int("MPI_LOCALRANKID", env_int("SLURM_LOCALID", 0));
    e.local_size = env_int("MPI_LOCALNRANKS", slurm_tasks_on_node());
  } else if (std::getenv("SLURM_PROCID") && env_int("SLURM_NTASKS", 1) > 1) {
    e.launcher = "srun";
    e.world_size = env_int("SLURM_NTASKS", 1);
    e.world_rank = env_int("SLURM_PROCID", 0);
    e.local_rank = env_int("SLURM_LOCALID", 0);
    e.local_size = slurm_tasks_on_node();
  } else {
    e.launcher = "none";
  }
  return e;
}

FaultInjection fault_injection() {
  FaultInjection f;
  const char* v = std::getenv("CXR_INJECT_FAULT");
  if (!v || !*v) return f;
  std::string s(v);
  auto a = s.find(':'), b = s.rfind(':');
  if (a == std::string::npos || a == b) return f;
  f.kind = s.substr(0, a);
  f.step = std::stoll(s.substr(a + 1, b - a - 1));
  f.rank = std::stoi(s.substr(b + 1));
  return f;
}

int default_threads_per_rank(const LaunchEnv& env) {
  int omp = env_int("OMP_NUM_THREADS", 0);
  if (omp > 0) return omp;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, env.local_size));
}

}  // namespace cxr::launch

// The only place that reads the environment: the rank/world layout from mpirun or Slurm, and
// CPU thread defaults for each rank.
#pragma once

#include <cstdint>
#include <string>

namespace cxr::launch {

struct LaunchEnv {
  int world_rank = 0;
  int world_size = 1;
  int local_rank = 0;    // rank on this node -> GPU index
  int local_size = 1;
  std::string launcher;  // "mpirun", "srun" or "none"
};

LaunchEnv detect_launch();

// CXR_INJECT_FAULT="KIND:STEP:RANK" (KIND nan|throw|valnan) for the fault-tolerance tests; kind "" = none.
struct FaultInjection {
  std::string kind;
  int64_t step = -1;
  int rank = -1;
};
FaultInjection fault_injection();

// Threads per rank: OMP_NUM_THREADS if set, else cores / ranks-on-this-node (at least 1).
int default_threads_per_rank(const LaunchEnv& env);

}  // namespace cxr::launch

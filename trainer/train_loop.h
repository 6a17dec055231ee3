// The distributed training loop: every rank reads its slice of the train split, runs forward and
// backward on its device, gradients are averaged in buckets overlapped with backward, Adam steps;
// rank 0 logs, validates (scores gathered from all ranks) and writes atomic checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "core/config.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::trainer {

struct TrainEnv {
  int local_rank = 0;             // GPU index on this node
  int threads = 1;                // torch CPU threads for this rank
  std::string resume;             // "" (fresh; refuses a run_dir with checkpoints), "auto", or a path
  std::string command_line;
  int64_t stop_after_steps = 0;   // >0: end the process after this many steps (tests, benchmarks)
  bool sync_cuda_phases = false;  // synchronise the GPU at every phase boundary (bench: exact phase times)
  // Fault injection for the fault-tolerance tests (set by launch/ from CXR_INJECT_FAULT):
  // at step `fault_step` on rank `fault_rank`, "nan" poisons the loss, "throw" throws.
  std::string fault_kind;
  int64_t fault_step = -1;
  int fault_rank = -1;
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t epochs_completed = 0;
  double best_val_auroc = -1;
  double images_per_second = 0;   // whole job, after the first logged interval
  // Mean milliseconds per step of each phase after the first logged interval (warm-up excluded):
  // data wait, forward, backward, exposed communication, optimiser.
  double data_ms = 0, forward_ms = 0, backward_ms = 0, exposed_comm_ms = 0, optimizer_ms = 0;
  int64_t timed_steps = 0;
  // Gradient all-reduce over the same timed steps (GradientSynchronizer totals, for `cxrtrain bench`):
  // mean wall time per step with buckets in flight (hidden by backward + exposed) and bytes per step.
  double comm_in_flight_ms = 0, comm_bytes_per_step = 0;
  // Process CPU time (all threads of this rank) per timed step, ms: unlike the wall times above it
  // hardly moves when other processes compete for the cores, so benchmarks report both.
  double cpu_ms = 0;
  // sha256 over every parameter and buffer of this rank's final model, in name order: equal on all
  // ranks when they hold bit-identical state (the tests compare it across ranks and runs).
  std::string state_digest;
  std::string device, backend;    // e.g. "cuda:0", "nccl" (bench JSON)
  // Last validation's per-class AUROC (NaN where undefined) and macro, empty if not evaluated.
  std::vector<double> last_val_auroc;
  double last_val_macro = -1;
};

// sha256 of a module's parameters and buffers (names, shapes, bytes), in name order.
std::string module_digest(torch::nn::Module& module);

TrainSummary train(const Config& config, comm::Communicator& world, const TrainEnv& env);

}  // namespace cxr::trainer

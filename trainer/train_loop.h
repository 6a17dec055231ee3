// The distributed training loop: every rank reads its slice of the train split, runs forward and
// backward on its device, gradients are averaged in buckets overlapped with backward, Adam steps;
// rank 0 logs, validates (scores gathered from all ranks) and writes atomic checkpoints.
#pragma once

#include <cstdint>
#include <optional>
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
  std::vector<std::string> resume_force;  // settings allowed to differ from the checkpoint's (trainer/resume.h)
  int64_t stop_after_steps = 0;   // >0: end the process after this many steps (tests, benchmarks)
  bool sync_cuda_phases = false;  // synchronise the GPU at every phase boundary (bench: exact phase times)
  // Fault injection for the fault-tolerance tests (set by launch/ from CXR_INJECT_FAULT):
  // at step `fault_step` on rank `fault_rank`, "nan" poisons the loss, "throw" throws, "valnan" poisons
  // that rank's validation scores at the first validation at or after the step.
  std::string fault_kind;
  int64_t fault_step = -1;
  int fault_rank = -1;
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t epochs_completed = 0;
  std::optional<double> best_val_auroc;  // none: no validation ran, or none had a class to average
  // Images per second of training steps only (the sum of the phases below; validation, checkpoints and
  // logging excluded, their times are in validation_seconds / checkpoint_seconds), after the first
  // logged interval.
  double images_per_second = 0;
  double validation_seconds = 0, checkpoint_seconds = 0;  // whole run, this rank
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
  // Last validation's per-class AUROC (none where a class lacks positives or negatives), its macro
  // and how many of the 14 classes the macro averages; empty / none if no validation ran.
  std::vector<std::optional<double>> last_val_auroc;
  std::optional<double> last_val_macro;
  int last_val_classes = 0;
};

// sha256 of a module's parameters and buffers (names, shapes, bytes), in name order.
std::string module_digest(torch::nn::Module& module);

TrainSummary train(const Config& config, comm::Communicator& world, const TrainEnv& env);

}  // namespace cxr::trainer

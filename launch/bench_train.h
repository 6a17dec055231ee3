// `cxrtrain bench --steps N`: throughput of the real training step. Runs W warm-up + N timed steps of
// trainer::train() itself (no validation, no checkpoints, run directory in a temporary folder) and
// reports images per second and where each step's time goes, per rank and for the job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "trainer/train_loop.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::launch {

struct TrainBenchOptions {
  int64_t steps = 5;        // timed steps (after the warm-up)
  int64_t warmup = 2;       // untimed steps first (>= 1: the first step allocates and tunes)
  bool keep = false;        // keep the temporary run directory (its train.log and timing.jsonl)
  bool training_heap = false;  // recorded only: the caller applied use_training_heap() (allocator.h)
};

// One rank's numbers. Times are mean milliseconds per timed step on that rank; step_ms is the wall
// time per step (global_batch / images_per_second) and other_ms the part no phase claims (logging).
struct TrainBenchRank {
  int rank = 0;
  double images_per_second = 0;   // global images per second as this rank's clock saw them
  double step_ms = 0;
  double data_ms = 0, forward_ms = 0, backward_ms = 0, exposed_comm_ms = 0, optimizer_ms = 0, other_ms = 0;
  double comm_in_flight_ms = 0;   // gradient all-reduce wall time per step, hidden + exposed
  double cpu_ms = 0;              // process CPU time per step, all threads (robust to other load)
};

struct TrainBenchResult {
  // The job: images per second of the slowest rank; phase times are the mean over ranks.
  TrainBenchRank job;
  std::vector<TrainBenchRank> ranks;  // filled on rank 0 only
  int world_size = 1;
  int threads = 1;
  int image_size = 0;                 // network input side (the pack's when data.image_size = 0)
  int64_t timed_steps = 0;
  double comm_mb_per_step = 0;        // gradient bytes all-reduced per step, MiB
  std::string device, backend;        // "cpu"/"cuda:0"; "mpi", "nccl" or "local"
  std::string run_dir;                // the temporary run directory (removed unless options.keep)
  std::string table;                  // human-readable report (rank 0)
  std::string json;                   // one JSON object (rank 0)
};

// Collective: every rank calls it with the same config. `env` carries threads and the local rank;
// its stop_after_steps is replaced. Throws UserError when the train split holds fewer than
// warmup + steps global batches (the benchmark stays inside one epoch, so no checkpoint is written).
TrainBenchResult run_train_bench(const Config& config, comm::Communicator& world, trainer::TrainEnv env,
                                 const TrainBenchOptions& options);

}  // namespace cxr::launch

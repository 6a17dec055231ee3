// Starting a job's ranks, shared by `train` and `bench`: detect the launcher, honour log.all_ranks,
// start MPI when launched by mpirun/srun, and the fail-fast rule: an exception on any rank is logged
// with the rank and ends the whole job through MPI_Abort, so no peer hangs in a collective.
#pragma once

#include <functional>
#include <memory>

#include "comm/communicator.h"
#include "comm/mpi_runtime.h"
#include "core/config.h"
#include "launch/commands.h"
#include "launch/environment.h"
#include "trainer/train_loop.h"

namespace cxr::launch {

struct World {
  LaunchEnv env;
  std::unique_ptr<comm::MpiRuntime> mpi;  // declared before comm: destroyed after it
  std::unique_ptr<comm::Communicator> comm;
};

World start_world(const Config& cfg);

// The TrainEnv every training entry point starts from (device, threads).
trainer::TrainEnv base_train_env(const Config& cfg, const LaunchEnv& env);

// Runs `body`; on a multi-rank job an exception is logged as "rank R failed: ..." and aborts every
// rank (exit 2 for UserError, 1 otherwise). On one rank it propagates to main() as usual.
void run_or_abort(comm::Communicator& world, const std::function<void()>& body);

}  // namespace cxr::launch

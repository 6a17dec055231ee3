// Job start-up and fail-fast (see world.h).
#include "launch/world.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/log.h"

namespace cxr::launch {

World start_world(const Config& cfg) {
  World w;
  w.env = detect_launch();
  if (cfg.log.all_ranks) {
    // main() set logging up before the config was read: honour log.all_ranks (every rank logs info).
    LogOptions lo;
    lo.rank = w.env.world_rank;
    lo.world_size = w.env.world_size;
    lo.all_ranks = true;
    init_logging(lo);
  }
  const bool use_mpi = w.env.launcher != "none";
  if (use_mpi) w.mpi = std::make_unique<comm::MpiRuntime>();
  w.comm = comm::make_world_communicator(use_mpi);
  return w;
}

trainer::TrainEnv base_train_env(const Config& cfg, const LaunchEnv& env) {
  trainer::TrainEnv te;
  te.local_rank = env.local_rank;
  te.threads = cfg.train.threads > 0 ? cfg.train.threads : default_threads_per_rank(env);
  return te;
}

void run_or_abort(comm::Communicator& world, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    if (world.size() == 1) throw;
    spdlog::critical("rank {} failed: {}", world.rank(), e.what());
    spdlog::critical("rank {} ends the job (MPI_Abort)", world.rank());
    spdlog::default_logger()->flush();
    world.abort(dynamic_cast<const UserError*>(&e) ? 2 : 1);
  }
}

}  // namespace cxr::launch

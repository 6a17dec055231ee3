// `cxrtrain train`: resolves the config (YAML + --set), starts MPI when launched by mpirun/srun,
// and runs the training loop. A failure on any rank is logged with the rank and ends the whole job
// through MPI_Abort, so no rank hangs in a collective waiting for a dead peer.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

#include "comm/mpi_runtime.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "data/classes.h"
#include "launch/allocator.h"
#include "launch/commands.h"
#include "launch/environment.h"
#include "launch/world.h"
#include "trainer/train_loop.h"

namespace cxr::launch {

namespace {

struct TrainArgs {
  std::string config, resume;
  std::vector<std::string> overrides;
  int64_t stop_after = 0;
  bool print_config = false;
};

}  // namespace

void register_train(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a ResNet on a pack (one process per GPU or CPU slot; resumable)");
  cmd->footer(
      "Examples:\n"
      "  cxrtrain train --config configs/reference_study.yaml\n"
      "  mpirun -np 4 cxrtrain train --config configs/reference_study.yaml --set train.global_batch=128\n"
      "  cxrtrain train --config run.yaml --resume auto      # continue from run_dir/checkpoints/last.pt\n"
      "Every config key: cxrtrain train --print-config");
  cmd->add_option("--config", a->config, "YAML run configuration (keys not given keep their defaults)");
  cmd->add_option("--set", a->overrides, "Override a key: --set train.lr=3e-4 (repeatable)");
  cmd->add_option("--resume", a->resume, "'auto' = continue run_dir/checkpoints/last.pt if present, or a checkpoint path");
  cmd->add_option("--stop-after", a->stop_after, "Exit after this many steps (for tests and benchmarks)");
  cmd->add_flag("--print-config", a->print_config, "Print the resolved configuration and exit");
  cmd->callback([a, &ctx] {
    // Config errors surface before any rank starts work (every rank parses the same files).
    Config cfg = load_config(a->config, a->overrides);
    if (a->print_config) {
      std::fputs(to_yaml(cfg).c_str(), stdout);
      return;
    }
    use_training_heap();  // keep activation buffers mapped between steps (see launch/allocator.h)
    World world = start_world(cfg);
    trainer::TrainEnv te = base_train_env(cfg, world.env, ctx);
    te.resume = a->resume;
    te.stop_after_steps = a->stop_after;
    const FaultInjection fault = fault_injection();
    te.fault_kind = fault.kind;
    te.fault_step = fault.step;
    te.fault_rank = fault.rank;
    run_or_abort(*world.comm, [&] {
      trainer::TrainSummary s = trainer::train(cfg, *world.comm, te);
      if (world.comm->rank() == 0) {
        std::printf("trained %lld steps (%lld epochs) at %.1f img/s; best val macro AUROC %.4f; run in %s\n",
                    static_cast<long long>(s.steps), static_cast<long long>(s.epochs_completed), s.images_per_second,
                    s.best_val_auroc, cfg.run_dir.c_str());
        if (!s.last_val_auroc.empty()) {
          std::printf("validation AUROC per class (split '%s', last epoch):\n", cfg.data.val_split.c_str());
          for (size_t c = 0; c < s.last_val_auroc.size(); ++c) {
            if (std::isnan(s.last_val_auroc[c])) std::printf("  %-20s   n/a (no positives or no negatives)\n", data::kClassNames[c]);
            else std::printf("  %-20s %.3f\n", data::kClassNames[c], s.last_val_auroc[c]);
          }
          std::printf("  %-20s %.3f\n", "macro", s.last_val_macro);
        }
        std::printf("final state digest %s\n", s.state_digest.c_str());
      }
    });
  });
}

}  // namespace cxr::launch

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
#include "trainer/resume.h"
#include "trainer/train_loop.h"

namespace cxr::launch {

namespace {

struct TrainArgs {
  std::string config, resume, resume_force;
  std::vector<std::string> overrides;
  int64_t stop_after = 0;
  bool print_config = false;
};

}  // namespace

void register_train(CLI::App& app, Context&) {
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
  cmd->add_option("--resume", a->resume,
                  "'auto' = continue run_dir/checkpoints/last.pt if present (last.prev.pt if last.pt is damaged), "
                  "or a checkpoint path. Refused when a setting that changes the result differs from the run's");
  cmd->add_option("--resume-force", a->resume_force,
                  "Comma-separated settings allowed to differ from the checkpoint's on --resume (e.g. "
                  "train.epochs to train longer, world_size); each is logged");
  cmd->add_option("--stop-after", a->stop_after, "Exit after this many steps (for tests and benchmarks)");
  cmd->add_flag("--print-config", a->print_config, "Print the resolved configuration and exit");
  cmd->callback([a] {
    // Config errors surface before any rank starts work (every rank parses the same files).
    Config cfg = load_config(a->config, a->overrides);
    const std::vector<std::string> force = trainer::parse_resume_force(a->resume_force);
    if (!force.empty() && a->resume.empty()) throw UserError("--resume-force needs --resume", "add --resume auto");
    if (a->print_config) {
      std::fputs(to_yaml(cfg).c_str(), stdout);
      return;
    }
    use_training_heap();  // keep activation buffers mapped between steps (see launch/allocator.h)
    World world = start_world(cfg);
    trainer::TrainEnv te = base_train_env(cfg, world.env);
    te.resume = a->resume;
    te.resume_force = force;
    te.stop_after_steps = a->stop_after;
    const FaultInjection fault = fault_injection();
    te.fault_kind = fault.kind;
    te.fault_step = fault.step;
    te.fault_rank = fault.rank;
    run_or_abort(*world.comm, [&] {
      trainer::TrainSummary s = trainer::train(cfg, *world.comm, te);
      if (world.comm->rank() == 0) {
        std::printf("trained %lld steps (%lld epochs) at %.1f img/s (training steps only; validation %.1f s, "
                    "checkpoints %.1f s); run in %s\n",
                    static_cast<long long>(s.steps), static_cast<long long>(s.epochs_completed), s.images_per_second,
                    s.validation_seconds, s.checkpoint_seconds, cfg.run_dir.c_str());
        if (s.best_val_auroc)
          std::printf("best.pt: best validation macro AUROC %.4f\n", *s.best_val_auroc);
        else
          std::printf("best.pt: none (%s)\n", cfg.train.evaluate ? "no validation defined a macro AUROC" : "no validation: train.evaluate=false");
        if (!s.last_val_auroc.empty()) {
          std::printf("validation AUROC per class (split '%s', last epoch):\n", cfg.data.val_split.c_str());
          for (size_t c = 0; c < s.last_val_auroc.size(); ++c) {
            if (!s.last_val_auroc[c]) std::printf("  %-20s   n/a (no positives or no negatives)\n", data::kClassNames[c]);
            else std::printf("  %-20s %.3f\n", data::kClassNames[c], *s.last_val_auroc[c]);
          }
          if (s.last_val_macro)
            std::printf("  %-20s %.3f (over %d of %d classes)\n", "macro", *s.last_val_macro, s.last_val_classes,
                        data::kNumClasses);
          else
            std::printf("  %-20s   n/a (no class has both positives and negatives)\n", "macro");
        } else {
          std::printf("no validation%s\n", cfg.train.evaluate ? " (no epoch ended)" : " (train.evaluate=false)");
        }
        std::printf("final state digest %s\n", s.state_digest.c_str());
      }
    });
  });
}

}  // namespace cxr::launch

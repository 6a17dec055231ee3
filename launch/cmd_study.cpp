// `cxrtrain study`: the config resolved once (every rank parses the same files), MPI started when launched by
// mpirun/srun, then launch/study.h runs the stages; rank 0 prints what each stage did and where the report is.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "core/config.h"
#include "core/error.h"
#include "launch/allocator.h"
#include "launch/commands.h"
#include "launch/study.h"
#include "launch/world.h"

namespace cxr::launch {

namespace {

struct StudyArgs {
  std::string config;
  std::vector<std::string> overrides, redo;
  int seeds = 0, groups = 0;
  bool no_progress = false, print_config = false;
};

}  // namespace

void register_study(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<StudyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "study", "A whole study in one job: synth (if the pack is missing) -> train -> evaluate -> gradcam -> robustness -> report; "
               "--seeds K trains K seeds at once");
  cmd->footer(
      "Examples:\n"
      "  mpirun -np 2 cxrtrain study --config configs/phantom_study.yaml     # prints the report's path\n"
      "  mpirun -np 8 cxrtrain study --config configs/nih_resnet50_reference.yaml\n"
      "  mpirun -np 4 cxrtrain study --config configs/phantom_study.yaml --seeds 8   # 4 groups of 1 rank, 2 seeds each\n"
      "  mpirun -np 2 cxrtrain study --config configs/phantom_shortcut_control.yaml  # findings drawn independently:\n"
      "                                                                   # the planted marker is the only shortcut\n"
      "Resumable: each finished stage is recorded in RUN/study.json and not redone when the study is started again\n"
      "(training resumes from checkpoints/last.pt); --redo STAGE runs a stage and every later one again.\n"
      "--seeds K: the ranks are split into groups (MPI_Comm_split; --groups G, default min(K, ranks)); group g trains\n"
      "and evaluates seeds g, g+G, ... one after another, each in RUN/seeds/seed_<S>/ with S = seed + index; Grad-CAM\n"
      "runs on the first seed; rank 0 writes RUN/seeds/summary.json (AUROC mean, SD, range, seed vs test-sampling\n"
      "variance, orderings that hold in every seed, seeds needed per CI width, per-film instability, the seed\n"
      "ensemble) and RUN/report/ with the seed-to-seed section. Stages and the phantom: the study.* keys\n"
      "(cxrtrain study --print-config).");
  cmd->add_option("--config", a->config, "YAML configuration (the training keys and study.*)")->required();
  cmd->add_option("--set", a->overrides, "Override a key: --set study.synth.n=2000 (repeatable)");
  cmd->add_option("--seeds", a->seeds, "Models to train with seeds seed, seed+1, ... (default study.seeds)");
  cmd->add_option("--groups", a->groups, "Seed groups the ranks split into (0 = min(seeds, ranks))")->capture_default_str();
  cmd->add_option("--redo", a->redo, "Run this stage and every later one again: train | evaluate | gradcam | robustness | report");
  cmd->add_flag("--no-progress", a->no_progress, "No progress bars");
  cmd->add_flag("--print-config", a->print_config, "Print the resolved configuration and exit");
  cmd->callback([a, &ctx] {
    const Config cfg = load_config(a->config, a->overrides);
    for (const auto& r : a->redo) parse_stages(r, "--redo");  // a typo fails before any rank starts work
    parse_stages(cfg.study.stages, "study.stages");
    if (a->seeds < 0) throw UserError("--seeds must be >= 1", "e.g. --seeds 5");
    if (a->print_config) {
      std::fputs(to_yaml(cfg).c_str(), stdout);
      return;
    }
    use_training_heap();
    World world = start_world(cfg);
    StudyOptions o;
    o.seeds = a->seeds;
    o.groups = a->groups;
    o.redo = a->redo;
    o.local_rank = world.env.local_rank;
    o.threads = base_train_env(cfg, world.env).threads;
    o.progress = !a->no_progress;
    o.command_line = ctx.command_line;
    run_or_abort(*world.comm, [&] {
      const StudyResult r = run_study(cfg, *world.comm, o);
      if (world.comm->rank() != 0) return;
      for (const auto& l : r.lines) std::printf("%s\n", l.c_str());
      if (!r.seeds_summary.empty()) std::printf("seeds summary: %s\n", r.seeds_summary.c_str());
      if (!r.report.empty()) std::printf("report: %s\n", r.report.c_str());
      std::fflush(stdout);
    });
  });
}

}  // namespace cxr::launch

// `cxrtrain probe`: trains a TinyCnn for a fixed time on a pack and prints per-class AUROC — a
// quick, honest measure of how learnable each class is (used to check the phantom's difficulty).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "core/fs.h"
#include "data/classes.h"
#include "launch/commands.h"
#include "trainer/probe.h"

namespace cxr::launch {

void register_probe(CLI::App& app, Context&) {
  auto o = std::make_shared<trainer::ProbeOptions>();
  auto json_out = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("probe", "Learnability probe: a tiny CNN trained for N seconds, per-class AUROC");
  cmd->footer("Example:\n  cxrtrain synth --out packs/phantom --n 8000 --size 128 && cxrtrain probe --pack packs/phantom");
  cmd->add_option("--pack", o->pack, "Pack folder")->required();
  cmd->add_option("--train-split", o->train_split, "Split to train on")->capture_default_str();
  cmd->add_option("--eval-split", o->eval_split, "Split to score")->capture_default_str();
  cmd->add_option("--size", o->image_size, "Input side in pixels")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Batch size")->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "Training budget (wall clock)")->capture_default_str();
  cmd->add_option("--steps", o->max_steps, "Stop after this many steps too (0 = time only)")->capture_default_str();
  cmd->add_option("--lr", o->lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--width", o->width, "Channels of the first conv block")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Torch threads (0 = default)")->capture_default_str();
  cmd->add_option("--workers", o->workers, "Loader threads")->capture_default_str();
  cmd->add_option("--json", *json_out, "Also write the result as JSON to this file");
  cmd->add_flag("--quiet", *quiet, "No progress lines");
  cmd->callback([o, json_out, quiet] {
    o->progress = !*quiet;
    trainer::ProbeResult r = trainer::run_probe(*o);
    std::printf("probe: %lld steps, %lld images in %.1f s (%.0f img/s); AUROC on '%s'\n",
                static_cast<long long>(r.steps), static_cast<long long>(r.images), r.train_seconds,
                r.images_per_second, o->eval_split.c_str());
    for (int c = 0; c < data::kNumClasses; ++c) {
      if (r.auroc[c]) std::printf("  %-20s %.3f\n", data::kClassNames[c], *r.auroc[c]);
      else std::printf("  %-20s   n/a (one class absent)\n", data::kClassNames[c]);
    }
    if (r.macro)
      std::printf("  %-20s %.3f (over %d of %d classes)\n", "macro", *r.macro, r.macro_classes, data::kNumClasses);
    else
      std::printf("  %-20s   n/a (no class has both positives and negatives)\n", "macro");
    if (!json_out->empty()) atomic_write_file(*json_out, r.json + "\n");
  });
}

}  // namespace cxr::launch

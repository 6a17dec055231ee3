// `cxrtrain synth`: flags -> data::SynthOptions -> data::run_synth (a phantom pack), and/or
// data::render_gallery (one film per class with its lesion mask outlined, for the docs).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "data/synth.h"
#include "launch/commands.h"

namespace cxr::launch {

void register_synth(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<data::SynthOptions>();
  auto gallery = std::make_shared<std::string>();
  auto no_progress = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write a phantom chest X-ray pack with ground-truth lesion masks and optional planted shortcuts");
  cmd->footer(
      "Examples:\n"
      "  cxrtrain synth --out packs/phantom256 --n 20000 --size 256 --seed 1\n"
      "  cxrtrain synth --out packs/shortcut --n 20000 --shortcut Pneumothorax:0.9:top-left\n"
      "  cxrtrain synth --gallery docs/phantom_gallery.png\n"
      "Patients, ages, sexes, views and label co-occurrence follow NIH ChestX-ray14 v2020; splits are by patient.\n"
      "--shortcut CLASS:P[:PLACE] draws a bright tag at PLACE (top-left, top-right, bottom-left, bottom-right,\n"
      "top, bottom, left, right; default top-left) on CLASS-positive train/val films with probability P and on no\n"
      "negative one; on test films with the train marker rate, independently of CLASS. The `shortcut` dataset\n"
      "flags exactly the films with the marker (bit s for the s-th --shortcut). See docs/phantom.md.");
  cmd->add_option("--out", opts->out, "Output pack folder (written to a temporary name, then renamed)");
  cmd->add_option("--n", opts->n, "Number of images")->capture_default_str();
  cmd->add_option("--size", opts->size, "Image side in pixels (also the gallery tile size)")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Seed: same seed and options give the same bytes")->capture_default_str();
  cmd->add_option("--shortcut", opts->shortcuts, "Planted marker CLASS:P[:PLACE] (repeatable, at most 8)");
  cmd->add_option("--findings", opts->findings,
                  "nih: NIH's co-occurring findings, AP films sicker (natural shortcuts); independent: the same "
                  "prevalences with view and each class drawn apart (a planted marker is then the only shortcut)")
      ->check(CLI::IsMember({"nih", "independent"}))
      ->capture_default_str();
  cmd->add_option("--label-noise", opts->label_noise,
                  "Flip labels as text mining errs, R x each class's documented miss / false-positive rate (0-5); "
                  "the truth goes to expert_labels")
      ->capture_default_str();
  cmd->add_option("--val-fraction", opts->val_fraction, "Fraction of *patients* in val")->capture_default_str();
  cmd->add_option("--test-fraction", opts->test_fraction, "Fraction of *patients* in test")->capture_default_str();
  cmd->add_option("--shard-size", opts->shard_size, "Images per shard (at most)")->capture_default_str();
  cmd->add_option("--jobs,-j", opts->jobs, "Rendering threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--compression", opts->compression, "gzip level for images and masks, 0 = none (fastest to read)")
      ->capture_default_str();
  cmd->add_option("--gallery", *gallery, "Also (or only, without --out) write a PNG with one film per class");
  cmd->add_flag("--overwrite", opts->overwrite, "Replace an existing --out");
  cmd->add_flag("--no-progress", *no_progress, "No progress bar");
  cmd->callback([opts, gallery, no_progress, &ctx] {
    if (opts->out.empty() && gallery->empty())
      throw UserError("nothing to do: pass --out DIR for a pack and/or --gallery FILE.png", "see cxrtrain synth --help");
    if (!gallery->empty()) std::printf("%s\n", data::render_gallery(*gallery, opts->size, opts->seed).c_str());
    if (opts->out.empty()) return;
    opts->command_line = ctx.command_line;
    opts->progress = !*no_progress;
    data::SynthResult r = data::run_synth(*opts);
    std::fputs(r.summary.c_str(), stdout);
    std::printf(
        "synthesized %lld images of %dx%d into %s in %.1f s: %.1f img/s with %d jobs; %.1f img per CPU-second "
        "(render + write, %.1f CPU-s)\n",
        static_cast<long long>(r.images), opts->size, opts->size, opts->out.c_str(), r.seconds, r.images_per_second,
        r.jobs, r.images_per_cpu_second, r.cpu_seconds);
  });
}

}  // namespace cxr::launch

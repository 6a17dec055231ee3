// `cxrtrain probe-shift`: robustness probes of a trained run (eval/probe_shift.h) under mpirun; prints the
// conditions with a significant AUROC drop and where robustness.json went.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "core/config.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "core/strings.h"
#include "data/image_shift.h"
#include "data/scanner_shift.h"
#include "eval/probe_shift.h"
#include "launch/commands.h"
#include "launch/world.h"

namespace cxr::launch {

namespace {

void print_summary(const nlohmann::ordered_json& r, const std::string& where) {
  std::printf("%-10s %-34s %-18s %8s %8s  %s\n", "family", "condition", "split", "macro", "change", "significant drops (q < 0.05)");
  for (const auto& c : r["conditions"]) {
    std::string name = c["name"].get<std::string>();
    if (c["severity"].get<int>() > 0) name += " s" + std::to_string(c["severity"].get<int>());
    else if (c["family"] != "shortcut") name += " " + fmt::format("{:g}", c["parameter"].get<double>());
    std::string drops;
    for (const auto& d : c["significant_drops"]) drops += (drops.empty() ? "" : ", ") + d.get<std::string>();
    std::printf("%-10s %-34s %-18s %8s %8s  %s\n", c["family"].get<std::string>().c_str(), name.c_str(),
                c["split"].get<std::string>().c_str(),
                c["macro_auroc"].is_number() ? fmt::format("{:.3f}", c["macro_auroc"].get<double>()).c_str() : "n/a",
                c["macro_difference"].is_number() ? fmt::format("{:+.3f}", c["macro_difference"].get<double>()).c_str() : "n/a",
                drops.empty() ? "-" : drops.c_str());
  }
  std::printf("probed in %.1f s (%.0f img/s scored); written: %s/robustness.json\n", r["seconds"]["total"].get<double>(),
              r["images_per_second"].get<double>(), where.c_str());
  std::fflush(stdout);
}

}  // namespace

void register_probe_shift(CLI::App& app, Context&) {
  auto o = std::make_shared<eval::ProbeShiftOptions>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "probe-shift", "Robustness probes of a trained run: controlled shifts, phantom scanner changes, FGSM/PGD");
  cmd->footer(
      "Examples:\n"
      "  mpirun -np 2 cxrtrain probe-shift --run runs/study             # everything, writes runs/study/robustness/\n"
      "  cxrtrain probe-shift --run runs/study --attacks none --scanner none --severities 1\n"
      "  cxrtrain probe-shift --run runs/study --shifts none --attacks none --extra contrast=1.05 --extra contrast=0.95\n"
      "Every condition is scored on the same images as the unshifted baseline and compared per class by DeLong's\n"
      "paired test; q-values (Benjamini-Hochberg) over every test of the run. Planted-marker probes (phantom packs)\n"
      "run on --shortcut-split, where the marker follows its class as in training. Attacks are a robustness probe,\n"
      "not a security claim. See docs/robustness.md and docs/shifts.md.\n\nImage shifts (severities 1, 2, 3):\n" +
      data::shift_table_text());
  cmd->add_option("--run", o->run_dir, "Run directory (its resolved config, checkpoints/)")->required();
  cmd->add_option("--checkpoint", o->checkpoint, "best | last | a checkpoint path")->capture_default_str();
  cmd->add_option("--split", o->split, "Split to probe (default eval.split = test)");
  cmd->add_option("--out", o->out_dir, "Output folder (default RUN/robustness)");
  cmd->add_option("--shifts", o->shifts, "Image shifts by name, 'all' or 'none'")->delimiter(',')->capture_default_str();
  cmd->add_option("--severities", o->severities, "Severities of the shifts and scanner changes (1..3)")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--scanner", o->scanner,
                  "Phantom scanner shifts (" + join(data::scanner_shift_names(), ", ") + "), 'all' or 'none'")
      ->delimiter(',')->capture_default_str();
  cmd->add_flag("!--no-shortcuts", o->shortcuts, "Skip the planted-marker probes (phantom)");
  cmd->add_option("--shortcut-split", o->shortcut_split, "Split of the planted-marker probes")->capture_default_str();
  cmd->add_option("--attacks", o->attacks, "fgsm, pgd, or none")->delimiter(',')->capture_default_str();
  cmd->add_option("--epsilons", o->epsilons, "Attack radii in grey levels of 255")->delimiter(',')->capture_default_str();
  cmd->add_option("--pgd-steps", o->pgd_steps, "PGD iterations (step 2.5 * epsilon / steps)")->capture_default_str();
  cmd->add_option("--attack-images", o->attack_images, "Attack this many images spread over the split (0 = all)")
      ->capture_default_str();
  cmd->add_option("--extra", o->extra, "A shift at an explicit parameter, KIND=VALUE (repeatable), e.g. contrast=1.05");
  cmd->add_option("--set", *overrides, "Override a key of the run's config: --set data.pack=/moved/pack");
  cmd->callback([o, overrides] {
    const Config cfg = load_config(latest_run_config(o->run_dir), *overrides);
    World world = start_world(cfg);
    run_or_abort(*world.comm, [&] {
      std::string out;
      const auto r = eval::probe_shift(cfg, *world.comm, world.env.local_rank, *o, &out);
      if (world.comm->rank() == 0) print_summary(r, out);
    });
  });
}

}  // namespace cxr::launch

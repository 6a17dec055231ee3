// `cxrtrain gradcam`: Grad-CAM as a measurement after `evaluate` (rank-0 pass; see eval/gradcam_run.h). Prints
// a per-class table: where the maps lie, the shortcut flag, localisation, the sanity verdict, deletion and the
// causal test.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "data/classes.h"
#include "eval/gradcam_run.h"
#include "launch/commands.h"
#include "launch/world.h"

namespace cxr::launch {

namespace {

std::string fmt3(const nlohmann::ordered_json& v) {
  if (!v.is_number()) return "  n/a";
  char b[16];
  std::snprintf(b, sizeof b, "%5.2f", v.get<double>());
  return b;
}

void print_table(const nlohmann::ordered_json& s, const std::string& dir) {
  std::printf("Grad-CAM at %s (%s), %lld images of split '%s', regions: %s\n", s["layer"].get<std::string>().c_str(),
              s["method"].get<std::string>().c_str(), static_cast<long long>(s["n_images"].get<int64_t>()),
              s["split"].get<std::string>().c_str(), s["regions"]["kind"].get<std::string>().c_str());
  std::printf("%-19s %5s %-17s %5s %4s %5s %5s %6s %-6s %5s %5s %7s %6s %6s %6s %6s\n", "class", "n", "top region", "share",
              "off", "flag", "point", "(n)", "sanity", "del", "rand", "dp", "AUC+m", "AUC-m", "dp-les", "dp-oth");
  for (const auto& [name, c] : s["classes"].items()) {
    std::string top = "-";
    double best = -1;
    for (const auto& [region, v] : c["region_share"].items())
      if (v["mean"].is_number() && v["mean"].get<double>() > best) best = v["mean"].get<double>(), top = region;
    const auto& cf = c["counterfactual"];
    const auto lesion = c.contains("counterfactual_lesion_removed") ? c["counterfactual_lesion_removed"]["delta_p_mean"]
                                                                    : nlohmann::ordered_json();
    const auto others = c.contains("counterfactual_other_lesions_removed")
                            ? c["counterfactual_other_lesions_removed"]["delta_p_mean"] : nlohmann::ordered_json();
    std::printf("%-19s %5lld %-17s %5s %4s %5s %5s %6lld %-6s %5s %5s %7s %6s %6s %6s %6s\n", name.c_str(),
                static_cast<long long>(c["n_images"].get<int64_t>()), top.c_str(), best >= 0 ? fmt3(best).c_str() : "  n/a",
                fmt3(c["off_target_share"]["mean"]).c_str(), c["shortcut_flag"].get<bool>() ? "FLAG" : "-",
                fmt3(c["pointing_game"]["hit_rate"]).c_str(), static_cast<long long>(c["pointing_game"]["n"].get<int64_t>()),
                c["sanity"]["verdict"].get<std::string>().c_str(), fmt3(c["deletion_auc"]).c_str(),
                fmt3(c["random_deletion_auc"]).c_str(), cf.is_null() ? "  n/a" : fmt3(cf["delta_p_mean"]).c_str(),
                cf.is_null() ? "  n/a" : fmt3(cf["auroc_with_marker"]).c_str(),
                cf.is_null() ? "  n/a" : fmt3(cf["auroc_without_marker"]).c_str(), fmt3(lesion).c_str(),
                fmt3(others).c_str());
  }
  std::printf("off = map mass outside where the class's disease can be; point = pointing-game hit rate; del/rand =\n"
              "deletion AUC by the map / at random; dp = mean change of the probability when the planted marker is\n"
              "drawn; AUC+m / AUC-m = AUROC with the marker on every film / on none; dp-les = mean drop of the\n"
              "probability when the class's own lesion is removed from films that have it; dp-oth = the same when\n"
              "every other lesion is removed from films with the class and another (phantom).\n%s\n",
              s["reminder"].get<std::string>().c_str());
  std::printf("written: %s/{cam_stats.json,cams.npy,cams_index.csv,overlays/}\n", dir.c_str());
  std::fflush(stdout);
}

}  // namespace

void register_gradcam(CLI::App& app, Context&) {
  auto o = std::make_shared<eval::GradcamOptions>();
  auto split = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto quiet = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "gradcam", "Grad-CAM as a measurement: region shares, shortcut flags, localisation, sanity and causal tests");
  cmd->footer(
      "Examples:\n"
      "  cxrtrain evaluate --run runs/study && cxrtrain gradcam --run runs/study\n"
      "  cxrtrain gradcam --run runs/study --layer layer3 --per-class 200\n"
      "Runs after `evaluate` on the same split: its predictions and operating points choose each class's true\n"
      "positives, false positives and false negatives. Writes RUN/gradcam/cam_stats.json (per class: region shares\n"
      "with bootstrap CIs, shortcut flag, pointing game, IoU/IoBB, cascading-randomisation check, deletion AUC, and\n"
      "on phantom packs the causal tests on re-rendered films: planted markers on/off, AP tags and electrodes removed,\n"
      "the class's lesion removed, the other lesions removed), cams.npy (raw maps), overlays/<Class>.png. Under\n"
      "mpirun rank 0 does the pass and the other ranks wait. Grad-CAM shows association, not cause.");
  cmd->add_option("--run", o->run_dir, "Run directory, evaluated (cxrtrain evaluate --run DIR)")->required();
  cmd->add_option("--split", *split, "Split (default eval.split = test; evaluate it first)");
  cmd->add_option("--layer", o->layer, "Stage whose activations are weighted: stem, layer1 .. layer4")->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "best | last | a path (default: the one the evaluation used)");
  cmd->add_option("--per-class", o->per_class, "Images per class (TPs, FPs, FNs)")->capture_default_str();
  cmd->add_option("--overlay-columns", o->overlay_columns, "TPs, FPs and FNs shown per class overlay")->capture_default_str();
  cmd->add_option("--sanity-images", o->sanity_images, "Images of the randomisation check")->capture_default_str();
  cmd->add_option("--deletion-images", o->deletion_images, "Top true positives per class for deletion curves (0: skip)")
      ->capture_default_str();
  cmd->add_option("--deletion-steps", o->deletion_steps, "Deletion curve steps")->capture_default_str();
  cmd->add_option("--counterfactual-images", o->counterfactual_images,
                  "Films of the causal test (phantom with markers; 0: the whole split)")->capture_default_str();
  cmd->add_option("--lesion-images", o->lesion_images,
                  "Films per class of the lesion-removal test (phantom): the class's probability with and without its "
                  "lesion")->capture_default_str();
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples of the images")->capture_default_str();
  cmd->add_option("--set", *overrides, "Override a key of the run's config: --set data.pack=/moved/pack");
  cmd->add_flag("--no-progress", *quiet, "No progress bars");
  cmd->callback([o, split, overrides, quiet] {
    std::vector<std::string> ov = *overrides;
    if (!split->empty()) ov.push_back("eval.split=" + *split);
    o->progress = !*quiet;
    const Config cfg = load_config(latest_run_config(o->run_dir), ov);
    World world = start_world(cfg);
    run_or_abort(*world.comm, [&] {
      std::string dir;
      const auto stats = eval::run_gradcam(cfg, *world.comm, world.env.local_rank, *o, &dir);
      if (world.comm->rank() == 0) print_table(stats, dir);
    });
  });
}

}  // namespace cxr::launch

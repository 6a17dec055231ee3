// `cxrtrain evaluate`: a run's checkpoint scored on a split under mpirun (every rank scores its share,
// rank 0 computes the statistics and writes DIR/eval/<split>/), or a predictions file from any model scored
// against a pack (one process). Prints the per-class table with both intervals.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/run_dir.h"
#include "data/classes.h"
#include "eval/evaluate.h"
#include "launch/commands.h"
#include "launch/environment.h"
#include "launch/world.h"

namespace cxr::launch {

namespace {

struct EvaluateArgs {
  std::string run, checkpoint = "best", predictions, pack, out, threshold_predictions, compare, split;
  std::vector<std::string> overrides;
  bool allow_partial = false;
  double target_sensitivity = 0;
  int bootstrap = 0;
};

std::string interval(const nlohmann::ordered_json& v) {
  if (!v.is_array()) return "      n/a      ";
  char buf[48];
  std::snprintf(buf, sizeof buf, "[%.3f, %.3f]", v[0].get<double>(), v[1].get<double>());
  return buf;
}

void print_table(const nlohmann::ordered_json& m, const std::string& where) {
  std::printf("split '%s': %lld images, %lld patients\n", m["split"].get<std::string>().c_str(),
              static_cast<long long>(m["n_images"].get<int64_t>()), static_cast<long long>(m["n_patients"].get<int64_t>()));
  std::printf("%-20s %6s %6s %7s %-16s %-16s %6s %6s\n", "class", "pos", "neg", "AUROC", "95% CI DeLong",
              "95% CI bootstrap", "AP", "ECE");
  for (const auto& [name, c] : m["classes"].items()) {
    const auto& a = c["auroc"];
    std::printf("%-20s %6lld %6lld %7s %-16s %-16s %6s %6.3f\n", name.c_str(),
                static_cast<long long>(c["n_pos"].get<int64_t>()), static_cast<long long>(c["n_neg"].get<int64_t>()),
                a.is_number() ? fmt::format("{:.3f}", a.get<double>()).c_str() : "n/a",
                interval(c["auroc_ci95_delong"]).c_str(), interval(c["auroc_ci95_bootstrap"]).c_str(),
                c["average_precision"].is_number() ? fmt::format("{:.3f}", c["average_precision"].get<double>()).c_str()
                                                   : "n/a",
                c["ece"].get<double>());
  }
  // Why a class has no AUROC (no positives, a label the pack's source lacks, ...): its "reason", once per class.
  for (const auto& [name, c] : m["classes"].items())
    if (!c["auroc"].is_number() && c.contains("reason") && c["reason"].is_string())
      std::printf("  %s: n/a, %s\n", name.c_str(), c["reason"].get<std::string>().c_str());
  const auto& macro = m["macro"];
  if (macro["auroc"].is_number())
    std::printf("%-20s %6s %6s %7.3f %-16s %-16s   (over %d of %d classes)\n", "macro", "", "",
                macro["auroc"].get<double>(), "", interval(macro["auroc_ci95_bootstrap"]).c_str(),
                macro["classes_averaged"].get<int>(), data::kNumClasses);
  if (m["micro"]["auroc"].is_number()) std::printf("%-20s %6s %6s %7.3f\n", "micro", "", "", m["micro"]["auroc"].get<double>());
  std::printf("written: %s/{predictions.csv,curves.json,metrics.json}\n", where.c_str());
  std::fflush(stdout);
}

}  // namespace

void register_evaluate(CLI::App& app, Context&) {
  auto a = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Score a run's checkpoint on a split (distributed) or a predictions file; statistics with CIs");
  cmd->footer(
      "Examples:\n"
      "  mpirun -np 4 cxrtrain evaluate --run runs/study      # test split, best.pt, writes runs/study/eval/test/\n"
      "  cxrtrain evaluate --run runs/study --split val --checkpoint last\n"
      "  cxrtrain evaluate --predictions other_model.csv --pack packs/nih256 --out eval_other\n"
      "  cxrtrain evaluate --run runs/study --compare other_model_test.csv   # paired DeLong per class\n"
      "A predictions file: header image_index then the 14 class names (any order), one probability per class;\n"
      "labels, patients, sex, age, view and expert labels come from the pack. Operating points are chosen on\n"
      "the threshold split (eval.threshold_split, default val) and applied unchanged to the evaluated one.");
  cmd->add_option("--run", a->run, "Run directory (its resolved config, checkpoints/)");
  cmd->add_option("--checkpoint", a->checkpoint, "best | last | a checkpoint path (--run)")->capture_default_str();
  cmd->add_option("--predictions", a->predictions, "A predictions CSV from any model (instead of --run)");
  cmd->add_option("--pack", a->pack, "The pack the predictions refer to (--predictions)");
  cmd->add_option("--out", a->out, "Output folder (--predictions)");
  cmd->add_option("--threshold-predictions", a->threshold_predictions,
                  "The same model's predictions on the threshold split, to choose operating points (--predictions)");
  cmd->add_option("--compare", a->compare, "Another model's predictions on the same images: paired DeLong per class");
  cmd->add_option("--split", a->split, "Split to score (default eval.split = test)");
  cmd->add_option("--target-sensitivity", a->target_sensitivity,
                  "Operating point: the highest threshold with at least this sensitivity on the threshold split "
                  "(default: Youden's J)");
  cmd->add_option("--bootstrap", a->bootstrap, "Patient-level bootstrap resamples (default eval.bootstrap = 2000)");
  cmd->add_flag("--allow-partial", a->allow_partial,
                "Accept predictions for part of the split (stated in metrics.json and the report)");
  cmd->add_option("--set", a->overrides, "Override a key of the run's config: --set data.pack=/moved/pack");
  cmd->callback([a] {
    if (a->run.empty() == a->predictions.empty())
      throw UserError("give either --run DIR or --predictions FILE", "cxrtrain evaluate --help shows both forms");
    std::vector<std::string> overrides = a->overrides;
    if (!a->split.empty()) overrides.push_back("eval.split=" + a->split);
    if (a->target_sensitivity > 0) overrides.push_back("eval.target_sensitivity=" + std::to_string(a->target_sensitivity));
    if (a->bootstrap > 0) overrides.push_back("eval.bootstrap=" + std::to_string(a->bootstrap));
    if (!a->predictions.empty()) {
      if (a->pack.empty()) throw UserError("--predictions needs --pack", "the pack whose split the file scores");
      const Config cfg = load_config("", overrides);
      eval::PredictionsEvaluationOptions o;
      o.predictions = a->predictions;
      o.pack = a->pack;
      o.out_dir = a->out;
      o.threshold_predictions = a->threshold_predictions;
      o.compare = a->compare;
      o.allow_partial = a->allow_partial;
      o.stats.split = cfg.eval.split;
      o.stats.threshold_split = cfg.eval.threshold_split;
      o.stats.resamples = cfg.eval.bootstrap;
      o.stats.seed = static_cast<uint64_t>(cfg.seed);
      o.stats.threads = cfg.eval.threads;
      if (cfg.eval.target_sensitivity > 0) o.stats.target_sensitivity = cfg.eval.target_sensitivity;
      print_table(eval::evaluate_predictions_file(o), a->out);
      return;
    }
    if (a->allow_partial) throw UserError("--allow-partial applies to --predictions", "a run scores its whole split");
    // The run's own resolved config, then the overrides: config errors surface before any rank works.
    const Config cfg = load_config(latest_run_config(a->run), overrides);
    World world = start_world(cfg);
    run_or_abort(*world.comm, [&] {
      eval::RunEvaluationOptions o;
      o.run_dir = a->run;
      o.checkpoint = a->checkpoint;
      o.compare = a->compare;
      std::string out;
      const auto m = eval::evaluate_run(cfg, *world.comm, world.env.local_rank, o, &out);
      if (world.comm->rank() == 0) print_table(m, out);
    });
  });
}

}  // namespace cxr::launch

// How much of a result is luck: K models trained with different seeds on the same data and scored on the same
// test images. Per class: AUROC mean, SD, min-max over seeds; the variance split into seed-to-seed variance
// (the SD over seeds on this fixed test set) and test-sampling variance (DeLong, averaged over seeds); how many
// seeds a confidence interval of a given width needs; the class orderings that hold in every seed; the
// per-radiograph instability Zech et al. 2019 (arXiv 1912.03606) measured (mean ln(max p / min p) and mean
// coefficient of variation of one film's probability across seeds); and the AUROC of the seed ensemble (mean
// probability). Torch-free; `cxrtrain study --seeds K` writes its result as seeds/summary.json.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cxr::eval {

struct SeedScores {
  int64_t seed = 0;                 // the config seed the model was trained with
  std::string run_dir;              // where it lies (recorded in the summary)
  std::vector<double> probability;  // [n, 14] in cxrtrain's class order, rows in the same image order for every seed
};

struct SeedVarianceInput {
  std::string split = "test";
  std::vector<std::string> image_index;      // [n], for messages
  std::vector<uint8_t> labels;               // [n, 14] in {0, 1}
  std::vector<SeedScores> seeds;             // K >= 2
  std::vector<double> ci_widths = {0.05, 0.02, 0.01};  // full widths of the 95 % intervals asked about
  double probability_floor = 1e-6;           // p is clipped to [floor, 1 - floor] before ln(max / min), so a
                                             // saturated film gives a finite ratio (stated in the summary)
};

// seeds/summary.json (schema "cxrtrain.seeds/1"):
//   {schema, split, n_images, seeds: [seed...], run_dirs: [...], probability_floor, method: {<name>: sentence},
//    classes: {<Class>: {auroc: [one per seed], mean, sd, min, max, n_seeds,
//                        var_seed, var_test, seed_share,            // seed_share = var_seed / (var_seed + var_test)
//                        seeds_for_width: {"0.02": {seed_only: k | null, total: k | null}, ...},
//                        ensemble: {auroc, ci95: [lo, hi]},
//                        instability: {mean_log_ratio, mean_cv, n_images}} | null when the class lacks
//                        positives or negatives},                 // var_test, seed_share, total, ci95: null with
//                                                                 // fewer than 2 positives or 2 negatives
//    macro: {auroc: [per seed], mean, sd, ensemble_auroc} | null when no class has an AUROC,
//    orderings: {pairs_tested, holds_in_every_seed: [{higher, lower, min_margin}], flips: [{a, b, a_higher_in}]}}
// UserError when fewer than 2 seeds, a seed twice, shapes differ, a label is not 0/1, a probability is not finite in
// [0, 1] (naming the seed, class and image), a width is not in (0, 1] or repeats, or the floor is not in (0, 0.5).
// Definitions (each also stated in `method`):
// - var_seed: sample variance (n - 1) of the seeds' AUROCs; var_test: mean over seeds of DeLong's variance.
// - seeds_for_width, seed_only: smallest k >= 2 with 2 t(0.975, k - 1) sd / sqrt(k) <= width (the interval of the
//   mean over k seeds on this test set); total: smallest k >= 1 with 2 z(0.975) sqrt(var_seed / k + var_test) <= width,
//   null when even infinitely many seeds cannot reach it (2 z sqrt(var_test) >= width: the test set limits it).
//   Both are null beyond 10^12 seeds. Width keys are printed with %g ("0.02").
// - instability per film over the K seeds: ln(max p / min p), and CV = sample SD / mean, both of the clipped p;
//   averaged over all films.
// - orderings: pairs of classes with an AUROC in every seed, a before b in class order; "holds" when one is strictly
//   higher in every seed (min_margin: the smallest difference), else a flip (a_higher_in: seeds with a strictly higher).
nlohmann::ordered_json seed_variance(const SeedVarianceInput& input);

}  // namespace cxr::eval

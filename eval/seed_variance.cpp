// Seed-to-seed variation of K models on one test set (see seed_variance.h): the inputs are checked in full
// first, then every class's AUROCs, DeLong variances, seed counts for an interval width, per-film instability
// and the seed ensemble, the macro AUROC and the orderings of class pairs. Sequential loops in class, seed and
// image order, so the same inputs give the same bytes.
#include "eval/seed_variance.h"

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>

#include "core/error.h"
#include "data/classes.h"
#include "eval/auroc.h"
#include "eval/delong.h"

namespace cxr::eval {
namespace {

using json = nlohmann::ordered_json;
constexpr size_t kClasses = static_cast<size_t>(data::kNumClasses);
// Beyond this many seeds a count is reported as null: no study trains that many models.
constexpr double kMaxSeeds = 1e12;
// The two-sided level of every interval here (95 %).
constexpr double kAlpha = 0.05;

std::string width_key(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", w);
  return buf;
}

std::string seed_name(const SeedScores& s) {
  return "seed " + std::to_string(s.seed) + (s.run_dir.empty() ? std::string() : " (" + s.run_dir + ")");
}

void validate(const SeedVarianceInput& in) {
  const char* hint = "pass K >= 2 models' probabilities for the same images in the same order (cxrtrain study --seeds K)";
  if (in.seeds.size() < 2)
    throw UserError("seed variance needs at least 2 seeds, got " + std::to_string(in.seeds.size()), hint);
  const size_t n = in.image_index.size();
  if (n == 0) throw UserError("seed variance: the " + in.split + " split has no images", hint);
  if (in.labels.size() != n * kClasses)
    throw UserError("seed variance: " + std::to_string(in.labels.size()) + " labels for " + std::to_string(n) +
                        " images; expected " + std::to_string(n * kClasses) + " ([n, 14])",
                    hint);
  for (size_t i = 0; i < in.labels.size(); ++i)
    if (in.labels[i] > 1)
      throw UserError("seed variance: label of " + std::string(data::kClassNames[i % kClasses]) + " for image " +
                          in.image_index[i / kClasses] + " (row " + std::to_string(i / kClasses) + ") is " +
                          std::to_string(in.labels[i]) + ", expected 0 or 1",
                      "the labels come from the pack; rebuild it with cxrtrain pack");
  std::set<int64_t> seen;
  for (const auto& s : in.seeds) {
    if (!seen.insert(s.seed).second)
      throw UserError("seed variance: seed " + std::to_string(s.seed) + " appears twice",
                      "each model must be trained with its own seed");
    if (s.probability.size() != n * kClasses)
      throw UserError("seed variance: " + seed_name(s) + " has " + std::to_string(s.probability.size()) +
                          " probabilities; expected " + std::to_string(n * kClasses) + " ([" + std::to_string(n) +
                          ", 14], the images of the " + in.split + " split)",
                      hint);
    for (size_t i = 0; i < s.probability.size(); ++i) {
      const double p = s.probability[i];
      if (!std::isfinite(p) || p < 0 || p > 1)
        throw UserError("seed variance: " + seed_name(s) + ": probability of " +
                            std::string(data::kClassNames[i % kClasses]) + " for image " + in.image_index[i / kClasses] +
                            " (row " + std::to_string(i / kClasses) + ") is " + std::to_string(p) +
                            ", expected a finite number in [0, 1]",
                        "re-run that seed's evaluation (cxrtrain evaluate --run DIR); a NaN usually means the "
                        "training diverged");
    }
  }
  std::set<std::string> keys;
  for (double w : in.ci_widths)
    if (!std::isfinite(w) || w <= 0 || w > 1 || !keys.insert(width_key(w)).second)
      throw UserError("seed variance: interval width " + std::to_string(w) + " is not a new number in (0, 1]",
                      "widths are full widths of an AUROC interval, e.g. 0.02");
  if (!(in.probability_floor > 0 && in.probability_floor < 0.5))
    throw UserError("seed variance: probability floor " + std::to_string(in.probability_floor) + " is not in (0, 0.5)",
                    "use a small positive number such as 1e-6");
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Sample variance (n - 1), by Welford's update: equal values give exactly 0 (a two-pass sum can leave 1e-33 when
// their mean is not representable), so identical seeds need exactly 2 seeds, not a rounding-error count.
double sample_variance(const std::vector<double>& v) {
  double mean = 0, m2 = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double d = v[i] - mean;
    mean += d / static_cast<double>(i + 1);
    m2 += d * (v[i] - mean);
  }
  return m2 / static_cast<double>(v.size() - 1);
}

json count_or_null(const std::optional<double>& k) { return k ? json(static_cast<int64_t>(*k)) : json(nullptr); }

// Smallest k >= 2 with 2 t(0.975, k - 1) sd / sqrt(k) <= width. Since t > z the answer is at least
// (2 z sd / width)^2, and the left side falls with k, so the scan from there ends after a few steps.
std::optional<double> seeds_seed_only(double sd, double width, double z) {
  if (sd <= 0) return 2.0;
  const double lower = std::ceil(std::pow(2 * z * sd / width, 2));
  if (!(lower <= kMaxSeeds)) return std::nullopt;
  for (double k = std::max(2.0, lower); k <= kMaxSeeds; ++k) {
    const boost::math::students_t_distribution<double> t(k - 1);
    const double q = boost::math::quantile(boost::math::complement(t, kAlpha / 2));
    if (2 * q * sd / std::sqrt(k) <= width) return k;
  }
  return std::nullopt;
}

// Smallest k >= 1 with 2 z sqrt(var_seed / k + var_test) <= width; none when the test set alone is too wide.
std::optional<double> seeds_total(double var_seed, double var_test, double width, double z) {
  const auto fits = [&](double k) { return 2 * z * std::sqrt(var_seed / k + var_test) <= width; };
  const double room = std::pow(width / (2 * z), 2) - var_test;
  if (!(room > 0)) return std::nullopt;
  double k = std::max(1.0, std::ceil(var_seed / room));
  if (!(k <= kMaxSeeds)) return std::nullopt;
  // The closed form can be one off in the last bit; the definition decides.
  while (k > 1 && fits(k - 1)) --k;
  while (!fits(k)) {
    if (++k > kMaxSeeds) return std::nullopt;
  }
  return k;
}

json method_sentences(const SeedVarianceInput& in) {
  const std::string floor = width_key(in.probability_floor);
  return {
      {"auroc", "Each seed's AUROC is the Mann-Whitney statistic (ties count one half) of its probabilities on the "
                "same test images; mean, SD, min and max are over the K seeds."},
      {"var_seed", "var_seed is the sample variance (divisor K - 1) of the K seeds' AUROCs on this fixed test set: the "
                   "variation that retraining with another seed causes; sd is its square root."},
      {"var_test", "var_test is the mean over the seeds of DeLong's variance of each seed's AUROC (structural "
                   "components, Sun & Xu's algorithm): the variation that drawing another test set of this size causes; "
                   "null with fewer than 2 positives or 2 negatives."},
      {"seed_share", "seed_share is var_seed / (var_seed + var_test), the part of the two variances due to the seed."},
      {"seeds_for_width_seed_only",
       "seeds_for_width.seed_only is the smallest k >= 2 for which the 95 % t interval of the mean AUROC over k seeds on "
       "this test set, 2 t(0.975, k - 1) sd / sqrt(k), is no wider than the width (null above 10^12 seeds)."},
      {"seeds_for_width_total",
       "seeds_for_width.total is the smallest k >= 1 for which 2 z(0.975) sqrt(var_seed / k + var_test) is no wider than "
       "the width; null when 2 z sqrt(var_test) alone is not narrower, so that no number of seeds reaches it on a test "
       "set of this size."},
      {"ensemble", "The ensemble scores each image by the mean of the K seeds' probabilities; its AUROC has a DeLong 95 % "
                   "interval (null with fewer than 2 positives or 2 negatives)."},
      {"instability",
       "Per image and class, over the K seeds: ln(max p / min p) and the coefficient of variation (sample SD / mean) of "
       "the probability p, with p first clipped to [" + floor + ", 1 - " + floor +
           "] so that a saturated output gives a finite ratio; both are averaged over all images of the split."},
      {"macro", "The macro AUROC of a seed is the mean of its AUROCs over the classes with positives and negatives; the "
                "ensemble's is the mean of the ensemble AUROCs."},
      {"orderings", "Every pair of classes with an AUROC is tested: the order holds when one class's AUROC is higher "
                    "in every seed (min_margin: the smallest difference), otherwise it flips (a_higher_in: the seeds in "
                    "which a is higher; equal AUROCs count for neither)."},
  };
}

}  // namespace

json seed_variance(const SeedVarianceInput& in) {
  validate(in);
  const size_t n = in.image_index.size(), k_seeds = in.seeds.size();
  const double k = static_cast<double>(k_seeds);
  const double z = normal_quantile_two_sided(kAlpha);
  const double floor = in.probability_floor;

  json out;
  out["schema"] = "cxrtrain.seeds/1";
  out["split"] = in.split;
  out["n_images"] = n;
  json seeds = json::array(), dirs = json::array();
  for (const auto& s : in.seeds) {
    seeds.push_back(s.seed);
    dirs.push_back(s.run_dir);
  }
  out["seeds"] = seeds;
  out["run_dirs"] = dirs;
  out["probability_floor"] = floor;
  out["method"] = method_sentences(in);

  std::vector<std::optional<std::vector<double>>> class_aurocs(kClasses);  // per seed, for macro and orderings
  std::vector<double> ensemble_aurocs;
  json classes = json::object();
  for (size_t c = 0; c < kClasses; ++c) {
    const std::string name = data::kClassNames[c];
    std::vector<uint8_t> y(n);
    for (size_t i = 0; i < n; ++i) y[i] = in.labels[i * kClasses + c];
    std::vector<std::vector<double>> p(k_seeds, std::vector<double>(n));
    for (size_t s = 0; s < k_seeds; ++s)
      for (size_t i = 0; i < n; ++i) p[s][i] = in.seeds[s].probability[i * kClasses + c];

    std::vector<double> aucs;
    std::optional<double> var_test = 0.0;
    for (size_t s = 0; s < k_seeds; ++s) {
      const auto a = auroc(p[s], y);
      if (!a) break;
      aucs.push_back(*a);
      const auto d = delong({p[s]}, y);
      if (d && var_test) *var_test += d->variance(0) / k;
      else var_test.reset();
    }
    if (aucs.size() != k_seeds) {  // the labels are shared, so a class lacks positives or negatives for every seed
      classes[name] = nullptr;
      continue;
    }
    class_aurocs[c] = aucs;
    const double var_seed = sample_variance(aucs), sd = std::sqrt(var_seed);

    json widths = json::object();
    for (double w : in.ci_widths)
      widths[width_key(w)] = {{"seed_only", count_or_null(seeds_seed_only(sd, w, z))},
                              {"total", var_test ? count_or_null(seeds_total(var_seed, *var_test, w, z)) : json(nullptr)}};

    std::vector<double> mean_p(n, 0.0);
    double sum_log_ratio = 0, sum_cv = 0;
    std::vector<double> film(k_seeds);
    for (size_t i = 0; i < n; ++i) {
      for (size_t s = 0; s < k_seeds; ++s) {
        mean_p[i] += p[s][i];
        film[s] = std::clamp(p[s][i], floor, 1 - floor);
      }
      mean_p[i] /= k;  // summed in seed order, then divided: near-saturated films tie as the reference's do
      const auto [lo, hi] = std::minmax_element(film.begin(), film.end());
      sum_log_ratio += std::log(*hi / *lo);
      sum_cv += std::sqrt(sample_variance(film)) / mean_of(film);
    }
    const auto ens = auroc(mean_p, y);
    const auto ens_ci = delong_ci(mean_p, y, kAlpha);
    ensemble_aurocs.push_back(*ens);

    json per_seed = json::array();
    for (double a : aucs) per_seed.push_back(a);
    const double denom = var_test ? var_seed + *var_test : 0.0;
    classes[name] = {
        {"auroc", per_seed},
        {"mean", mean_of(aucs)},
        {"sd", sd},
        {"min", *std::min_element(aucs.begin(), aucs.end())},
        {"max", *std::max_element(aucs.begin(), aucs.end())},
        {"n_seeds", k_seeds},
        {"var_seed", var_seed},
        {"var_test", var_test ? json(*var_test) : json(nullptr)},
        {"seed_share", denom > 0 ? json(var_seed / denom) : json(nullptr)},
        {"seeds_for_width", widths},
        {"ensemble", {{"auroc", *ens}, {"ci95", ens_ci ? json::array({ens_ci->lo, ens_ci->hi}) : json(nullptr)}}},
        {"instability",
         {{"mean_log_ratio", sum_log_ratio / static_cast<double>(n)}, {"mean_cv", sum_cv / static_cast<double>(n)},
          {"n_images", n}}},
    };
  }
  out["classes"] = classes;

  if (ensemble_aurocs.empty()) {
    out["macro"] = nullptr;
  } else {
    std::vector<double> macro(k_seeds, 0.0);
    for (size_t s = 0; s < k_seeds; ++s) {
      for (const auto& a : class_aurocs)
        if (a) macro[s] += (*a)[s];
      macro[s] /= static_cast<double>(ensemble_aurocs.size());
    }
    json per_seed = json::array();
    for (double m : macro) per_seed.push_back(m);
    out["macro"] = {{"auroc", per_seed},
                    {"mean", mean_of(macro)},
                    {"sd", std::sqrt(sample_variance(macro))},
                    {"ensemble_auroc", mean_of(ensemble_aurocs)}};
  }

  json holds = json::array(), flips = json::array();
  int64_t pairs = 0;
  for (size_t a = 0; a < kClasses; ++a) {
    for (size_t b = a + 1; b < kClasses; ++b) {
      if (!class_aurocs[a] || !class_aurocs[b]) continue;
      ++pairs;
      const auto& x = *class_aurocs[a];
      const auto& y = *class_aurocs[b];
      int64_t a_higher = 0, b_higher = 0;
      double min_ab = std::numeric_limits<double>::infinity(), min_ba = min_ab;
      for (size_t s = 0; s < k_seeds; ++s) {
        if (x[s] > y[s]) ++a_higher;
        if (y[s] > x[s]) ++b_higher;
        min_ab = std::min(min_ab, x[s] - y[s]);
        min_ba = std::min(min_ba, y[s] - x[s]);
      }
      if (a_higher == static_cast<int64_t>(k_seeds))
        holds.push_back({{"higher", data::kClassNames[a]}, {"lower", data::kClassNames[b]}, {"min_margin", min_ab}});
      else if (b_higher == static_cast<int64_t>(k_seeds))
        holds.push_back({{"higher", data::kClassNames[b]}, {"lower", data::kClassNames[a]}, {"min_margin", min_ba}});
      else
        flips.push_back({{"a", data::kClassNames[a]}, {"b", data::kClassNames[b]}, {"a_higher_in", a_higher}});
    }
  }
  out["orderings"] = {{"pairs_tested", pairs}, {"holds_in_every_seed", holds}, {"flips", flips}};
  return out;
}

}  // namespace cxr::eval

// Reading seeds/summary.json, the section's statements and its template view (see seed_section.h). Every
// sentence is built from the numbers it quotes; none names a class in advance.
#include "report/seed_section.h"

#include <boost/math/distributions/chi_squared.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/fs.h"
#include "core/strings.h"
#include "data/classes.h"
#include "report/format.h"
#include "report/json_input.h"

namespace cxr::report {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kWriter = "cxrtrain study --seeds K";

std::optional<int64_t> count_or_null(const JsonInput& in, const std::string& p) {
  if (in.at(p).is_null()) return std::nullopt;
  const int64_t k = in.integer(p);
  if (k < 1) in.fail(p, "is " + std::to_string(k) + ", expected a number of seeds >= 1 or null");
  return k;
}

std::string known_class(const JsonInput& in, const std::string& p) {
  const std::string name = in.string(p);
  if (!data::class_index(name)) in.fail(p, "is '" + name + "', not one of the 14 class names");
  return name;
}

SeedClass read_class(const JsonInput& in, const std::string& name, int k) {
  const std::string p = "/classes/" + pointer_key(name);
  SeedClass c;
  c.name = name;
  if (in.at(p).is_null()) return c;
  c.defined = true;
  if (static_cast<int>(in.array_size(p + "/auroc")) != k)
    in.fail(p + "/auroc", "has " + std::to_string(in.array_size(p + "/auroc")) + " values for " + std::to_string(k) + " seeds");
  for (int s = 0; s < k; ++s) c.auroc.push_back(in.number_in(p + "/auroc/" + std::to_string(s), 0, 1));
  c.mean = in.number_in(p + "/mean", 0, 1);
  c.sd = in.number_in(p + "/sd", 0, 1);
  c.min = in.number_in(p + "/min", 0, 1);
  c.max = in.number_in(p + "/max", 0, 1);
  if (c.min > c.max) in.fail(p + "/min", "is above max");
  c.var_seed = in.number_in(p + "/var_seed", 0, 1);
  c.var_test = in.number_in_or_null(p + "/var_test", 0, 1);
  c.seed_share = in.number_in_or_null(p + "/seed_share", 0, 1);
  for (const auto& w : in.keys(p + "/seeds_for_width")) {
    const std::string q = p + "/seeds_for_width/" + pointer_key(w);
    c.seeds_for_width.push_back({w, {count_or_null(in, q + "/seed_only"), count_or_null(in, q + "/total")}});
  }
  c.ensemble_auroc = in.number_in(p + "/ensemble/auroc", 0, 1);
  if (const auto ci = in.interval_or_null(p + "/ensemble/ci95")) {
    in.number_in(p + "/ensemble/ci95/0", 0, 1);
    in.number_in(p + "/ensemble/ci95/1", 0, 1);
    c.ensemble_ci = Interval{ci->first, ci->second};
  }
  c.mean_log_ratio = in.number_in(p + "/instability/mean_log_ratio", 0, 1e3);
  c.mean_cv = in.number_in(p + "/instability/mean_cv", 0, 1e3);
  return c;
}

std::vector<std::string> names_of(const std::vector<const SeedClass*>& v) {
  std::vector<std::string> out;
  for (const auto* c : v) out.push_back(c->name);
  return out;
}


// Factors f_lo, f_hi with [f_lo sd, f_hi sd] the 95 % interval of a normal SD estimated from k values.
std::pair<double, double> sd_interval_factors(int k) {
  const boost::math::chi_squared_distribution<double> chi2(k - 1);
  const double df = k - 1;
  return {std::sqrt(df / boost::math::quantile(boost::math::complement(chi2, 0.025))),
          std::sqrt(df / boost::math::quantile(chi2, 0.025))};
}

std::string count_text(const std::optional<int64_t>& k, const char* none) { return k ? thousands(*k) : std::string(none); }

}  // namespace

const SeedCount* SeedClass::count(const std::string& width) const {
  for (const auto& [w, c] : seeds_for_width)
    if (w == width) return &c;
  return nullptr;
}

SeedSummary read_seed_summary(const std::string& path) {
  const JsonInput in = JsonInput::read(path, kWriter);
  SeedSummary s;
  s.path = path;
  s.text = read_text_file(path);
  const std::string schema = in.string("/schema");
  if (schema != kSeedsSchema) in.fail("/schema", "is '" + schema + "', expected '" + kSeedsSchema + "'");
  s.split = in.string("/split");
  s.n_images = in.integer("/n_images");
  if (s.n_images < 1) in.fail("/n_images", "is not a positive count");
  const size_t k = in.array_size("/seeds");
  if (k < 2) in.fail("/seeds", "has " + std::to_string(k) + " seed(s); seed variance needs at least 2");
  for (size_t i = 0; i < k; ++i) s.seeds.push_back(in.integer("/seeds/" + std::to_string(i)));
  if (in.array_size("/run_dirs") != k) in.fail("/run_dirs", "does not have one entry per seed");
  for (size_t i = 0; i < k; ++i) s.run_dirs.push_back(in.string("/run_dirs/" + std::to_string(i)));
  s.probability_floor = in.number_in("/probability_floor", 0, 0.5);
  for (const auto& m : in.keys("/method")) s.method.push_back({m, in.string("/method/" + pointer_key(m))});
  for (const auto& name : in.keys("/classes"))
    if (!data::class_index(name)) in.fail("/classes/" + pointer_key(name), "is not one of the 14 class names");
  for (int c = 0; c < data::kNumClasses; ++c) s.classes.push_back(read_class(in, data::kClassNames[c], s.k()));
  if (!in.at("/macro").is_null()) {
    s.macro_defined = true;
    if (in.array_size("/macro/auroc") != k) in.fail("/macro/auroc", "does not have one value per seed");
    for (size_t i = 0; i < k; ++i) s.macro_auroc.push_back(in.number_in("/macro/auroc/" + std::to_string(i), 0, 1));
    s.macro_mean = in.number_in("/macro/mean", 0, 1);
    s.macro_sd = in.number_in("/macro/sd", 0, 1);
    s.macro_ensemble = in.number_in("/macro/ensemble_auroc", 0, 1);
  }
  s.pairs_tested = in.integer("/orderings/pairs_tested");
  for (size_t i = 0; i < in.array_size("/orderings/holds_in_every_seed"); ++i) {
    const std::string p = "/orderings/holds_in_every_seed/" + std::to_string(i);
    s.holds.push_back({known_class(in, p + "/higher"), known_class(in, p + "/lower"), in.number_in(p + "/min_margin", 0, 1)});
  }
  for (size_t i = 0; i < in.array_size("/orderings/flips"); ++i) {
    const std::string p = "/orderings/flips/" + std::to_string(i);
    SeedFlip f{known_class(in, p + "/a"), known_class(in, p + "/b"), in.integer(p + "/a_higher_in")};
    if (f.a_higher_in < 0 || f.a_higher_in > s.k()) in.fail(p + "/a_higher_in", "is not a number of seeds in [0, K]");
    s.flips.push_back(f);
  }
  if (s.pairs_tested < 0 || static_cast<size_t>(s.pairs_tested) != s.holds.size() + s.flips.size())
    in.fail("/orderings/pairs_tested", "is " + std::to_string(s.pairs_tested) + ", not the number of holds and flips (" +
                                           std::to_string(s.holds.size() + s.flips.size()) + ")");
  return s;
}

std::string quoted_width(const SeedSummary& s) {
  std::string first;
  for (const auto& c : s.classes) {
    if (!c.defined) continue;
    if (c.count(kQuotedWidth)) return kQuotedWidth;
    if (first.empty() && !c.seeds_for_width.empty()) first = c.seeds_for_width.front().first;
  }
  return first;
}

SeedStatements seed_statements(const SeedSummary& s) {
  SeedStatements out;
  const int k = s.k();
  const std::string kk = std::to_string(k);
  std::vector<const SeedClass*> defined;
  for (const auto& c : s.classes)
    if (c.defined) defined.push_back(&c);

  if (s.macro_defined) {
    const auto [lo, hi] = std::minmax_element(s.macro_auroc.begin(), s.macro_auroc.end());
    out.findings.push_back("Over " + kk + " seeds the macro AUROC ranged from " + fixed(*lo) + " to " + fixed(*hi) +
                           " (mean " + fixed(s.macro_mean) + ", SD " + fixed(s.macro_sd, 4) + ", over " +
                           std::to_string(defined.size()) + " classes); the ensemble of the " + kk +
                           " models (each film's mean probability) reaches " + fixed(s.macro_ensemble) + ".");
  }

  if (s.pairs_tested > 0) {
    std::string t = std::to_string(s.holds.size()) + " of " + std::to_string(s.pairs_tested) +
                    " class pairs keep their order in every seed";
    if (s.flips.empty()) {
      t += "; none flips.";
    } else {
      const SeedFlip* even = &s.flips.front();  // the most evenly split pair
      for (const auto& f : s.flips)
        if (std::llabs(2 * f.a_higher_in - k) < std::llabs(2 * even->a_higher_in - k)) even = &f;
      t += "; " + std::to_string(s.flips.size()) + " flip in at least one (" + even->a + " is above " + even->b + " in " +
           std::to_string(even->a_higher_in) + " of " + kk + " seeds).";
    }
    out.findings.push_back(t);
  }

  std::vector<const SeedClass*> shared, seed_dominant;
  for (const auto* c : defined)
    if (c->seed_share) {
      shared.push_back(c);
      if (*c->seed_share > kSeedShareDominant) seed_dominant.push_back(c);
    }
  if (!shared.empty()) {
    const std::string of = " of " + std::to_string(shared.size()) + " classes";
    if (seed_dominant.empty()) {
      const auto [lo, hi] = std::minmax_element(shared.begin(), shared.end(),
                                                [](auto* a, auto* b) { return *a->seed_share < *b->seed_share; });
      const std::string lo_share = percent(*(*lo)->seed_share, 0), hi_share = percent(*(*hi)->seed_share, 0);
      out.findings.push_back("For none" + of + " does seed-to-seed variance exceed test-sampling variance (seed " +
                             (lo_share == hi_share ? "share " + lo_share + " for each" : "shares " + lo_share + " to " + hi_share) +
                             "): on " +
                             thousands(s.n_images) + " test images, the draw of the test set moves an AUROC more than "
                             "the seed does.");
    } else {
      out.findings.push_back("For " + std::to_string(seed_dominant.size()) + of +
                             " seed-to-seed variance exceeds test-sampling variance (seed share above " +
                             percent(kSeedShareDominant, 0) + "): " + list_words(names_of(seed_dominant)) +
                             "; for " + (seed_dominant.size() == 1 ? "it" : "them") +
                             ", retraining with another seed moves the AUROC more than drawing another " +
                             thousands(s.n_images) + " test images would.");
    }
  }

  const std::string w = quoted_width(s);
  if (!w.empty()) {
    const SeedClass *fewest = nullptr, *most = nullptr;
    std::vector<const SeedClass*> unreachable, reachable;
    for (const auto* c : defined) {
      const SeedCount* n = c->count(w);
      if (!n) continue;
      if (n->seed_only) {
        if (!fewest || *n->seed_only < *fewest->count(w)->seed_only) fewest = c;
        if (!most || *n->seed_only > *most->count(w)->seed_only) most = c;
      }
      if (c->var_test) (n->total ? reachable : unreachable).push_back(c);
    }
    if (fewest) {
      std::string t = "A 95 % interval " + w + " wide around a class's mean AUROC over seeds, on this test set, takes " +
                      (fewest == most ? thousands(*fewest->count(w)->seed_only) + " seeds (" + fewest->name + ")"
                                      : "from " + thousands(*fewest->count(w)->seed_only) + " (" + fewest->name +
                                            ") to " + thousands(*most->count(w)->seed_only) + " seeds (" + most->name + ")");
      if (!unreachable.empty()) {
        t += "; counting test sampling as well, " + std::to_string(unreachable.size()) + " of " +
             std::to_string(unreachable.size() + reachable.size()) + " classes cannot reach " + w +
             " with any number of seeds: the " + thousands(s.n_images) + " test images alone make the interval wider";
      } else if (!reachable.empty()) {
        t += "; counting test sampling as well, every class can reach it";
      }
      out.findings.push_back(t + ".");
    }
  }

  if (!defined.empty()) {
    double log_ratio = 0, cv = 0;
    const SeedClass* worst = defined.front();
    for (const auto* c : defined) {
      log_ratio += c->mean_log_ratio / static_cast<double>(defined.size());
      cv += c->mean_cv / static_cast<double>(defined.size());
      if (c->mean_log_ratio > worst->mean_log_ratio) worst = c;
    }
    std::string t = "Per film, the " + kk + " models' probabilities for a class differ by a mean ln(max p / min p) of " +
                    fixed(log_ratio, 2) + " and a mean coefficient of variation of " + fixed(cv, 3) + " (averaged over " +
                    std::to_string(defined.size()) + " classes; largest for " + worst->name + ": " +
                    fixed(worst->mean_log_ratio, 2) + " and " + fixed(worst->mean_cv, 3) + "). Zech et al. 2019 (arXiv "
                    "1912.03606) measured " + fixed(kZechLogRatio, 2) + " and " + fixed(kZechCv, 3) + " for CheXNet trained "
                    "with " + std::to_string(kZechSeeds) + " seeds (there a seed changed only the order of the training data "
                    "of a pretrained DenseNet-121). K is " + kk + " here";
    if (k < kZechSeeds)
      t += ": the max/min ratio of K draws grows with K, so " + kk + " seeds underestimate it against their " +
           std::to_string(kZechSeeds) + ", and a value below " + fixed(kZechLogRatio, 2) +
           " does not show a steadier model (the CV depends on K much less).";
    else if (k == kZechSeeds)
      t += ", as in theirs: the numbers are comparable, though model, data and training differ.";
    else
      t += ", more than their " + std::to_string(kZechSeeds) + ": ln(max/min) from " + kk +
           " seeds runs higher than from 50 for the same spread.";
    out.findings.push_back(t);
  }

  // What K seeds can and cannot support.
  out.can.push_back("How much retraining with another seed moves the AUROC on this test set (SD of the macro AUROC " +
                    (s.macro_defined ? fixed(s.macro_sd, 4) : std::string("n/a")) + " over " + kk +
                    " seeds), which class orderings held in all " + kk + ", and the AUROC of the " + kk +
                    "-model ensemble.");
  out.can.push_back("Whether a difference between two single-seed models of this recipe is within seed noise: two "
                    "seeds' AUROCs differ by less than 1.96 x sqrt(2) = 2.77 seed SDs (the table's SD) 95 % of the time.");
  const auto [f_lo, f_hi] = sd_interval_factors(k);
  out.cannot.push_back("A precise seed SD: estimated from " + kk + " seeds, its 95 % interval runs from " + fixed(f_lo, 2) +
                       " to " + fixed(f_hi, 2) + " times the estimate (chi-square with " + std::to_string(k - 1) +
                       " degree" + (k == 2 ? "" : "s") + " of freedom, normal AUROCs); the seed shares and seed counts "
                       "above inherit that uncertainty.");
  if (s.pairs_tested > 0) {
    const double chance = std::ldexp(1.0, 1 - k);  // both orders: 2 x (1/2)^K
    out.cannot.push_back("That an order which held in all " + kk + " seeds is stable: were each pair's order a coin toss "
                         "per seed, " + std::to_string(s.pairs_tested) + " x 2^(1 - " + kk + ") = " +
                         fixed(static_cast<double>(s.pairs_tested) * chance, 1) + " pairs would still hold in every seed.");
  }
  out.cannot.push_back("The best of the " + kk + " seeds as the AUROC of this recipe: choosing it on the test set selects "
                       "on noise; quote the mean over seeds or the ensemble.");
  if (k < kFewSeeds)
    out.cannot.push_back("The extremes: with fewer than " + std::to_string(kFewSeeds) + " seeds the min, max and "
                         "ln(max/min) understate what more seeds would show.");
  out.cannot.push_back("Variation from other training data or another population: every seed trained on the same data "
                       "and was scored on the same " + thousands(s.n_images) + " " + s.split +
                       " images (test-sampling variance resamples this population, not another hospital's).");
  return out;
}

json seed_view(const SeedSummary* s, const SeedStatements* st) {
  if (!s) return {{"seeds", nullptr}, {"seeds_not_run", true}};
  const std::string w = quoted_width(*s);
  json rows = json::array();
  for (const auto& c : s->classes) {
    if (!c.defined) {
      rows.push_back({{"name", c.name}, {"undefined", true}});
      continue;
    }
    const SeedCount* n = w.empty() ? nullptr : c.count(w);
    rows.push_back(
        {{"name", c.name},
         {"undefined", false},
         {"mean_sd", fixed(c.mean) + " +/- " + fixed(c.sd, 4)},  // seed SDs are often below 0.005
         {"range", fixed(c.min) + " to " + fixed(c.max)},
         {"share", c.seed_share ? percent(*c.seed_share, 0) : std::string("n/a")},
         {"seeds_needed", n ? count_text(n->seed_only, "> 10^12") + " / " +
                                  (c.var_test ? count_text(n->total, "unreachable") : std::string("n/a"))
                            : std::string("n/a")},
         {"ensemble", fixed(c.ensemble_auroc) + (c.ensemble_ci ? " " + interval(c.ensemble_ci) : std::string())},
         {"log_ratio", fixed(c.mean_log_ratio, 2)},
         {"cv", fixed(c.mean_cv, 3)}});
  }
  std::vector<const SeedOrder*> holds;
  for (const auto& h : s->holds) holds.push_back(&h);
  std::stable_sort(holds.begin(), holds.end(), [](auto* a, auto* b) { return a->min_margin > b->min_margin; });
  json hold_rows = json::array(), flip_rows = json::array();
  for (const auto* h : holds)
    hold_rows.push_back({{"higher", h->higher}, {"lower", h->lower}, {"margin", fixed(h->min_margin)}});
  for (const auto& f : s->flips)
    flip_rows.push_back({{"a", f.a}, {"b", f.b}, {"a_higher_in", std::to_string(f.a_higher_in) + " of " + std::to_string(s->k())}});
  auto texts = [](const std::vector<std::string>& v) {
    json out = json::array();
    for (const auto& t : v) out.push_back({{"text", t}});
    return out;
  };
  json method = json::array();
  for (const auto& [name, sentence] : s->method) method.push_back({{"text", sentence}});
  std::vector<std::string> seeds;
  for (const auto v : s->seeds) seeds.push_back(std::to_string(v));
  return {{"seeds",
           {{"k", std::to_string(s->k())},
            {"seed_list", join(seeds, ", ")},
            {"split", s->split},
            {"n_images", thousands(s->n_images)},
            {"path", s->path},
            {"width", w.empty() ? std::string("n/a") : w},
            {"floor", general(s->probability_floor)},
            {"rows", rows},
            {"holds", hold_rows},
            {"flips", flip_rows},
            {"pairs_tested", std::to_string(s->pairs_tested)},
            {"findings", st ? texts(st->findings) : json::array()},
            {"can", st ? texts(st->can) : json::array()},
            {"cannot", st ? texts(st->cannot) : json::array()},
            {"method", method}}},
          {"seeds_not_run", false}};
}

}  // namespace cxr::report

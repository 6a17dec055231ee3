// The report's "Seed-to-seed variation" section, from seeds/summary.json (`cxrtrain study --seeds K`, written by
// eval::seed_variance): the file read with every value checked, statements generated from its numbers (the macro
// range, the orderings that hold, where seed variance exceeds test-sampling variance, the seeds an interval needs,
// per-film instability against Zech et al. 2019) and what K seeds can and cannot support, and the view the
// index.html / report.md templates render. The thresholds that decide a sentence are the named constants below.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/evaluation_result.h"

namespace cxr::report {

inline constexpr const char* kSeedsSchema = "cxrtrain.seeds/1";

// A class's seed variance "exceeds" its test-sampling variance when its seed share is above this.
constexpr double kSeedShareDominant = 0.5;
// The interval width (full width of a 95 % interval of the AUROC) the table and the statements quote, when the
// summary has it (else its first width).
inline constexpr const char* kQuotedWidth = "0.02";
// Below this many seeds the min, max and ln(max/min) over seeds are said to understate the spread.
constexpr int kFewSeeds = 10;
// Zech et al. 2019 (arXiv 1912.03606), CheXNet trained with 50 seeds: mean ln(max p / min p) per radiograph 2.45,
// mean coefficient of variation 0.543.
constexpr double kZechLogRatio = 2.45;
constexpr double kZechCv = 0.543;
constexpr int kZechSeeds = 50;

struct SeedCount {
  std::optional<int64_t> seed_only, total;  // null: more than 10^12 seeds / the test set alone is too wide
};

struct SeedClass {
  std::string name;
  bool defined = false;  // false: the class lacks positives or negatives (null in the summary)
  std::vector<double> auroc;  // one per seed
  double mean = 0, sd = 0, min = 0, max = 0, var_seed = 0;
  std::optional<double> var_test, seed_share;
  std::vector<std::pair<std::string, SeedCount>> seeds_for_width;  // in the file's order, keyed "0.02"
  double ensemble_auroc = 0;
  std::optional<Interval> ensemble_ci;
  double mean_log_ratio = 0, mean_cv = 0;
  const SeedCount* count(const std::string& width) const;  // nullptr when the width was not asked about
};

struct SeedOrder {
  std::string higher, lower;
  double min_margin = 0;
};
struct SeedFlip {
  std::string a, b;
  int64_t a_higher_in = 0;
};

struct SeedSummary {
  std::string path, split;
  std::string text;  // the file as read (copied into the report's data/)
  int64_t n_images = 0;
  std::vector<int64_t> seeds;
  std::vector<std::string> run_dirs;
  double probability_floor = 0;
  std::vector<std::pair<std::string, std::string>> method;  // name, sentence
  std::vector<SeedClass> classes;                           // the 14, in cxrtrain's class order
  bool macro_defined = false;
  std::vector<double> macro_auroc;
  double macro_mean = 0, macro_sd = 0, macro_ensemble = 0;
  int64_t pairs_tested = 0;
  std::vector<SeedOrder> holds;
  std::vector<SeedFlip> flips;
  int k() const { return static_cast<int>(seeds.size()); }
};

// Reads and checks seeds/summary.json: UserError naming the file and the key's JSON pointer for a missing key, a
// wrong type, an AUROC outside [0, 1], a count of seeds that does not match, an unknown class.
SeedSummary read_seed_summary(const std::string& path);

struct SeedStatements {
  std::vector<std::string> findings;  // macro range, orderings, seed vs test variance, seeds needed, instability
  std::vector<std::string> can;       // what K seeds support
  std::vector<std::string> cannot;    // and what they do not
};
SeedStatements seed_statements(const SeedSummary& s);

// The width the section quotes: kQuotedWidth when the summary asked about it, else its first width ("" if none).
std::string quoted_width(const SeedSummary& s);

// The template view: {"seeds": {...}} when a summary was read (s non-null), else {"seeds": null, "seeds_not_run": true}.
nlohmann::ordered_json seed_view(const SeedSummary* s, const SeedStatements* statements);

}  // namespace cxr::report

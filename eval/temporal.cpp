// The follow-up proxy of metrics.json "temporal" (see temporal.h).
#include "eval/temporal.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "data/classes.h"
#include "eval/auroc.h"
#include "eval/delong.h"
#include "eval/multiple_testing.h"

namespace cxr::eval {
namespace {

using json = nlohmann::ordered_json;
constexpr int K = data::kNumClasses;

// Sets key to the value, or to null with the cause appended to the row's "reason".
void put(json& obj, const std::string& key, const std::optional<double>& v, const std::string& why) {
  obj[key] = v ? json(*v) : json(nullptr);
  if (!v) {
    const std::string before = obj.contains("reason") ? obj["reason"].get<std::string>() : std::string();
    obj["reason"] = before + (before.empty() ? "" : "; ") + key + ": " + why;
  }
}

std::string why_no_auroc(int64_t pos, int64_t neg) {
  if (pos == 0) return "no positive images";
  if (neg == 0) return "no negative images";
  return "fewer than 2 positive or negative images: no DeLong variance";
}

struct BandClass {
  std::vector<double> scores;
  std::vector<uint8_t> labels;
  int64_t pos = 0, neg = 0;
  std::optional<double> auc;
  std::optional<AucCi> ci;
};

}  // namespace

const std::vector<FollowUpBand>& follow_up_bands() {
  static const std::vector<FollowUpBand> bands = {
      {"first film", 0, 0}, {"films 2-5", 1, 4}, {"films 6-20", 5, 19}, {"films 21+", 20, -1}};
  return bands;
}

int follow_up_band(int32_t follow_up) {
  if (follow_up < 0) return -1;
  const auto& bands = follow_up_bands();
  for (size_t b = 0; b < bands.size(); ++b)
    if (follow_up >= bands[b].first && (bands[b].last < 0 || follow_up <= bands[b].last)) return static_cast<int>(b);
  return -1;  // unreachable: the last band is open
}

json temporal_proxy(const ScoredSplit& ev) {
  const size_t n = ev.meta.size();
  const auto& bands = follow_up_bands();
  const size_t nb = bands.size();
  std::vector<std::vector<size_t>> rows_of(nb);
  int64_t unknown = 0;
  for (size_t i = 0; i < n; ++i) {
    const int b = follow_up_band(ev.meta[i].follow_up);
    if (b < 0) ++unknown;
    else rows_of[static_cast<size_t>(b)].push_back(i);
  }
  std::vector<int64_t> patients(nb);
  json band_defs = json::array();
  for (size_t b = 0; b < nb; ++b) {
    std::set<int32_t> ids;
    for (size_t r : rows_of[b]) ids.insert(ev.meta[r].patient_id);
    patients[b] = static_cast<int64_t>(ids.size());
    const FollowUpBand& d = bands[b];
    const std::string films = d.last < 0 ? "after the " + std::to_string(d.first) + "th film of the patient"
                              : d.first == d.last ? "the patient's first film"
                                                  : "films " + std::to_string(d.first + 1) + " to " +
                                                        std::to_string(d.last + 1) + " of the patient";
    band_defs.push_back({{"name", d.name}, {"films", films}, {"follow_up_min", d.first},
                         {"follow_up_max", d.last < 0 ? json(nullptr) : json(d.last)},
                         {"n_images", rows_of[b].size()}, {"n_patients", patients[b]}});
  }

  // Per band and class: the band's scores and labels, AUROC and DeLong interval.
  std::vector<std::vector<BandClass>> cell(nb, std::vector<BandClass>(K));
  for (size_t b = 0; b < nb; ++b)
    for (int c = 0; c < K; ++c) {
      BandClass& x = cell[b][static_cast<size_t>(c)];
      for (size_t r : rows_of[b]) {
        x.scores.push_back(ev.probability[r * K + static_cast<size_t>(c)]);
        x.labels.push_back(ev.meta[r].labels[static_cast<size_t>(c)] ? 1 : 0);
      }
      x.pos = static_cast<int64_t>(std::count(x.labels.begin(), x.labels.end(), uint8_t{1}));
      x.neg = static_cast<int64_t>(x.labels.size()) - x.pos;
      if (!x.scores.empty()) {
        x.auc = auroc(x.scores, x.labels);
        x.ci = delong_ci(x.scores, x.labels, 0.05);
      }
    }

  json rows = json::array();
  std::vector<double> p;  // one per later band x class, NaN where untested
  std::vector<size_t> tested_row;
  const std::string few = "fewer than " + std::to_string(kMinCasesForTest) +
                          " positives or negatives in the band or in the first films";
  for (size_t b = 0; b < nb; ++b)
    for (int c = 0; c < K; ++c) {
      const BandClass& x = cell[b][static_cast<size_t>(c)];
      json r = {{"band", bands[b].name}, {"class", data::kClassNames[c]}, {"n_images", rows_of[b].size()},
                {"n_patients", patients[b]}, {"n_pos", x.pos}, {"n_neg", x.neg}};
      put(r, "auroc", x.auc, rows_of[b].empty() ? "no images in the band" : why_no_auroc(x.pos, x.neg));
      r["auroc_ci95_delong"] = x.ci ? json::array({x.ci->lo, x.ci->hi}) : json(nullptr);
      if (b == 0) {
        for (const char* k : {"gap", "p_value", "q_value"}) put(r, k, std::nullopt, "the reference band");
      } else {
        const BandClass& ref = cell[0][static_cast<size_t>(c)];
        std::optional<PairedTest> gap;
        if (x.ci && ref.ci) gap = unpaired_auc_test(x.ci->auc, x.ci->se * x.ci->se, ref.ci->auc, ref.ci->se * ref.ci->se);
        put(r, "gap", gap ? std::optional<double>(gap->difference) : std::nullopt,
            "no DeLong variance in the band or in the first films");
        const bool testable = std::min({x.pos, x.neg, ref.pos, ref.neg}) >= kMinCasesForTest;
        put(r, "p_value", gap && testable ? std::optional<double>(gap->p_value) : std::nullopt, gap ? few : "no gap");
        p.push_back(gap && testable ? gap->p_value : std::nan(""));
        tested_row.push_back(rows.size());
      }
      rows.push_back(r);
    }
  // Benjamini-Hochberg over the temporal comparisons only (later bands x classes): a family of its own.
  const std::vector<double> q = benjamini_hochberg(p);
  for (size_t i = 0; i < q.size(); ++i) {
    json& r = rows[tested_row[i]];
    if (std::isnan(q[i])) put(r, "q_value", std::nullopt, "no p-value");
    else r["q_value"] = q[i];
  }

  json out;
  out["proxy"] = "NIH's 'Follow-up #' orders each patient's films in time (0 = the patient's first film); the films "
                 "are banded by their place in the patient's series";
  out["bands"] = band_defs;
  out["reference_band"] = bands[0].name;
  out["images_without_follow_up"] = unknown;
  out["rows"] = rows;
  out["tests"] = {{"auroc_gap", "band minus the first-film band, unpaired DeLong, two-sided"},
                  {"q_value", "Benjamini-Hochberg over the temporal comparisons (later bands x classes), a family of "
                              "its own: the subgroups' q-values do not include them"},
                  {"min_cases", kMinCasesForTest},
                  {"untested", "a gap with fewer than min_cases positives or negatives in the band or in the first films "
                               "has no p- or q-value"},
                  {"independence", "the test treats the bands as independent samples; they share patients (a patient's "
                                   "first film and follow-ups) and a band holds several films of one patient, so the "
                                   "intervals and p-values are approximate"}};
  out["caveat"] = "Follow-up films come from patients imaged repeatedly, usually sicker and more often AP/portable, so a "
                  "difference across bands confounds time with case mix and is not evidence of temporal drift in years.";
  return out;
}

}  // namespace cxr::eval
